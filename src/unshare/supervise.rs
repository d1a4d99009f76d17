//! A new pid namespace needs a fork: `unshare(CLONE_NEWPID)` moves only the children. The
//! first child is pid 1 of the namespace; it runs the program as its own child and reaps
//! every orphan (a pid 1 that does not reap leaves zombies; bubblewrap's `do_init` and
//! tini do the same). userns, outside, forwards SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 to
//! pid 1, which passes them on to the program. Terminal signals (SIGINT, SIGQUIT) reach
//! the program straight from the terminal, since all three share its process group, so
//! neither userns nor pid 1 forwards them: the program sees each one once.
//!
//! A container (`userns run`) differs: its pid 1 starts a session of its own (setsid), so
//! the caller's terminal never signals it directly. [`start_pid1`] with
//! `forward_terminal` then forwards SIGINT and SIGQUIT as well, as podman's sig-proxy
//! does, and [`Pid1Mode::Program`] makes the program itself pid 1 (no reaper).
//!
//! And a container's pid 1 is on the container's side of the boundary
//! ([`Confinement::Container`]): the container sees it as /proc/1. A reaper never execs,
//! so it would keep every descriptor userns had, close-on-exec ones included (the
//! container directory's lock: a path to the host), and its /proc/1/fd, cwd, root, exe
//! and mem would be the container's to open. So pid 1 is made non-dumpable first (runc
//! and crun do the same with the container's init, CVE-2016-9962): then only a holder of
//! CAP_SYS_PTRACE over the user namespace of its memory, the host's since it never
//! execs, may open those. After the setup it closes every descriptor the program must not
//! get, and a reaper, once the program is started, the rest, keeping 0, 1 and 2 only.

use super::exec::{exec_error, raw_execvp_ptrs, reset_signals, Program};
use crate::error::{Error, Result};
use crate::exit::for_wait_status;
use crate::sys::signals;
use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// The pid signals are forwarded to (pid 1 from userns, the program from pid 1).
static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

pub(crate) const FORWARDED: [libc::c_int; 4] =
    [libc::SIGTERM, libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2];
const TERMINAL: [libc::c_int; 2] = [libc::SIGINT, libc::SIGQUIT];

extern "C" fn forward(sig: libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::Relaxed);
    if pid > 0 {
        // kill(2) is async-signal-safe, and rustix's is the bare system call.
        let _ = crate::sys::pidfd::kill(pid, sig);
    }
}

/// Forward SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 to `to`; SIGINT and SIGQUIT too when
/// `terminal` is set (the target is in another session and the terminal cannot reach it),
/// else ignore them (the terminal delivers them to the target itself).
pub(crate) fn forward_signals(to: Pid, terminal: bool) {
    FORWARD_TO.store(to.as_raw(), Ordering::Relaxed);
    let handle = |sig: libc::c_int| {
        // SAFETY: forward only reads an atomic and calls kill(2), async-signal-safe.
        unsafe { signals::set_handler(sig, forward) }
    };
    for sig in FORWARDED {
        handle(sig);
    }
    for sig in TERMINAL {
        if terminal {
            handle(sig);
        } else {
            signals::set_ignored(sig, true);
        }
    }
}

/// Run `program` under a pid-1 reaper in the (already unshared) pid namespace; `in_pid1`
/// runs first in pid 1 (to mount /proc, say). Returns the exit code to leave with.
pub(crate) fn run_as_init(program: &Program, in_pid1: impl FnOnce() -> Result<()>) -> Result<u8> {
    let pid1 = start_pid1(program, Pid1Mode::Reaper, false, Confinement::Open, in_pid1)?;
    forward_signals(pid1.pid, false);
    pid1.wait(program)
}

fn read_all(fd: OwnedFd) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    let _ = std::fs::File::from(fd).read_to_end(&mut out);
    out
}

/// The report protocol: `E` + errno (exec failed), or `M` + text (pid 1 setup failed).
fn decode_report(program: &Program, report: &[u8]) -> Option<Error> {
    match report.first()? {
        b'E' if report.len() >= 5 => {
            let errno = i32::from_ne_bytes(report[1..5].try_into().ok()?);
            Some(exec_error(program, Errno::from_raw(errno)))
        }
        b'M' => Some(Error::failure(
            String::from_utf8_lossy(&report[1..]).into_owned(),
        )),
        _ => None,
    }
}

/// pid 1: prepare, start the program, reap until it ends, leave with its status.
fn pid1(
    program: &Program,
    argv: &[*const libc::c_char],
    report: OwnedFd,
    forward_terminal: bool,
    confinement: Confinement,
    in_pid1: impl FnOnce() -> Result<()>,
) -> ! {
    prepare_pid1(program, &report, confinement, in_pid1);
    // SAFETY: single-threaded child; the grandchild only resets signals and execs.
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => exec_or_report(program, argv, &report),
        Ok(ForkResult::Parent { child }) => {
            drop(report);
            if confinement != Confinement::Open {
                // What is left above 2 is the program's (--preserve-fds), not the reaper's.
                // It owns nothing there any more: the report pipe was its last.
                let _ = super::fds::close_from(3);
            }
            forward_signals(child, forward_terminal);
            loop {
                match waitpid(Pid::from_raw(-1), None) {
                    Ok(status @ (WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _)))
                        if pid == child =>
                    {
                        // Leaving pid 1 ends the namespace; the kernel kills the rest.
                        signals::exit_now(for_wait_status(status) as i32)
                    }
                    Ok(_) | Err(Errno::EINTR) => continue,
                    Err(_) => signals::exit_now(crate::exit::OWN_FAILURE as i32),
                }
            }
        }
        Err(e) => fail_pid1(
            &report,
            &format!("cannot fork the program in the pid namespace: {e}"),
        ),
    }
}

/// What pid 1 of a new pid namespace is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pid1Mode {
    /// The program itself, exec'd in place (podman's default: no init).
    Program,
    /// The reaper of [`run_as_init`], with the program as its child (podman's `--init`).
    Reaper,
}

/// Which side of a boundary pid 1 and the program are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Confinement {
    /// No boundary (`userns unshare --pid`): the program inherits every descriptor, as
    /// under util-linux unshare, and pid 1 stays as userns left it.
    Open,
    /// A container: the program gets 0, 1, 2 and the caller's 3 to 3+N-1
    /// (`--preserve-fds N`), pid 1 is not dumpable and a reaper keeps 0, 1 and 2 only.
    Container { preserve_fds: u32 },
}

/// A pid 1 started by [`start_pid1`]: wait for it with [`Pid1::wait`], or poll it and
/// hand the status to [`Pid1::finish`].
#[derive(Debug)]
pub(crate) struct Pid1 {
    pub pid: Pid,
    report: OwnedFd,
    /// The report, once [`Pid1::await_exec`] has read it to its end.
    early_report: Option<Vec<u8>>,
}

/// Fork pid 1 of the (already unshared) pid namespace: it runs `in_pid1` (a container's
/// whole setup), then the program as `mode` says. With `forward_terminal`, a reaper passes
/// SIGINT and SIGQUIT on to the program instead of ignoring them (the program is in a
/// session of its own, see the module comment). The caller installs its own forwarding
/// ([`forward_signals`]) once this returns. `confinement` says what pid 1 and the program
/// keep of userns. The caller must be single-threaded.
pub(crate) fn start_pid1(
    program: &Program,
    mode: Pid1Mode,
    forward_terminal: bool,
    confinement: Confinement,
    in_pid1: impl FnOnce() -> Result<()>,
) -> Result<Pid1> {
    let (report_read, report_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::failure("cannot create a pipe").because(e))?;
    let argv = program.argv_ptrs();
    // SAFETY: single-threaded; the child prepares and execs without returning.
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => {
            drop(report_read);
            match mode {
                Pid1Mode::Reaper => pid1(
                    program,
                    &argv,
                    report_write,
                    forward_terminal,
                    confinement,
                    in_pid1,
                ),
                Pid1Mode::Program => {
                    program_as_pid1(program, &argv, report_write, confinement, in_pid1)
                }
            }
        }
        Ok(ForkResult::Parent { child }) => Ok(Pid1 {
            pid: child,
            report: report_read,
            early_report: None,
        }),
        Err(e) => Err(Error::failure("cannot fork pid 1 of the new pid namespace").because(e)),
    }
}

impl Pid1 {
    /// Wait for pid 1 to end (retrying on signals); the exit code to leave with.
    pub(crate) fn wait(self, program: &Program) -> Result<u8> {
        let status = loop {
            match waitpid(self.pid, None) {
                Err(Errno::EINTR) | Ok(WaitStatus::Stopped(..)) | Ok(WaitStatus::Continued(_)) => {
                    continue
                }
                Ok(s) => break s,
                Err(e) => {
                    return Err(
                        Error::failure(format!("cannot wait for pid 1 ({})", self.pid)).because(e),
                    )
                }
            }
        };
        self.finish(program, status)
    }

    /// Block until the program has started: the report pipe is close-on-exec, so it
    /// reaches its end when the program is exec'd (or pid 1 has left). Err when pid 1
    /// reported a failure; it is then ending, and [`Pid1::wait`] reaps it (and returns the
    /// same error). For a caller that records the start (`userns run -d`).
    pub(crate) fn await_exec(&mut self, program: &Program) -> Result<()> {
        use std::io::Read;
        let mut report = Vec::new();
        let _ = std::fs::File::from(
            self.report
                .try_clone()
                .map_err(|e| Error::failure("cannot read pid 1's report").because(e))?,
        )
        .read_to_end(&mut report);
        let failed = decode_report(program, &report);
        self.early_report = Some(report);
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The exit code for pid 1's final `status`, or the error it reported (setup failed,
    /// program not found or not executable).
    pub(crate) fn finish(self, program: &Program, status: WaitStatus) -> Result<u8> {
        let report = match self.early_report {
            Some(report) => report,
            None => read_all(self.report),
        };
        if let Some(err) = decode_report(program, &report) {
            return Err(err);
        }
        Ok(for_wait_status(status))
    }
}

/// pid 1 that is the program: prepare, then exec in place.
fn program_as_pid1(
    program: &Program,
    argv: &[*const libc::c_char],
    report: OwnedFd,
    confinement: Confinement,
    in_pid1: impl FnOnce() -> Result<()>,
) -> ! {
    prepare_pid1(program, &report, confinement, in_pid1);
    exec_or_report(program, argv, &report)
}

/// What every pid 1 does first: die with userns (PR_SET_PDEATHSIG: then the kernel kills
/// every process of the namespace, so nothing is left behind), run `in_pid1`, enter the
/// working directory; on failure report up the pipe and leave. In a container, it is not
/// dumpable and keeps, besides the report pipe, only what the program may have.
fn prepare_pid1(
    program: &Program,
    report: &OwnedFd,
    confinement: Confinement,
    in_pid1: impl FnOnce() -> Result<()>,
) {
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    let container = match confinement {
        Confinement::Open => None,
        Confinement::Container { preserve_fds } => Some(preserve_fds),
    };
    if container.is_some() {
        // Before the setup too: nothing may open this process's /proc files meanwhile.
        set_not_dumpable(report);
    }
    if let Err(e) = in_pid1().and_then(|()| super::exec::enter_wd(program)) {
        fail_pid1(report, &e.to_string());
    }
    if let Some(preserve_fds) = container {
        // A change of credentials (becoming the container's user) sets dumpability to
        // fs.suid_dumpable, which may be 1 (commit_creds): set it again.
        set_not_dumpable(report);
        // The container directory's lock, the terminal socket, the caller's descriptors:
        // none is the program's. pid 1 never returns to the frames that own them, so
        // nothing closes them twice; the report pipe stays until exec (close-on-exec).
        let first = super::fds::first_unpassed(preserve_fds);
        if let Err(e) = super::fds::close_from_except(first, report.as_raw_fd()) {
            fail_pid1(
                report,
                &format!("cannot close the descriptors the container must not get: {e}"),
            );
        }
    }
}

/// PR_SET_DUMPABLE 0, or report the failure and leave.
fn set_not_dumpable(report: &OwnedFd) {
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        fail_pid1(report, &format!("cannot make pid 1 non-dumpable: {e}"));
    }
}

/// Send `M` + the message up the pipe and leave pid 1 with 125.
fn fail_pid1(report: &OwnedFd, message: &str) -> ! {
    let mut bytes = vec![b'M'];
    bytes.extend_from_slice(message.as_bytes());
    let _ = nix::unistd::write(report, &bytes);
    // Without running the parent's destructors.
    signals::exit_now(crate::exit::OWN_FAILURE as i32)
}

/// Exec the program with default signals; on failure send `E` + errno up the pipe and
/// leave with 127 or 126. Only async-signal-safe calls after the exec.
fn exec_or_report(program: &Program, argv: &[*const libc::c_char], report: &OwnedFd) -> ! {
    reset_signals();
    let errno = raw_execvp_ptrs(&program.argv[0], argv);
    let mut bytes = [0u8; 5];
    bytes[0] = b'E';
    bytes[1..].copy_from_slice(&(errno as i32).to_ne_bytes());
    // write(2) and _exit(2) are async-signal-safe (rustix's write is the system call).
    let _ = rustix::io::write(report, &bytes);
    signals::exit_now(if errno == Errno::ENOENT { 127 } else { 126 })
}
