//! The monitor of a detached container (podman's conmon): one process per container, out
//! of the caller's session and terminal (setsid, stdio on /dev/null and monitor.log), that
//!
//! - starts the container: for each run it forks the supervisor, which is `userns run`
//!   as in the foreground (`run::run_with`): it enters the namespaces, holds pid 1 (its
//!   child, so its pidfd and exit status are the supervisor's), forwards signals and
//!   removes the run directory at the end;
//! - tells the caller of `run -d` that the program has started, or why it could not;
//! - copies pid 1's stdout and stderr, two pipes, into the log (`log`);
//! - records the start (pid 1, what `exec` needs) and the end (exit code) in the record;
//! - runs it again as `--restart` says, unless `stop`, `kill` or `rm` asked for the end.
//!
//! Why a supervisor per run instead of the monitor itself: pid 1 must be forked into a
//! new pid namespace, which unshare(2) makes for the children of the caller only, and
//! once pid 1 has ended no process can be forked into that namespace again. A restart
//! needs new namespaces, so a new process to make them.
//!
//! Lifetimes: the supervisor dies with the monitor (PR_SET_PDEATHSIG), and pid 1 with the
//! supervisor (the same, set in `unshare::supervise`), so a monitor killed (kill -9, or
//! the end of the user's session under logind's KillUserProcesses=yes) takes the
//! container with it, and `ps` says "gone" (`Store::refresh`), never "running". For
//! containers that must outlive the login session, run `loginctl enable-linger USER`, as
//! podman's documentation says for its conmon.

use super::log::{LogWriter, Stream};
use super::record::{self, ExecConfig, ProcessRef, Status};
use super::store::Store;
use super::LaunchSpec;
use crate::error::{Error, ErrorKind, Result};
use crate::run::{Lifecycle, RunSpec, Started};
use crate::sys::signals;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

/// How long the monitor reads what is left in the pipes after pid 1 ended: every writer
/// in the container's pid namespace died with it, so the ends come at once, unless some
/// other process holds a pipe (then the rest is lost, not waited for).
const DRAIN: Duration = Duration::from_millis(500);

/// The wait before the first restart, doubled for each next one up to the maximum.
const RESTART_DELAY_FIRST: Duration = Duration::from_millis(100);
const RESTART_DELAY_MAX: Duration = Duration::from_secs(60);

/// The caller's side of `run -d`: fork the monitor, wait until it says the program has
/// started (Ok) or why it could not (Err).
pub(crate) fn spawn(store: &Store, id: &str, spec: &RunSpec, launch: &LaunchSpec) -> Result<()> {
    let (ready_read, ready_write) = pipe()?;
    // SAFETY: userns is single-threaded here (no thread has been started); the child
    // runs the monitor and leaves with _exit, never returning into the caller's frames.
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => {
            drop(ready_read);
            let code = monitor(store, id, spec, launch, ready_write);
            signals::exit_now(code)
        }
        Ok(ForkResult::Parent { .. }) => {
            drop(ready_write);
            let mut answer = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::fs::File::from(ready_read), &mut answer);
            match decode_failure(&answer) {
                None if answer == b"ok" => Ok(()),
                Some(e) => Err(e),
                None => Err(Error::failure(format!(
                    "the monitor of container {} ended before the container started",
                    &id[..12]
                ))
                .fix(format!(
                    "see {}",
                    store.dir_of(id).join("monitor.log").display()
                ))),
            }
        }
        Err(e) => Err(Error::failure("cannot fork the container's monitor").because(e)),
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::failure("cannot create a pipe").because(e))
}

/// `E` + the exit code the error stands for + a newline + the message.
fn encode_failure(e: &Error) -> Vec<u8> {
    let code = crate::exit::for_error(e, crate::exit::Convention::Program);
    format!("E{code}\n{e}").into_bytes()
}

fn decode_failure(bytes: &[u8]) -> Option<Error> {
    let text = String::from_utf8_lossy(bytes.strip_prefix(b"E")?).into_owned();
    let (code, message) = text.split_once('\n')?;
    let kind = match code {
        "126" => ErrorKind::NotExecutable,
        "127" => ErrorKind::NotFound,
        _ => ErrorKind::Failure,
    };
    // The message is the whole error as the supervisor would have printed it.
    Some(Error::new(kind, message.to_string()))
}

/// Detach from the caller: a session of its own (no controlling terminal, so no SIGHUP
/// when the caller's terminal closes), stdin on /dev/null, stdout and stderr on
/// monitor.log in the container's directory.
fn detach(store: &Store, id: &str) {
    let _ = nix::unistd::setsid();
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = rustix::stdio::dup2_stdin(&null);
    }
    let log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(store.dir_of(id).join("monitor.log"));
    if let Ok(log) = log {
        let _ = rustix::stdio::dup2_stdout(&log);
        let _ = rustix::stdio::dup2_stderr(&log);
    }
}

/// The monitor; returns its exit code.
fn monitor(store: &Store, id: &str, spec: &RunSpec, launch: &LaunchSpec, ready: OwnedFd) -> i32 {
    detach(store, id);
    // The caller's descriptors are not the monitor's to hold (a test's or a shell's pipe
    // would never see its end), except those passed to the container (--preserve-fds).
    let first = crate::unshare::fds::first_unpassed(spec.preserve_fds);
    let _ = crate::sys::fds::close_from_except(first, ready.as_raw_fd());
    // The record names its creator as the monitor until the start is recorded (one write
    // fewer before `run -d` returns): the creator waits for that, and should it be killed
    // first, `refresh` says "gone" only until this monitor records the start.
    let mut ready = Some(ready);
    let mut log = match LogWriter::open(&store.log_of(id), launch.log_size_max) {
        Ok(log) => log,
        Err(e) => {
            fail_start(store, id, &mut ready, &e);
            return 1;
        }
    };
    let mut restarts = 0;
    let mut first = true;
    let mut delay = RESTART_DELAY_FIRST;
    loop {
        let began = Instant::now();
        // The monitor's own copy of the caller's end of `ready`: the supervisor answers
        // the caller through `ready`, but on a failed start the caller must not return
        // (and its script run `ps`) before `fail_start` has recorded the failure, so this
        // copy keeps the pipe open until then. Dropped as soon as the start is known.
        let mut hold = ready.as_ref().and_then(|fd| fd.try_clone().ok());
        let code = match run_once(store, id, spec, &mut log, ready.take(), &mut hold) {
            Ok(code) => code,
            Err(e) if first => {
                crate::note(format_args!("{e}"));
                fail_start(store, id, &mut None, &e);
                drop(hold);
                finish(store, id, launch);
                return 0;
            }
            // A restart that could not start counts as a failed run.
            Err(e) => {
                crate::note(format_args!("{e}"));
                crate::exit::for_error(&e, crate::exit::Convention::Program)
            }
        };
        first = false;
        let rec = store.update(id, |r| {
            r.status = Status::Exited;
            r.exit_code = Some(code);
            r.finished_at = Some(record::now());
            r.pid1 = None;
            true
        });
        let stop_asked = match &rec {
            Ok(Some(r)) => r.stop_requested,
            // Removed (rm -f) or unwritable: nothing to restart.
            _ => true,
        };
        if stop_asked || !launch.restart.restarts(code, restarts) {
            break;
        }
        // docker's back-off: twice the delay each time, from 100 ms, at most a minute, and
        // from 100 ms again after a run that lasted 10 s; so that a container that fails
        // at once does not spin. A stop asked for meanwhile is honoured.
        if began.elapsed() >= Duration::from_secs(10) {
            delay = RESTART_DELAY_FIRST;
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(RESTART_DELAY_MAX);
        let stop_asked = !matches!(store.read(id), Ok(Some(r)) if !r.stop_requested);
        if stop_asked {
            break;
        }
        restarts += 1;
        let _ = store.update(id, |r| {
            r.restart_count = restarts;
            r.status = Status::Running;
            true
        });
    }
    finish(store, id, launch);
    0
}

/// At the very end: `--rm` removes the record and the logs.
fn finish(store: &Store, id: &str, launch: &LaunchSpec) {
    if launch.remove {
        if let Err(e) = store.remove(id) {
            crate::note(format_args!("{e}"));
        }
    }
}

fn fail_start(store: &Store, id: &str, ready: &mut Option<OwnedFd>, e: &Error) {
    let code = crate::exit::for_error(e, crate::exit::Convention::Program);
    let me = ProcessRef::of(std::process::id() as i32).ok();
    let _ = store.update(id, |r| {
        r.monitor = me;
        r.status = Status::Exited;
        r.exit_code = Some(code);
        r.finished_at = Some(record::now());
        r.error = Some(e.to_string());
        true
    });
    if let Some(fd) = ready.take() {
        let _ = nix::unistd::write(&fd, &encode_failure(e));
    }
}

/// One run of the container: fork the supervisor (which records the start and, the first
/// time, tells the caller of `run -d` through `ready`), log the output until it ends; its
/// exit code. Err when it could not start.
fn run_once(
    store: &Store,
    id: &str,
    spec: &RunSpec,
    log: &mut LogWriter,
    ready: Option<OwnedFd>,
    hold: &mut Option<OwnedFd>,
) -> Result<u8> {
    let (out_read, out_write) = pipe()?;
    let (err_read, err_write) = pipe()?;
    let (status_read, status_write) = pipe()?;
    let monitor = nix::unistd::getpid();
    // SAFETY: the monitor is single-threaded; the child runs the supervisor and leaves
    // with _exit.
    let child = match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => {
            drop((out_read, err_read, status_read, hold.take()));
            let channels = Channels {
                output: (out_write, err_write),
                status: status_write,
                ready,
            };
            supervisor(store, monitor, id, spec, channels)
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => return Err(Error::failure("cannot fork the container's supervisor").because(e)),
    };
    drop((out_write, err_write, status_write, ready));
    let mut said = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::fs::File::from(status_read), &mut said);
    if said == b"S" {
        // Started: the caller may go (the supervisor recorded the start).
        hold.take();
    }
    if said != b"S" {
        let status = wait_child(child);
        return Err(decode_failure(&said).unwrap_or_else(|| {
            Error::failure(format!(
                "the container's supervisor ended before the container started ({status:?})"
            ))
        }));
    };
    Ok(relay(child, out_read, err_read, log))
}

/// What `userns exec` needs, from the start.
pub(crate) fn exec_config(s: &Started) -> ExecConfig {
    use crate::run::process::{cap_names, DEFAULT_CAPS};
    let bounding = cap_names(&DEFAULT_CAPS);
    ExecConfig {
        uid: s.uid,
        gid: s.gid,
        additional_gids: Vec::new(),
        env: s.env.clone(),
        workdir: s.workdir.clone(),
        // The kernel clears the effective and permitted sets when root switches to
        // another uid (no SECBIT_KEEP_CAPS), as pid 1 does in `process::become_user`.
        effective_caps: if s.uid == 0 {
            bounding.clone()
        } else {
            Vec::new()
        },
        bounding_caps: bounding,
        seccomp: s.seccomp.clone(),
        no_new_privs: true,
        namespaces: s.namespaces.clone(),
        hostname: s.hostname.clone(),
        userns: s.userns.clone(),
        init: s.init,
    }
}

/// Copy the container's output into the log until the supervisor ends; its exit code.
fn relay(child: Pid, out: OwnedFd, err: OwnedFd, log: &mut LogWriter) -> u8 {
    use rustix::event::{poll, PollFd, PollFlags};
    let pidfd = crate::sys::pidfd::open(child.as_raw()).ok();
    let mut open = [Some(out), Some(err)];
    let mut buf = vec![0u8; 64 * 1024];
    let mut ended: Option<Instant> = None;
    let mut warned = false;
    loop {
        let streams: Vec<usize> = (0..2).filter(|&i| open[i].is_some()).collect();
        if streams.is_empty() && ended.is_some() {
            break;
        }
        let timeout = match ended {
            Some(at) => {
                let left = DRAIN.saturating_sub(at.elapsed());
                if left.is_zero() {
                    break;
                }
                Some(left)
            }
            None if pidfd.is_none() => Some(Duration::from_millis(100)),
            None => None,
        };
        let mut fds: Vec<PollFd> = streams
            .iter()
            .map(|&i| {
                PollFd::new(
                    open[i].as_ref().unwrap_or_else(|| unreachable!()),
                    PollFlags::IN,
                )
            })
            .collect();
        if ended.is_none() {
            if let Some(p) = &pidfd {
                fds.push(PollFd::new(p, PollFlags::IN));
            }
        }
        let timeout = timeout.map(|t| rustix::event::Timespec {
            tv_sec: t.as_secs() as i64,
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        match poll(&mut fds, timeout.as_ref()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        for (slot, &i) in streams.iter().enumerate() {
            if !ready[slot] {
                continue;
            }
            let Some(fd) = open[i].as_ref() else { continue };
            match nix::unistd::read(fd, &mut buf) {
                Ok(0) => open[i] = None,
                Ok(n) => {
                    let stream = if i == 0 {
                        Stream::Stdout
                    } else {
                        Stream::Stderr
                    };
                    if let Err(e) = log.write(stream, &buf[..n]) {
                        if !warned {
                            crate::note(format_args!("cannot write the container's log: {e}"));
                            warned = true;
                        }
                    }
                }
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(_) => open[i] = None,
            }
        }
        if ended.is_none() && supervisor_ended(child, pidfd.as_ref()) {
            ended = Some(Instant::now());
        }
    }
    match wait_child(child) {
        WaitStatus::Exited(_, code) => code as u8,
        status => crate::exit::for_wait_status(status),
    }
}

fn supervisor_ended(child: Pid, pidfd: Option<&OwnedFd>) -> bool {
    match pidfd {
        Some(fd) => crate::sys::pidfd::wait_exit(fd, Duration::ZERO),
        None => !crate::keep::process::stat_of(child.as_raw()).is_ok_and(|s| !s.zombie),
    }
}

fn wait_child(child: Pid) -> WaitStatus {
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Stopped(..) | WaitStatus::Continued(_)) => continue,
            Ok(status) => return status,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                crate::note(format_args!("cannot wait for the supervisor {child}: {e}"));
                return WaitStatus::Exited(child, crate::exit::OWN_FAILURE as i32);
            }
        }
    }
}

/// What the supervisor talks through.
struct Channels {
    /// pid 1's stdout and stderr: the monitor reads the other ends into the log.
    output: (OwnedFd, OwnedFd),
    /// To the monitor: `S` once the start is recorded, or why it failed (`E`...).
    status: OwnedFd,
    /// To the caller of `run -d`, on the first run: `ok` or why not. Straight from the
    /// supervisor, not through the monitor: one process fewer to wake before it returns.
    ready: Option<OwnedFd>,
}

/// The supervisor: `userns run` in the foreground, its output on the monitor's pipes; it
/// records the start (pid 1, what `exec` needs) and says so on `status` and `ready`.
fn supervisor(store: &Store, monitor: Pid, id: &str, spec: &RunSpec, channels: Channels) -> ! {
    // Die with the monitor; if it is gone already, do not start at all.
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    if nix::unistd::getppid() != monitor {
        signals::exit_now(crate::exit::OWN_FAILURE as i32);
    }
    let Channels {
        output,
        status,
        ready,
    } = channels;
    let (mut status, mut ready) = (Some(status), ready);
    let mut started = |s: Started| -> Result<()> {
        let pid1 = ProcessRef::of(s.pid1).ok();
        let me = ProcessRef::of(monitor.as_raw()).ok();
        store.update(id, |r| {
            r.monitor = me;
            r.status = Status::Running;
            r.pid1 = pid1;
            r.started_at = Some(record::now());
            r.finished_at = None;
            r.exit_code = None;
            r.boot_id = record::boot_id();
            r.command = s.command.clone();
            r.exec = Some(exec_config(&s));
            r.stop_signal = s.stop_signal;
            true
        })?;
        if let Some(fd) = ready.take() {
            let _ = nix::unistd::write(&fd, b"ok");
        }
        if let Some(fd) = status.take() {
            let _ = nix::unistd::write(&fd, b"S");
        }
        Ok(())
    };
    let mut life = Lifecycle {
        id: id.to_string(),
        output: Some(output),
        started: &mut started,
    };
    let outcome = crate::run::run_with(spec, Some(&mut life));
    drop(life);
    match outcome {
        Ok(code) => signals::exit_now(code as i32),
        Err(e) => {
            let said = encode_failure(&e);
            if let Some(fd) = ready.take() {
                let _ = nix::unistd::write(&fd, &said);
            }
            match status.take() {
                Some(fd) => {
                    let _ = nix::unistd::write(&fd, &said);
                }
                None => crate::note(format_args!("{e}")),
            }
            signals::exit_now(crate::exit::for_error(&e, crate::exit::Convention::Program) as i32)
        }
    }
}
