//! A user namespace made ahead, while a pull downloads, and joined once it is needed.
//!
//! `userns pull` unpacks in a user namespace mapped as every container's. Made after
//! the download (`enter`), its setup is on the pull's critical path: two forks, two
//! setuid helpers exec'd, their wait (3-5 ms in a perf trace). Made before, it costs
//! the pull one fork. So, while the process is still single-threaded (no download
//! thread yet), a *holder* child is forked that makes the namespace exactly as `enter`
//! does — it runs `enter_new_userns` on itself: the same plan, the same writers
//! (newuidmap/newgidmap, a direct write as root or nested, its own one-line maps with
//! `--single`) — reports the outcome on a pipe and waits. After the download, its
//! threads gone, userns reads the report and joins the namespace with
//! `setns(pidfd, CLONE_NEWUSER)` (a pidfd as the namespace descriptor: Linux 5.8,
//! setns(2)); then it releases the holder and reaps it.
//!
//! The kernel's rules this rests on:
//! - setns(2) into a user namespace needs a single-threaded caller that shares no
//!   filesystem attributes (EINVAL otherwise): the join comes after the download's
//!   threads are gone, as the unshare of `enter` did.
//! - It needs CAP_SYS_ADMIN in the target namespace; a process of the parent namespace
//!   whose euid owns a namespace has every capability in it (user_namespaces(7)), and
//!   the holder's namespace is owned by our euid and a child of ours. The joiner gets
//!   every capability there (setns(2)), as the creator of a namespace does: what
//!   `install` then does runs with the same credentials as after `enter`.
//! - Only the user namespace is made. `enter`'s default spec also unshares a mount
//!   namespace (for podman run inside, `NsSpec::extra_flags`) and leaves its mounts
//!   as they are (`private_mounts()` is false for the default spec). `install` needs no
//!   mount namespace of its own: it mounts nothing (no mount(2), umount(2) or
//!   mount_setattr(2) in src/image, src/registry, storage.rs or trusted_dir.rs), and
//!   the checks on its chown, mknod and xattr calls go by the caller's user namespace
//!   and the inode's owner (capable_wrt_inode_uidgid), never by the mount namespace.
//! - The holder is our child and stays unreaped until the end, so its pid cannot be
//!   reused while the writers name it; the pidfd makes that explicit for the join.
//!
//! The holder could be ended or tampered with by another process of the same user
//! during the download: the join then fails with the holder's pid and fate, and the
//! namespace joined is checked before anything is unpacked in it: a child of our own
//! user namespace, with exactly the maps planned. Never the host's ids, never an
//! unmapped namespace.

use super::mapping::{MapRequest, Mapping};
use crate::error::{Cause, Error, ErrorKind, Result};
use crate::subid::SubIdPaths;
use crate::sys::{fork, pidfd};
use crate::users::Account;
use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

/// A user namespace for the default map, made ahead (or to be made when joined).
pub(crate) struct Ahead {
    state: State,
}

enum State {
    /// Made by a holder child, or on its way.
    Holding { mapping: Mapping, holder: Holder },
    /// The plan failed: told when the namespace is needed, as `enter` told it after
    /// the download (and never when the image turns out cached).
    Failed(Error),
    /// Not made ahead (the process had threads, or no pidfds): `join` makes it as
    /// `enter` does.
    Later,
}

/// The holder child and our ends of its two pipes.
struct Holder {
    pid: Pid,
    pidfd: OwnedFd,
    /// Read end: the holder writes its outcome, then closes its end.
    report: Option<OwnedFd>,
    /// Write end: closing it (or our death) ends the holder.
    release: Option<OwnedFd>,
    reaped: bool,
}

/// How long an abandoned holder may take to finish its setup (its helpers run a few
/// ms) before it is killed.
const ABANDON_WAIT: Duration = Duration::from_secs(5);

impl Ahead {
    /// Plan the default map and fork the holder that makes the namespace. Call while the
    /// process is single-threaded; with threads it falls back to making it at `join`.
    pub(crate) fn start(account: &Account) -> Ahead {
        let req = MapRequest::default();
        let mapping = match super::plan_mapping(&req, account, &SubIdPaths::default()) {
            Ok(m) => m,
            Err(e) => {
                return Ahead {
                    state: State::Failed(e),
                }
            }
        };
        let state = match Holder::fork(&mapping) {
            Ok(holder) => State::Holding { mapping, holder },
            // EBUSY: threads (forking then would not be safe); ENOSYS: a kernel without
            // pidfds (before 5.3). Today's way then, after the download.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOSYS)) => State::Later,
            Err(e) => State::Failed(
                Error::failure("cannot fork the process that makes the user namespace").because(e),
            ),
        };
        Ahead { state }
    }

    /// Move this process into the namespace, mapped; it must be single-threaded now.
    /// The holder is released (and reaped when `self` is dropped).
    pub(crate) fn join(&mut self, account: &Account) -> Result<Mapping> {
        match &mut self.state {
            State::Holding { mapping, holder } => {
                super::enter::tell_plan(&MapRequest::default(), mapping, account);
                holder.join(mapping)?;
                Ok(mapping.clone())
            }
            State::Failed(e) => Err(e.clone()),
            State::Later => super::enter(&super::NsSpec::default(), account),
        }
    }
}

impl Holder {
    fn fork(mapping: &Mapping) -> std::io::Result<Holder> {
        let (report_read, report_write) = pipe()?;
        let (release_read, release_write) = pipe()?;
        let parent = nix::unistd::getpid();
        let pid = fork::fork_running(|| {
            hold(
                mapping,
                parent,
                &report_write,
                &release_read,
                [&report_read, &release_write],
            )
        })?;
        drop((report_write, release_read));
        let pidfd = match pidfd::open(pid.as_raw()) {
            Ok(fd) => fd,
            Err(e) => {
                drop(release_write);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                reap(pid);
                return Err(e);
            }
        };
        Ok(Holder {
            pid,
            pidfd,
            report: Some(report_read),
            release: Some(release_write),
            reaped: false,
        })
    }

    /// Read the holder's report, join its user namespace, check it, release the holder.
    fn join(&mut self, mapping: &Mapping) -> Result<()> {
        let pid = self.pid.as_raw();
        let mut report = Vec::new();
        if let Some(fd) = self.report.take() {
            // EOF once the holder has written its report and closed its end (its
            // writers, which held a copy, are reaped by then, or exec'd: O_CLOEXEC).
            let _ = std::fs::File::from(fd).read_to_end(&mut report);
        }
        match report.first() {
            Some(b'O') => {}
            Some(b'E') => return Err(decode_error(&report[1..])),
            _ => return Err(self.gone("ended before it reported whether the maps were written")),
        }
        let home = ns_id(std::fs::metadata("/proc/self/ns/user"))
            .map_err(|e| Error::failure("cannot read /proc/self/ns/user").because(e))?;
        // Checked from outside before the join: NS_GET_PARENT answers only for a parent
        // within the caller's scope (ioctl_ns(2)), which ours is not once we are inside.
        // /proc/PID is the holder's for sure: it is our child, not reaped.
        let target = match std::fs::File::open(format!("/proc/{pid}/ns/user")) {
            Ok(file) => file,
            Err(_) if pidfd::wait_exit(&self.pidfd, Duration::ZERO) => {
                return Err(self.gone("ended before userns could join its namespace"))
            }
            Err(e) => {
                return Err(Error::failure(format!("cannot open /proc/{pid}/ns/user"))
                    .because(e)
                    .fix(format!("check that /proc is mounted and that no process of yours changed process {pid}")))
            }
        };
        let target_id = ns_id(target.metadata())
            .map_err(|e| Error::failure(format!("cannot read /proc/{pid}/ns/user")).because(e))?;
        let parent = crate::sys::ns::parent(target.as_fd())
            .and_then(|fd| ns_id(std::fs::File::from(fd).metadata()))
            .map_err(|e| not_ours(pid, format!("its parent namespace cannot be read ({e})")))?;
        if parent != home {
            return Err(not_ours(
                pid,
                "it is not a child of the user namespace userns runs in".into(),
            ));
        }
        let newuser = CloneFlags::CLONE_NEWUSER;
        // A pidfd names a process's namespaces to setns since Linux 5.8 (EINVAL before);
        // then the nsfs file of the same process, checked above, is joined instead.
        let entered = nix::sched::setns(self.pidfd.as_fd(), newuser).or_else(|e| match e {
            Errno::EINVAL => nix::sched::setns(target.as_fd(), newuser),
            e => Err(e),
        });
        if let Err(errno) = entered {
            return Err(match errno {
                // A process that has exited has no namespaces left to join (setns(2)).
                Errno::ESRCH => self.gone("ended before userns could join its namespace"),
                _ => Error::failure(format!(
                    "cannot join the user namespace of process {pid}, which userns made for this pull"
                ))
                .because(errno)
                .fix("this is a bug in userns if the process has more than one thread; please report it"),
            });
        }
        let joined = ns_id(std::fs::metadata("/proc/self/ns/user"))
            .map_err(|e| Error::failure("cannot read /proc/self/ns/user").because(e))?;
        if joined != target_id {
            return Err(not_ours(
                pid,
                "the holder moved to another namespace while userns joined it".into(),
            ));
        }
        check_maps(pid, mapping)?;
        // Released (EOF on its pipe): we are in its namespace, it has nothing left to
        // hold. Reaped when dropped, by when it has long exited.
        self.release.take();
        Ok(())
    }

    /// The error for a holder that died before the join, with how it ended.
    fn gone(&mut self, when: &str) -> Error {
        let pid = self.pid.as_raw();
        let status = loop {
            match waitpid(self.pid, None) {
                Err(Errno::EINTR) => continue,
                other => break other,
            }
        };
        let how = match status {
            Ok(WaitStatus::Signaled(_, sig, _)) => format!("was killed by {sig}"),
            Ok(WaitStatus::Exited(_, code)) => format!("exited with status {code}"),
            Ok(other) => format!("ended ({other:?})"),
            Err(e) => format!("cannot be waited for ({e})"),
        };
        self.reaped = true;
        Error::failure(format!(
            "the user namespace userns made for this pull is gone: its holder, process {pid}, {how}"
        ))
        .because(format!("it {when}: something ended it during the download"))
        .fix("did another process of yours kill it? pull again (the download resumes from what is kept)")
    }
}

impl Drop for Holder {
    /// Release the holder (it exits on EOF once its setup is done) and reap it: no
    /// zombie, no process left behind, whatever path the pull took.
    fn drop(&mut self) {
        self.release.take();
        self.report.take();
        if self.reaped {
            return;
        }
        if !pidfd::wait_exit(&self.pidfd, ABANDON_WAIT) {
            let _ = pidfd::send_signal(&self.pidfd, libc::SIGKILL);
        }
        reap(self.pid);
    }
}

/// waitpid through EINTR; a holder already reaped (ECHILD) is fine.
fn reap(pid: Pid) {
    while let Err(Errno::EINTR) = waitpid(pid, None) {}
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)
}

/// The holder, in the forked child: make the namespace, report, wait for the release.
/// `parents` are the parent's ends of the pipes, closed here (the child never returns,
/// so nothing closes them twice).
fn hold(
    mapping: &Mapping,
    parent: Pid,
    report: &OwnedFd,
    release: &OwnedFd,
    parents: [&OwnedFd; 2],
) -> i32 {
    // Die with userns (prctl(2): the signal comes when the forking thread ends, here the
    // main thread, which outlives the pull); a parent gone already would not send it.
    if nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).is_err()
        || nix::unistd::getppid() != parent
    {
        return 1;
    }
    for fd in parents {
        let _ = nix::unistd::close(fd.as_raw_fd());
    }
    // This process is single-threaded (a fresh fork of a single-threaded one): what
    // `enter` does to itself, with the same code, minus the mount namespace (above).
    let outcome = super::enter_new_userns(mapping, CloneFlags::empty());
    let text = match &outcome {
        Ok(()) => b"O".to_vec(),
        Err(e) => [b"E".as_slice(), encode_error(e).as_bytes()].concat(),
    };
    let _ = write_all(report, &text);
    let _ = nix::unistd::close(report.as_raw_fd());
    let mut byte = [0u8; 1];
    // EOF when userns releases it (or dies); a byte would end it too.
    while let Err(Errno::EINTR) = nix::unistd::read(release, &mut byte) {}
    i32::from(outcome.is_err())
}

fn write_all(fd: &OwnedFd, mut bytes: &[u8]) -> nix::Result<()> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A namespace's identity: the device and inode of its nsfs file (ioctl_ns(2)).
fn ns_id(meta: std::io::Result<std::fs::Metadata>) -> std::io::Result<(u64, u64)> {
    meta.map(|m| (m.dev(), m.ino()))
}

fn not_ours(pid: i32, why: String) -> Error {
    Error::failure(format!(
        "the user namespace of process {pid}, made for this pull, is not as userns made it"
    ))
    .because(why)
    .fix("another process of yours changed it during the download; pull again")
}

/// The namespace joined has exactly the maps planned (read from inside: relative to
/// its parent, which is ours).
fn check_maps(pid: i32, mapping: &Mapping) -> Result<()> {
    let (uid, gid) = crate::idmap::proc::self_maps()?;
    let same = |a: &crate::idmap::IdMap, b: &crate::idmap::IdMap| {
        let sorted = |m: &crate::idmap::IdMap| {
            let mut e = m.entries.clone();
            e.sort();
            e
        };
        sorted(a) == sorted(b)
    };
    if !same(&uid, &mapping.uid) || !same(&gid, &mapping.gid) {
        return Err(not_ours(
            pid,
            format!(
                "its maps are uid_map {}, gid_map {}; userns wrote uid_map {}, gid_map {}",
                uid.to_short(),
                gid.to_short(),
                mapping.uid.to_short(),
                mapping.gid.to_short()
            ),
        ));
    }
    Ok(())
}

/// An error as the holder tells it to its parent: what the user would read, and its kind.
fn encode_error(e: &Error) -> String {
    let kind = match e.kind {
        ErrorKind::Usage => "usage",
        ErrorKind::Failure => "failure",
        ErrorKind::NotExecutable => "not-executable",
        ErrorKind::NotFound => "not-found",
        ErrorKind::ImageRefused => "image-refused",
    };
    serde_json::json!({
        "kind": kind,
        "what": e.what,
        "cause": e.cause.as_deref(),
        "fix": e.fix,
    })
    .to_string()
}

fn decode_error(bytes: &[u8]) -> Error {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Error::failure(
            "the process that made the user namespace sent an unreadable report",
        );
    };
    let text = |k: &str| v[k].as_str().map(str::to_string);
    let kind = match v["kind"].as_str() {
        Some("usage") => ErrorKind::Usage,
        Some("not-executable") => ErrorKind::NotExecutable,
        Some("not-found") => ErrorKind::NotFound,
        Some("image-refused") => ErrorKind::ImageRefused,
        _ => ErrorKind::Failure,
    };
    Error {
        kind,
        what: text("what").unwrap_or_default(),
        cause: text("cause").map(Cause::text),
        fix: text("fix"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_reads_the_same_after_the_trip_from_the_holder() {
        let e = Error::usage("newuidmap failed (exit status 1)")
            .because("newuidmap said: write to uid_map failed")
            .fix("check your lines");
        let back = decode_error(encode_error(&e).as_bytes());
        assert_eq!(back.to_string(), e.to_string());
        assert_eq!(back.kind, ErrorKind::Usage);
        let bare = decode_error(encode_error(&Error::failure("x")).as_bytes());
        assert_eq!(
            (bare.to_string(), bare.cause, bare.fix),
            ("x".into(), None, None)
        );
    }
}
