//! Descriptor ranges: close_range(2) (Linux 5.9; CLOSE_RANGE_CLOEXEC 5.11). Neither nix
//! 0.32 nor rustix 1.1 wraps it and glibc has it only since 2.34, so it is the raw
//! system call: async-signal-safe, hence usable between fork and exec.

use nix::errno::Errno;
use std::os::fd::RawFd;

/// The highest descriptor close_range accepts: "up to the last open one".
const LAST: u32 = u32::MAX;

/// close_range(first, last, flags), with the kernel's errno on failure.
fn close_range(first: u32, last: u32, flags: u32) -> Result<(), Errno> {
    // SAFETY: close_range takes plain integers and touches no memory of ours. Callers
    // either own nothing in the range (a descriptor closed under an OwnedFd would be
    // closed twice) or, with CLOSE_RANGE_CLOEXEC, only change a flag.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Mark every descriptor from `first` up close-on-exec: no program exec'd afterwards gets
/// one, while this process may go on using them. Async-signal-safe.
pub(crate) fn cloexec_from(first: u32) -> Result<(), Errno> {
    close_range(first, LAST, libc::CLOSE_RANGE_CLOEXEC)
}

/// Close every descriptor from `first` up. Async-signal-safe; the caller must own none
/// of them (see [`close_from_except`]).
pub(crate) fn close_from(first: u32) -> Result<(), Errno> {
    close_range(first, LAST, 0)
}

/// Close every descriptor from `first` up except `keep` (a pipe still needed until
/// exec). Async-signal-safe. The caller must own no other descriptor in that range that
/// it will close again (in a forked pid 1 that never returns, nothing is dropped later).
pub(crate) fn close_from_except(first: u32, keep: RawFd) -> Result<(), Errno> {
    match u32::try_from(keep) {
        Ok(keep) if keep >= first => {
            if keep > first {
                close_range(first, keep - 1, 0)?;
            }
            if keep < LAST {
                close_range(keep + 1, LAST, 0)?;
            }
            Ok(())
        }
        _ => close_from(first),
    }
}

/// Whether descriptor number `fd` is open in this process: F_GETFD fails with EBADF only
/// on a closed one (fcntl(2)). A number, not a borrowed descriptor: it may be closed.
pub(crate) fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the flags of a descriptor number and touches no memory;
    // on a closed number it fails with EBADF, which is the answer sought.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::io::{fcntl_getfd, FdFlags};
    use std::os::fd::AsRawFd;

    #[test]
    fn cloexec_marks_a_spare_descriptor_without_closing_it() {
        // A descriptor made without close-on-exec (dup), then marked in place.
        let file = std::fs::File::open("/dev/null").unwrap();
        let fd = nix::unistd::dup(&file).unwrap();
        let raw = fd.as_raw_fd() as u32;
        assert!(!fcntl_getfd(&fd).unwrap().contains(FdFlags::CLOEXEC));
        // Only this descriptor: the test harness's threads own the others.
        close_range(raw, raw, libc::CLOSE_RANGE_CLOEXEC).unwrap();
        assert!(fcntl_getfd(&fd).unwrap().contains(FdFlags::CLOEXEC));
        assert!(is_open(fd.as_raw_fd()));
    }

    #[test]
    fn close_range_closes_a_spare_descriptor() {
        let file = std::fs::File::open("/dev/null").unwrap();
        let raw = std::os::fd::IntoRawFd::into_raw_fd(file);
        assert!(is_open(raw));
        close_range(raw as u32, raw as u32, 0).unwrap();
        assert!(!is_open(raw));
        assert!(!is_open(100_000));
    }
}
