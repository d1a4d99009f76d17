//! The user's containers on disk: `$XDG_DATA_HOME/userns/records` (else
//! `~/.local/share/userns/records`), private to the user (0700, `trusted_dir`).
//!
//! ```text
//! records/
//!   .lock            flock held across a name's check-and-create, and a removal
//!   names/NAME       symbolic link whose target is the container's id
//!   ID/              one directory per container (64 hex digits)
//!     record.json    the record (`record::ContainerRecord`), replaced atomically
//!     ctr.log        its output with -d (`log`), and ctr.log.1 after a rotation
//!     monitor.log    what its monitor had to say (warnings)
//! ```
//!
//! Why the data dir and not $XDG_RUNTIME_DIR: `ps -a` must still show exited containers
//! after the user's session ends (logind removes /run/user/UID then) and their logs must
//! stay readable, as podman keeps its containers in its storage (persistent) and only
//! runtime bits in the runtime dir. The per-run directories (`run::dirs`: merged/, the
//! /etc files, the layer's mount point) stay where they were, under the runtime dir.
//! Not `userns/containers`: that is where the run directories go when there is no
//! runtime dir, and their sweep of abandoned runs must not meet records.
//!
//! A name is a symbolic link, so that finding a container by name is one readlink(2)
//! (`userns exec NAME` pays no scan); the store lock makes "is the name free? take it"
//! one step for concurrent `run --name`. Each record is written under an flock of its own
//! directory, by its monitor mostly, so that `refresh` and the monitor never interleave.

use super::record::{self, ContainerRecord, Status};
use crate::error::{Error, Result};
use crate::sys::fs::FlockOperation;
use crate::trusted_dir::{self, Kind};
use crate::users::Account;
use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

const RECORD: &str = "record.json";
const NAMES: &str = "names";

/// The user's container store.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// An exclusive flock, released when dropped.
pub struct Locked {
    _file: File,
}

fn lock_file(path: &Path, create: bool) -> Result<Locked> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(create)
        .create(create)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| Error::io("open the lock", path, &e))?;
    loop {
        match crate::sys::fs::flock(&file, FlockOperation::LockExclusive) {
            Ok(()) => return Ok(Locked { _file: file }),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(Error::io("lock", path, &e.into())),
        }
    }
}

impl Store {
    /// The store of `account` (the caller). With `create`, made (0700) when missing;
    /// without, a store that does not exist yet is an empty one. Either way a store that
    /// another user could write to, or a symbolic link, is refused.
    pub fn open(account: &Account, create: bool) -> Result<Store> {
        let data = crate::run::dirs::data_dir(account).ok_or_else(|| {
            Error::failure("no place for the container records")
                .because("there is no HOME")
                .fix("set HOME or XDG_DATA_HOME")
        })?;
        let root = data.join("records");
        if create {
            trusted_dir::ensure_all(&data, Kind::Private)?;
            trusted_dir::ensure(&root, Kind::Private)?;
            trusted_dir::ensure(&root.join(NAMES), Kind::Private)?;
        } else if trusted_dir::check(&data, Kind::Private)? {
            trusted_dir::check(&root, Kind::Private)?;
        }
        Ok(Store { root })
    }

    /// A store at `root` as it is (for tests).
    pub fn at(root: &Path) -> Store {
        Store {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of container `id` (its record and logs).
    pub fn dir_of(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// The log file of container `id`.
    pub fn log_of(&self, id: &str) -> PathBuf {
        self.dir_of(id).join("ctr.log")
    }

    fn lock(&self) -> Result<Locked> {
        lock_file(&self.root.join(".lock"), true)
    }

    /// Record a new container under its name: `record.name` when set (refused when another
    /// container has it), else a generated one. The name is checked and taken under the
    /// store lock, so of two concurrent creators of one name exactly one wins.
    pub fn create(&self, mut record: ContainerRecord) -> Result<ContainerRecord> {
        let _lock = self.lock()?;
        let names = self.root.join(NAMES);
        if record.name.is_empty() {
            let mut attempt = 0;
            record.name = loop {
                let name = record::generated_name(attempt / 4)?;
                if self.owner_of_name(&name).is_none() {
                    break name;
                }
                attempt += 1;
            };
        } else {
            record::check_name(&record.name)?;
            if let Some(owner) = self.owner_of_name(&record.name) {
                return Err(Error::failure(format!(
                    "the container name {:?} is already in use by container {}",
                    record.name,
                    &owner[..12.min(owner.len())]
                ))
                .fix(format!(
                    "choose another name, or remove that container first (userns rm -f {})",
                    record.name
                )));
            }
        }
        let dir = self.dir_of(&record.id);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io("create the container directory", &dir, &e))?;
        write_record(&dir, &record)?;
        let link = names.join(&record.name);
        // A stale link (its container gone) may be in the way.
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&record.id, &link)
            .map_err(|e| Error::io("record the container name", &link, &e))?;
        Ok(record)
    }

    /// The id NAME stands for, when a container with that record holds it.
    fn owner_of_name(&self, name: &str) -> Option<String> {
        let target = std::fs::read_link(self.root.join(NAMES).join(name)).ok()?;
        let id = target.to_str()?;
        (record::is_full_id(id) && self.dir_of(id).join(RECORD).exists()).then(|| id.to_string())
    }

    /// Read container `id`'s record; None when there is none.
    pub fn read(&self, id: &str) -> Result<Option<ContainerRecord>> {
        read_record(&self.dir_of(id))
    }

    /// Find a container as podman's commands take it: by exact name, then exact id, then
    /// a unique prefix of the id. An ambiguous prefix is an error listing the candidates.
    pub fn lookup(&self, key: &str) -> Result<ContainerRecord> {
        if key.is_empty() {
            return Err(Error::usage("an empty container name or id"));
        }
        if !key.contains('/') && key != "." && key != ".." {
            if let Some(id) = self.owner_of_name(key) {
                if let Some(rec) = self.read(&id)? {
                    return Ok(rec);
                }
            }
        }
        let hex = key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if hex && key.len() == 64 {
            if let Some(rec) = self.read(key)? {
                return Ok(rec);
            }
        }
        let mut matches = if hex && key.len() < 64 {
            self.ids()
                .into_iter()
                .filter(|id| id.starts_with(key))
                .collect()
        } else {
            Vec::new()
        };
        match matches.len() {
            1 => {
                let id = matches.remove(0);
                self.read(&id)?.ok_or_else(|| no_such(key))
            }
            0 => Err(no_such(key)),
            _ => {
                matches.sort();
                let listed: Vec<String> = matches
                    .iter()
                    .map(|id| match self.read(id) {
                        Ok(Some(r)) => format!("{} ({})", r.short_id(), r.name),
                        _ => id[..12].to_string(),
                    })
                    .collect();
                Err(Error::failure(format!(
                    "{key:?} is the start of {} container ids",
                    matches.len()
                ))
                .because(format!("it could be {}", listed.join(", ")))
                .fix("give more digits of the id, or the container's name"))
            }
        }
    }

    /// The ids in the store (directory names of 64 hex digits).
    pub fn ids(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| record::is_full_id(n))
            .collect()
    }

    /// Every record, newest first; one that cannot be read is kept as its error.
    pub fn list(&self) -> Vec<Result<ContainerRecord>> {
        let mut out: Vec<Result<ContainerRecord>> = self
            .ids()
            .into_iter()
            .filter_map(|id| self.read(&id).transpose())
            .collect();
        out.sort_by_key(|r| std::cmp::Reverse(r.as_ref().map_or(u64::MAX, |r| r.created)));
        out
    }

    /// Change container `id`'s record under its lock: read, `change`, write back (tmp +
    /// rename). None when the record is gone (removed meanwhile); `change` may return false
    /// to leave the record as it is.
    pub fn update(
        &self,
        id: &str,
        change: impl FnOnce(&mut ContainerRecord) -> bool,
    ) -> Result<Option<ContainerRecord>> {
        let dir = self.dir_of(id);
        let _lock = match lock_file(&dir.join(".lock"), true) {
            Ok(l) => l,
            // The directory is gone: so is the record.
            Err(_) if !dir.exists() => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(mut rec) = read_record(&dir)? else {
            return Ok(None);
        };
        if change(&mut rec) {
            write_record(&dir, &rec)?;
        }
        Ok(Some(rec))
    }

    /// Remove a container's record, logs and name (the name only while it still names it).
    pub fn remove(&self, id: &str) -> Result<()> {
        let _lock = self.lock()?;
        let dir = self.dir_of(id);
        if let Ok(Some(rec)) = read_record(&dir) {
            if self.owner_of_name(&rec.name).as_deref() == Some(id) {
                let _ = std::fs::remove_file(self.root.join(NAMES).join(&rec.name));
            }
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove the container directory", &dir, &e)),
        }
    }

    /// The truth about a record: one that says "created" or "running" but whose monitor
    /// (the process that would record the end) is gone, after a pid reuse or a reboot too,
    /// ended without a recorded status: it becomes `Gone` (written back under the lock, so
    /// that `ps` never shows a running container that is not). A monitor gone while pid 1
    /// still runs (it should die with it) is said in `error`, not hidden.
    pub fn refresh(&self, rec: ContainerRecord) -> ContainerRecord {
        if !rec.is_running() {
            return rec;
        }
        let boot = record::boot_id();
        let same_boot = rec.boot_id.is_empty() || rec.boot_id == boot;
        let alive = |p: &Option<record::ProcessRef>| same_boot && p.is_some_and(|p| p.alive());
        if alive(&rec.monitor) {
            return rec;
        }
        if alive(&rec.pid1) {
            let mut rec = rec;
            rec.error = Some("its monitor is gone; pid 1 runs unmanaged".to_string());
            return rec;
        }
        let updated = self.update(&rec.id, |r| {
            let still_alive = (r.boot_id.is_empty() || r.boot_id == boot)
                && (r.monitor.is_some_and(|p| p.alive()) || r.pid1.is_some_and(|p| p.alive()));
            if !r.is_running() || still_alive {
                return false;
            }
            r.status = Status::Gone;
            r.finished_at = Some(record::now());
            r.error = Some("its monitor ended without recording an exit status".to_string());
            true
        });
        match updated {
            Ok(Some(r)) => r,
            // Removed meanwhile, or not writable: show what is true, unwritten.
            _ => ContainerRecord {
                status: Status::Gone,
                ..rec
            },
        }
    }
}

fn no_such(key: &str) -> Error {
    Error::failure(format!(
        "no container named {key:?} or with an id starting so"
    ))
    .fix("see `userns ps -a` for your containers")
}

fn read_record(dir: &Path) -> Result<Option<ContainerRecord>> {
    let path = dir.join(RECORD);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read the container record", &path, &e)),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        Error::failure(format!(
            "cannot parse the container record {}",
            path.display()
        ))
        .because(e)
        .fix(format!("remove the container (rm -r {})", dir.display()))
    })
}

/// Write the record atomically: a reader sees the old one or the new one, never a part.
fn write_record(dir: &Path, rec: &ContainerRecord) -> Result<()> {
    let path = dir.join(RECORD);
    let temp = dir.join(format!(".{RECORD}.{}", std::process::id()));
    let mut text = serde_json::to_vec_pretty(rec)
        .map_err(|e| Error::failure("cannot encode the container record").because(e))?;
    text.push(b'\n');
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&temp)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &text))
        .and_then(|()| std::fs::rename(&temp, &path));
    result.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        Error::io("write the container record", &path, &e)
    })
}

use std::os::unix::fs::DirBuilderExt;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::record::{ProcessRef, RestartPolicy};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(NAMES)).unwrap();
        let store = Store::at(dir.path());
        (dir, store)
    }

    fn record(id: &str, name: &str) -> ContainerRecord {
        ContainerRecord {
            id: id.to_string(),
            name: name.to_string(),
            created: 1,
            source: "/rootfs".into(),
            command: vec!["sleep".into()],
            status: Status::Created,
            exit_code: None,
            started_at: None,
            finished_at: None,
            monitor: None,
            pid1: None,
            boot_id: String::new(),
            restart: RestartPolicy::No,
            restart_count: 0,
            remove_on_exit: false,
            detached: true,
            stop_signal: libc::SIGTERM,
            stop_requested: false,
            error: None,
            exec: None,
            owner_uid: 2000,
        }
    }

    fn id(prefix: &str) -> String {
        format!("{prefix}{}", "0".repeat(64 - prefix.len()))
    }

    #[test]
    fn names_are_unique_and_lookup_takes_name_then_id_then_prefix() {
        let (_d, s) = store();
        let a = s.create(record(&id("abc1"), "web")).unwrap();
        let err = s.create(record(&id("abc2"), "web")).unwrap_err();
        assert!(err.to_string().contains("already in use"), "{err}");
        let b = s.create(record(&id("abc2"), "")).unwrap();
        assert!(!b.name.is_empty());
        assert_eq!(s.lookup("web").unwrap().id, a.id);
        assert_eq!(s.lookup(&a.id).unwrap().name, "web");
        assert_eq!(s.lookup("abc2").unwrap().id, b.id);
        let ambiguous = s.lookup("abc").unwrap_err().to_string();
        assert!(
            ambiguous.contains("abc100000000 (web)") && ambiguous.contains("abc200000000"),
            "{ambiguous}"
        );
        assert!(s.lookup("nope").is_err());
        // A container named like another's id prefix: the name wins (podman's order is id
        // first; userns's names cannot be 64 hex digits, so only prefixes meet names).
        s.create(record(&id("fff"), "abc2")).unwrap();
        assert_eq!(s.lookup("abc2").unwrap().id, id("fff"));
        assert_eq!(s.list().len(), 3);
        s.remove(&a.id).unwrap();
        assert!(s.lookup("web").is_err());
        // The name is free again.
        s.create(record(&id("abc3"), "web")).unwrap();
    }

    #[test]
    fn refresh_turns_a_running_record_without_its_processes_into_gone() {
        let (_d, s) = store();
        let mut rec = record(&id("ab"), "x");
        rec.status = Status::Running;
        // A process that has ended: our own start time with a pid that is not ours.
        let me = ProcessRef::of(std::process::id() as i32).unwrap();
        rec.monitor = Some(ProcessRef {
            pid: me.pid,
            start_time: me.start_time + 1,
        });
        let rec = s.create(rec).unwrap();
        let seen = s.refresh(rec.clone());
        assert_eq!(seen.status, Status::Gone);
        assert_eq!(s.read(&rec.id).unwrap().unwrap().status, Status::Gone);
        // A live monitor is believed.
        let mut live = record(&id("cd"), "y");
        live.status = Status::Running;
        live.monitor = Some(me);
        let live = s.create(live).unwrap();
        assert_eq!(s.refresh(live).status, Status::Running);
    }

    #[test]
    fn concurrent_creators_of_one_name_end_with_one_winner() {
        let (_d, s) = store();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || s.create(record(&id(&format!("{i:x}a")), "same")))
            })
            .collect();
        let wins = handles
            .into_iter()
            .filter(|_| true)
            .map(|h| h.join().unwrap())
            .filter(|r| r.is_ok())
            .count();
        assert_eq!(wins, 1);
    }
}
