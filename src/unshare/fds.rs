//! Which descriptors a container gets: 0, 1 and 2, and with `--preserve-fds N` the
//! caller's 3 to 3+N-1, podman's rule (crun and runc close, or mark close-on-exec, every
//! other one before the container's program starts). Anything more is a way out: a
//! descriptor on a host directory is a path from inside to everything below it.
//!
//! The system calls (close_range(2)) are in `sys::fds`.

use crate::error::{Error, Result};
pub(crate) use crate::sys::fds::{cloexec_from, close_from, close_from_except};

/// The first descriptor that is neither stdio nor passed by `--preserve-fds count`.
pub(crate) fn first_unpassed(count: u32) -> u32 {
    3u32.saturating_add(count)
}

/// `--preserve-fds N` passes 3 to 3+N-1, so each must be open: a closed one would be
/// taken by the next file userns opens, and that file would reach the container.
/// Check it before userns opens anything (podman refuses the same way).
pub(crate) fn check_passed(count: u32) -> Result<()> {
    for fd in 3..first_unpassed(count) {
        let open = i32::try_from(fd).is_ok_and(crate::sys::fds::is_open);
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
}
