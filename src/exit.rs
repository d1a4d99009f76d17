//! The one place that decides exit codes.
//!
//! Two conventions, as the brief and podman define them:
//! - inspection and administration commands: 0 ok, 1 failure or problems found, 2 usage;
//! - commands that run a user's program (`unshare`, `enter`, `run`), following podman
//!   (`cmd/podman/utils/error.go`): 125 userns itself failed (usage too), 126 the program
//!   was found but is not executable, 127 not found, else the program's own status, and
//!   128+N when it was killed by signal N.

use crate::error::{Error, ErrorKind};

pub const OK: u8 = 0;
pub const PROBLEMS: u8 = 1;
pub(crate) const USAGE: u8 = 2;
pub(crate) const OWN_FAILURE: u8 = 125;
pub(crate) const NOT_EXECUTABLE: u8 = 126;
pub(crate) const NOT_FOUND: u8 = 127;

/// Which convention a subcommand follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convention {
    Inspect,
    Program,
}

/// The exit code for an error under a convention.
pub fn for_error(err: &Error, convention: Convention) -> u8 {
    match (convention, err.kind) {
        // Not a failure of the command but its answer: the image cannot be unpacked here,
        // reported as podman and `run` report it, whatever the verb.
        (_, ErrorKind::ImageRefused) => OWN_FAILURE,
        (Convention::Inspect, ErrorKind::Usage) => USAGE,
        (Convention::Inspect, _) => PROBLEMS,
        (Convention::Program, ErrorKind::NotExecutable) => NOT_EXECUTABLE,
        (Convention::Program, ErrorKind::NotFound) => NOT_FOUND,
        (Convention::Program, _) => OWN_FAILURE,
    }
}

/// The exit code of a command line the parser refused (help and version requests are
/// not refusals: they exit `OK`).
pub fn for_usage_error(convention: Convention) -> u8 {
    match convention {
        Convention::Inspect => USAGE,
        Convention::Program => OWN_FAILURE,
    }
}

/// The exit code that reports a child's wait status: its own code, or 128+N for signal N
/// (what shells report, and what podman and bubblewrap return).
pub(crate) fn for_wait_status(status: nix::sys::wait::WaitStatus) -> u8 {
    use nix::sys::wait::WaitStatus;
    match status {
        WaitStatus::Exited(_, code) => code as u8,
        WaitStatus::Signaled(_, signal, _) => 128u8.wrapping_add(signal as u8),
        _ => OWN_FAILURE,
    }
}

/// The exit code for a failed `execve` of the user's program.
pub(crate) fn kind_for_exec_errno(errno: nix::errno::Errno) -> ErrorKind {
    use nix::errno::Errno;
    match errno {
        Errno::ENOENT | Errno::ENOTDIR => ErrorKind::NotFound,
        _ => ErrorKind::NotExecutable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::sys::wait::WaitStatus;
    use nix::unistd::Pid;

    #[test]
    fn an_image_refused_for_its_ids_is_125_under_either_convention() {
        let refused = Error::image_refused("docker://r/i:1: not unpacked");
        assert_eq!(for_error(&refused, Convention::Inspect), 125);
        assert_eq!(for_error(&refused, Convention::Program), 125);
        assert_eq!(for_error(&Error::failure("x"), Convention::Inspect), 1);
    }

    #[test]
    fn program_convention_follows_podman() {
        let pid = Pid::from_raw(1);
        assert_eq!(for_wait_status(WaitStatus::Exited(pid, 3)), 3);
        assert_eq!(
            for_wait_status(WaitStatus::Signaled(pid, Signal::SIGKILL, false)),
            137
        );
        assert_eq!(for_error(&Error::usage("x"), Convention::Program), 125);
        assert_eq!(for_error(&Error::usage("x"), Convention::Inspect), 2);
        assert_eq!(for_error(&Error::failure("x"), Convention::Inspect), 1);
        assert_eq!(for_usage_error(Convention::Program), 125);
        assert_eq!(for_usage_error(Convention::Inspect), 2);
        let nf = Error::new(ErrorKind::NotFound, "x");
        assert_eq!(for_error(&nf, Convention::Program), 127);
        assert_eq!(
            kind_for_exec_errno(nix::errno::Errno::EACCES),
            ErrorKind::NotExecutable
        );
        assert_eq!(
            kind_for_exec_errno(nix::errno::Errno::ENOENT),
            ErrorKind::NotFound
        );
    }
}
