//! A process named without races: its pid, its start time (a reused pid has a later
//! one), and a pidfd (Linux 5.3+; setns on it since 5.8) that keeps naming that one
//! process however pids are reused later.

use crate::error::{Error, Result};
use crate::sys::pidfd;
use nix::sched::CloneFlags;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;

/// The namespace kinds userns joins, in the order a fallback (one setns per fd) must
/// take them: the user namespace first, since it grants the capabilities the others need.
pub(crate) const NS_KINDS: [(&str, CloneFlags); 7] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("mnt", CloneFlags::CLONE_NEWNS),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("net", CloneFlags::CLONE_NEWNET),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
];

pub(crate) fn flag_of(kind: &str) -> Option<CloneFlags> {
    NS_KINDS.iter().find(|(k, _)| *k == kind).map(|(_, f)| *f)
}

/// The kind names of `flags`, "user" first.
pub(crate) fn kinds_of(flags: CloneFlags) -> Vec<String> {
    NS_KINDS
        .iter()
        .filter(|(_, f)| flags.contains(*f))
        .map(|(k, _)| k.to_string())
        .collect()
}

/// Field 22 of /proc/PID/stat, the start time in clock ticks after boot. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted after the last ')'.
pub(crate) fn start_time(pid: i32) -> Result<u64> {
    Ok(stat_of(pid)?.start_time)
}

/// What `liveness` needs of /proc/PID/stat, from one read of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    pub(crate) start_time: u64,
    /// Exited and waiting to be reaped (state Z or X): its /proc entry and start time
    /// remain, but its namespaces are gone and setns fails with ESRCH.
    pub(crate) zombie: bool,
}

pub(crate) fn stat_of(pid: i32) -> Result<ProcStat> {
    let path = format!("/proc/{pid}/stat");
    let text = read_small(&path).map_err(|e| gone_or(pid, &path, &e))?;
    let start_time = parse_start_time(&text).ok_or_else(|| {
        Error::failure(format!("cannot parse {path}"))
            .because("field 22 (starttime) is missing or not a number")
            .fix("check that /proc is a proc file system")
    })?;
    let state = text[text.rfind(')').unwrap_or(0) + 1..]
        .split_whitespace()
        .next();
    Ok(ProcStat {
        start_time,
        zombie: matches!(state, Some("Z" | "X")),
    })
}

/// A /proc file of well under 1 KiB in one read (plus the one that sees its end):
/// read_to_string sizes its buffer by a stat, which says 0 for /proc files, and then
/// grows it from 32 bytes, six reads for a /proc/PID/stat.
fn read_small(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(1024);
    std::fs::File::open(path)?.read_to_end(&mut buf)?;
    String::from_utf8(buf).map_err(std::io::Error::other)
}

pub(crate) fn parse_start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ')' come field 3 (state) onwards, so field 22 is the 20th word.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The inode of /proc/PID/ns/KIND (what `readlink` shows as KIND:[N]).
pub fn ns_inode(pid: i32, kind: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/ns/{kind}");
    std::fs::metadata(&path)
        .map(|m| m.ino())
        .map_err(|e| gone_or(pid, &path, &e))
}

pub(crate) fn own_ns_inode(kind: &str) -> Option<u64> {
    std::fs::metadata(format!("/proc/self/ns/{kind}"))
        .map(|m| m.ino())
        .ok()
}

/// Whether the error says the process no longer exists.
pub(crate) fn is_gone(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::NotFound || err.raw_os_error() == Some(libc::ESRCH)
}

fn gone_or(pid: i32, path: &str, err: &std::io::Error) -> Error {
    if is_gone(err) {
        return Error::failure(format!("no process {pid}"))
            .because("it has exited")
            .fix(format!("check the pid (ps -p {pid})"));
    }
    if matches!(err.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM)) {
        let owner = std::fs::metadata(format!("/proc/{pid}"))
            .map(|m| format!("uid {}", m.uid()))
            .unwrap_or_else(|_| "another user".into());
        return Error::failure(format!(
            "cannot join process {pid}: it is not yours (it runs as {owner})"
        ))
        .because(format!("{path}: {err}"))
        .fix("you may enter only namespaces of your own processes; give one of yours (userns ls)");
    }
    Error::io("read", std::path::Path::new(path), err)
}

/// pidfd_open(2): None when the kernel lacks it (ENOSYS, before 5.3).
pub(crate) fn pidfd_open(pid: i32) -> Result<Option<OwnedFd>> {
    match pidfd::open(pid) {
        Ok(fd) => Ok(Some(fd)),
        Err(err) => match err.raw_os_error() {
            Some(libc::ENOSYS) => Ok(None),
            _ if is_gone(&err) => Err(gone_or(pid, "pidfd_open", &err)),
            _ => Err(Error::failure(format!("cannot open a pidfd for process {pid}")).because(err)),
        },
    }
}

/// Send `signal` through the pidfd when there is one (so a reused pid is never hit),
/// else by pid. Ok(false) when the process is already gone.
pub(crate) fn send_signal(pid: i32, pidfd: Option<&OwnedFd>, signal: i32) -> Result<bool> {
    let sent = match pidfd {
        Some(fd) => pidfd::send_signal(fd, signal),
        None => pidfd::kill(pid, signal),
    };
    match sent {
        Ok(()) => Ok(true),
        Err(err) if err.raw_os_error() == Some(libc::ESRCH) => Ok(false),
        Err(err) => Err(Error::failure(format!("cannot signal process {pid}")).because(err)),
    }
}

/// Wait until the process behind `pidfd` exits (the pidfd polls readable then), at most
/// `timeout_ms`. True when it exited.
pub(crate) fn wait_exit(pid: i32, pidfd: Option<&OwnedFd>, timeout_ms: u64) -> bool {
    let timeout = std::time::Duration::from_millis(timeout_ms);
    if let Some(fd) = pidfd {
        return pidfd::wait_exit(fd, timeout);
    }
    let deadline = std::time::Instant::now() + timeout;
    loop {
        // Any failure of kill(pid, 0), as before pidfds: gone (or no longer ours).
        if crate::sys::probe_process(pid).is_err() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// How [`terminate`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Gone before SIGTERM.
    Already,
    /// Exited after SIGTERM.
    Terminated,
    /// Exited after SIGKILL.
    Killed,
    /// Still there `kill_wait_ms` after SIGKILL (stuck in the kernel, state D).
    Survived,
}

/// SIGTERM, then SIGKILL when the process is still there after `term_wait_ms`, each
/// sent and awaited through its pidfd when there is one (so a reused pid is never hit).
pub(crate) fn terminate(
    pid: i32,
    pidfd: Option<&OwnedFd>,
    term_wait_ms: u64,
    kill_wait_ms: u64,
) -> Result<Ended> {
    if !send_signal(pid, pidfd, libc::SIGTERM)? {
        return Ok(Ended::Already);
    }
    if wait_exit(pid, pidfd, term_wait_ms) {
        return Ok(Ended::Terminated);
    }
    if !send_signal(pid, pidfd, libc::SIGKILL)? || wait_exit(pid, pidfd, kill_wait_ms) {
        return Ok(Ended::Killed);
    }
    Ok(Ended::Survived)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_field_22_even_with_parentheses_in_the_name() {
        let stat =
            "123 (a) b (c)) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start_time(stat), Some(987654));
        assert_eq!(parse_start_time("garbage"), None);
    }

    #[test]
    fn own_start_time_is_stable_and_kinds_keep_user_first() {
        let me = std::process::id() as i32;
        assert_eq!(start_time(me).unwrap(), start_time(me).unwrap());
        let flags = CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET;
        assert_eq!(kinds_of(flags), vec!["user", "mnt", "net"]);
        assert_eq!(flag_of("pid"), Some(CloneFlags::CLONE_NEWPID));
    }

    #[test]
    fn an_unreaped_child_is_a_zombie_and_we_are_not() {
        let me = std::process::id() as i32;
        assert!(!stat_of(me).unwrap().zombie);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        // Not reaped yet: it turns Z once it has exited.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !stat_of(pid).unwrap().zombie {
            assert!(
                std::time::Instant::now() < deadline,
                "child never became a zombie"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.wait().unwrap();
    }
}
