//! Create a user namespace for the calling process and have its maps written.
//!
//! The maps must be written from the parent namespace: a setuid helper exec'd inside the
//! new namespace has no privilege over it, and a direct write needs CAP_SETUID in the
//! parent. So, as util-linux `unshare` does, a writer is forked *before* `unshare()`; it
//! waits on a pipe, the parent unshares and wakes it, the writer runs newuidmap (or writes
//! the file) for the parent's pid. Unlike util-linux, the uid and gid writers are two
//! children that run at the same time, which halves the wait for the setuid helpers.

use super::diagnose;
use super::mapping::{MapWriter, Mapping};
use crate::error::{Error, Result};
use crate::ids::IdKind;
use crate::sys::child;
use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// What a writer child does once woken.
enum Action {
    /// execv(path, argv) of newuidmap/newgidmap.
    Exec { path: CString, argv: Vec<CString> },
    /// open(path) and write(text): the direct write of a privileged caller.
    Write { path: CString, text: Vec<u8> },
}

/// A forked writer waiting for the go signal.
struct Writer {
    kind: IdKind,
    pid: Pid,
    go: Option<OwnedFd>,
    stderr: OwnedFd,
    /// The command line or file write, for messages.
    shown: String,
    direct: bool,
}

/// Move the calling (single-threaded) process into a new user namespace, together with the
/// namespaces in `extra`, and have `mapping` written. On return the process is mapped and
/// holds every capability in the new namespace.
pub(crate) fn enter_new_userns(mapping: &Mapping, extra: CloneFlags) -> Result<()> {
    let flags = CloneFlags::CLONE_NEWUSER | extra;
    match &mapping.writer {
        MapWriter::SelfSingle => {
            nix::sched::unshare(flags).map_err(diagnose::unshare_failed)?;
            write_own_maps(mapping)
        }
        MapWriter::Direct | MapWriter::Helpers { .. } => {
            let me = nix::unistd::getpid();
            let uid = fork_writer(mapping, IdKind::Uid, me, &[])?;
            let inherited: Vec<RawFd> = uid.go.iter().map(|f| f.as_raw_fd()).collect();
            let gid = match fork_writer(mapping, IdKind::Gid, me, &inherited) {
                Ok(gid) => gid,
                Err(e) => {
                    abandon(uid);
                    return Err(e);
                }
            };
            if let Err(errno) = nix::sched::unshare(flags) {
                abandon(uid);
                abandon(gid);
                return Err(diagnose::unshare_failed(errno));
            }
            // Wake both before collecting either: the helpers then run side by side.
            let (uid, gid) = (wake(uid), wake(gid));
            let results = [finish(uid), finish(gid)];
            let errors: Vec<Error> = results.into_iter().filter_map(|r| r.err()).collect();
            match errors.into_iter().reduce(merge) {
                None => Ok(()),
                Some(e) => Err(e),
            }
        }
    }
}

/// An unprivileged process may write its own one-line maps, after denying setgroups
/// (user_namespaces(7): required before an unprivileged gid_map write since Linux 3.19).
fn write_own_maps(mapping: &Mapping) -> Result<()> {
    let write = |file: &str, text: &str| -> Result<()> {
        std::fs::write(format!("/proc/self/{file}"), text).map_err(|e| {
            Error::failure(format!("cannot write /proc/self/{file} ({})", text.trim()))
                .because(&e)
                .fix(diagnose::map_write_fix())
        })
    };
    write("setgroups", "deny")?;
    write("uid_map", &mapping.uid.to_proc_text())?;
    write("gid_map", &mapping.gid.to_proc_text())
}

fn action_for(mapping: &Mapping, kind: IdKind, target: Pid) -> Result<(Action, String)> {
    let map = mapping.map(kind);
    let cstr =
        |s: String| CString::new(s).map_err(|_| Error::failure("an argument contains a NUL byte"));
    match &mapping.writer {
        MapWriter::Helpers { uid, gid } => {
            let helper = if kind == IdKind::Uid { uid } else { gid };
            let path_text = helper.path.display().to_string();
            let mut words = vec![path_text.clone(), target.as_raw().to_string()];
            words.extend(map.to_helper_args());
            let shown = words.join(" ");
            let argv = words.into_iter().map(cstr).collect::<Result<Vec<_>>>()?;
            Ok((
                Action::Exec {
                    path: cstr(path_text)?,
                    argv,
                },
                shown,
            ))
        }
        _ => {
            let path = format!("/proc/{}/{}", target.as_raw(), kind.map_file());
            let shown = format!("write {:?} to {path}", map.to_proc_text());
            Ok((
                Action::Write {
                    path: cstr(path)?,
                    text: map.to_proc_text().into_bytes(),
                },
                shown,
            ))
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::failure("cannot create a pipe").because(e))
}

/// Fork a writer that waits for the go signal. `close_in_child` are descriptors of an
/// earlier writer that this child must not hold (so that writer still sees EOF if we die).
fn fork_writer(
    mapping: &Mapping,
    kind: IdKind,
    target: Pid,
    close_in_child: &[RawFd],
) -> Result<Writer> {
    let (action, shown) = action_for(mapping, kind, target)?;
    // Everything the child needs is built before fork: after fork only async-signal-safe
    // calls are allowed (no allocation), so the argv pointer array is made here too.
    let argv_ptrs: Vec<*const libc::c_char> = match &action {
        Action::Exec { argv, .. } => argv
            .iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect(),
        Action::Write { .. } => Vec::new(),
    };
    let (err_read, err_write) = pipe()?;
    let close: Vec<RawFd> = std::iter::once(err_read.as_raw_fd())
        .chain(close_in_child.iter().copied())
        .collect();
    let waiting = child::Waiting {
        action: match &action {
            Action::Exec { path, .. } => child::Action::Exec {
                path,
                argv: &argv_ptrs,
            },
            Action::Write { path, text } => child::Action::Write { path, text },
        },
        close: &close,
        pass: &[],
        stdout: None,
        stderr: Some(err_write.as_raw_fd()),
        die_with_parent: true,
        report_errno: true,
    };
    let forked = child::fork_waiting(&waiting)
        .map_err(|e| Error::failure("cannot fork the map writer").because(e))?;
    drop(err_write);
    Ok(Writer {
        kind,
        pid: forked.pid,
        go: Some(forked.go),
        stderr: err_read,
        shown,
        direct: matches!(action, Action::Write { .. }),
    })
}

/// Close the go pipe without waking the writer (it exits), and reap it.
fn abandon(mut w: Writer) {
    w.go.take();
    let _ = waitpid(w.pid, None);
}

/// Send the go signal: the writer runs newuidmap (or writes) from now on.
fn wake(mut w: Writer) -> Writer {
    if let Some(go) = w.go.take() {
        let _ = nix::unistd::write(&go, b"g");
    }
    w
}

/// Collect a woken writer's stderr and status.
fn finish(w: Writer) -> Result<()> {
    // Read stderr to EOF before waiting, so a chatty helper cannot block on a full pipe.
    let mut text = String::new();
    let mut file = std::fs::File::from(w.stderr);
    let _ = file.read_to_string(&mut text);
    let status = loop {
        match waitpid(w.pid, None) {
            Err(Errno::EINTR) => continue,
            other => break other,
        }
    };
    match status {
        Ok(WaitStatus::Exited(_, 0)) => Ok(()),
        Ok(status) => Err(diagnose::writer_failed(
            w.kind,
            &w.shown,
            w.direct,
            status,
            text.trim(),
        )),
        Err(e) => Err(Error::failure(format!("cannot wait for {}", w.shown)).because(e)),
    }
}

/// Combine two writer failures into one error that shows both.
fn merge(a: Error, b: Error) -> Error {
    // The first failure stays the typed source; the second is told in its text.
    let cause = match (&a.cause, &b.cause) {
        (Some(x), Some(y)) => Some(x.clone().reworded(format!("{x}\n  and: {}: {y}", b.what))),
        (x, _) => x.clone(),
    };
    Error {
        cause,
        fix: a.fix.clone().or(b.fix.clone()),
        ..a
    }
}
