//! Process descriptors (pidfd_open(2), Linux 5.3): a handle on one process that a reused
//! pid can never stand for, to signal it and to wait for its end.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

fn pid_of(pid: i32) -> io::Result<rustix::process::Pid> {
    rustix::process::Pid::from_raw(pid).ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
}

fn signal_of(signal: i32) -> io::Result<rustix::process::Signal> {
    rustix::process::Signal::from_named_raw(signal)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
}

/// pidfd_open(pid, 0). ENOSYS (before 5.3) and ESRCH come back as they are.
pub(crate) fn open(pid: i32) -> io::Result<OwnedFd> {
    rustix::process::pidfd_open(pid_of(pid)?, rustix::process::PidfdFlags::empty())
        .map_err(io::Error::from)
}

/// pidfd_send_signal(pidfd, signal, NULL, 0): as kill(2), but to this very process.
pub(crate) fn send_signal(pidfd: impl AsFd, signal: i32) -> io::Result<()> {
    rustix::process::pidfd_send_signal(pidfd, signal_of(signal)?).map_err(io::Error::from)
}

/// kill(pid, signal), for kernels without pidfds.
pub(crate) fn kill(pid: i32, signal: i32) -> io::Result<()> {
    rustix::process::kill_process(pid_of(pid)?, signal_of(signal)?).map_err(io::Error::from)
}

/// Wait until the process behind `pidfd` has ended (a pidfd polls readable then,
/// pidfd_open(2)), at most `timeout`. True when it has; EINTR is waited through.
pub(crate) fn wait_exit(pidfd: impl AsFd, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut fds = [rustix::event::PollFd::new(
            &pidfd,
            rustix::event::PollFlags::IN,
        )];
        let left = rustix::event::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        match rustix::event::poll(&mut fds, Some(&left)) {
            Ok(n) => return n > 0,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_childs_pidfd_signals_it_and_sees_its_end() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let fd = open(child.id() as i32).unwrap();
        assert!(!wait_exit(&fd, Duration::from_millis(10)));
        send_signal(&fd, libc::SIGKILL).unwrap();
        assert!(wait_exit(&fd, Duration::from_secs(10)));
        child.wait().unwrap();
        // Reaped: its pidfd still refers to it, and a signal finds no process.
        let err = send_signal(&fd, libc::SIGTERM).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ESRCH));
    }
}
