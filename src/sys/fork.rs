//! fork(2) into a child that runs a closure of ours and exits, without exec: a process
//! that lives on beside userns (the holder of a user namespace made ahead,
//! `unshare::ahead`).
//!
//! fork copies only the calling thread; a lock another thread held (malloc's, stdio's)
//! stays locked in the child for ever, which is why a child of a multi-threaded process
//! may make only async-signal-safe calls (signal-safety(7)). A child of a process that
//! *is* single-threaded is a whole copy and may run ordinary Rust code. So this forks
//! only when the process has one thread, and says so otherwise.

use nix::unistd::{ForkResult, Pid};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// How many threads this process has (/proc/self/task lists one entry per thread); None
/// when /proc cannot say.
pub(crate) fn thread_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}

/// Wait (2 s at most) until this process is down to its one thread again. A joined
/// thread has not always left the kernel's thread group when join returns (the kernel
/// wakes the joiner as it releases the thread's memory, a little before the thread is
/// gone), and unshare(CLONE_NEWUSER) fails with EINVAL in a process of more than one
/// thread, as fork here refuses one.
pub(crate) fn threads_gone() {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        // Without /proc there is nothing to wait on: the unshare that follows says.
        if thread_count().is_none_or(|n| n <= 1) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_micros(50));
    }
}

/// Fork a child that runs `child` and then `_exit`s with its result (70, EX_SOFTWARE,
/// when it panics): it never returns into the caller's frames, and runs no destructor or
/// exit handler of the parent's. EBUSY when the process has more than one thread.
pub(crate) fn fork_running(child: impl FnOnce() -> i32) -> io::Result<Pid> {
    if thread_count() != Some(1) {
        return Err(io::Error::from_raw_os_error(libc::EBUSY));
    }
    // SAFETY: the process has one thread (checked just above, and nothing of ours starts
    // one in between), so the child is a complete copy in which no lock is held by a
    // thread that does not exist there; the child never returns from this function.
    match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            let code = catch_unwind(AssertUnwindSafe(child)).unwrap_or(70);
            // SAFETY: _exit(2) ends the process at once and touches no memory; unlike
            // exit(3) it flushes no stdio buffer copied from the parent (which would
            // print the parent's pending output twice) and runs no exit handler.
            unsafe { libc::_exit(code) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multi_threaded_process_does_not_fork() {
        // The test harness runs tests on threads of their own: this process has several.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || rx.recv());
        let err = fork_running(|| 0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBUSY));
        drop(tx);
        let _ = other.join();
    }
}
