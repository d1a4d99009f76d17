//! What the command line of `userns run` asks for, parsed into plain values before any
//! namespace exists: volumes, environment, user. Pure, so it is tested without privileges.

use super::namespaces::UsernsMode;
use crate::error::{Error, Result};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Network modes of `userns run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetMode {
    /// A new network namespace with loopback only.
    #[default]
    None,
    /// The host's network namespace.
    Host,
    /// A new network namespace connected by pasta (passt package).
    Pasta,
    /// A new network namespace connected by slirp4netns.
    Slirp4netns,
}

/// A container to run, as asked (the command line builds it from its options): the
/// words are checked and parsed by `run::run`, before any namespace exists.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    /// Run a tiny init as pid 1 that reaps orphans and forwards signals.
    pub init: bool,
    /// Hostname inside (default: a short container id).
    pub hostname: Option<String>,
    pub net: NetMode,
    pub userns: UsernsMode,
    /// Write to the source directory itself instead of an overlay over it.
    pub rootfs_rw: bool,
    pub read_only: bool,
    /// `HOST:CTR[:ro]` each; HOST is bytes, as any host path.
    pub volumes: Vec<OsString>,
    /// `K=V` or `K` each.
    pub env: Vec<String>,
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container (absolute).
    pub workdir: Option<String>,
    /// `UID[:GID]`, ids or names of the container's passwd and group.
    pub user: Option<String>,
    /// `--security-opt` values, as podman spells them (`seccomp=unconfined|FILE`).
    pub security_opt: Vec<String>,
    /// Keep stdin open.
    pub interactive: bool,
    /// Allocate a pseudo-terminal.
    pub tty: bool,
    /// Pass the caller's descriptors 3 to 3+N-1 to the container (podman's --preserve-fds).
    pub preserve_fds: u32,
    /// Keep the writable layer on disk under this name instead of throwing it away.
    pub keep: Option<String>,
    /// A root filesystem directory, an image archive or an OCI layout.
    pub source: PathBuf,
    /// The command and its arguments (default: the image's Entrypoint and Cmd).
    /// Bytes, as the caller passed them: an argument need not be UTF-8.
    pub command: Vec<OsString>,
    /// `--entrypoint` as given: one word, or a JSON array of words (see `entrypoint_words`).
    pub entrypoint: Option<OsString>,
    /// How to pull SOURCE when it is an image reference not cached yet (its
    /// `reference` is ignored: SOURCE is the reference).
    pub pull: crate::registry::PullSpec,
    /// No pull progress.
    pub quiet: bool,
    /// `-p [IP:]HOST:CONTAINER[/tcp|udp]` each: host ports published through pasta
    /// (`net` must be `NetMode::Pasta`).
    pub publish: Vec<String>,
}

/// The PATH podman gives a container whose image sets none.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `-v HOST:CTR[:ro]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Volume {
    /// Absolute, canonical host path (resolved before entering the namespace).
    pub host: PathBuf,
    /// Absolute path inside the container.
    pub target: String,
    pub read_only: bool,
}

/// Parse one `-v` value. The host path is made absolute against `cwd` and must exist:
/// podman takes a name without a slash as a named volume, which userns does not have.
/// HOST is bytes, as any host path; CTR and the options are text.
pub(crate) fn parse_volume(spec: impl AsRef<OsStr>, cwd: &Path) -> Result<Volume> {
    let spec = spec.as_ref();
    let bad = |why: &str| {
        Error::usage(format!("invalid volume {spec:?}"))
            .because(why.to_string())
            .fix(
                "write -v HOST:CTR or -v HOST:CTR:ro, both paths absolute (HOST may be ./relative)",
            )
    };
    let parts: Vec<&[u8]> = spec.as_bytes().split(|b| *b == b':').collect();
    let (host, target, options): (&[u8], &[u8], &[u8]) = match parts.as_slice() {
        [h, t] => (h, t, b""),
        [h, t, o] => (h, t, o),
        _ => return Err(bad("expected HOST:CTR[:OPTIONS]")),
    };
    if host.is_empty() || target.is_empty() {
        return Err(bad("an empty path"));
    }
    let (Ok(target), Ok(options)) = (std::str::from_utf8(target), std::str::from_utf8(options))
    else {
        return Err(bad(
            "CTR and the options must be UTF-8 text (HOST may be any bytes)",
        ));
    };
    let host = OsStr::from_bytes(host);
    if !host.as_bytes().starts_with(b"/") && !host.as_bytes().starts_with(b".") {
        return Err(bad(
            "HOST is not a path (userns has no named volumes); start it with / or ./",
        ));
    }
    if !target.starts_with('/') {
        return Err(bad("CTR must be an absolute path inside the container"));
    }
    let mut read_only = false;
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => read_only = true,
            "rw" => read_only = false,
            // SELinux relabelling: there is no SELinux policy to satisfy here.
            "z" | "Z" => {}
            other => return Err(bad(&format!("unknown option {other:?} (ro, rw, z, Z)"))),
        }
    }
    let joined = cwd.join(host);
    let host = joined
        .canonicalize()
        .map_err(|e| Error::io("use the volume source", &joined, &e))?;
    Ok(Volume {
        host,
        target: target.to_string(),
        read_only,
    })
}

/// One `-e` value: `K=V`, or `K` alone to pass the caller's value (podman does the same;
/// an unset K is left out). `lookup` reads the caller's environment.
pub(crate) fn parse_env(
    spec: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>> {
    match spec.split_once('=') {
        Some(("", _)) => Err(Error::usage(format!("invalid -e {spec:?}"))
            .because("the variable name is empty")
            .fix("write -e NAME=VALUE")),
        Some(_) => Ok(Some(spec.to_string())),
        None if spec.is_empty() => Err(Error::usage("invalid -e \"\"").fix("write -e NAME=VALUE")),
        None => Ok(lookup(spec).map(|v| format!("{spec}={v}"))),
    }
}

/// The lines of an env file: `K=V`, `K` (from the caller), `#` comments and blank lines
/// skipped, as podman's `--env-file` reads them.
pub(crate) fn parse_env_file(
    path: &Path,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = parse_env(line, lookup)
            .map_err(|e| Error::usage(format!("{}:{}: {}", path.display(), n + 1, e.what)))?;
        out.extend(parsed);
    }
    Ok(out)
}

/// Set `entry` (K=V) in `env`, replacing an earlier value of K.
pub(crate) fn set_env(env: &mut Vec<String>, entry: &str) {
    let key = entry.split_once('=').map_or(entry, |(k, _)| k);
    env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
    env.push(entry.to_string());
}

/// Whether `env` sets K.
pub(crate) fn has_env(env: &[String], key: &str) -> bool {
    env.iter()
        .any(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
}

/// The base environment: PATH, TERM, HOSTNAME (podman's defaults), then the image's Env,
/// then env files, then `-e`, each overriding the ones before. HOME comes later, from
/// the container's passwd, when none of these set it.
pub(crate) fn container_env(
    hostname: &str,
    image_env: &[String],
    files: &[String],
    cli: &[String],
) -> Vec<String> {
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        "TERM=xterm".to_string(),
        format!("HOSTNAME={hostname}"),
        // systemd and others detect a container by this variable; podman sets it too.
        "container=userns".to_string(),
    ];
    for entry in image_env.iter().chain(files).chain(cli) {
        set_env(&mut env, entry);
    }
    env
}

/// `--entrypoint` as podman reads it (pkg/specgenutil): a JSON array of strings is the
/// words, anything else (`""` included) one word; JSON `null` is as if it were not given.
/// Bytes that are not UTF-8 cannot be JSON, so they are one word too.
pub(crate) fn entrypoint_words(raw: &OsStr) -> Option<Vec<OsString>> {
    let Some(text) = raw.to_str() else {
        return Some(vec![raw.to_os_string()]);
    };
    // Go's json leaves "" for a null element of a []string.
    match serde_json::from_str::<Option<Vec<Option<String>>>>(text) {
        Ok(None) => None,
        Ok(Some(words)) => Some(
            words
                .into_iter()
                .map(|w| OsString::from(w.unwrap_or_default()))
                .collect(),
        ),
        Err(_) => Some(vec![raw.to_os_string()]),
    }
}

/// The program to run, by podman's rule (pkg/specgen/generate/oci.go, makeCommand): the
/// entrypoint is `--entrypoint`'s words, else the image's (left out when it is the one
/// word `""`); then COMMAND, or else the image's Cmd, which is used only when no
/// `--entrypoint` gave words. When nothing is left, /bin/sh, unless `--entrypoint` was
/// given: then, as podman, there is nothing to run and it is a usage error.
pub(crate) fn program_words(
    image_entrypoint: &[String],
    cmd: &[String],
    entrypoint: Option<&[OsString]>,
    command: &[OsString],
) -> Result<Vec<OsString>> {
    let image_entrypoint: Vec<OsString> = image_entrypoint.iter().map(OsString::from).collect();
    let chosen = entrypoint.unwrap_or(&image_entrypoint);
    let mut words: Vec<OsString> = match chosen {
        [only] if only.is_empty() => Vec::new(),
        words => words.to_vec(),
    };
    if !command.is_empty() {
        words.extend(command.iter().cloned());
    } else if entrypoint.is_none_or(|e| e.is_empty()) {
        words.extend(cmd.iter().map(OsString::from));
    }
    if words.is_empty() {
        if entrypoint.is_some() {
            return Err(Error::usage("nothing to run")
                .because("--entrypoint gave no program, no COMMAND was given, and the image's Cmd is not used once --entrypoint is given (podman's rule)")
                .fix("give a COMMAND after SOURCE, or a program to --entrypoint"));
        }
        words.push("/bin/sh".into());
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn volumes_parse_with_options_and_resolve_the_host_path() {
        let v = parse_volume("/tmp:/data:ro", Path::new("/")).unwrap();
        assert_eq!(v.host, Path::new("/tmp").canonicalize().unwrap());
        assert_eq!(v.target, "/data");
        assert!(v.read_only);
        let v = parse_volume("./tmp:/data", Path::new("/")).unwrap();
        assert!(!v.read_only);
        assert!(parse_volume("/tmp:data", Path::new("/")).is_err());
        assert!(parse_volume("vol:/data", Path::new("/")).is_err());
        assert!(parse_volume("/tmp:/data:rx", Path::new("/")).is_err());
        assert!(parse_volume("/tmp", Path::new("/")).is_err());
        let missing = parse_volume("/no/such/dir:/d", Path::new("/")).unwrap_err();
        assert!(missing.what.contains("/no/such/dir"), "{missing}");
    }

    #[test]
    fn env_layers_override_in_order() {
        let lookup = |k: &str| (k == "FROM_HOST").then(|| "h".to_string());
        assert_eq!(parse_env("A=1", &lookup).unwrap(), Some("A=1".into()));
        assert_eq!(
            parse_env("FROM_HOST", &lookup).unwrap(),
            Some("FROM_HOST=h".into())
        );
        assert_eq!(parse_env("UNSET", &lookup).unwrap(), None);
        assert!(parse_env("=x", &lookup).is_err());
        let env = container_env(
            "abc",
            &["PATH=/img".into(), "A=img".into()],
            &["A=file".into()],
            &["A=cli".into(), "B=".into()],
        );
        assert!(env.contains(&"PATH=/img".to_string()));
        assert!(env.contains(&"A=cli".to_string()));
        assert!(env.contains(&"B=".to_string()));
        assert!(env.contains(&"HOSTNAME=abc".to_string()));
        assert_eq!(env.iter().filter(|e| e.starts_with("A=")).count(), 1);
        assert!(has_env(&env, "TERM") && !has_env(&env, "HOME"));
    }

    #[test]
    fn env_file_skips_comments_and_names_bad_lines() {
        let p = Path::new("/x.env");
        let got = parse_env_file(p, "# c\n\nA=1\n  B=2 3\nC\n", &no_env).unwrap();
        assert_eq!(got, vec!["A=1".to_string(), "B=2 3".to_string()]);
        let err = parse_env_file(p, "A=1\n=bad\n", &no_env).unwrap_err();
        assert!(err.what.starts_with("/x.env:2:"), "{err}");
    }

    #[test]
    fn program_is_entrypoint_then_command_or_cmd() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let o = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let words = |ep: &[String], cmd: &[String], user: Option<&[OsString]>, c: &[OsString]| {
            program_words(ep, cmd, user, c).unwrap()
        };
        assert_eq!(words(&[], &[], None, &[]), o(&["/bin/sh"]));
        assert_eq!(
            words(&[], &s(&["sh", "-c", "x"]), None, &[]),
            o(&["sh", "-c", "x"])
        );
        assert_eq!(
            words(&s(&["/ep"]), &s(&["a"]), None, &o(&["b"])),
            o(&["/ep", "b"])
        );
        assert_eq!(words(&s(&["/ep"]), &s(&["a"]), None, &[]), o(&["/ep", "a"]));
        // A COMMAND word is passed as the bytes it is.
        use std::os::unix::ffi::OsStringExt;
        let odd = vec![OsString::from_vec(vec![0xff])];
        assert_eq!(words(&[], &[], None, &odd), odd);
    }

    #[test]
    fn entrypoint_option_follows_podman() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let o = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let ep = |raw: &str| entrypoint_words(OsStr::new(raw));
        assert_eq!(ep("/bin/echo"), Some(o(&["/bin/echo"])));
        assert_eq!(ep(r#"["/bin/sh", "-c"]"#), Some(o(&["/bin/sh", "-c"])));
        assert_eq!(ep(""), Some(o(&[""])));
        assert_eq!(ep("[]"), Some(vec![]));
        assert_eq!(ep("null"), None);
        assert_eq!(ep(r#"["a", null]"#), Some(o(&["a", ""])));
        assert_eq!(ep(r#""quoted""#), Some(o(&[r#""quoted""#])));
        assert_eq!(ep("[1]"), Some(o(&["[1]"])));
        use std::os::unix::ffi::OsStringExt;
        let odd = OsString::from_vec(b"[\"\xff\"]".to_vec());
        assert_eq!(entrypoint_words(&odd), Some(vec![odd.clone()]));

        let (image_ep, cmd) = (s(&["/ep"]), s(&["img-cmd"]));
        let run = |user: &[&str], c: &[&str]| program_words(&image_ep, &cmd, Some(&o(user)), &o(c));
        // --entrypoint replaces the image's, and the image's Cmd is dropped.
        assert_eq!(run(&["/x"], &[]).unwrap(), o(&["/x"]));
        assert_eq!(run(&["/x"], &["a"]).unwrap(), o(&["/x", "a"]));
        // "" clears it: COMMAND alone, and without COMMAND nothing to run.
        assert_eq!(run(&[""], &["a"]).unwrap(), o(&["a"]));
        let err = run(&[""], &[]).unwrap_err();
        assert!(err.to_string().contains("nothing to run"), "{err}");
        // '[]' clears it too, but keeps the image's Cmd (podman: len(Entrypoint) == 0).
        assert_eq!(run(&[], &[]).unwrap(), o(&["img-cmd"]));
        // No image config (a root filesystem directory): --entrypoint prefixes COMMAND.
        assert_eq!(
            program_words(&[], &[], Some(&o(&["/bin/echo", "x"])), &o(&["y"])).unwrap(),
            o(&["/bin/echo", "x", "y"])
        );
    }
}
