//! Image references as podman reads them (containers/image `docker/reference`,
//! `ParseNormalizedNamed`): `[REGISTRY/]REPOSITORY[:TAG][@DIGEST]`.
//!
//! The first path component is a registry when it has a `.` or a `:` or is `localhost`
//! (docker's rule); otherwise the name is *short* and is resolved through registries.conf
//! (`config`). `docker.io` names of one component live under `library/`, and
//! `index.docker.io` is `docker.io`. A reference with a digest is pulled by that digest,
//! whatever tag it also names. No tag and no digest means `latest`.

use crate::error::{Error, Result};
use std::fmt;

/// docker's maximum for a full name (registry and repository).
const NAME_TOTAL_MAX: usize = 255;

/// A fully qualified reference: a registry, a repository in it, and a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `host[:port]`: `docker.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// Path components joined by `/`: `library/alpine`.
    pub repository: String,
    /// The tag, when the reference names one (`latest` when it names neither).
    pub tag: Option<String>,
    /// `sha256:HEX`, when it names a digest.
    pub digest: Option<String>,
}

/// What a reference on the command line is, before registries.conf resolves a short one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Qualified(Reference),
    /// No registry: `alpine`, `library/alpine:3`, `user/app@sha256:...`.
    Short {
        name: String,
        tag: Option<String>,
        digest: Option<String>,
    },
}

impl Reference {
    /// `registry/repository` (what `[aliases]` and `[[registry]]` prefixes match).
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The tag or digest to ask the registry's manifest endpoint for.
    pub fn manifest_ref(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The tag a pull records (`latest` when neither tag nor digest was given; none for
    /// a pull by digest).
    pub fn recorded_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }

    /// The same reference in another registry/repository (a `location` rewrite).
    pub fn relocated(&self, name: &str) -> Result<Reference> {
        let (registry, repository) = split_registry(name)
            .ok_or_else(|| invalid(name, "a location must start with a registry host"))?;
        check_repository(name, repository)?;
        Ok(Reference {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag: self.tag.clone(),
            digest: self.digest.clone(),
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        if self.tag.is_none() && self.digest.is_none() {
            f.write_str(":latest")?;
        }
        Ok(())
    }
}

fn invalid(text: &str, why: &str) -> Error {
    Error::usage(format!("invalid image reference {text:?}"))
        .because(why.to_string())
        .fix(
            "write it as podman does: [REGISTRY[:PORT]/]NAME[:TAG][@sha256:DIGEST], in \
             lowercase (docker.io/library/alpine:3.20)",
        )
}

/// Whether `component` names a registry rather than a repository's first component.
fn is_registry(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

/// `host[:port]` and the rest, when `name` starts with a registry.
fn split_registry(name: &str) -> Option<(&str, &str)> {
    let (first, rest) = name.split_once('/')?;
    is_registry(first).then_some((first, rest))
}

/// One path component: lowercase alphanumerics, separated by `.`, `_`, `__` or `-`s
/// (docker's grammar).
fn valid_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn check_repository(text: &str, repository: &str) -> Result<()> {
    if repository.is_empty() {
        return Err(invalid(text, "it names no repository"));
    }
    if repository.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(invalid(text, "repository names must be lowercase"));
    }
    if let Some(bad) = repository.split('/').find(|c| !valid_component(c)) {
        return Err(invalid(
            text,
            &format!(
                "{bad:?} is not a valid path component (lowercase letters and digits, \
                 separated by '.', '_', '__' or '-')"
            ),
        ));
    }
    Ok(())
}

fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_registry(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        // An IPv6 literal in brackets may hold colons of its own.
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (host, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'));
    port_ok && name_ok
}

/// Parse a reference as podman does; a name without a registry is `Parsed::Short`.
pub fn parse(text: &str) -> Result<Parsed> {
    if text.is_empty() {
        return Err(invalid(text, "it is empty"));
    }
    let (rest, digest) = match text.split_once('@') {
        Some((r, d)) => {
            if crate::image::digest::parse(d).is_none() {
                return Err(invalid(
                    text,
                    &format!("a digest must be {}", crate::image::digest::FORMS),
                ));
            }
            (r, Some(d.to_string()))
        }
        None => (text, None),
    };
    // The tag follows the last ':' after the last '/' (a ':' before it is a port).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => {
            let tag = &rest[last_slash + i + 1..];
            if !valid_tag(tag) {
                return Err(invalid(
                    text,
                    &format!("{tag:?} is not a valid tag (letters, digits, '_', '.', '-')"),
                ));
            }
            (&rest[..last_slash + i], Some(tag.to_string()))
        }
        None => (rest, None),
    };
    if name.len() > NAME_TOTAL_MAX {
        return Err(invalid(text, "the name is longer than 255 characters"));
    }
    match split_registry(name) {
        Some((registry, repository)) => {
            if !valid_registry(registry) {
                return Err(invalid(
                    text,
                    &format!("{registry:?} is not a registry host"),
                ));
            }
            check_repository(text, repository)?;
            Ok(Parsed::Qualified(normalize(Reference {
                registry: registry.to_string(),
                repository: repository.to_string(),
                tag,
                digest,
            })))
        }
        None => {
            check_repository(text, name)?;
            Ok(Parsed::Short {
                name: name.to_string(),
                tag,
                digest,
            })
        }
    }
}

/// docker.io's own rules: `index.docker.io` is `docker.io`, a one-component name lives
/// under `library/`.
pub fn normalize(mut r: Reference) -> Reference {
    if r.registry == "index.docker.io" {
        r.registry = "docker.io".to_string();
    }
    if r.registry == "docker.io" && !r.repository.contains('/') {
        r.repository = format!("library/{}", r.repository);
    }
    r
}

/// A short name qualified with `registry` (a search registry).
pub fn qualify(registry: &str, name: &str, tag: Option<&str>, digest: Option<&str>) -> Reference {
    normalize(Reference {
        registry: registry.to_string(),
        repository: name.to_string(),
        tag: tag.map(str::to_string),
        digest: digest.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Reference {
        match parse(text).unwrap() {
            Parsed::Qualified(r) => r,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn registries_are_told_by_dot_colon_or_localhost() {
        let r = q("127.0.0.1:5000/team/app:v1");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(q("localhost/app").registry, "localhost");
        assert_eq!(q("quay.io/a/b").to_string(), "quay.io/a/b:latest");
        assert!(matches!(parse("team/app").unwrap(), Parsed::Short { .. }));
        assert!(
            matches!(parse("alpine:3").unwrap(), Parsed::Short { tag: Some(t), .. } if t == "3")
        );
    }

    #[test]
    fn docker_io_names_are_normalized() {
        assert_eq!(q("docker.io/alpine").repository, "library/alpine");
        assert_eq!(q("index.docker.io/alpine").registry, "docker.io");
        assert_eq!(q("docker.io/user/app").repository, "user/app");
        assert_eq!(
            qualify("docker.io", "busybox", None, None).name(),
            "docker.io/library/busybox"
        );
    }

    #[test]
    fn digests_win_over_tags_and_are_checked() {
        let hex = "a".repeat(64);
        let r = q(&format!("example.com/app:v1@sha256:{hex}"));
        assert_eq!(r.manifest_ref(), format!("sha256:{hex}"));
        assert_eq!(r.recorded_tag(), Some("v1"));
        assert!(parse("example.com/app@sha256:abc").is_err());
        assert_eq!(q("example.com/app").manifest_ref(), "latest");
    }

    #[test]
    fn bad_names_are_refused_with_the_grammar() {
        for bad in [
            "",
            "Example.com/App",
            "example.com/a//b",
            "example.com/-a",
            "a:b:c",
            "x/y:!",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.fix.is_some(), "{bad}");
        }
        assert!(valid_component("a__b"));
        assert!(valid_component("a--b.c_d"));
        assert!(!valid_component("a___b"));
        assert!(!valid_component("a."));
    }
}
