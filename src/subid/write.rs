//! Write /etc/subuid and /etc/subgid the way shadow does, so that `userns subid add|del`
//! can run beside useradd, usermod and userdel without losing anyone's change.
//!
//! Locking follows shadow 4.13 (`lib/commonio.c`): `lckpwdf()` first (the live system
//! only), then per file a lock made by link(2): our pid goes into `FILE.PID`, which is
//! linked to `FILE.lock`; link is atomic even on NFS, and a link count of 2 afterwards
//! proves it worked. When the lock exists, the pid in it is checked with kill(pid, 0):
//! a dead writer's lock is stale and is taken over (`do_lock_file`).
//!
//! The new contents go to `FILE+` in the same directory, are fsynced, and renamed over
//! FILE; then the directory is fsynced. rename(2) is atomic, so a crash at any point
//! leaves the old file or the new one, never a torn one. The old file is kept as
//! `FILE-` (a hard link to the old inode, made before the rename), as shadow keeps it.

use crate::error::{Error, Result};
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `path` with `suffix` appended to its file name: /etc/subuid + ".lock".
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A held `FILE.lock`; dropping it removes the lock.
#[derive(Debug)]
pub struct LinkLock {
    lock: PathBuf,
}

/// Who holds a lock we could not take.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Holder {
    Pid(i32),
    /// The lock file holds no pid shadow could read: shadow refuses it too.
    Unreadable(String),
}

impl LinkLock {
    /// Take `FILE.lock`, retrying until `timeout` while a live process holds it.
    pub fn acquire(file: &Path, timeout: Duration) -> Result<LinkLock> {
        let lock = with_suffix(file, ".lock");
        let deadline = Instant::now() + timeout;
        loop {
            let holder = match try_lock(file, &lock)? {
                None => return Ok(LinkLock { lock }),
                Some(h) => h,
            };
            if Instant::now() >= deadline {
                let e = Error::failure(format!("cannot lock {}", file.display()));
                return Err(match holder {
                    Holder::Pid(pid) => e
                        .because(format!(
                            "{} is held by process {pid} ({}), still running after {} s",
                            lock.display(),
                            process_name(pid),
                            timeout.as_secs()
                        ))
                        .fix(format!(
                            "wait for process {pid} to finish (useradd, usermod or userdel), or raise --lock-timeout"
                        )),
                    Holder::Unreadable(text) => e
                        .because(format!(
                            "{} exists but holds no process id ({text:?}); shadow's tools refuse it too",
                            lock.display()
                        ))
                        .fix(format!(
                            "if no useradd/usermod runs, remove it: rm {}",
                            lock.display()
                        )),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for LinkLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock);
    }
}

/// One attempt at shadow's `do_lock_file`: Ok(None) when the lock is ours.
fn try_lock(file: &Path, lock: &Path) -> Result<Option<Holder>> {
    let pid = std::process::id();
    let temp = with_suffix(file, &format!(".{pid}"));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .map_err(|e| Error::io("create the lock file", &temp, &e))?;
        // Exactly what shadow writes: the decimal pid and a NUL, which its get_pid reads.
        f.write_all(format!("{pid}\0").as_bytes())
            .and_then(|()| f.sync_data())
            .map_err(|e| {
                let _ = std::fs::remove_file(&temp);
                Error::io("write the lock file", &temp, &e)
            })?;
    }
    let result = link_lock(&temp, lock);
    let _ = std::fs::remove_file(&temp);
    result
}

fn link_lock(temp: &Path, lock: &Path) -> Result<Option<Holder>> {
    match std::fs::hard_link(temp, lock) {
        Ok(()) => return linked(temp, lock),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io("create the lock", lock, &e)),
    }
    let text = match std::fs::read(lock) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        // Released between our link and our read: try again at once.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return link_lock(temp, lock),
        Err(e) => return Err(Error::io("read the lock", lock, &e)),
    };
    let Some(pid) = parse_lock_pid(&text) else {
        return Ok(Some(Holder::Unreadable(text)));
    };
    if crate::sys::process_exists(pid) {
        return Ok(Some(Holder::Pid(pid)));
    }
    // Stale: its writer died without unlocking. Remove it and link once more; a rival
    // doing the same may win, and then we wait for it like for any holder.
    match std::fs::remove_file(lock) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove the stale lock", lock, &e)),
    }
    match std::fs::hard_link(temp, lock) {
        Ok(()) => linked(temp, lock),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Some(Holder::Pid(pid))),
        Err(e) => Err(Error::io("create the lock", lock, &e)),
    }
}

/// shadow's `check_link_count`: after link(2) the temp file must have 2 links, else the
/// link did not happen (NFS can report failure or success wrongly).
fn linked(temp: &Path, lock: &Path) -> Result<Option<Holder>> {
    match std::fs::metadata(temp) {
        Ok(m) if m.nlink() == 2 => Ok(None),
        Ok(m) => Err(
            Error::failure(format!("cannot lock {}", lock.display())).because(format!(
                "after link(2) {} has {} links, not 2",
                temp.display(),
                m.nlink()
            )),
        ),
        Err(e) => Err(Error::io("check the lock", temp, &e)),
    }
}

/// The pid in a lock file: decimal digits, then optional NUL or white space.
fn parse_lock_pid(text: &str) -> Option<i32> {
    let digits = text.trim_end_matches(['\0', '\n', ' ']);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&p: &i32| p > 0)
}

fn process_name(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "name unknown".into())
}

extern "C" {
    // glibc's shadow-file lock (shadow(3)): an fcntl write lock on /etc/.pwd.lock, given
    // up after 15 s. Not in the libc crate.
    fn lckpwdf() -> libc::c_int;
    fn ulckpwdf() -> libc::c_int;
}

/// A held lckpwdf() lock; dropping it calls ulckpwdf().
#[derive(Debug)]
pub struct PasswdLock(());

impl PasswdLock {
    /// Take /etc/.pwd.lock as useradd does before touching the subid files.
    pub fn acquire() -> Result<PasswdLock> {
        // SAFETY: lckpwdf has no arguments; it installs and restores its own SIGALRM
        // handler, and userns is single-threaded here.
        if unsafe { lckpwdf() } != 0 {
            let err = std::io::Error::last_os_error();
            return Err(Error::failure("cannot lock the password files (/etc/.pwd.lock)")
                .because(format!("lckpwdf() gave up after 15 s: {err}"))
                .fix("another useradd, usermod, passwd or vipw is running: wait for it and retry"));
        }
        Ok(PasswdLock(()))
    }
}

impl Drop for PasswdLock {
    fn drop(&mut self) {
        // SAFETY: releases the lock taken in acquire.
        unsafe { ulckpwdf() };
    }
}

/// Replace `path` with `contents` atomically, keeping the old file as `path-`. Mode and
/// owner follow the old file; a new file gets 0644 root:root, as useradd creates it.
/// A symlink is followed, so the file it points at is replaced (shadow's lrename).
pub fn replace_file(path: &Path, contents: &[u8]) -> Result<()> {
    let path = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            std::fs::canonicalize(path).map_err(|e| Error::io("resolve", path, &e))?
        }
        _ => path.to_path_buf(),
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let old = match std::fs::metadata(&path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("read the metadata of", &path, &e)),
    };
    let (mode, uid, gid) = old
        .as_ref()
        .map_or((0o644, 0, 0), |m| (m.mode() & 0o7777, m.uid(), m.gid()));

    let temp = with_suffix(&path, "+");
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)?;
        // Owner and mode before the contents, so that no moment shows them to others
        // with the wrong permissions.
        std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        f.write_all(contents)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(Error::io("write", &temp, &e));
    }
    if old.is_some() {
        keep_backup(&path)?;
    }
    std::fs::rename(&temp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        Error::io("rename the new file over", &path, &e)
    })?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("sync the directory", &dir, &e))
}

/// Make `path-` the current `path`: a hard link to the same inode, placed by rename so
/// that an old backup is replaced in one step; a copy where links are not allowed.
fn keep_backup(path: &Path) -> Result<()> {
    let backup = with_suffix(path, "-");
    let staged = with_suffix(path, "-+");
    let _ = std::fs::remove_file(&staged);
    if std::fs::hard_link(path, &staged).is_err() {
        copy_preserving(path, &staged)?;
    }
    std::fs::rename(&staged, &backup).map_err(|e| Error::io("keep the backup", &backup, &e))
}

fn copy_preserving(from: &Path, to: &Path) -> Result<()> {
    let meta = std::fs::metadata(from).map_err(|e| Error::io("read", from, &e))?;
    std::fs::copy(from, to).map_err(|e| Error::io("copy to the backup", to, &e))?;
    let _ = std::os::unix::fs::chown(to, Some(meta.uid()), Some(meta.gid()));
    std::fs::File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io("sync", to, &e))
}

/// Read a file's bytes, a missing file being empty (as shadow treats a missing subuid).
pub fn read_or_empty(path: &Path) -> Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io("read", path, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> tempfile::TempDir {
        tempfile::tempdir().expect("tempdir")
    }

    #[test]
    fn lock_pid_is_read_as_shadow_writes_it() {
        assert_eq!(parse_lock_pid("1234\0"), Some(1234));
        assert_eq!(parse_lock_pid("1234\n"), Some(1234));
        assert_eq!(parse_lock_pid(""), None);
        assert_eq!(parse_lock_pid("12a"), None);
        assert_eq!(parse_lock_pid("0"), None);
    }

    #[test]
    fn lock_is_exclusive_and_released_on_drop() {
        let dir = scratch();
        let file = dir.path().join("subuid");
        let held = LinkLock::acquire(&file, Duration::from_secs(1)).unwrap();
        let text = std::fs::read(&held.lock).unwrap();
        assert_eq!(text, format!("{}\0", std::process::id()).as_bytes());
        // Our own pid is alive: a second attempt waits and then names us.
        let err = LinkLock::acquire(&file, Duration::from_millis(100)).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("process {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("subuid.lock"), "{msg}");
        drop(held);
        assert!(!dir.path().join("subuid.lock").exists());
        // No temp file is left behind.
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
        LinkLock::acquire(&file, Duration::from_secs(1)).unwrap();
    }

    #[test]
    fn a_dead_writers_lock_is_taken_over() {
        let dir = scratch();
        let file = dir.path().join("subgid");
        // A pid that is certainly dead: a child we reaped.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        std::fs::write(dir.path().join("subgid.lock"), format!("{dead}\0")).unwrap();
        let held = LinkLock::acquire(&file, Duration::from_millis(500)).unwrap();
        assert_eq!(
            std::fs::read(&held.lock).unwrap(),
            format!("{}\0", std::process::id()).as_bytes()
        );
    }

    #[test]
    fn a_lock_without_a_pid_is_refused_with_a_fix() {
        let dir = scratch();
        let file = dir.path().join("subuid");
        std::fs::write(dir.path().join("subuid.lock"), "").unwrap();
        let err = LinkLock::acquire(&file, Duration::from_millis(50)).unwrap_err();
        assert!(err.to_string().contains("holds no process id"), "{err}");
        assert!(err.fix.unwrap().contains("rm "));
    }

    #[test]
    fn replace_keeps_mode_owner_and_a_backup() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch();
        let file = dir.path().join("subuid");
        std::fs::write(&file, "old:1:2\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        replace_file(&file, b"new:3:4\n").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new:3:4\n");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("subuid-")).unwrap(),
            "old:1:2\n"
        );
        assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o7777, 0o640);
        assert!(!dir.path().join("subuid+").exists());
        assert!(!dir.path().join("subuid-+").exists());
        // A second write moves the backup along.
        replace_file(&file, b"newer:5:6\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("subuid-")).unwrap(),
            "new:3:4\n"
        );
    }

    #[test]
    fn a_new_file_is_0644_without_a_backup() {
        let dir = scratch();
        let file = dir.path().join("subgid");
        replace_file(&file, b"a:1:2\n").unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o7777, 0o644);
        assert!(!dir.path().join("subgid-").exists());
    }

    #[test]
    fn a_symlink_is_followed() {
        let dir = scratch();
        let real = dir.path().join("real");
        std::fs::write(&real, "a:1:2\n").unwrap();
        let link = dir.path().join("subuid");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        replace_file(&link, b"b:3:4\n").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "b:3:4\n");
    }
}
