//! Join the namespaces of a running process and run a program there (what `nsenter -U`
//! and podman's `join_namespace_or_die` do), without helpers: the caller owns the user
//! namespace, so setns(2) alone makes it root there.
//!
//! Order matters against pid reuse: open a pidfd first, then check the start time (and
//! the namespace inode, when known): once both hold, the pidfd names the very process
//! that was checked, and setns(pidfd, flags) (Linux 5.8+) joins all namespaces at once.
//! Without pidfds, /proc/PID/ns/* descriptors are opened first and checked the same way.

use super::process::{self, NS_KINDS};
use crate::error::{Error, Result};
use crate::unshare::{env, exec, supervise, Program};
use nix::sched::CloneFlags;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

/// A process whose namespaces can be joined, held by a pidfd or by namespace fds.
pub struct Joinable {
    pub pid: i32,
    /// What to call it in messages: "kept namespace dev (pid 123)".
    pub shown: String,
    pidfd: Option<OwnedFd>,
}

impl Joinable {
    /// Open `pid` and check that it is the process started at `start_time` (when given).
    pub fn open(pid: i32, start_time: Option<u64>, shown: String) -> Result<Joinable> {
        let pidfd = process::pidfd_open(pid)?;
        if let Some(expected) = start_time {
            let now = process::start_time(pid)?;
            if now != expected {
                return Err(Error::failure(format!("{shown} is gone")).because(format!(
                    "pid {pid} now belongs to another process (start time {now}, not {expected})"
                )));
            }
        }
        Ok(Joinable { pid, shown, pidfd })
    }

    /// Join `flags` of the target (checked again against `start_time`, when known) and
    /// settle the credentials there: the first half of enter-and-run, which `Joined::run`
    /// finishes. The working directory is read first: setns into a mount namespace moves
    /// this process to that namespace's root.
    pub fn enter(&self, flags: CloneFlags, start_time: Option<u64>) -> Result<Joined> {
        let cwd = std::env::current_dir().ok();
        self.join(flags, start_time)?;
        settle_credentials()?;
        Ok(Joined { flags, cwd })
    }

    pub(crate) fn pidfd(&self) -> Option<&OwnedFd> {
        self.pidfd.as_ref()
    }

    /// The flags of `kinds` whose namespace differs from the caller's (joining one's own
    /// user namespace is EINVAL, and the others would be no-ops).
    pub fn differing(&self, kinds: &[&str]) -> Result<CloneFlags> {
        let mut flags = CloneFlags::empty();
        for kind in kinds {
            let theirs = process::ns_inode(self.pid, kind)?;
            if process::own_ns_inode(kind) != Some(theirs) {
                flags |= process::flag_of(kind).unwrap_or(CloneFlags::empty());
            }
        }
        Ok(flags)
    }

    /// Every namespace the target has that differs from the caller's.
    pub fn all_differing(&self) -> Result<CloneFlags> {
        let kinds: Vec<&str> = NS_KINDS.iter().map(|(k, _)| *k).collect();
        self.differing(&kinds)
    }

    /// setns into `flags` of the target. Without a pidfd, /proc/PID/ns/* fds are opened
    /// first, the start time checked again by the caller's `open`, then each joined, user first.
    pub(crate) fn join(&self, flags: CloneFlags, start_time: Option<u64>) -> Result<()> {
        if flags.is_empty() {
            return Ok(());
        }
        if let Some(fd) = &self.pidfd {
            return nix::sched::setns(fd, flags).map_err(|e| self.setns_failed(flags, e));
        }
        let mut fds = Vec::new();
        for (kind, flag) in NS_KINDS {
            if flags.contains(flag) {
                let path = format!("/proc/{}/ns/{kind}", self.pid);
                let file = std::fs::File::open(&path).map_err(|e| {
                    Error::io("open", std::path::Path::new(&path), &e)
                        .fix(format!("check that {} is still running", self.shown))
                })?;
                fds.push((flag, OwnedFd::from(file)));
            }
        }
        if let Some(expected) = start_time {
            if process::start_time(self.pid)? != expected {
                return Err(Error::failure(format!("{} is gone", self.shown))
                    .because(format!("pid {} was reused", self.pid)));
            }
        }
        for (flag, fd) in &fds {
            nix::sched::setns(fd, *flag).map_err(|e| self.setns_failed(*flag, e))?;
        }
        Ok(())
    }

    fn setns_failed(&self, flags: CloneFlags, errno: nix::errno::Errno) -> Error {
        let kinds = process::kinds_of(flags).join(", ");
        let e = Error::failure(format!(
            "cannot join the {kinds} namespace of {}",
            self.shown
        ))
        .because(errno);
        match errno {
            nix::errno::Errno::EPERM => e.fix(
                "you may join only user namespaces you own (userns ls shows the owners); \
                 a namespace of another user needs that user or root",
            ),
            nix::errno::Errno::ESRCH => e.fix("the process has exited; see userns ls"),
            nix::errno::Errno::EINVAL => {
                e.fix("the kernel refused the combination; try without --all, or check the pid")
            }
            _ => e,
        }
    }
}

/// This process, in the namespaces of a `Joinable` (see `Joinable::enter`).
pub struct Joined {
    flags: CloneFlags,
    /// The working directory before setns.
    cwd: Option<PathBuf>,
}

impl Joined {
    /// Run the program with `env` set, in -w DIR or back in the caller's directory.
    pub fn run(self, program: &Program, env: &[(String, String)]) -> Result<u8> {
        env::apply(env);
        let program = working_dir(
            program,
            self.cwd,
            self.flags.contains(CloneFlags::CLONE_NEWNS),
        );
        run(&program, self.flags.contains(CloneFlags::CLONE_NEWPID))
    }
}

/// After setns into a user namespace the caller keeps its kernel uid, which the owner's
/// map shows as 0 there. A caller whose uid is not mapped (root joining a user's
/// namespace) becomes that namespace's root, as `nsenter -U` does.
fn settle_credentials() -> Result<()> {
    let overflow = 65534;
    if nix::unistd::getuid().as_raw() == overflow || nix::unistd::getgid().as_raw() == overflow {
        // Best effort: setgroups is denied where /proc/PID/setgroups says deny.
        let _ = nix::unistd::setgroups(&[]);
        let root_gid = nix::unistd::Gid::from_raw(0);
        let root_uid = nix::unistd::Uid::from_raw(0);
        nix::unistd::setresgid(root_gid, root_gid, root_gid).map_err(|e| {
            Error::failure("cannot become gid 0 in the joined namespace")
                .because(e)
                .fix("the namespace must map gid 0")
        })?;
        nix::unistd::setresuid(root_uid, root_uid, root_uid).map_err(|e| {
            Error::failure("cannot become uid 0 in the joined namespace")
                .because(e)
                .fix("the namespace must map uid 0")
        })?;
    }
    Ok(())
}

/// Where to run after joining: -w DIR, else the caller's directory (setns into a mount
/// namespace moves the caller to its root, so go back by path, as nsenter does), else /.
fn working_dir(program: &Program, before: Option<PathBuf>, joined_mnt: bool) -> Program {
    let mut program = program.clone();
    if program.wd.is_none() && joined_mnt {
        let back = before.filter(|p| std::fs::metadata(p).is_ok_and(|m| m.is_dir()));
        program.wd = Some(back.unwrap_or_else(|| PathBuf::from("/")));
    }
    program
}

/// Run the program in the joined namespaces: in place, or, when a pid namespace was
/// joined (setns moves only the children there), as the child of a small supervisor.
fn run(program: &Program, joined_pid: bool) -> Result<u8> {
    if joined_pid {
        supervise::run_as_init(program, || Ok(()))
    } else {
        Err(exec::exec(program))
    }
}
