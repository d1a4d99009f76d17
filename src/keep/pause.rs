//! The pause process that holds a kept namespace: it sleeps in `sigwaitinfo` (no busy
//! loop), holds no terminal (stdio on /dev/null, every other descriptor closed, its own
//! session), and has no PR_SET_PDEATHSIG, so it outlives the command that made it. It
//! ends on SIGTERM or SIGINT (`userns stop`). podman's pause process
//! (`pkg/rootless/rootless_linux.c`, `do_pause`) is the model.
//!
//! Signals are blocked rather than handled: a blocked signal is never discarded as
//! ignored (kernel `sig_ignored`), which matters when the pause process is pid 1 of a
//! pid namespace, where an unhandled SIGTERM from outside would otherwise be dropped.

use crate::error::{Error, Result};
use nix::unistd::{ForkResult, Pid};
use std::os::fd::AsRawFd;

/// Fork the pause process. With `pid_ns` (the caller just unshared CLONE_NEWPID), it is
/// the direct child, hence pid 1 of the new pid namespace, and reaps orphans there.
/// Otherwise a middle child forks it and exits, so that the caller's program (which
/// replaces this process) never finds the pause process among its children.
pub(crate) fn spawn(pid_ns: bool) -> Result<Pid> {
    // The pause process reports its pid on this pipe once it is set up (own session,
    // name, signals blocked), so that nothing sees it half-made.
    let (ready_read, ready_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::failure("cannot create a pipe").because(e))?;
    let ready = ready_write.as_raw_fd();
    // SAFETY: single-threaded; the children run only async-signal-safe calls.
    let child = match unsafe { nix::unistd::fork() } {
        // SAFETY: the forked child of a single-threaded process; it closes its copy of the
        // read end, forks once more and runs pause_forever (async-signal-safe calls only)
        // or _exit, never returning to code that would free the parent's memory.
        Ok(ForkResult::Child) => unsafe {
            libc::close(ready_read.as_raw_fd());
            if pid_ns {
                pause_forever(true, ready);
            }
            // A middle child, so that the pause process is nobody's child here.
            if libc::fork() == 0 {
                pause_forever(false, ready);
            }
            libc::_exit(0);
        },
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => return Err(fork_failed(e)),
    };
    drop(ready_write);
    let mut bytes = [0u8; 4];
    let read = nix::unistd::read(&ready_read, &mut bytes);
    if !pid_ns {
        let _ = nix::sys::wait::waitpid(child, None);
    }
    match read {
        Ok(4) if pid_ns => Ok(child),
        Ok(4) => Ok(Pid::from_raw(i32::from_ne_bytes(bytes))),
        _ => Err(Error::failure("cannot start the pause process")
            .because("it exited before it was ready")
            .fix("check the process limit (ulimit -u) and free memory")),
    }
}

fn fork_failed(e: nix::errno::Errno) -> Error {
    Error::failure("cannot fork the pause process")
        .because(e)
        .fix("check the process limit (ulimit -u) and free memory")
}

/// The pause process itself. Only async-signal-safe calls; never returns.
unsafe fn pause_forever(reap: bool, ready: libc::c_int) -> ! {
    libc::setsid();
    libc::chdir(c"/".as_ptr());
    let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
    if null >= 0 {
        for fd in 0..3 {
            libc::dup2(null, fd);
        }
    }
    // Keep only the ready pipe, as fd 3. close_range(2) (5.9+); the loop covers older kernels.
    libc::dup2(ready, 3);
    if crate::sys::fds::close_from(4).is_err() {
        for fd in 4..4096 {
            libc::close(fd);
        }
    }
    libc::prctl(
        libc::PR_SET_NAME,
        c"userns-pause".as_ptr() as libc::c_ulong,
        0,
        0,
        0,
    );
    let mut all: libc::sigset_t = std::mem::zeroed();
    libc::sigfillset(&mut all);
    libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
    let mut wanted: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut wanted);
    libc::sigaddset(&mut wanted, libc::SIGTERM);
    libc::sigaddset(&mut wanted, libc::SIGINT);
    libc::sigaddset(&mut wanted, libc::SIGCHLD);
    let pid = libc::getpid().to_ne_bytes();
    libc::write(3, pid.as_ptr().cast(), pid.len());
    libc::close(3);
    loop {
        let sig = libc::sigwaitinfo(&wanted, std::ptr::null_mut());
        if sig == libc::SIGTERM || sig == libc::SIGINT {
            libc::_exit(0);
        }
        if sig == libc::SIGCHLD && reap {
            while libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) > 0 {}
        }
    }
}
