//! containers.conf's `seccomp_profile` (under `[containers]`), read as podman reads it
//! (containers.conf(5) of containers-common 0.50): `$CONTAINERS_CONF` alone when set;
//! else /usr/share/containers/containers.conf, /etc/containers/containers.conf, the
//! `*.conf` files of /etc/containers/containers.conf.d in name order, and for a rootless
//! user `$XDG_CONFIG_HOME/containers/containers.conf` (default ~/.config) and its `.d`
//! directory. A later file's setting wins.

use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where podman finds the default profile when containers.conf names none
/// (containers/common `DefaultSeccompPath`): the administrator's override first.
pub(crate) const PROFILE_PATHS: [&str; 2] = [
    "/etc/containers/seccomp.json",
    "/usr/share/containers/seccomp.json",
];

/// A `seccomp_profile` value and the file that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Setting {
    pub(crate) value: String,
    pub(crate) file: PathBuf,
}

/// The containers.conf files podman would read, in order.
pub(crate) fn conf_files(env: &dyn Fn(&str) -> Option<String>, rootless: bool) -> Vec<PathBuf> {
    if let Some(only) = env("CONTAINERS_CONF") {
        return vec![PathBuf::from(only)];
    }
    let mut files = vec![
        PathBuf::from("/usr/share/containers/containers.conf"),
        PathBuf::from("/etc/containers/containers.conf"),
    ];
    files.extend(crate::drop_ins::files(Path::new(
        "/etc/containers/containers.conf.d",
    )));
    if rootless {
        let config_home = env("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| Path::new(&h).join(".config")));
        if let Some(dir) = config_home {
            let dir = dir.join("containers");
            files.push(dir.join("containers.conf"));
            files.extend(crate::drop_ins::files(&dir.join("containers.conf.d")));
        }
    }
    files
}

#[derive(Deserialize)]
struct ContainersConf {
    containers: Option<ContainersTable>,
}

#[derive(Deserialize)]
struct ContainersTable {
    seccomp_profile: Option<String>,
}

/// The last `seccomp_profile` the files set (an empty value sets nothing). Files that do
/// not exist are skipped. A file is parsed only when a line of it mentions the key: the
/// distribution's containers.conf is ~30 KB of comments, and every `userns run` reads it.
pub(crate) fn seccomp_profile(files: &[PathBuf]) -> Result<Option<Setting>> {
    let mut found = None;
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("read", file, &e)),
        };
        if let Some(value) = setting_in(&text).map_err(|why| {
            Error::failure(format!("cannot read {}", file.display()))
                .because(why)
                .fix(
                    "correct the TOML syntax (see containers.conf(5)); podman refuses the file too",
                )
        })? {
            found = Some(Setting {
                value,
                file: file.clone(),
            });
        }
    }
    Ok(found)
}

/// `[containers] seccomp_profile` of one file's text.
fn setting_in(text: &str) -> std::result::Result<Option<String>, String> {
    if !text
        .lines()
        .any(|l| l.trim_start().starts_with("seccomp_profile"))
    {
        return Ok(None);
    }
    let conf: ContainersConf = toml::from_str(text).map_err(|e| e.to_string())?;
    Ok(conf
        .containers
        .and_then(|c| c.seccomp_profile)
        .filter(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_is_read_from_the_containers_table_only() {
        let commented = "[containers]\n#seccomp_profile = \"/usr/share/containers/seccomp.json\"\n";
        assert_eq!(setting_in(commented).unwrap(), None);
        let set = "[engine]\nx = 1\n[containers]\nseccomp_profile = \"/p.json\"\n";
        assert_eq!(setting_in(set).unwrap(), Some("/p.json".into()));
        let elsewhere = "[engine]\nseccomp_profile = \"/p.json\"\n";
        assert_eq!(setting_in(elsewhere).unwrap(), None);
        assert_eq!(
            setting_in("[containers]\nseccomp_profile = \"\"\n").unwrap(),
            None
        );
        assert!(setting_in("[containers]\nseccomp_profile = \n").is_err());
    }

    #[test]
    fn later_files_win_and_missing_ones_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let a = write("a.conf", "[containers]\nseccomp_profile = \"/a.json\"\n");
        let b = write("b.conf", "[containers]\nseccomp_profile = \"/b.json\"\n");
        let none = write("c.conf", "[containers]\nshm_size = \"1m\"\n");
        let missing = dir.path().join("missing.conf");
        let got = seccomp_profile(&[a.clone(), missing.clone(), b.clone(), none]).unwrap();
        assert_eq!(
            got,
            Some(Setting {
                value: "/b.json".into(),
                file: b
            })
        );
        assert_eq!(seccomp_profile(&[missing]).unwrap(), None);
        let bad = write("bad.conf", "[containers\nseccomp_profile = 1\n");
        let err = seccomp_profile(&[a, bad]).unwrap_err();
        assert!(err.what.contains("bad.conf"), "{err}");
    }

    #[test]
    fn files_are_podmans_and_containers_conf_overrides_them_all() {
        let env = |k: &str| match k {
            "HOME" => Some("/home/ivy".to_string()),
            _ => None,
        };
        let files = conf_files(&env, true);
        assert_eq!(files[0], Path::new("/usr/share/containers/containers.conf"));
        assert_eq!(files[1], Path::new("/etc/containers/containers.conf"));
        assert!(files.contains(&PathBuf::from(
            "/home/ivy/.config/containers/containers.conf"
        )));
        assert!(!conf_files(&env, false)
            .iter()
            .any(|f| f.starts_with("/home/ivy")));
        let xdg = |k: &str| (k == "XDG_CONFIG_HOME").then(|| "/x".to_string());
        assert!(conf_files(&xdg, true).contains(&PathBuf::from("/x/containers/containers.conf")));
        let only = |k: &str| (k == "CONTAINERS_CONF").then(|| "/c.conf".to_string());
        assert_eq!(conf_files(&only, true), [PathBuf::from("/c.conf")]);
    }
}
