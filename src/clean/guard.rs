//! What `userns clean` and `userns chown -R` refuse to touch, decided before anything is
//! changed: `/`, the home directory (and what contains it), a tree owned by someone who
//! is neither the user nor one of his subordinate ids, and a tree with mounts in use.

use crate::error::{Error, Result};
use crate::idmap::IdMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};

/// A PATH from the command line, resolved (by `target::resolve`) and checked.
#[derive(Debug, Clone)]
pub struct Target {
    /// As the user wrote it, for messages.
    pub given: PathBuf,
    /// Canonical (every symlink on the way resolved).
    pub path: PathBuf,
    /// The canonical parent, where the walk is anchored.
    pub parent: PathBuf,
    /// The last component, looked up in the parent with O_NOFOLLOW.
    pub name: CString,
    pub owner_uid: u32,
    pub is_dir: bool,
}

pub(super) fn refusal(given: &Path, why: impl Into<crate::error::Cause>) -> Error {
    Error::failure(format!("refusing to touch {}", given.display())).because(why)
}

/// The home directories to protect, resolved: $HOME, and the home of the real uid in the
/// passwd database (getpwuid), since $HOME is whatever the caller set
/// (`HOME=/tmp userns clean ~` must still refuse). One NSS lookup, for clean and chown only.
pub fn protected_homes() -> Vec<PathBuf> {
    let from_env = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    let from_passwd =
        crate::users::Account::by_uid(nix::unistd::getuid().as_raw()).and_then(|a| a.home);
    let mut homes: Vec<PathBuf> = [from_env, from_passwd]
        .into_iter()
        .flatten()
        .filter_map(|h| std::fs::canonicalize(h).ok())
        .collect();
    homes.dedup();
    homes
}

/// The path rules, pure: `/`, each home directory in `homes` and its ancestors, and an
/// owner that is not the user nor mapped by `uid_map` (his subordinate ids).
pub fn check_path(target: &Target, homes: &[PathBuf], uid_map: &IdMap) -> Result<()> {
    if target.path == Path::new("/") {
        return Err(refusal(&target.given, "it is the root directory /"));
    }
    for home in homes {
        if *home == target.path {
            return Err(refusal(&target.given, "it is your home directory")
                .fix("name the directories inside it that you mean"));
        }
        if home.starts_with(&target.path) {
            return Err(refusal(
                &target.given,
                format!("it contains your home directory {}", home.display()),
            )
            .fix("name the directories inside it that you mean"));
        }
    }
    if uid_map.to_ns(target.owner_uid).is_none() {
        let ranges = crate::idmap::IdMapEntry::outside_ranges(&uid_map.entries);
        return Err(refusal(
            &target.given,
            format!(
                "it is owned by uid {}, which is neither you nor one of your subordinate ids ({ranges})",
                target.owner_uid
            ),
        )
        .fix("clean only trees you own, directly or through /etc/subuid"));
    }
    Ok(())
}

/// One line of /proc/PID/mountinfo (proc(5)): what matters here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub mount_point: PathBuf,
    pub fs_type: String,
    pub source: String,
}

impl Mount {
    /// Mounts that mean a container is running on this storage (podman's rootless
    /// overlay, fuse-overlayfs, or a bind of a container's rootfs).
    pub(crate) fn is_container_storage(&self) -> bool {
        self.fs_type == "overlay" || self.fs_type.starts_with("fuse.fuse-overlayfs")
    }
}

/// Parse mountinfo text. Field 5 is the mount point with space, tab, newline and
/// backslash written as octal escapes; after the ` - ` separator come type and source.
pub(crate) fn parse_mountinfo(text: &[u8]) -> Vec<Mount> {
    let mut mounts = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == b"-") else {
            continue;
        };
        if sep < 6 || fields.len() < sep + 3 {
            continue;
        }
        use std::os::unix::ffi::OsStrExt;
        mounts.push(Mount {
            mount_point: PathBuf::from(std::ffi::OsStr::from_bytes(&unescape(fields[4]))),
            fs_type: String::from_utf8_lossy(&unescape(fields[sep + 1])).into_owned(),
            source: String::from_utf8_lossy(&unescape(fields[sep + 2])).into_owned(),
        });
    }
    mounts
}

/// Undo mountinfo's octal escapes (`\040` for a space, ...).
pub(crate) fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\'
            && i + 3 < field.len()
            && field[i + 1..i + 4]
                .iter()
                .all(|c| (b'0'..=b'7').contains(c))
        {
            let v = field[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, c| acc * 8 + (c - b'0') as u32);
            out.push(v as u8);
            i += 4;
        } else {
            out.push(field[i]);
            i += 1;
        }
    }
    out
}

/// Mounts at `path` or below it.
pub(crate) fn mounts_within<'m>(mounts: &'m [Mount], path: &Path) -> Vec<&'m Mount> {
    mounts
        .iter()
        .filter(|m| m.mount_point.starts_with(path))
        .collect()
}

/// Refuse a tree with a mount on it (the tree's own directory cannot go) or below it
/// (without `cross_filesystems`; with it, still refuse container storage in use).
pub fn check_mounts(target: &Target, mounts: &[Mount], cross_filesystems: bool) -> Result<()> {
    for m in mounts_within(mounts, &target.path) {
        let at_root = m.mount_point == target.path;
        if at_root || !cross_filesystems || m.is_container_storage() {
            let fix = if m.is_container_storage() {
                "stop the containers that use it (podman stop --all), then try again"
            } else if at_root {
                "unmount it first (umount, or fusermount -u for a FUSE mount)"
            } else {
                "unmount it first, or pass --cross-filesystems to clean inside it too"
            };
            return Err(refusal(
                &target.given,
                format!(
                    "{} is a mount point in use ({} from {})",
                    m.mount_point.display(),
                    m.fs_type,
                    m.source
                ),
            )
            .fix(fix));
        }
    }
    Ok(())
}

/// This process's mounts.
pub fn own_mounts() -> Result<Vec<Mount>> {
    let path = Path::new("/proc/self/mountinfo");
    let text = std::fs::read(path).map_err(|e| Error::io("read", path, &e))?;
    Ok(parse_mountinfo(&text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idmap::IdMapEntry;
    use crate::ids::IdKind;

    fn target(path: &str, owner: u32) -> Target {
        let p = PathBuf::from(path);
        Target {
            given: p.clone(),
            parent: p.parent().map(Path::to_path_buf).unwrap_or_default(),
            name: CString::new(p.file_name().map(|n| n.as_encoded_bytes()).unwrap_or(b"x"))
                .unwrap(),
            path: p,
            owner_uid: owner,
            is_dir: true,
        }
    }

    fn ivy_map() -> IdMap {
        IdMap::new(
            IdKind::Uid,
            vec![
                IdMapEntry::new(0, 2000, 1),
                IdMapEntry::new(1, 200000, 65536),
            ],
        )
    }

    #[test]
    fn root_home_and_strangers_are_refused() {
        let home = Path::new("/home/ivy");
        let map = ivy_map();
        let homes = [home.to_path_buf()];
        let err = |t: &Target| check_path(t, &homes, &map).unwrap_err().to_string();
        assert!(err(&target("/", 0)).contains("root directory"));
        assert!(err(&target("/home/ivy", 2000)).contains("your home directory"));
        assert!(err(&target("/home", 2000)).contains("contains your home"));
        let e = err(&target("/srv/x", 1001));
        assert!(e.contains("uid 1001") && e.contains("200000-265535"), "{e}");
        assert!(err(&target("/srv/x", 265536)).contains("uid 265536"));
        for ok in [
            ("/home/ivy/data", 2000),
            ("/srv/x", 200000),
            ("/srv/y", 265535),
        ] {
            assert!(
                check_path(&target(ok.0, ok.1), &homes, &map).is_ok(),
                "{ok:?}"
            );
        }
    }

    #[test]
    fn every_home_given_is_guarded() {
        // $HOME says /tmp, passwd says /home/ivy: both are refused, and what holds them.
        let homes = [PathBuf::from("/tmp"), PathBuf::from("/home/ivy")];
        let map = ivy_map();
        for (path, why) in [
            ("/home/ivy", "your home directory"),
            ("/home", "contains your home directory /home/ivy"),
            ("/tmp", "your home directory"),
        ] {
            let e = check_path(&target(path, 2000), &homes, &map)
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{path}: {e}");
        }
        assert!(check_path(&target("/home/ivy/x", 2000), &homes, &map).is_ok());
    }

    #[test]
    fn mountinfo_is_parsed_with_escapes() {
        let text = b"36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw\n\
            37 36 0:50 / /home/ivy/.local/share/containers/storage/overlay/abc/merged rw shared:2 - overlay overlay rw,lowerdir=x\n\
            38 36 0:51 / /srv/a\\040b rw - fuse.fuse-overlayfs fuse-overlayfs rw\n";
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[2].mount_point, PathBuf::from("/srv/a b"));
        assert!(mounts[2].is_container_storage());
        assert_eq!(mounts[0].fs_type, "ext3");
        let storage = target("/home/ivy/.local/share/containers/storage", 2000);
        let e = check_mounts(&storage, &mounts, true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("overlay/abc/merged") && e.contains("podman stop"),
            "{e}"
        );
        assert!(check_mounts(&target("/mnt", 0), &mounts, true).is_ok());
        assert!(check_mounts(&target("/mnt", 0), &mounts, false).is_err());
        assert!(check_mounts(&target("/mnt/parent", 0), &mounts, true).is_err());
        assert!(check_mounts(&target("/mnt/par", 0), &mounts, false).is_ok());
    }
}
