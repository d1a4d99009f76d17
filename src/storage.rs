//! Where rootless container storage lives, found as containers/storage finds it
//! (`types/options.go`: `loadStoreOptionsFromConfFile`, `getRootlessStorageOpts`,
//! `expandEnvPath`; `pkg/homedir`: `GetRuntimeDir`, `GetDataHome`, `GetConfigHome`).
//!
//! For a rootless user:
//! 1. defaults: graphroot `$XDG_DATA_HOME/containers/storage` (else
//!    `~/.local/share/containers/storage`), runroot `$XDG_RUNTIME_DIR/containers` (else
//!    `/run/user/UID/containers` when that directory is the user's, else
//!    `/tmp/storage-run-UID/containers`);
//! 2. the system file (/etc/containers/storage.conf): only `rootless_storage_path` counts
//!    for rootless users (its `graphroot` and `runroot` are root's);
//! 3. the user's file (`$CONTAINERS_STORAGE_CONF`, else
//!    `$XDG_CONFIG_HOME/containers/storage.conf`, else `~/.config/...`), when it exists,
//!    replaces the system file: its `graphroot` wins, then its `rootless_storage_path`,
//!    and its `runroot`.
//!
//! Paths are expanded as `expandEnvPath` does: `$UID` first, then every `$VAR`/`${VAR}`
//! from the environment (so `$HOME` and `$USER` too), then cleaned.

use crate::users::Account;
use std::path::{Component, Path, PathBuf};

const SYSTEM_CONF: &str = "/etc/containers/storage.conf";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoragePaths {
    pub graphroot: PathBuf,
    pub runroot: PathBuf,
    /// The runtime dir the default runroot lies in (None for root, or when storage.conf
    /// names the runroot): whoever controls it controls what the runroot leads to.
    pub runtime_dir: Option<PathBuf>,
}

/// The `[storage]` keys that decide the paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StorageConf {
    pub graphroot: Option<String>,
    pub runroot: Option<String>,
    pub rootless_storage_path: Option<String>,
}

/// Why storage.conf text cannot be used.
#[derive(Debug)]
pub(crate) enum ConfError {
    /// Not TOML.
    Toml(toml::de::Error),
    /// A path key of `[storage]` that is not a string.
    NotAString {
        key: &'static str,
        found: &'static str,
    },
}

impl std::fmt::Display for ConfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfError::Toml(e) => e.fmt(f),
            ConfError::NotAString { key, found } => {
                write!(f, "[storage] {key} must be a string, not {found}")
            }
        }
    }
}

impl std::error::Error for ConfError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfError::Toml(e) => Some(e),
            ConfError::NotAString { .. } => None,
        }
    }
}

impl StorageConf {
    /// Parse storage.conf text; keys outside `[storage]` and other keys are ignored, as
    /// containers/storage ignores them here. Empty strings count as unset (Go's "").
    pub(crate) fn parse(text: &str) -> Result<StorageConf, ConfError> {
        let value: toml::Table = text.parse().map_err(ConfError::Toml)?;
        let Some(storage) = value.get("storage").and_then(|v| v.as_table()) else {
            return Ok(StorageConf::default());
        };
        let key = |k: &'static str| -> Result<Option<String>, ConfError> {
            match storage.get(k) {
                None => Ok(None),
                Some(toml::Value::String(s)) if s.is_empty() => Ok(None),
                Some(toml::Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(ConfError::NotAString {
                    key: k,
                    found: other.type_str(),
                }),
            }
        };
        Ok(StorageConf {
            graphroot: key("graphroot")?,
            runroot: key("runroot")?,
            rootless_storage_path: key("rootless_storage_path")?,
        })
    }

    /// Read and parse a file; None when it does not exist. A file that cannot be read or
    /// parsed is warned about and ignored (podman refuses to start then; cleaning the
    /// default paths is still what the user wants to know about).
    fn read(path: &Path) -> Option<StorageConf> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                crate::warn(format!("cannot read {}: {e}; ignoring it", path.display()));
                return None;
            }
        };
        match StorageConf::parse(&text) {
            Ok(conf) => Some(conf),
            Err(e) => {
                crate::warn(format!("{}: {e}; ignoring it", path.display()));
                None
            }
        }
    }
}

/// Everything the resolution reads from outside, so that it is a pure function.
pub(crate) struct StorageInputs<'a> {
    pub uid: u32,
    pub home: PathBuf,
    /// The environment variable lookup ($XDG_*, and the variables of `expandEnvPath`).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Whether /run/user/UID exists and belongs to the user (homedir.GetRuntimeDir).
    pub run_user_dir_usable: bool,
    pub system: Option<StorageConf>,
    pub user: Option<StorageConf>,
}

impl StoragePaths {
    /// The paths podman would use for `account`, from the environment and the config files.
    pub fn discover(account: &Account) -> StoragePaths {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let home = env("HOME")
            .map(PathBuf::from)
            .or_else(|| account.home.clone())
            .unwrap_or_else(|| PathBuf::from("/"));
        let user_conf = user_conf_path(&env, &home);
        // The user's own, as homedir.GetRuntimeDir requires, else the /tmp fallback; lstat,
        // so that a link there is not taken for the directory.
        let run_user = PathBuf::from(format!("/run/user/{}", account.uid));
        let run_user_dir_usable = matches!(
            crate::trusted_dir::inspect(&run_user),
            Ok(None | Some(crate::trusted_dir::Problem::Open { .. }))
        );
        StoragePaths::resolve(&StorageInputs {
            uid: account.uid,
            home,
            env: &env,
            run_user_dir_usable,
            system: StorageConf::read(Path::new(SYSTEM_CONF)),
            user: StorageConf::read(&user_conf),
        })
    }

    /// The resolution itself (see the module comment for the order).
    pub(crate) fn resolve(inputs: &StorageInputs) -> StoragePaths {
        let env = inputs.env;
        let expand = |p: &str| expand_env_path(p, inputs.uid, env);
        if inputs.uid == 0 {
            // Root uses the system file's graphroot and runroot (or their defaults).
            let conf = inputs.user.as_ref().or(inputs.system.as_ref());
            let get = |f: fn(&StorageConf) -> &Option<String>, default: &str| {
                conf.and_then(|c| f(c).as_deref())
                    .map(&expand)
                    .unwrap_or_else(|| PathBuf::from(default))
            };
            return StoragePaths {
                graphroot: get(|c| &c.graphroot, "/var/lib/containers/storage"),
                runroot: get(|c| &c.runroot, "/run/containers/storage"),
                runtime_dir: None,
            };
        }
        let runtime_dir = env("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                if inputs.run_user_dir_usable {
                    PathBuf::from(format!("/run/user/{}", inputs.uid))
                } else {
                    PathBuf::from(format!("/tmp/storage-run-{}", inputs.uid))
                }
            });
        let data_home = env("XDG_DATA_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| inputs.home.join(".local/share"));
        let default_runroot = runtime_dir.join("containers");
        let default_graphroot = match inputs
            .system
            .as_ref()
            .and_then(|s| s.rootless_storage_path.as_deref())
        {
            Some(p) => expand(p),
            None => data_home.join("containers/storage"),
        };
        let user = inputs.user.as_ref();
        let runroot = user.and_then(|u| u.runroot.as_deref()).map(&expand);
        StoragePaths {
            graphroot: user
                .and_then(|u| {
                    u.graphroot
                        .as_deref()
                        .or(u.rootless_storage_path.as_deref())
                })
                .map(&expand)
                .unwrap_or(default_graphroot),
            runtime_dir: runroot.is_none().then_some(runtime_dir),
            runroot: runroot.unwrap_or(default_runroot),
        }
    }

    /// Refuse storage that another user could steer before `clean` removes it: the
    /// runtime dir of the default runroot (with no XDG_RUNTIME_DIR and no /run/user/UID,
    /// podman's /tmp/storage-run-UID, which anyone can create first), then the graphroot
    /// and runroot themselves and the way to them (storage.conf may put them anywhere,
    /// such as a rootless_storage_path under /var/tmp). What does not exist is not checked.
    pub fn check_trusted(&self) -> crate::Result<()> {
        use crate::trusted_dir::{check, check_ancestors, Kind};
        if let Some(dir) = &self.runtime_dir {
            if check(dir, Kind::Runtime)? {
                check_ancestors(dir, Kind::Runtime)?;
            }
        }
        for dir in [&self.graphroot, &self.runroot] {
            if check(dir, Kind::Storage)? {
                check_ancestors(dir, Kind::Storage)?;
            }
        }
        Ok(())
    }
}

/// `$CONTAINERS_STORAGE_CONF`, else `$XDG_CONFIG_HOME/containers/storage.conf`, else
/// `~/.config/containers/storage.conf` (containers/storage `DefaultConfigFile`).
fn user_conf_path(env: &dyn Fn(&str) -> Option<String>, home: &Path) -> PathBuf {
    if let Some(p) = env("CONTAINERS_STORAGE_CONF") {
        return PathBuf::from(p);
    }
    env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".config"))
        .join("containers/storage.conf")
}

/// containers/storage `expandEnvPath`: replace `$UID`, then expand `$VAR` and `${VAR}`
/// like Go's os.ExpandEnv (unset variables become empty), then clean the path.
pub(crate) fn expand_env_path(
    path: &str,
    uid: u32,
    env: &dyn Fn(&str) -> Option<String>,
) -> PathBuf {
    let with_uid = path.replace("$UID", &uid.to_string());
    let mut out = String::new();
    let mut rest = with_uid.as_str();
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        if consumed == 0 {
            // A lone `$` (or an unclosed `${`) stays as written.
            out.push('$');
            rest = after;
            continue;
        }
        out.push_str(&env(name).unwrap_or_default());
        rest = &after[consumed..];
    }
    out.push_str(rest);
    clean_path(Path::new(&out))
}

/// Go's filepath.Clean without touching the filesystem: drop `.`, fold `..`.
fn clean_path(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() && !path.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn resolve(
        vars: &'static [(&'static str, &'static str)],
        system: Option<&str>,
        user: Option<&str>,
    ) -> StoragePaths {
        let env = env_of(vars);
        StoragePaths::resolve(&StorageInputs {
            uid: 2000,
            home: PathBuf::from("/home/ivy"),
            env: &env,
            run_user_dir_usable: false,
            system: system.map(|t| StorageConf::parse(t).unwrap()),
            user: user.map(|t| StorageConf::parse(t).unwrap()),
        })
    }

    #[test]
    fn defaults_follow_xdg() {
        let p = resolve(&[], None, None);
        assert_eq!(
            p.graphroot,
            PathBuf::from("/home/ivy/.local/share/containers/storage")
        );
        assert_eq!(p.runroot, PathBuf::from("/tmp/storage-run-2000/containers"));
        assert_eq!(p.runtime_dir, Some(PathBuf::from("/tmp/storage-run-2000")));
        let p = resolve(
            &[("XDG_DATA_HOME", "/d"), ("XDG_RUNTIME_DIR", "/run/x")],
            None,
            None,
        );
        assert_eq!(p.graphroot, PathBuf::from("/d/containers/storage"));
        assert_eq!(p.runroot, PathBuf::from("/run/x/containers"));
    }

    #[test]
    fn system_file_counts_only_rootless_storage_path() {
        let system = r#"
[storage]
driver = "overlay"
graphroot = "/var/lib/containers/storage"
runroot = "/run/containers/storage"
rootless_storage_path = "/srv/$USER/${UID}x/$UID/../store"
"#;
        let p = resolve(
            &[("USER", "ivy"), ("XDG_RUNTIME_DIR", "/r")],
            Some(system),
            None,
        );
        // ${UID} is not replaced by the $UID pass and UID is not in the environment, as in Go.
        assert_eq!(p.graphroot, PathBuf::from("/srv/ivy/x/store"));
        assert_eq!(p.runroot, PathBuf::from("/r/containers"));
        let root = StoragePaths::resolve(&StorageInputs {
            uid: 0,
            home: PathBuf::from("/root"),
            env: &env_of(&[]),
            run_user_dir_usable: false,
            system: Some(StorageConf::parse(system).unwrap()),
            user: None,
        });
        assert_eq!(root.runroot, PathBuf::from("/run/containers/storage"));
    }

    #[test]
    fn user_file_replaces_the_system_file() {
        let system = "[storage]\nrootless_storage_path = \"/srv/sys\"\n";
        let user = "[storage]\nrootless_storage_path = \"$HOME/rsp\"\nrunroot = \"/rr/$UID\"\n";
        let p = resolve(&[("HOME", "/home/ivy")], Some(system), Some(user));
        assert_eq!(p.graphroot, PathBuf::from("/home/ivy/rsp"));
        assert_eq!(p.runroot, PathBuf::from("/rr/2000"));
        assert_eq!(
            p.runtime_dir, None,
            "a runroot of storage.conf is not in it"
        );
        let user = "[storage]\ngraphroot = \"/g\"\nrootless_storage_path = \"/ignored\"\n";
        assert_eq!(
            resolve(&[], Some(system), Some(user)).graphroot,
            PathBuf::from("/g")
        );
        // A user file without the keys keeps the defaults, which include the system
        // file's rootless_storage_path.
        assert_eq!(
            resolve(&[], Some(system), Some("[storage]\ndriver = \"vfs\"\n")).graphroot,
            PathBuf::from("/srv/sys")
        );
    }

    #[test]
    fn bad_values_are_errors() {
        let not_a_string = StorageConf::parse("[storage]\ngraphroot = 3\n").unwrap_err();
        assert_eq!(
            not_a_string.to_string(),
            "[storage] graphroot must be a string, not integer"
        );
        let not_toml = StorageConf::parse("[storage\n").unwrap_err();
        let source = std::error::Error::source(&not_toml).expect("toml's error is kept");
        assert_eq!(source.to_string(), not_toml.to_string());
        assert_eq!(
            StorageConf::parse("[other]\ngraphroot = \"/x\"\n").unwrap(),
            StorageConf::default()
        );
    }

    #[test]
    fn expansion_is_go_like() {
        let env = env_of(&[("A", "1")]);
        assert_eq!(
            expand_env_path("/x/$A/$B/y", 5, &env),
            PathBuf::from("/x/1/y")
        );
        assert_eq!(
            expand_env_path("/x/./$/z/", 5, &env),
            PathBuf::from("/x/$/z")
        );
        assert_eq!(
            expand_env_path("/run/$UID", 5, &env),
            PathBuf::from("/run/5")
        );
    }
}
