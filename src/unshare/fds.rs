//! Which descriptors a container gets: 0, 1 and 2, and with `--preserve-fds N` the
//! caller's 3 to 3+N-1, podman's rule (crun and runc close, or mark close-on-exec, every
//! other one before the container's program starts). Anything more is a way out: a
//! descriptor on a host directory is a path from inside to everything below it.
//!
//! close_range(2) (Linux 5.9; CLOSE_RANGE_CLOEXEC 5.11, which the rootless overlay needs
//! anyway) does it in one system call whatever the descriptor limit. Neither nix 0.32 nor
//! rustix 1.1 wraps it, and glibc has it only since 2.34, so it is the raw system call:
//! async-signal-safe, hence usable between fork and exec.

use crate::error::{Error, Result};
use nix::errno::Errno;
use std::os::fd::RawFd;

/// The highest descriptor close_range accepts: "up to the last open one".
const LAST: u32 = u32::MAX;

/// close_range(first, last, flags), with the kernel's errno on failure.
fn close_range(first: u32, last: u32, flags: u32) -> std::result::Result<(), Errno> {
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
pub(crate) fn cloexec_from(first: u32) -> std::result::Result<(), Errno> {
    close_range(first, LAST, libc::CLOSE_RANGE_CLOEXEC)
}

/// Close every descriptor from `first` up. Async-signal-safe; the caller must own none
/// of them (see [`close_from_except`]).
pub(crate) fn close_from(first: u32) -> std::result::Result<(), Errno> {
    close_range(first, LAST, 0)
}

/// Close every descriptor from `first` up except `keep` (a pipe still needed until
/// exec). Async-signal-safe. The caller must own no other descriptor in that range that
/// it will close again (in a forked pid 1 that never returns, nothing is dropped later).
pub(crate) fn close_from_except(first: u32, keep: RawFd) -> std::result::Result<(), Errno> {
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

/// The first descriptor that is neither stdio nor passed by `--preserve-fds count`.
pub(crate) fn first_unpassed(count: u32) -> u32 {
    3u32.saturating_add(count)
}

/// `--preserve-fds N` passes 3 to 3+N-1, so each must be open: a closed one would be
/// taken by the next file userns opens, and that file would reach the container.
/// Check it before userns opens anything (podman refuses the same way).
pub(crate) fn check_passed(count: u32) -> Result<()> {
    for fd in 3..first_unpassed(count) {
        // SAFETY: F_GETFD only reads a descriptor's flags; a closed one gives EBADF.
        // (nix's fcntl wants a borrowed descriptor, which a closed number is not.)
        let open = i32::try_from(fd).is_ok_and(|fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0);
        if !open {
            return Err(Error::usage(format!(
                "--preserve-fds {count}: descriptor {fd} is not open"
            ))
            .because(format!(
                "--preserve-fds {count} passes descriptors 3 to {} of the caller",
                first_unpassed(count) - 1
            ))
            .fix(format!(
                "open each of them before running userns (in a shell: exec {fd}<FILE), \
                 or pass a smaller N"
            )));
        }
    }
    Ok(())
}

/// In userns itself, before it opens anything: the caller's descriptors beyond the passed
/// ones become close-on-exec, so no program userns starts (newuidmap, newgidmap, pasta,
/// slirp4netns, the container's) inherits them. userns keeps them (the container cannot
/// see it: it is outside the container's pid namespace); pid 1, which the container does
/// see, closes them (supervise).
pub(crate) fn keep_from_programs(preserve_fds: u32) -> Result<()> {
    check_passed(preserve_fds)?;
    cloexec_from(first_unpassed(preserve_fds)).map_err(|e| {
        Error::failure("cannot mark the caller's descriptors close-on-exec")
            .because(format!("close_range: {e}"))
            .fix("userns run needs Linux 5.11 or later (close_range with CLOSE_RANGE_CLOEXEC)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn the_passed_range_starts_at_3_and_never_overflows() {
        assert_eq!(first_unpassed(0), 3);
        assert_eq!(first_unpassed(2), 5);
        assert_eq!(first_unpassed(u32::MAX), u32::MAX);
        assert!(check_passed(0).is_ok());
    }

    #[test]
    fn a_closed_descriptor_in_the_range_is_named_with_the_fix() {
        // Far above anything the test harness holds open.
        let err = check_passed(100_000).unwrap_err();
        assert!(err.what.contains("--preserve-fds 100000"), "{err}");
        assert!(err.what.contains("descriptor"), "{err}");
        assert!(err.fix.is_some());
    }

    #[test]
    fn cloexec_marks_without_closing() {
        // A descriptor made without close-on-exec (dup), then marked in place.
        let file = std::fs::File::open("/dev/null").unwrap();
        let fd = nix::unistd::dup(&file).unwrap();
        let raw = fd.as_raw_fd();
        // SAFETY: F_GETFD on a descriptor this test owns.
        let flags = || unsafe { libc::fcntl(raw, libc::F_GETFD) };
        assert_eq!(flags() & libc::FD_CLOEXEC, 0);
        // Only this descriptor: the test harness's threads own the others.
        close_range(raw as u32, raw as u32, libc::CLOSE_RANGE_CLOEXEC).unwrap();
        assert_eq!(flags() & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        assert!(flags() >= 0, "still open");
    }
}
