//! The per-user image cache: `$XDG_DATA_HOME/userns/images` (else
//! `~/.local/share/userns/images`), one directory per image, named by the hex of its
//! config digest, holding `rootfs/` and `image.json` (what it is and where it came from).
//!
//! An image is unpacked into `.unpack-HEX-PID` beside the others and renamed into place
//! only once complete, so a crash or a failed digest check never leaves a half image
//! under the final name. Two unpacks of one image may race: the second rename fails
//! (the name exists) and that copy is discarded. What an unpack killed midway leaves
//! (`.unpack-HEX-PID` of a pid that no longer runs) is removed by the next unpack.

use super::beneath::Root;
use super::layer::{self, UnpackState};
use super::limits::Limits;
use super::manifest::ImagePlan;
use super::source::Blobs;
use super::ImageConfig;
use crate::error::{Error, Result};
use crate::users::Account;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const RECORD: &str = "image.json";
const ROOTFS: &str = "rootfs";
const TEMP_PREFIX: &str = ".unpack-";

#[derive(Debug, Clone)]
pub struct ImageCache {
    pub root: PathBuf,
}

/// One unpacked image, as `image.json` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedImage {
    /// `sha256:` of the image config.
    pub id: String,
    /// The archive or layout it was unpacked from (as given, made absolute).
    pub source: PathBuf,
    /// docker-archive, oci-archive, oci, or registry (pulled; `source` is then the
    /// reference, `docker://REGISTRY/REPOSITORY:TAG`).
    pub kind: String,
    /// Bytes of file data in the unpacked tree.
    pub size: u64,
    /// When it was unpacked, seconds since the epoch.
    pub unpacked_at: u64,
    pub(crate) layers: usize,
    pub(crate) config: ImageConfig,
}

/// The hex part of an id, which names the image's directory.
fn dir_name(id: &str) -> Option<&str> {
    let hex = id.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

impl ImageCache {
    /// The cache of `account`: `$XDG_DATA_HOME` when set to an absolute path (as the XDG
    /// base directory spec says a relative one is ignored), else the account's home. Its
    /// parent is the userns data dir, which must be private (see `run::source::prepare`);
    /// without any home that is `/var/tmp/userns-UID` itself, directly in the sticky
    /// /var/tmp, where no other user can rename or replace it once it is ours.
    pub fn for_user(account: &Account) -> ImageCache {
        let data_home = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| account.home.as_ref().map(|h| h.join(".local/share")))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
        let top = match data_home {
            Some(d) => d.join("userns"),
            None => PathBuf::from(format!("/var/tmp/userns-{}", account.uid)),
        };
        ImageCache {
            root: top.join("images"),
        }
    }

    /// The root file system of a cached image.
    pub fn rootfs_of(&self, id: &str) -> PathBuf {
        self.root.join(dir_name(id).unwrap_or(id)).join(ROOTFS)
    }

    /// The cached image with this id, when it is complete.
    pub fn lookup(&self, id: &str) -> Result<Option<CachedImage>> {
        let Some(hex) = dir_name(id) else {
            return Ok(None);
        };
        let record = self.root.join(hex).join(RECORD);
        match std::fs::read(&record) {
            // A record without its tree (removed by hand) is no image: unpack again.
            Ok(_) if !self.root.join(hex).join(ROOTFS).is_dir() => Ok(None),
            Ok(bytes) => parse_record(&record, &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", &record, &e)),
        }
    }

    /// Every complete image, oldest first. A record that cannot be read is warned about
    /// and left out, so one damaged entry does not hide the others.
    pub fn list(&self) -> Result<Vec<CachedImage>> {
        let dir = match std::fs::read_dir(&self.root) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("list", &self.root, &e)),
        };
        let mut images = Vec::new();
        for entry in dir {
            let entry = entry.map_err(|e| Error::io("list", &self.root, &e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if dir_name(&format!("sha256:{name}")).is_none() {
                continue;
            }
            let record = entry.path().join(RECORD);
            match std::fs::read(&record) {
                Ok(bytes) => match parse_record(&record, &bytes) {
                    Ok(image) => images.push(image),
                    Err(e) => crate::warn(e),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => crate::warn(Error::io("read", &record, &e)),
            }
        }
        images.sort_by(|a, b| (a.unpacked_at, &a.id).cmp(&(b.unpacked_at, &b.id)));
        Ok(images)
    }

    /// Unpack `plan` from `blobs` into the cache. Must run as uid 0 inside the mapped
    /// namespace: owners from the layers are given with chown. `staged` says whether the
    /// layers' digests are still to be checked as they are unpacked.
    pub(crate) fn install(
        &self,
        source: &Path,
        kind: &str,
        plan: &ImagePlan,
        blobs: &Blobs,
        staged: super::Staged,
    ) -> Result<CachedImage> {
        if !nix::unistd::geteuid().is_root() {
            return Err(
                Error::failure(format!("cannot unpack {}", source.display()))
                    .because("unpacking an image must run as root inside the user namespace")
                    .fix(
                        "call image::prepare after entering the mapped namespace (userns run does)",
                    ),
            );
        }
        let hex = dir_name(&plan.id)
            .ok_or_else(|| Error::failure(format!("unusable image id {}", plan.id)))?;
        // Private (0700): an image's setuid files belong to the user outside, and no path
        // from another user may reach them (podman keeps its storage 0700 too).
        crate::trusted_dir::ensure_all(&self.root, crate::trusted_dir::Kind::Private)?;
        let swept = self.sweep_interrupted();
        if swept > 0 {
            crate::progress(format_args!(
                "removed {swept} interrupted unpack{} from {}",
                if swept == 1 { "" } else { "s" },
                self.root.display()
            ));
        }
        let temp = self
            .root
            .join(format!("{TEMP_PREFIX}{hex}-{}", std::process::id()));
        if temp.exists() {
            std::fs::remove_dir_all(&temp).map_err(|e| Error::io("remove", &temp, &e))?;
        }
        let result = self.unpack_into(&temp, source, kind, plan, blobs, staged);
        let image = match result {
            Ok(image) => image,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&temp);
                return Err(e);
            }
        };
        let final_dir = self.root.join(hex);
        if self.lookup(&plan.id)?.is_none() && final_dir.exists() {
            // An incomplete leftover under the final name (its tree removed by hand):
            // replace it, or the rename below could never succeed.
            std::fs::remove_dir_all(&final_dir)
                .map_err(|e| Error::io("remove the incomplete", &final_dir, &e))?;
        }
        if let Err(e) = std::fs::rename(&temp, &final_dir) {
            let _ = std::fs::remove_dir_all(&temp);
            // Another unpack of the same image finished first: use that one.
            if let Ok(Some(existing)) = self.lookup(&plan.id) {
                return Ok(existing);
            }
            return Err(Error::io("move into place", &final_dir, &e));
        }
        Ok(image)
    }

    /// Remove the image `id`: renamed out of the cache's sight first (to a temporary
    /// name that `sweep_interrupted` finishes if this is killed), then removed. Inside the
    /// mapped namespace, where its files of subordinate ids can be removed. False when
    /// it was not there.
    pub(crate) fn remove(&self, id: &str) -> Result<bool> {
        let Some(hex) = dir_name(id) else {
            return Ok(false);
        };
        let dir = self.root.join(hex);
        let trash = self
            .root
            .join(format!("{TEMP_PREFIX}{hex}-{}", std::process::id()));
        match std::fs::rename(&dir, &trash) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io("remove", &dir, &e)),
        }
        std::fs::remove_dir_all(&trash).map_err(|e| Error::io("remove", &trash, &e))?;
        Ok(true)
    }

    /// Remove the `.unpack-HEX-PID` directories of unpacks whose process is gone (killed
    /// or crashed before its own clean-up). One of a live pid is another unpack at work,
    /// or a pid reused since: left alone either way, at worst until a later sweep.
    fn sweep_interrupted(&self) -> usize {
        let Ok(dir) = std::fs::read_dir(&self.root) else {
            return 0;
        };
        let mut removed = 0;
        for entry in dir.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(interrupted_pid) else {
                continue;
            };
            if pid == std::process::id() as i32 || crate::sys::process_exists(pid) {
                continue;
            }
            let path = entry.path();
            match std::fs::remove_dir_all(&path) {
                Ok(()) => removed += 1,
                Err(e) => crate::warn(Error::io("remove the interrupted unpack", &path, &e)),
            }
        }
        removed
    }

    fn unpack_into(
        &self,
        temp: &Path,
        source: &Path,
        kind: &str,
        plan: &ImagePlan,
        blobs: &Blobs,
        staged: super::Staged,
    ) -> Result<CachedImage> {
        let verify = staged == super::Staged::Unverified;
        let rootfs = temp.join(ROOTFS);
        std::fs::create_dir_all(&rootfs).map_err(|e| Error::io("create", &rootfs, &e))?;
        let root = Root::open(&rootfs).map_err(|e| Error::io("open", &rootfs, &e))?;
        crate::progress(format_args!(
            "unpacking {} ({}, {} layer{}) into {}",
            source.display(),
            short_id(&plan.id),
            plan.layers.len(),
            if plan.layers.len() == 1 { "" } else { "s" },
            self.root.display()
        ));
        let mut state = UnpackState::new(Limits::from_env()?, &self.root);
        // A pull's stage blobs the unpack is done with go while the next layers unpack.
        let mut consumed = super::removals::Removals::default();
        let total = plan.layers.len();
        for (i, l) in plan.layers.iter().enumerate() {
            let label = format!(
                "layer {} of {total} ({}) in {}",
                i + 1,
                l.blob,
                source.display()
            );
            let (reader, _) = blobs.open_blob(&l.blob, l.size)?;
            layer::apply_blob(
                &root,
                reader,
                &label,
                l.digest.as_deref().filter(|_| verify),
                verify.then_some(l.diff_id.as_str()),
                &mut state,
            )?;
            if staged == super::Staged::VerifiedWhileStreaming
                && !plan.layers[i + 1..]
                    .iter()
                    .any(|later| later.blob == l.blob)
            {
                consumed.remove(vec![blobs.source_path().join(&l.blob)]);
            }
        }
        consumed.wait();
        layer::finish(&root, &state)?;
        if state.devices_skipped > 0 {
            crate::note(format_args!(
                "skipped {} device node{} (a user namespace cannot create them; \
                 the container gets its own /dev)",
                state.devices_skipped,
                if state.devices_skipped == 1 { "" } else { "s" }
            ));
        }
        if state.xattrs_skipped > 0 {
            crate::note(format_args!(
                "skipped {} extended attribute{} (overlay's own, or refused here: \
                 trusted.* needs the initial namespace)",
                state.xattrs_skipped,
                if state.xattrs_skipped == 1 { "" } else { "s" }
            ));
        }
        let image = CachedImage {
            id: plan.id.clone(),
            source: std::path::absolute(source).unwrap_or_else(|_| source.to_path_buf()),
            kind: kind.to_string(),
            size: state.bytes,
            unpacked_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            layers: total,
            config: plan.config.clone(),
        };
        let record = temp.join(RECORD);
        let text = serde_json::to_vec_pretty(&image)
            .map_err(|e| Error::failure("cannot encode the image record").because(e))?;
        write_synced(&record, &text).map_err(|e| Error::io("write", &record, &e))?;
        Ok(image)
    }
}

/// The pid in a temporary unpack directory's name `.unpack-HEX-PID`.
fn interrupted_pid(name: &str) -> Option<i32> {
    let (hex, pid) = name.strip_prefix(TEMP_PREFIX)?.rsplit_once('-')?;
    dir_name(&format!("sha256:{hex}"))?;
    let pid: i32 = pid.parse().ok()?;
    // kill(2) reads 0 and negative pids as process groups: never ask about those.
    (pid > 0).then_some(pid)
}

/// Write and fsync, so that the rename that follows publishes a complete record.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn parse_record(path: &Path, bytes: &[u8]) -> Result<CachedImage> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::failure(format!("{} is not a valid image record", path.display()))
            .because(e)
            .fix(format!(
                "remove that image directory (userns clean {})",
                path.parent().unwrap_or(path).display()
            ))
    })
}

/// `sha256:0123456789ab`, as podman shortens ids.
pub fn short_id(id: &str) -> String {
    match id.split_once(':') {
        Some((alg, hex)) => format!("{alg}:{}", &hex[..hex.len().min(12)]),
        None => id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn only_temporary_unpack_names_give_a_pid() {
        assert_eq!(interrupted_pid(&format!(".unpack-{HEX}-42")), Some(42));
        assert_eq!(interrupted_pid(&format!(".unpack-{HEX}-0")), None);
        assert_eq!(interrupted_pid(&format!(".unpack-{HEX}-4294967295")), None);
        assert_eq!(interrupted_pid(&format!(".unpack-{HEX}-x")), None);
        assert_eq!(interrupted_pid(&format!(".unpack-{}-42", &HEX[1..])), None);
        assert_eq!(interrupted_pid(HEX), None);
        assert_eq!(interrupted_pid(&format!("{HEX}-42")), None);
    }

    #[test]
    fn sweep_removes_dead_unpacks_and_keeps_live_ones_and_images() {
        let root = std::env::temp_dir().join(format!("userns-sweep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let cache = ImageCache { root: root.clone() };
        // pid_max is at most 2^22, so this pid cannot run.
        let dead = root.join(format!(".unpack-{HEX}-2147483647"));
        let live = root.join(format!(".unpack-{HEX}-1"));
        let own = root.join(format!(".unpack-{HEX}-{}", std::process::id()));
        let image = root.join(HEX);
        for dir in [&dead, &live, &own, &image] {
            std::fs::create_dir_all(dir.join("rootfs/etc")).unwrap();
            std::fs::write(dir.join("rootfs/etc/passwd"), "root:x:0:0::/:/bin/sh\n").unwrap();
        }
        assert_eq!(cache.sweep_interrupted(), 1);
        assert!(!dead.exists());
        assert!(live.exists() && own.exists() && image.exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
