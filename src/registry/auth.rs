//! Credentials as podman finds them (containers/image `pkg/docker/config`), and the
//! challenges a registry answers with (distribution's token and basic auth).
//!
//! Files, first match wins: `--authfile` (else `$REGISTRY_AUTH_FILE`, else
//! `$XDG_RUNTIME_DIR/containers/auth.json`, where `podman login` writes), then
//! `$XDG_CONFIG_HOME/containers/auth.json` (`~/.config/...`), then
//! `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`). In a file, the most
//! specific key wins: `registry/ns/repo`, then `registry/ns`, then `registry`; keys
//! written with a scheme (`https://index.docker.io/v1/`) count for their host only.
//! `--creds user:pass` overrides them all. Credential helpers (`credHelpers`) are not run.

use crate::error::{Error, Result};
use base64::Engine as _;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// Never print a password, not even in debug output.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({:?}, <redacted>)", self.username)
    }
}

impl Credentials {
    /// `--creds USER[:PASS]` (podman's form; an empty password is allowed).
    pub fn parse(text: &str) -> Result<Credentials> {
        let (user, pass) = text.split_once(':').unwrap_or((text, ""));
        if user.is_empty() {
            return Err(Error::usage("--creds needs a user name").fix("give --creds USER:PASSWORD"));
        }
        Ok(Credentials {
            username: user.to_string(),
            password: pass.to_string(),
        })
    }

    /// The `Authorization: Basic` value.
    pub fn basic(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// Where credentials came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredSource {
    CommandLine,
    File(PathBuf),
}

impl fmt::Display for CredSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredSource::CommandLine => f.write_str("--creds"),
            CredSource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

#[derive(Deserialize, Default)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
}

/// The auth files to read, in podman's order. `authfile` is `--authfile`.
pub fn auth_files(authfile: Option<&Path>, home: Option<&Path>, uid: u32) -> Vec<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut files = Vec::new();
    if let Some(f) = authfile
        .map(Path::to_path_buf)
        .or_else(|| env("REGISTRY_AUTH_FILE"))
    {
        files.push(f);
    } else {
        let runtime = env("XDG_RUNTIME_DIR")
            .unwrap_or_else(|| PathBuf::from(format!("/run/containers/{uid}")));
        files.push(runtime.join("containers/auth.json"));
    }
    let config_home = env("XDG_CONFIG_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| h.join(".config")));
    if let Some(c) = config_home {
        files.push(c.join("containers/auth.json"));
    }
    match env("DOCKER_CONFIG") {
        Some(d) => files.push(d.join("config.json")),
        None => files.extend(home.map(|h| h.join(".docker/config.json"))),
    }
    files
}

/// The host of an auth.json key written with a scheme (`https://index.docker.io/v1/`),
/// or the key itself.
fn normalize_key(key: &str) -> String {
    let key = match key.split_once("://") {
        Some((_, rest)) => rest.split('/').next().unwrap_or(rest),
        None => key,
    };
    match key {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        k => k.to_string(),
    }
}

/// The keys that may hold credentials for `registry/repository`, most specific first.
fn candidate_keys(registry: &str, repository: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut name = format!("{registry}/{repository}");
    loop {
        keys.push(name.clone());
        match name.rfind('/') {
            Some(i) => name.truncate(i),
            None => break,
        }
    }
    keys
}

fn decode(file: &Path, key: &str, entry: &AuthEntry) -> Result<Option<Credentials>> {
    let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let bad = |why: String| {
        Error::failure(format!(
            "{}: the entry for {key} is unreadable",
            file.display()
        ))
        .because(why)
        .fix(format!("log in again: podman login {key}"))
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|e| bad(format!("\"auth\" is not base64: {e}")))?;
    let text = String::from_utf8(raw).map_err(|_| bad("\"auth\" is not UTF-8".into()))?;
    let (user, pass) = text
        .split_once(':')
        .ok_or_else(|| bad("\"auth\" is not USER:PASSWORD".into()))?;
    Ok(Some(Credentials {
        username: user.to_string(),
        password: pass.to_string(),
    }))
}

/// Look up credentials for `registry/repository` in `files`, in order.
pub fn lookup(
    files: &[PathBuf],
    registry: &str,
    repository: &str,
) -> Result<Option<(Credentials, CredSource)>> {
    let wanted = candidate_keys(registry, repository);
    for file in files {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("read", file, &e)),
        };
        let parsed: AuthFile = serde_json::from_slice(&bytes).map_err(|e| {
            Error::failure(format!("{} is not a valid auth file", file.display()))
                .because(e)
                .fix("remove it and log in again (podman login)")
        })?;
        let normalized: Vec<(String, &AuthEntry)> = parsed
            .auths
            .iter()
            .map(|(k, v)| (normalize_key(k), v))
            .collect();
        for key in &wanted {
            if let Some((_, entry)) = normalized.iter().find(|(k, _)| k == key) {
                if let Some(c) = decode(file, key, entry)? {
                    return Ok(Some((c, CredSource::File(file.clone()))));
                }
            }
        }
    }
    Ok(None)
}

/// A registry's `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
        /// RFC 6750's `error`: `invalid_token` (expired or untrusted) or
        /// `insufficient_scope` (the token grants no access to what was asked).
        error: Option<String>,
    },
}

/// Parse `WWW-Authenticate` (RFC 7235: a scheme, then `key="value"` pairs).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = BTreeMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (key, after) = s.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        params.insert(key, value.to_string());
        s = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge::Bearer {
        realm: params.remove("realm")?,
        service: params.remove("service"),
        scope: params.remove("scope"),
        error: params.remove("error"),
    })
}

/// The body of a token endpoint's answer (distribution's `token` and OAuth2's
/// `access_token`).
#[derive(Deserialize)]
pub struct TokenAnswer {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_as_distribution_sends_them() {
        assert_eq!(
            parse_challenge(r#"Basic realm="test""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example/token",service="reg.example",scope="repository:a/b:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("reg.example".into()),
                scope: Some("repository:a/b:pull".into()),
                error: None,
            })
        );
        // distribution's answer to a token without access to the repository.
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="http://127.0.0.1:1/token",service="s",scope="repository:x:pull",error="insufficient_scope""#
            ),
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:1/token".into(),
                service: Some("s".into()),
                scope: Some("repository:x:pull".into()),
                error: Some("insufficient_scope".into()),
            })
        );
        assert_eq!(parse_challenge("Negotiate abc"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }

    #[test]
    fn the_most_specific_key_wins_and_schemes_are_dropped() {
        let dir = std::env::temp_dir().join(format!("userns-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("auth.json");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        std::fs::write(
            &file,
            serde_json::json!({"auths": {
                "reg.example:5000": {"auth": b64("host:1")},
                "reg.example:5000/team": {"auth": b64("team:2")},
                "https://index.docker.io/v1/": {"auth": b64("hub:3")},
            }})
            .to_string(),
        )
        .unwrap();
        let files = vec![dir.join("missing.json"), file.clone()];
        let get =
            |reg: &str, repo: &str| lookup(&files, reg, repo).unwrap().map(|(c, _)| c.username);
        assert_eq!(get("reg.example:5000", "team/app").as_deref(), Some("team"));
        assert_eq!(
            get("reg.example:5000", "other/app").as_deref(),
            Some("host")
        );
        assert_eq!(get("docker.io", "library/alpine").as_deref(), Some("hub"));
        assert_eq!(get("reg.example", "x"), None);
        std::fs::write(&file, r#"{"auths": {"r.example": {"auth": "!!"}}}"#).unwrap();
        let e = lookup(&files, "r.example", "x").unwrap_err();
        assert!(e.to_string().contains("podman login r.example"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn creds_split_at_the_first_colon_and_never_print_the_password() {
        let c = Credentials::parse("me:pa:ss").unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("me", "pa:ss"));
        assert!(!format!("{c:?}").contains("pa:ss"));
        assert!(Credentials::parse(":x").is_err());
        assert_eq!(Credentials::parse("a:b").unwrap().basic(), "Basic YTpi");
    }
}
