//! Credentials as podman finds them (containers/image `pkg/docker/config`), and the
//! challenges a registry answers with (distribution's token and basic auth).
//!
//! Files: `--authfile` (else `$REGISTRY_AUTH_FILE`) alone when given, as containers/image
//! reads since 5.24 (its PR 1751, "Don't use any default path fallbacks if the user
//! specified a path": a file named on purpose is not mixed with what lies around).
//! Otherwise, first match wins: `$XDG_RUNTIME_DIR/containers/auth.json` (where `podman
//! login` writes), `$XDG_CONFIG_HOME/containers/auth.json` (`~/.config/...`),
//! `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`), and last docker's legacy
//! `~/.dockercfg` (the `auths` map alone, its keys registry URLs: only their host
//! counts). In a file, the most specific key wins: `registry/ns/repo`, then `registry/ns`,
//! then `registry`; keys written with a scheme (`https://index.docker.io/v1/`) count for
//! their host only. `--creds user:pass` overrides them all.
//!
//! Credential helpers (`cred_helper`): a file's `credHelpers` entry for the registry's
//! host sends the question to `docker-credential-NAME` instead of the file's `auths`;
//! registries.conf's `credential-helpers` lists the sources in order, the auth files
//! being `containers-auth.json` (the default, alone). docker's `credsStore` is not
//! read: containers/image does not read it either.

use super::cred_helper::{self, HelperCall};
pub use super::credentials::{CredSource, Credentials};
use crate::error::{Error, Result};
use base64::Engine as _;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The name that stands for the auth files in registries.conf's `credential-helpers`
/// (containers/image's `sysregistriesv2.AuthenticationFileHelper`), and its default.
pub const AUTH_FILES: &str = "containers-auth.json";

/// An auth file to read, and whether it has docker's legacy form (`~/.dockercfg`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPath {
    pub path: PathBuf,
    pub legacy: bool,
}

#[derive(Deserialize, Default)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    /// `registry host -> helper NAME` (docker's config.json and auth.json alike).
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// The auth files to read, in podman's order. `authfile` is `--authfile`. A file named
/// (it, or `$REGISTRY_AUTH_FILE`) is read alone, and must be there ([`check_named`]).
pub fn auth_files(authfile: Option<&Path>, home: Option<&Path>, uid: u32) -> Result<Vec<AuthPath>> {
    let current = |path: PathBuf| AuthPath {
        path,
        legacy: false,
    };
    if let Some(f) = named_file(authfile) {
        check_named(&f)?;
        return Ok(vec![current(f)]);
    }
    let runtime = env_path("XDG_RUNTIME_DIR")
        .unwrap_or_else(|| PathBuf::from(format!("/run/containers/{uid}")));
    let mut files = vec![current(runtime.join("containers/auth.json"))];
    let config_home = env_path("XDG_CONFIG_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| h.join(".config")));
    if let Some(c) = config_home {
        files.push(current(c.join("containers/auth.json")));
    }
    match env_path("DOCKER_CONFIG") {
        Some(d) => files.push(current(d.join("config.json"))),
        None => files.extend(home.map(|h| current(h.join(".docker/config.json")))),
    }
    files.extend(home.map(|h| AuthPath {
        path: h.join(".dockercfg"),
        legacy: true,
    }));
    Ok(files)
}

/// An environment variable's path, when set and not empty.
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The auth file named: `--authfile`, else `$REGISTRY_AUTH_FILE`.
fn named_file(authfile: Option<&Path>) -> Option<PathBuf> {
    authfile
        .map(Path::to_path_buf)
        .or_else(|| env_path("REGISTRY_AUTH_FILE"))
}

/// A named auth file must be there, as podman requires (`podman pull --authfile F` fails
/// with "stat F: no such file or directory" before it asks anything): read alone, a
/// mistyped name would otherwise pass for a file without the login, and the pull would
/// go on without credentials.
fn check_named(file: &Path) -> Result<()> {
    match std::fs::metadata(file) {
        Ok(m) if !m.is_dir() => Ok(()),
        Ok(_) => Err(
            Error::usage(format!("the auth file {} is a directory", file.display()))
                .fix("give the auth.json file itself with --authfile (or REGISTRY_AUTH_FILE)"),
        ),
        Err(e) => Err(
            Error::usage(format!("cannot use the auth file {}", file.display()))
                .because(e)
                .fix(format!(
                    "check the path given with --authfile (or REGISTRY_AUTH_FILE), or log in to \
                 write it: podman login --authfile {} REGISTRY",
                    file.display()
                )),
        ),
    }
}

/// containers/image's `normalizeAuthFileKey`: a key written with a scheme
/// (`https://index.docker.io/v1/`), or any key of a legacy file, counts for its host
/// only; Docker Hub's host names are one.
fn normalize_key(key: &str, legacy: bool) -> String {
    let key = match key.split_once("://") {
        Some((_, rest)) => rest.split('/').next().unwrap_or(rest),
        None if legacy => key.split('/').next().unwrap_or(key),
        None => key,
    };
    normalize_registry(key)
}

fn normalize_registry(host: &str) -> String {
    match host {
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
        identity_token: entry.identitytoken.clone().filter(|t| !t.is_empty()),
    }))
}

/// Where to look for credentials: registries.conf's `credential-helpers` (in order;
/// [`AUTH_FILES`] stands for `files`), and where that list was set, for messages.
pub struct Sources<'a> {
    pub helpers: &'a [String],
    pub helpers_named_in: &'a str,
    pub files: &'a [AuthPath],
}

/// Credentials for `registry/repository`, as containers/image's
/// `getCredentialsWithHomeDir` finds them: each source of `credential-helpers` in
/// order, the first with credentials wins. A source that fails does not stop the
/// search (a later one may have credentials, and then its failure is only noted); when
/// none has any, the first failure is the error.
pub fn lookup(
    sources: &Sources<'_>,
    registry: &str,
    repository: &str,
) -> Result<Option<(Credentials, CredSource)>> {
    let timeout = cred_helper::timeout()?;
    let mut failures: Vec<Error> = Vec::new();
    for helper in sources.helpers {
        let found = if helper == AUTH_FILES {
            lookup_files(sources.files, registry, repository, timeout)
        } else {
            HelperCall {
                helper,
                registry,
                named_in: sources.helpers_named_in,
                timeout,
            }
            .get()
            .map(|c| {
                c.map(|c| {
                    let source = CredSource::Helper {
                        helper: helper.clone(),
                        named_in: sources.helpers_named_in.to_string(),
                    };
                    (c, source)
                })
            })
        };
        match found {
            Ok(Some(found)) => {
                for e in &failures {
                    let cause = e
                        .cause
                        .as_ref()
                        .map(|c| format!(": {c}"))
                        .unwrap_or_default();
                    crate::note(format_args!(
                        "{}{cause} (ignored: {} has the credentials)",
                        e.what, found.1
                    ));
                }
                return Ok(Some(found));
            }
            Ok(None) => {}
            Err(e) => failures.push(e),
        }
    }
    match failures.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(None),
    }
}

/// The auth files, in order: in each, a `credHelpers` entry for the registry's host
/// decides (the file's `auths` are not read then), else the most specific exact key,
/// else a key that names the host with a scheme.
fn lookup_files(
    files: &[AuthPath],
    registry: &str,
    repository: &str,
    timeout: std::time::Duration,
) -> Result<Option<(Credentials, CredSource)>> {
    for AuthPath { path: file, legacy } in files {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("read", file, &e)),
        };
        let parsed = match legacy {
            false => serde_json::from_slice::<AuthFile>(&bytes),
            true => serde_json::from_slice(&bytes).map(|auths| AuthFile {
                auths,
                ..AuthFile::default()
            }),
        };
        let parsed = parsed.map_err(|e| {
            Error::failure(format!("{} is not a valid auth file", file.display()))
                .because(e)
                .fix("remove it and log in again (podman login)")
        })?;
        // Helpers are keyed by the host alone: they hold no per-repository credentials.
        if let Some(helper) = parsed.cred_helpers.get(registry) {
            let named_in = format!("credHelpers of {}", file.display());
            let call = HelperCall {
                helper,
                registry,
                named_in: &named_in,
                timeout,
            };
            if let Some(c) = call.get()? {
                let source = CredSource::Helper {
                    helper: helper.clone(),
                    named_in,
                };
                return Ok(Some((c, source)));
            }
            continue;
        }
        // A legacy file is keyed by registry alone (containers/image's authKeyLookupOrder).
        let wanted = match legacy {
            false => candidate_keys(registry, repository),
            true => vec![registry.to_string()],
        };
        let exact = wanted.iter().find_map(|k| parsed.auths.get_key_value(k));
        let host = normalize_registry(registry);
        let entry = exact.or_else(|| {
            parsed
                .auths
                .iter()
                .find(|(k, _)| normalize_key(k, *legacy) == host)
        });
        if let Some((key, entry)) = entry {
            if let Some(c) = decode(file, key, entry)? {
                return Ok(Some((c, CredSource::File(file.clone()))));
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

    fn files_only(files: &[AuthPath]) -> Sources<'_> {
        Sources {
            helpers: std::slice::from_ref(&AUTH_FILES_NAME),
            helpers_named_in: "the default",
            files,
        }
    }

    static AUTH_FILES_NAME: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| AUTH_FILES.to_string());

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    /// An auth.json of these `auths` in a directory of its own: (the directory, the file).
    fn auth_file(tag: &str, auths: serde_json::Value) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("userns-auth-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("auth.json");
        std::fs::write(&file, serde_json::json!({ "auths": auths }).to_string()).unwrap();
        (dir, file)
    }

    fn current(path: &Path) -> AuthPath {
        AuthPath {
            path: path.to_path_buf(),
            legacy: false,
        }
    }

    #[test]
    fn exact_keys_win_over_scheme_keys_and_docker_hub_has_one_name() {
        // BTreeMap order would put "https://reg.example" before "reg.example": the exact
        // key must still win, as in containers/image.
        let (dir, file) = auth_file(
            "keys",
            serde_json::json!({
                "https://reg.example/v1/": {"auth": b64("legacy:1")},
                "reg.example": {"auth": b64("exact:2")},
                "http://old.example": {"auth": b64("old:3")},
                "registry-1.docker.io": {"auth": b64("hub:4"), "identitytoken": "refresh"},
                "other.example/team/app": {"auth": b64("repo:5")},
                "other.example/team": {"auth": b64("ns:6")},
            }),
        );
        let files = vec![current(&file)];
        let get = |reg: &str, repo: &str| {
            lookup(&files_only(&files), reg, repo)
                .unwrap()
                .map(|(c, _)| (c.username, c.identity_token))
        };
        assert_eq!(get("reg.example", "a/b").unwrap().0, "exact");
        assert_eq!(get("old.example", "a").unwrap().0, "old");
        assert_eq!(
            get("docker.io", "library/alpine").unwrap(),
            ("hub".to_string(), Some("refresh".to_string()))
        );
        assert_eq!(get("other.example", "team/app").unwrap().0, "repo");
        assert_eq!(get("other.example", "team/app2").unwrap().0, "ns");
        assert_eq!(get("other.example", "solo"), None);
        // A namespaced key never stands for the host, nor a scheme key for a namespace.
        assert_eq!(get("other.example", "teamx/app"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_most_specific_key_wins_and_schemes_are_dropped() {
        let (dir, file) = auth_file(
            "specific",
            serde_json::json!({
                "reg.example:5000": {"auth": b64("host:1")},
                "reg.example:5000/team": {"auth": b64("team:2")},
                "https://index.docker.io/v1/": {"auth": b64("hub:3")},
            }),
        );
        let files = vec![current(&dir.join("missing.json")), current(&file)];
        let get = |reg: &str, repo: &str| {
            lookup(&files_only(&files), reg, repo)
                .unwrap()
                .map(|(c, _)| c.username)
        };
        assert_eq!(get("reg.example:5000", "team/app").as_deref(), Some("team"));
        assert_eq!(
            get("reg.example:5000", "other/app").as_deref(),
            Some("host")
        );
        assert_eq!(get("docker.io", "library/alpine").as_deref(), Some("hub"));
        assert_eq!(get("reg.example", "x"), None);
        std::fs::write(&file, r#"{"auths": {"r.example": {"auth": "!!"}}}"#).unwrap();
        let e = lookup(&files_only(&files), "r.example", "x").unwrap_err();
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

    #[test]
    fn an_auth_file_named_is_read_alone_and_dockercfg_comes_last() {
        let home = Path::new("/home/u");
        let dir = std::env::temp_dir().join(format!("userns-auth-named-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mine = dir.join("mine.json");
        std::fs::write(&mine, "{}").unwrap();
        let named = auth_files(Some(&mine), Some(home), 1000).unwrap();
        assert_eq!(named, [current(&mine)]);
        // Named and not there: an error naming it, not a lookup without it.
        let missing = dir.join("mine.jsn");
        let e = auth_files(Some(&missing), Some(home), 1000).unwrap_err();
        assert!(
            e.to_string().contains(&missing.display().to_string()),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        if std::env::var_os("REGISTRY_AUTH_FILE").is_some_and(|v| !v.is_empty()) {
            return; // That is a file named too.
        }
        let found = auth_files(None, Some(home), 1000).unwrap();
        let last = found.last().expect("the default files");
        assert_eq!(
            (last.path.as_path(), last.legacy),
            (Path::new("/home/u/.dockercfg"), true)
        );
        assert!(
            found[..found.len() - 1].iter().all(|f| !f.legacy),
            "{found:?}"
        );
        assert!(
            found.len() >= 3,
            "runtime, docker's and the legacy file: {found:?}"
        );
    }

    #[test]
    fn a_legacy_dockercfg_is_keyed_by_registry_urls() {
        let dir = std::env::temp_dir().join(format!("userns-auth-legacy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(".dockercfg");
        std::fs::write(
            &file,
            serde_json::json!({
                "https://index.docker.io/v1/": {"auth": b64("hub:1"), "email": "a@b"},
                "reg.example:5000/v1/": {"auth": b64("reg:2"), "email": "a@b"},
                "exact.example": {"auth": b64("exact:3")},
            })
            .to_string(),
        )
        .unwrap();
        let files = vec![AuthPath {
            path: file.clone(),
            legacy: true,
        }];
        let get = |reg: &str, repo: &str| {
            lookup(&files_only(&files), reg, repo)
                .unwrap()
                .map(|(c, source)| (c.username, source.to_string()))
        };
        assert_eq!(get("docker.io", "library/alpine").unwrap().0, "hub");
        // Without a scheme the host is still all of the key that counts.
        assert_eq!(get("reg.example:5000", "team/app").unwrap().0, "reg");
        let (user, source) = get("exact.example", "x").unwrap();
        assert!(user == "exact" && source.contains(".dockercfg"), "{source}");
        assert_eq!(get("other.example", "x"), None);
        // Read as the current form, the same file holds nothing (no `auths`).
        let as_current = vec![current(&file)];
        assert!(lookup(&files_only(&as_current), "exact.example", "x")
            .unwrap()
            .is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
