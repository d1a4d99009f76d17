//! What a root run of `migrate --as USER` refreshes for USER: podman's pause process
//! (`podman system migrate` stops it, so that the next podman command starts one with
//! the new map) and the kept namespaces whose map the new ranges make stale.
//!
//! Root acts here on what USER wrote: a pid file and registry records in USER's runtime
//! dir. USER chooses their contents, so a pid is signalled only once it is proven to be
//! USER's process of the expected kind, held by a pidfd first, so that a pid reused
//! meanwhile is never hit:
//! - every uid of it (real, effective, saved, file system) is USER's: it is a process
//!   USER could signal themselves, so no boundary is crossed by root signalling it (a
//!   setuid program USER started has root's effective uid and is refused);
//! - it is in a user namespace other than root's, owned by USER (NS_GET_OWNER_UID);
//! - podman's pause process is named as podman names it; a kept namespace's pause
//!   process has the recorded start time and user namespace;
//! - and the pidfd's process is still alive after the checks (so the checked /proc
//!   entry was its own, not a successor's).
//!
//! Files are read without following a symlink (openat2 RESOLVE_NO_SYMLINKS below a
//! directory of USER's, opened O_NOFOLLOW), and only regular files of USER's, so that a
//! planted link or FIFO makes root read nothing else and never blocks it.

use crate::keep::record::KeptRecord;
use crate::sys::resolve::{self, Resolve};
use crate::users::Account;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the process must be, besides USER's.
#[derive(Debug, Clone, Copy)]
pub enum Expected<'a> {
    PodmanPause,
    KeptPause(&'a KeptRecord),
}

/// A process proven to be USER's of the expected kind, held by its pidfd.
#[derive(Debug)]
pub struct Proven {
    pub pid: i32,
    pidfd: OwnedFd,
}

/// Prove that `pid` is `uid`'s process of the kind `expected`; Err: what it is instead.
pub fn prove(pid: i32, uid: u32, expected: Expected) -> Result<Proven, String> {
    if pid <= 1 {
        return Err(format!("pid {pid} is not a process userns may stop"));
    }
    // The handle first: every check below is then about the process it holds (see the
    // liveness test at the end).
    let pidfd = crate::sys::pidfd::open(pid).map_err(|e| format!("pid {pid}: {e}"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("pid {pid}: {e}"))?;
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
            .unwrap_or("")
    };
    if field("State:").starts_with(['Z', 'X']) {
        return Err(format!("pid {pid} has exited"));
    }
    let uids: Vec<u32> = field("Uid:")
        .split_whitespace()
        .filter_map(|u| u.parse().ok())
        .collect();
    if uids.len() != 4 || uids.iter().any(|&u| u != uid) {
        return Err(format!(
            "pid {pid} runs as uids {} (real, effective, saved, fs), not only as uid {uid}",
            field("Uid:")
        ));
    }
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/user"))
        .map_err(|e| format!("pid {pid}: its user namespace: {e}"))?;
    let ns_inode = ns.metadata().map_err(|e| e.to_string())?.ino();
    let ours = std::fs::metadata("/proc/self/ns/user")
        .map_err(|e| e.to_string())?
        .ino();
    if ns_inode == ours {
        return Err(format!(
            "pid {pid} is in the host's user namespace, where no pause process of a rootless user is"
        ));
    }
    match crate::sys::ns::owner_uid(ns.as_fd()) {
        Ok(owner) if owner == uid => {}
        Ok(owner) => {
            return Err(format!(
                "pid {pid} is in a user namespace of uid {owner}, not of uid {uid}"
            ))
        }
        Err(e) => return Err(format!("pid {pid}: the owner of its user namespace: {e}")),
    }
    match expected {
        Expected::PodmanPause => crate::podman::pause_process_name(pid)
            .map_err(|what| format!("pid {pid} is {what}, not podman's pause process"))?,
        Expected::KeptPause(rec) => {
            let start = crate::keep::process::start_time(pid).map_err(|e| e.to_string())?;
            if start != rec.start_time || ns_inode != rec.userns_inode {
                return Err(format!(
                    "pid {pid} is not the pause process recorded for {} (started at {start}, user namespace {ns_inode}; recorded {} and {})",
                    rec.name, rec.start_time, rec.userns_inode
                ));
            }
        }
    }
    // Still the process the pidfd holds: then the /proc entries read were its own (a pid
    // is not reused while its process lives).
    if crate::sys::pidfd::wait_exit(&pidfd, Duration::ZERO) {
        return Err(format!("pid {pid} exited while being checked"));
    }
    Ok(Proven { pid, pidfd })
}

impl Proven {
    /// SIGTERM, then SIGKILL after two seconds, through the pidfd. Ok(false): it had
    /// already exited.
    pub fn stop(&self) -> Result<bool, String> {
        use crate::keep::process::{terminate, Ended};
        match terminate(self.pid, Some(&self.pidfd), 2000, 2000) {
            Ok(Ended::Already) => Ok(false),
            Ok(Ended::Terminated | Ended::Killed) => Ok(true),
            Ok(Ended::Survived) => Err(format!("pid {} did not exit after SIGKILL", self.pid)),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// USER's runtime dir as root finds it: $XDG_RUNTIME_DIR when it is a directory of
/// USER's (`sudo XDG_RUNTIME_DIR=/run/user/UID userns migrate --as USER`), else
/// /run/user/UID (systemd-logind's), else podman's fallback /tmp/storage-run-UID.
pub fn runtime_dirs(account: &Account) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .into_iter()
        .collect();
    dirs.push(PathBuf::from(format!("/run/user/{}", account.uid)));
    dirs.push(PathBuf::from(format!("/tmp/storage-run-{}", account.uid)));
    dirs.retain(|d| users_dir(d, account.uid).is_ok());
    dirs.dedup();
    dirs
}

/// `dir` opened without following a symlink, when it is a directory of `uid`'s.
fn users_dir(dir: &Path, uid: u32) -> std::io::Result<OwnedFd> {
    let fd = resolve::open(
        crate::sys::fs::open_root()?.as_fd(),
        dir.strip_prefix("/").unwrap_or(dir),
        libc::O_PATH | libc::O_DIRECTORY,
        Resolve::NO_SYMLINKS,
    )?;
    let st = crate::sys::fs::stat_fd(fd.as_fd())?;
    if st.uid != uid {
        return Err(std::io::Error::other(format!("owned by uid {}", st.uid)));
    }
    Ok(fd)
}

/// The first 64 KiB of `path` below `dir`, when it is a regular file of `uid`'s reached
/// without a symlink; None when it does not exist.
fn read_users_file(dir: BorrowedFd, path: &str, uid: u32) -> Result<Option<Vec<u8>>, String> {
    let opened = resolve::open(
        dir,
        path,
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
        Resolve::NO_SYMLINKS | Resolve::BENEATH,
    );
    // O_PATH first would not help: the open of a FIFO with O_NONBLOCK returns at once,
    // and the user cannot make device nodes on the host.
    let fd = match opened {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(format!("{path}: {e}")),
    };
    let st = crate::sys::fs::stat_fd(fd.as_fd()).map_err(|e| format!("{path}: {e}"))?;
    if st.mode & libc::S_IFMT != libc::S_IFREG || st.uid != uid {
        return Err(format!(
            "{path} is not a regular file of uid {uid} (mode {:o}, uid {})",
            st.mode, st.uid
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .take(64 * 1024)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{path}: {e}"))?;
    Ok(Some(bytes))
}

/// The pid in USER's podman pause pid file (`libpod/tmp/pause.pid` of the runtime dir),
/// proven; None when there is no pid file. Err: why the pid was not acted on.
pub fn podman_pause(runtime: &Path, uid: u32) -> Result<Option<Proven>, String> {
    let dir = users_dir(runtime, uid).map_err(|e| format!("{}: {e}", runtime.display()))?;
    let file = "libpod/tmp/pause.pid";
    let Some(bytes) = read_users_file(dir.as_fd(), file, uid)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    let pid: i32 = text
        .trim()
        .parse()
        .map_err(|_| format!("{}/{file} holds no pid", runtime.display()))?;
    prove(pid, uid, Expected::PodmanPause).map(Some)
}

/// USER's kept namespaces whose map the current ranges make stale, each proven (or why
/// not, for the report); from the registry in the runtime dir (`userns` in it) or the
/// fallback /tmp/userns-UID.
pub fn stale_kept(
    account: &Account,
    runtimes: &[PathBuf],
) -> Vec<(String, Result<Proven, String>)> {
    let mut registries: Vec<PathBuf> = runtimes.iter().map(|r| r.join("userns")).collect();
    registries.push(PathBuf::from(format!("/tmp/userns-{}", account.uid)));
    registries.dedup();
    let mut out = Vec::new();
    for registry in registries {
        let Ok(dir) = users_dir(&registry, account.uid) else {
            continue;
        };
        let Ok(entries) = std::fs::read_dir(&registry) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.') && n.ends_with(".json"))
            .collect();
        names.sort();
        for file in names {
            let rec: KeptRecord = match read_users_file(dir.as_fd(), &file, account.uid) {
                Ok(Some(bytes)) => match serde_json::from_slice(&bytes) {
                    Ok(rec) => rec,
                    Err(e) => {
                        out.push((file, Err(format!("cannot parse the record: {e}"))));
                        continue;
                    }
                },
                Ok(None) => continue,
                Err(e) => {
                    out.push((file, Err(e)));
                    continue;
                }
            };
            if crate::keep::map_change(&rec, account).is_none() {
                continue;
            }
            let proven = prove(rec.pid, account.uid, Expected::KeptPause(&rec));
            out.push((rec.name.clone(), proven));
        }
    }
    out
}
