//! The registry of kept namespaces: one JSON record per NAME under
//! `$XDG_RUNTIME_DIR/userns/` (or `/tmp/userns-UID`), written atomically (temp file +
//! rename) under a per-name flock, so that readers never see half a record and two
//! creators of one NAME end in one namespace (podman serialises its pause process the
//! same way, with a lock file next to `pause.pid`).

use crate::error::{Error, Result};
use crate::idmap::IdMapEntry;
use crate::sys::fs::FlockOperation;
use crate::unshare::MapRequest;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What was true of /etc/subuid or /etc/subgid when the namespace was made: enough to
/// tell cheaply, at every join, whether the file may have changed since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    pub path: PathBuf,
    /// Modification time, nanoseconds since the epoch (0 when the file is absent).
    pub mtime_ns: i128,
    pub size: u64,
    /// FNV-1a 64 of the contents, hex: stable across Rust versions, unlike DefaultHasher.
    pub fnv1a64: String,
    /// Inode and status-change time (absent in records of older userns): with them a
    /// stat alone can tell that the file was not written since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inode: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctime_ns: Option<i128>,
}

fn nanos(secs: i64, nsec: i64) -> i128 {
    secs as i128 * 1_000_000_000 + nsec as i128
}

impl FileIdentity {
    /// The identity of `path` now; an absent or unreadable file has an empty identity, so
    /// that its later appearance counts as a change.
    pub(crate) fn of(path: &Path) -> FileIdentity {
        match (std::fs::metadata(path), std::fs::read(path)) {
            (Ok(m), Ok(bytes)) => FileIdentity {
                path: path.to_path_buf(),
                mtime_ns: nanos(m.mtime(), m.mtime_nsec()),
                size: m.size(),
                fnv1a64: format!("{:016x}", fnv1a64(&bytes)),
                inode: Some(m.ino()),
                ctime_ns: Some(nanos(m.ctime(), m.ctime_nsec())),
            },
            _ => FileIdentity {
                path: path.to_path_buf(),
                mtime_ns: 0,
                size: 0,
                fnv1a64: format!("{:016x}", fnv1a64(&[])),
                inode: None,
                ctime_ns: None,
            },
        }
    }

    /// Whether `path` still has this identity. Same inode, status-change time, mtime and
    /// size settle it with one stat: every write or rename-into-place moves the ctime,
    /// which no user can set back (unlike the mtime, which `touch -d` and `rsync -a`
    /// set). Anything else is decided by mtime, size and content, so that a /etc/subuid
    /// of 100,000 lines is read only when it may have changed.
    pub(crate) fn still_matches(&self, path: &Path) -> bool {
        if let (Some(inode), Some(ctime_ns), Ok(m)) =
            (self.inode, self.ctime_ns, std::fs::metadata(path))
        {
            if m.ino() == inode
                && nanos(m.ctime(), m.ctime_nsec()) == ctime_ns
                && nanos(m.mtime(), m.mtime_nsec()) == self.mtime_ns
                && m.size() == self.size
            {
                return true;
            }
        }
        let now = FileIdentity::of(path);
        now.mtime_ns == self.mtime_ns && now.size == self.size && now.fnv1a64 == self.fnv1a64
    }
}

pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= b as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The options of a kept namespace that its namespaces and map request do not show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptOptions {
    /// `--hostname NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// `--mount`: mounts made private.
    #[serde(default)]
    pub private_mounts: bool,
    /// `--mount-proc`.
    #[serde(default)]
    pub mount_proc: bool,
}

impl KeptOptions {
    pub(crate) fn of(spec: &crate::unshare::NsSpec) -> KeptOptions {
        KeptOptions {
            hostname: spec.hostname.clone(),
            private_mounts: spec.namespaces.mount,
            mount_proc: spec.mount_proc,
        }
    }
}

/// The map request a namespace was made with, so that a fresh plan can be compared
/// with its live map (see `keep::stale_map`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptRequest {
    pub map_users: Vec<String>,
    pub map_groups: Vec<String>,
    pub map_user: Option<u32>,
    pub map_group: Option<u32>,
    pub single: bool,
}

impl KeptRequest {
    /// The record of `request`: explicit lines as `INNER:OUTER:COUNT`, as the options
    /// take them, so that records stay readable by every userns.
    pub(crate) fn of(request: &MapRequest) -> KeptRequest {
        let words = |entries: &[IdMapEntry]| -> Vec<String> {
            entries
                .iter()
                .map(|e| format!("{}:{}:{}", e.inside, e.outside, e.count))
                .collect()
        };
        KeptRequest {
            map_users: words(&request.explicit_uid),
            map_groups: words(&request.explicit_gid),
            map_user: request.own_uid_inside,
            map_group: request.own_gid_inside,
            single: request.single,
        }
    }

    /// The request recorded (older records may hold `auto`, or the words as typed).
    pub(crate) fn map_request(&self) -> Result<MapRequest> {
        MapRequest::from_options(
            &self.map_users,
            &self.map_groups,
            self.map_user,
            self.map_group,
            self.single,
        )
    }
}

/// One kept namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptRecord {
    pub name: String,
    /// The pause process, as the host's pid namespace numbers it.
    pub pid: i32,
    /// Field 22 of /proc/PID/stat (clock ticks since boot): with the pid, it names the
    /// process uniquely, since a reused pid has a later start time.
    pub start_time: u64,
    /// The user namespace's inode (`readlink /proc/PID/ns/user`).
    pub userns_inode: u64,
    /// The namespaces the pause process holds: "user", then "mnt", "pid", "net", "uts",
    /// "ipc", "cgroup" as asked.
    pub namespaces: Vec<String>,
    /// The maps written, as `[inside, outside, count]` lines.
    pub uid_map: Vec<[u32; 3]>,
    pub gid_map: Vec<[u32; 3]>,
    pub request: KeptRequest,
    pub subuid: FileIdentity,
    pub subgid: FileIdentity,
    /// Seconds since the epoch.
    pub created: u64,
    /// The host uid that made it.
    pub owner_uid: u32,
    /// The options besides namespaces and maps (absent in records of older userns), for
    /// `options::check_rejoin`.
    #[serde(default)]
    pub options: KeptOptions,
}

/// A NAME must be a plain file name, and distinguishable from the other kinds of
/// `enter` TARGET (a PID, `podman`).
pub fn check_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Error::usage(format!("invalid namespace name {name:?}"))
            .because(why.to_string())
            .fix("use letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 bytes")
    };
    if name.is_empty() || name.len() > 64 {
        return Err(bad("it must be 1 to 64 bytes long"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        || !name.as_bytes()[0].is_ascii_alphanumeric()
    {
        return Err(bad(
            "it contains a character other than letters, digits, '.', '_', '-', or starts with one",
        ));
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            "an all-digit name would be taken for a pid by `userns enter`",
        ));
    }
    if name == "podman" {
        return Err(bad(
            "`userns enter podman` means podman's own pause process",
        ));
    }
    Ok(())
}

/// The registry directory: `$XDG_RUNTIME_DIR/userns`, or `/tmp/userns-UID` when
/// XDG_RUNTIME_DIR is unset. Created (mode 0700) when `create` is set. The runtime dir and
/// the registry must both be trusted (`trusted_dir`), or another user could plant records
/// that make `userns enter NAME` join their namespace.
pub fn registry_dir(create: bool) -> Result<PathBuf> {
    use crate::trusted_dir::{check, ensure, Kind};
    let uid = nix::unistd::getuid().as_raw();
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(base) => {
            let base = PathBuf::from(base);
            if !check(&base, Kind::Runtime)? && create {
                return Err(Error::failure(format!(
                    "the runtime directory {} does not exist",
                    base.display()
                ))
                .because("XDG_RUNTIME_DIR names it, and userns keeps its registry there")
                .fix("set XDG_RUNTIME_DIR to a directory you own, mode 700 (systemd-logind makes /run/user/UID at login)"));
            }
            base.join("userns")
        }
        None => PathBuf::from(format!("/tmp/userns-{uid}")),
    };
    if create {
        ensure(&dir, Kind::Private)?;
    } else {
        check(&dir, Kind::Private)?;
    }
    Ok(dir)
}

pub(crate) fn record_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

/// Read NAME's record; None when there is none.
pub fn read(dir: &Path, name: &str) -> Result<Option<KeptRecord>> {
    let path = record_path(dir, name);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read the record", &path, &e)),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        Error::failure(format!("cannot parse the record {}", path.display()))
            .because(e)
            .fix(format!(
                "remove it (rm {}); its namespace, if alive, is then no longer kept",
                path.display()
            ))
    })
}

/// Write a record atomically: a reader sees the old one or the new one, never a part.
pub(crate) fn write(dir: &Path, record: &KeptRecord) -> Result<()> {
    let path = record_path(dir, &record.name);
    let temp = dir.join(format!(".{}.json.{}", record.name, std::process::id()));
    let text = serde_json::to_vec_pretty(record)
        .map_err(|e| Error::failure("cannot encode the record").because(e))?;
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut f| {
            use std::io::Write;
            f.write_all(&text)?;
            f.write_all(b"\n")
        })
        .and_then(|()| std::fs::rename(&temp, &path));
    result.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        Error::io("write the record", &path, &e)
    })
}

/// Remove NAME's record (and its lock file); an absent record is not an error.
pub(crate) fn remove(dir: &Path, name: &str) -> Result<()> {
    let path = record_path(dir, name);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove the record", &path, &e)),
    }
}

/// Every record in the registry, with the names whose record cannot be parsed kept as
/// errors (one bad file must not hide the others).
pub fn list(dir: &Path) -> Vec<Result<KeptRecord>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|n| read(dir, &n).transpose())
        .collect()
}

/// The names in the registry, for "unknown NAME" messages.
pub fn known_names(dir: &Path) -> Vec<String> {
    list(dir)
        .into_iter()
        .filter_map(|r| r.ok().map(|r| r.name))
        .collect()
}

/// An exclusive flock on `NAME.lock`, held until dropped (or `unlock`). The lock file is
/// never removed: removing it would let a third process lock a fresh inode while the
/// second still waits on the old one.
pub(crate) struct NameLock {
    file: File,
}

impl NameLock {
    pub(crate) fn acquire(dir: &Path, name: &str) -> Result<NameLock> {
        let path = dir.join(format!("{name}.lock"));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| Error::io("open the lock file", &path, &e))?;
        loop {
            match crate::sys::fs::flock(&file, FlockOperation::LockExclusive) {
                Ok(()) => return Ok(NameLock { file }),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(Error::io("lock", &path, &e.into())),
            }
        }
    }

    /// Release now. The lock belongs to the open file description, which forked children
    /// share: an explicit unlock releases it for them too.
    pub(crate) fn unlock(self) {
        let _ = crate::sys::fs::flock(&self.file, FlockOperation::Unlock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idmap::IdMap;
    use crate::ids::IdKind;

    #[test]
    fn names_that_could_be_taken_for_other_targets_are_refused() {
        assert!(check_name("build-1").is_ok());
        assert!(check_name("a.b_c").is_ok());
        for bad in [
            "",
            "1234",
            "podman",
            "../x",
            "a/b",
            ".hidden",
            "-x",
            &"x".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn requests_of_older_records_still_read() {
        // The request of a record written before the request was kept as a MapRequest:
        // the words as typed, `auto` among them.
        let old: KeptRequest = serde_json::from_str(
            r#"{"map_users":["auto","1:100000:65536"],"map_groups":[],"map_user":7,"map_group":null,"single":false}"#,
        )
        .unwrap();
        let request = old.map_request().unwrap();
        assert_eq!(
            request.explicit_uid,
            vec![IdMapEntry::new(1, 100000, 65536)]
        );
        assert_eq!(request.own_uid_inside, Some(7));
        // Written again, it reads back as the same request.
        let again = KeptRequest::of(&request);
        assert_eq!(again.map_users, vec!["1:100000:65536".to_string()]);
        assert_eq!(again.map_request().unwrap(), request);
        assert_eq!(
            KeptRequest::of(&MapRequest::default()),
            KeptRequest::default()
        );
    }

    #[test]
    fn file_identity_sees_rewrites_even_with_the_mtime_set_back() {
        let dir = std::env::temp_dir().join(format!("userns-identity-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("subuid");
        std::fs::write(&file, "ivy:100000:65536\n").unwrap();
        let then = FileIdentity::of(&file);
        assert!(then.still_matches(&file));
        // Same size, then the mtime put back as `touch -d` or `rsync -a` would.
        let old = std::fs::metadata(&file).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&file, "ivy:100001:65536\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(!then.still_matches(&file));
        // A record of an older userns (no inode, no ctime) falls back to the content.
        let legacy = FileIdentity {
            inode: None,
            ctime_ns: None,
            ..FileIdentity::of(&file)
        };
        assert!(legacy.still_matches(&file));
        std::fs::remove_file(&file).unwrap();
        assert!(!legacy.still_matches(&file));
        assert!(
            FileIdentity::of(&file).still_matches(&file),
            "absent stays absent"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fnv1a64_matches_the_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn records_round_trip_through_the_registry() {
        let dir = tempfile::tempdir().unwrap();
        let rec = KeptRecord {
            name: "dev".into(),
            pid: 42,
            start_time: 7,
            userns_inode: 4026532000,
            namespaces: vec!["user".into(), "mnt".into()],
            uid_map: vec![[0, 2000, 1], [1, 200000, 65536]],
            gid_map: vec![[0, 2000, 1]],
            request: KeptRequest::default(),
            subuid: FileIdentity::of(Path::new("/nonexistent/subuid")),
            subgid: FileIdentity::of(Path::new("/nonexistent/subgid")),
            created: 1,
            owner_uid: 2000,
            options: KeptOptions {
                hostname: Some("box".into()),
                ..Default::default()
            },
        };
        write(dir.path(), &rec).unwrap();
        assert_eq!(read(dir.path(), "dev").unwrap(), Some(rec.clone()));
        assert_eq!(known_names(dir.path()), vec!["dev".to_string()]);
        assert_eq!(
            IdMap::from_lines(IdKind::Uid, &rec.uid_map).to_short(),
            "0:2000:1,1:200000:65536"
        );
        remove(dir.path(), "dev").unwrap();
        assert_eq!(read(dir.path(), "dev").unwrap(), None);
    }
}
