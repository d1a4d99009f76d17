//! Where a container's files live: a random id, a per-container directory under
//! $XDG_RUNTIME_DIR/userns/containers (else the data dir), and the writable layer: a
//! tmpfs of the container's own (see `rootfs::Layer`), or with `--keep NAME` a kept
//! layer under the data dir.

use super::rootfs::Layer;
use crate::error::{Error, Result};
use crate::trusted_dir::{self, Kind};
use crate::users::Account;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// statfs f_type of overlayfs: an upper dir may not live on it.
const OVERLAYFS_MAGIC: i64 = 0x794c_7630;

/// A container id: 64 hex digits, as podman's; the first 12 are the short id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContainerId(String);

impl ContainerId {
    pub(crate) fn random() -> Result<ContainerId> {
        let mut bytes = [0u8; 32];
        match rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty()) {
            Ok(n) if n == bytes.len() => {}
            // A short read: fewer bytes than asked for (getrandom(2)), say why as before.
            Ok(_) => return Err(random_failed(std::io::Error::from_raw_os_error(0))),
            Err(e) => return Err(random_failed(e.into())),
        }
        Ok(ContainerId(
            bytes.iter().map(|b| format!("{b:02x}")).collect(),
        ))
    }

    /// An id chosen by the caller (`container`: the record's), 64 hex digits.
    pub(crate) fn given(id: &str) -> ContainerId {
        ContainerId(id.to_string())
    }

    /// The short id: the default hostname and the directory name.
    pub(crate) fn short(&self) -> &str {
        &self.0[..12]
    }
}

/// The directories of one container.
#[derive(Debug, Clone)]
pub(crate) struct ContainerDirs {
    /// Removed as a whole at exit: merged/, the /etc files, the layer's mount point.
    pub dir: PathBuf,
    pub merged: PathBuf,
    pub layer: Layer,
}

fn is_overlay(path: &Path) -> bool {
    nix::sys::statfs::statfs(path).is_ok_and(|s| s.filesystem_type().0 == OVERLAYFS_MAGIC)
}

/// $XDG_DATA_HOME/userns, else ~/.local/share/userns. A relative XDG_DATA_HOME is
/// ignored, as the XDG Base Directory specification says.
pub(crate) fn data_dir(account: &Account) -> Option<PathBuf> {
    crate::users::xdg_dir(account, "XDG_DATA_HOME", ".local/share/userns")
}

/// Where per-container directories go: under $XDG_RUNTIME_DIR when it is set and exists
/// (and is not on overlayfs, podman's runroot rule), else under the data dir. A runtime
/// dir that is set but not to be trusted is refused, not passed over.
pub(crate) fn containers_root(account: &Account) -> Result<PathBuf> {
    let runtime = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => {
            let d = PathBuf::from(d);
            (trusted_dir::check(&d, Kind::Runtime)? && !is_overlay(&d)).then_some(d)
        }
        None => None,
    };
    let base = match runtime {
        Some(d) => d.join("userns"),
        None => data_dir(account).ok_or_else(|| {
            Error::failure("no place for the container's files")
                .because("XDG_RUNTIME_DIR is unset and there is no HOME")
                .fix("set XDG_RUNTIME_DIR (or HOME) to a directory of yours")
        })?,
    };
    Ok(base.join("containers"))
}

/// Check a `--keep` name: it becomes a directory name.
pub(crate) fn check_keep_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!("invalid --keep name {name:?}"))
            .fix("use letters, digits, '_', '.', '-', starting with a letter or digit"))
    }
}

fn create_dir(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(|e| Error::io("create directory", path, &e))
}

impl ContainerDirs {
    /// Create the container's directories (and find or create a kept layer).
    pub(crate) fn create(
        account: &Account,
        id: &ContainerId,
        keep: Option<&str>,
    ) -> Result<ContainerDirs> {
        let root = containers_root(account)?;
        // The data dir holds the kept layers and the image cache: private from its top, and
        // made so on first use when an older userns left it open (one lstat when it is).
        let data = data_dir(account);
        if let Some(data) = &data {
            trusted_dir::check(data, Kind::Private)?;
        }
        if let Some(base) = root.parent() {
            trusted_dir::ensure_all(base, Kind::Private)?;
        }
        create_dir(&root, 0o700)?;
        let dir = root.join(id.short());
        create_dir(&dir, 0o700)?;
        let merged = dir.join("merged");
        create_dir(&merged, 0o755)?;
        let layer = match keep {
            Some(name) => {
                check_keep_name(name)?;
                let data = data.ok_or_else(|| {
                    Error::failure(format!("no place to keep layer {name}"))
                        .because("there is no HOME")
                        .fix("set HOME or XDG_DATA_HOME")
                })?;
                trusted_dir::ensure_all(&data, Kind::Private)?;
                let kept = data.join("kept").join(name);
                let layer = Layer {
                    upper: kept.join("upper"),
                    work: kept.join("work"),
                    tmpfs_at: None,
                };
                create_dir(&layer.upper, 0o755)?;
                create_dir(&layer.work, 0o700)?;
                if is_overlay(&layer.upper) {
                    return Err(Error::failure(format!(
                        "{} is on overlayfs, which cannot hold an overlay's upper layer",
                        layer.upper.display()
                    ))
                    .fix("point XDG_DATA_HOME at a disk filesystem"));
                }
                layer
            }
            None => {
                // Only the mount point: pid 1 mounts the layer's own tmpfs on it.
                let at = dir.join("layer");
                create_dir(&at, 0o700)?;
                Layer {
                    upper: at.join("upper"),
                    work: at.join("work"),
                    tmpfs_at: Some(at),
                }
            }
        };
        Ok(ContainerDirs { dir, merged, layer })
    }

    /// Hold an exclusive lock on the container's directory while this process lives, so
    /// that `sweep_abandoned` of another run leaves it alone. flock on the directory
    /// itself: the lock goes with the process, however it ends.
    pub(crate) fn lock(&self) -> Result<OwnedFd> {
        let fd = lock_dir(&self.dir, crate::sys::fs::FlockOperation::LockExclusive)
            .map_err(|e| Error::io("lock the container directory", &self.dir, &e))?;
        Ok(fd)
    }

    /// Remove the container's directory (its writable layer, a tmpfs of the container's
    /// mount namespace, is gone already). Run inside the mapped namespace all the same,
    /// where a file of a subordinate id (written by a program through a bind mount of the
    /// directory, or left by an older userns that kept the layer here) is removable too.
    /// remove_dir_all does not follow symlinks, so nothing outside the tree is touched.
    pub(crate) fn remove(&self) -> Result<()> {
        std::fs::remove_dir_all(&self.dir)
            .map_err(|e| Error::io("remove the container directory", &self.dir, &e))
    }
}

/// The file in a container's directory that names the image it runs on (`userns image
/// rm` refuses to remove an image a running container uses; a kept layer's image is the
/// root its `source.json` records, see `kept_source`).
const IMAGE_RECORD: &str = "image";

impl ContainerDirs {
    /// Record the image id the container runs on.
    pub(crate) fn record_image(&self, id: &str) -> Result<()> {
        let path = self.dir.join(IMAGE_RECORD);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, id)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| Error::io("write", &path, &e))
    }
}

/// What uses an image: a running container (its short id) or a kept layer (its name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageUser {
    Container(String),
    KeptLayer(String),
}

impl std::fmt::Display for ImageUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageUser::Container(id) => write!(f, "running container {id}"),
            ImageUser::KeptLayer(name) => write!(f, "kept layer {name} (run --keep {name})"),
        }
    }
}

/// Every running container and kept layer of `account` that uses image `id`.
pub fn image_users(account: &Account, id: &str) -> Vec<ImageUser> {
    let uses = |dir: &Path| {
        std::fs::read_to_string(dir.join(IMAGE_RECORD)).is_ok_and(|text| text.trim() == id)
    };
    let mut users = Vec::new();
    if let Ok(root) = containers_root(account) {
        for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let dir = entry.path();
            // A container runs while its run holds the directory's lock.
            let running = lock_dir(
                &dir,
                crate::sys::fs::FlockOperation::NonBlockingLockExclusive,
            )
            .is_err();
            if running && uses(&dir) {
                users.push(ImageUser::Container(
                    entry.file_name().to_string_lossy().into_owned(),
                ));
            }
        }
    }
    let rootfs = crate::image::ImageCache::for_user(account).rootfs_of(id);
    let over_image =
        |kept: &Path| super::kept_source::recorded(kept).is_some_and(|k| k.rootfs == rootfs);
    if let Some(data) = data_dir(account) {
        for entry in std::fs::read_dir(data.join("kept"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if over_image(&entry.path()) {
                users.push(ImageUser::KeptLayer(
                    entry.file_name().to_string_lossy().into_owned(),
                ));
            }
        }
    }
    users
}

/// A directory opened and flocked with `op` (LOCK_EX, maybe | LOCK_NB).
fn lock_dir(dir: &Path, op: crate::sys::fs::FlockOperation) -> std::io::Result<OwnedFd> {
    let file = std::fs::File::open(dir)?;
    crate::sys::fs::flock(&file, op)?;
    Ok(file.into())
}

fn random_failed(e: std::io::Error) -> Error {
    Error::failure("cannot read random bytes for the container id").because(e)
}

/// How long a container directory must have been left unchanged before a run that finds
/// it unlocked may remove it: a run creates its directory a moment before it locks it.
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Remove the directories that runs killed before their own clean-up left under `root`
/// (a 12-hex-digit name, unlocked, unchanged for a minute), as `podman container
/// cleanup` does for its own. Inside the mapped namespace, as `ContainerDirs::remove`,
/// since one may hold files of subordinate ids. Returns how many were removed.
pub(crate) fn sweep_abandoned(root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let is_id = name
            .to_str()
            .is_some_and(|n| n.len() == 12 && n.bytes().all(|b| b.is_ascii_hexdigit()));
        if !is_id {
            continue;
        }
        let path = entry.path();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= ABANDONED_AFTER);
        if !old {
            continue;
        }
        // Held while the lock is: a run starting now cannot take this name (random id).
        let Ok(_held) = lock_dir(
            &path,
            crate::sys::fs::FlockOperation::NonBlockingLockExclusive,
        ) else {
            continue;
        };
        match std::fs::remove_dir_all(&path) {
            Ok(()) => removed += 1,
            Err(e) => crate::warn(Error::io(
                "remove the abandoned container directory",
                &path,
                &e,
            )),
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_hex_and_distinct() {
        let a = ContainerId::random().unwrap();
        let b = ContainerId::random().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.0.len(), 64);
        assert_eq!(a.short().len(), 12);
        assert!(a.0.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn keep_names_are_plain_directory_names() {
        assert!(check_keep_name("dev-box_1.2").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "-x"] {
            assert!(check_keep_name(bad).is_err(), "{bad}");
        }
    }
}
