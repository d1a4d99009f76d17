//! The system-call layer below the domain modules: the calls they make on descriptors,
//! processes and mounts, in one place each. Built on rustix (and nix) where they wrap the
//! call safely; raw libc only where neither does, each `unsafe` block with the kernel
//! rule that makes it sound. The domain modules use this, never libc::syscall.

pub(crate) mod child;
pub(crate) mod dir;
pub(crate) mod fds;
pub(crate) mod fork;
pub(crate) mod fs;
pub(crate) mod host_stat;
pub(crate) mod mount;
pub(crate) mod ns;
pub(crate) mod pidfd;
pub(crate) mod resolve;
pub(crate) mod signals;

/// rustix's errno as the std error the domain modules report (same text, same number).
#[allow(dead_code)]
pub(crate) fn io_err(e: rustix::io::Errno) -> std::io::Error {
    std::io::Error::from(e)
}

/// SIGPIPE to its default, whatever the caller left: ignored, a write to a closed pipe
/// (`userns ls | head -1`) would fail with EPIPE and print! would abort, where coreutils
/// and ripgrep end quietly. (Rust's own runtime, which main.rs skips, ignores it too.)
pub fn reset_sigpipe() {
    signals::set_ignored(libc::SIGPIPE, false);
}

/// What Rust's runtime does first and the `userns` binary, which skips that runtime
/// (see main.rs), must still do: a descriptor 0, 1 or 2 that the caller left closed is
/// opened on /dev/null, so that no file userns opens later lands there and is taken by
/// a program for its stdin or stdout (Rust's `sys::init` does the same with one poll).
pub fn sanitize_std_fds() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll on three pollfd structs we own, with a zero timeout.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } < 0 {
        return;
    }
    for p in fds {
        if p.revents & libc::POLLNVAL != 0 {
            // SAFETY: open with a constant path; the lowest free descriptor, the closed
            // one, is the one it takes (open(2)).
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
}

/// Whether a process with this pid exists: kill(pid, 0) fails with ESRCH only when none
/// does (EPERM: one we may not signal, alive all the same). Not for pid 0 or below, which
/// kill(2) reads as process groups: those are never a process here.
pub(crate) fn process_exists(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    probe_process(pid).map_err(|e| e.raw_os_error()) != Err(Some(libc::ESRCH))
}

/// kill(pid, 0): signal 0 only checks for existence and permission, nothing is
/// delivered (kill(2)). A pid of 0 or below is EINVAL here, never a process group.
pub(crate) fn probe_process(pid: i32) -> std::io::Result<()> {
    let pid = rustix::process::Pid::from_raw(pid)
        .filter(|_| pid > 0)
        .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    Ok(rustix::process::test_kill_process(pid)?)
}
