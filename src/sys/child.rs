//! The pre-forked helper: a child forked while userns is still in the parent namespaces,
//! that waits on a pipe until userns has made the namespaces it works on, then execs a
//! program (newuidmap, newgidmap, pasta, slirp4netns) or writes one file (a direct
//! uid_map). The setuid map helpers must run in the parent user namespace, and a network
//! helper in the host's network namespace, so neither can be started from inside; this
//! is util-linux unshare's way (it wakes its helper through a pipe too).
//!
//! After fork only async-signal-safe calls are allowed until exec (signal-safety(7)):
//! everything the child needs is built by the caller before [`fork_waiting`], and the
//! child allocates nothing and leaves with `_exit`.

use nix::unistd::{ForkResult, Pid};
use std::ffi::CStr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// What the woken child does.
pub(crate) enum Action<'a> {
    /// execv(path, argv); `argv` is NULL-terminated.
    Exec {
        path: &'a CStr,
        argv: &'a [*const libc::c_char],
    },
    /// Write `text` to `path` in one write(2) and exit 0.
    Write { path: &'a CStr, text: &'a [u8] },
}

/// The child's descriptors and its end.
pub(crate) struct Waiting<'a> {
    pub(crate) action: Action<'a>,
    /// The parent's ends of pipes and anything else the child must not hold (so that
    /// the other side still sees EOF if the parent dies).
    pub(crate) close: &'a [RawFd],
    /// Passed to the program as 3, 4, ... in this order.
    pub(crate) pass: &'a [RawFd],
    /// The program's stdout and stderr, when not the caller's.
    pub(crate) stdout: Option<RawFd>,
    pub(crate) stderr: Option<RawFd>,
    /// Keep PR_SET_PDEATHSIG (SIGKILL) after the go signal: a map writer dies with
    /// userns, a daemon that ends on its own (slirp4netns's exit fd) must not.
    pub(crate) die_with_parent: bool,
    /// When exec or the write fails, write `errno:N` to stderr for the parent to read.
    pub(crate) report_errno: bool,
}

/// A forked child waiting for [`go`](Forked::go). Dropping `go` without writing makes
/// the child exit 3 having done nothing.
pub(crate) struct Forked {
    pub(crate) pid: Pid,
    pub(crate) go: OwnedFd,
}

/// Fork the waiting child. The caller must be single-threaded (fork(2) copies only the
/// calling thread, and a lock another thread held would stay locked in the child).
pub(crate) fn fork_waiting(spec: &Waiting<'_>) -> nix::Result<Forked> {
    let (go_read, go_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: userns forks only while single-threaded (namespace work is done before any
    // thread starts), and the child runs only waiting_child, which makes async-signal-safe
    // calls on memory built before the fork and never returns.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Child => {
            // SAFETY: as above; the raw descriptors are the child's copies of live ones.
            unsafe { waiting_child(spec, go_read.as_raw_fd(), go_write.as_raw_fd()) }
        }
        ForkResult::Parent { child } => Ok(Forked {
            pid: child,
            go: go_write,
        }),
    }
}

/// The child. Only async-signal-safe libc calls, no allocation; never returns.
///
/// # Safety
///
/// Call only in a freshly forked child of a single-threaded process, with `spec`'s
/// descriptors and pointers valid (the C strings and the NULL-terminated argv alive).
unsafe fn waiting_child(spec: &Waiting<'_>, go_read: RawFd, go_write: RawFd) -> ! {
    libc::prctl(
        libc::PR_SET_PDEATHSIG,
        libc::SIGKILL as libc::c_ulong,
        0,
        0,
        0,
    );
    libc::close(go_write);
    for &fd in spec.close {
        libc::close(fd);
    }
    let mut byte = 0u8;
    loop {
        let n = libc::read(go_read, (&mut byte as *mut u8).cast(), 1);
        if n == 1 {
            break;
        }
        if n < 0 && *libc::__errno_location() == libc::EINTR {
            continue;
        }
        // The parent gave up (or died) before the namespaces existed: nothing to do.
        libc::_exit(3);
    }
    if !spec.die_with_parent {
        libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0);
    }
    // Move the passed ones above 3 + pass.len() first, so that one dup2 cannot overwrite
    // another still to be moved (at most a handful: a fixed array, no allocation).
    let mut high = [-1; 8];
    let count = spec.pass.len().min(high.len());
    for (i, &fd) in spec.pass[..count].iter().enumerate() {
        high[i] = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10 + count as libc::c_int);
    }
    for (i, &fd) in high[..count].iter().enumerate() {
        libc::dup2(fd, 3 + i as i32);
    }
    if let Some(fd) = spec.stdout {
        libc::dup2(fd, 1);
    }
    if let Some(fd) = spec.stderr {
        libc::dup2(fd, 2);
    }
    // The program has no use for the caller's other descriptors; none outlives the exec.
    // Older kernels without close_range leave them (the program merely holds them).
    let _ = super::fds::cloexec_from(3 + count as u32);
    match spec.action {
        Action::Exec { path, argv } => {
            libc::execv(path.as_ptr(), argv.as_ptr());
            if spec.report_errno {
                report_errno(*libc::__errno_location());
            }
            libc::_exit(127);
        }
        Action::Write { path, text } => {
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 {
                if spec.report_errno {
                    report_errno(*libc::__errno_location());
                }
                libc::_exit(1);
            }
            let n = libc::write(fd, text.as_ptr().cast(), text.len());
            if n != text.len() as isize {
                if spec.report_errno {
                    report_errno(if n < 0 {
                        *libc::__errno_location()
                    } else {
                        libc::EIO
                    });
                }
                libc::_exit(1);
            }
            libc::_exit(0);
        }
    }
}

/// Write `errno:N` to stderr without allocating.
///
/// # Safety
///
/// None beyond write(2)'s: callable in a forked child (async-signal-safe).
unsafe fn report_errno(errno: i32) {
    let mut buf = *b"errno:0000000000";
    let mut n = errno.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || i == 6 {
            break;
        }
    }
    libc::write(2, buf.as_ptr().cast(), 6);
    libc::write(2, buf[i..].as_ptr().cast(), buf.len() - i);
}
