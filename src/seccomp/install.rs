//! Load a compiled filter into the calling process: seccomp(2), SECCOMP_SET_MODE_FILTER.
//! Neither nix 0.32 nor rustix wraps it, so this is libc's raw system call.

use super::compile::Filter;
use crate::error::{Error, Result};

/// Install `filter` for this process and every process it starts (filters survive fork
/// and execve, and cannot be removed). The caller must have set no_new_privs first: an
/// unprivileged process may install a filter only then (seccomp(2)), which also ensures
/// that no setuid program inside can run with privileges the filter did not foresee.
pub(crate) fn install(filter: &Filter) -> Result<()> {
    let fail = |e: std::io::Error| {
        Error::failure("cannot install the seccomp filter")
            .because(e)
            .fix("run with --security-opt seccomp=unconfined to go without one, and report this")
    };
    let len = u16::try_from(filter.program.len())
        .map_err(|_| fail(std::io::Error::from_raw_os_error(libc::EINVAL)))?;
    let prog = libc::sock_fprog {
        len,
        // The kernel only reads the program; the cast is for the C prototype's
        // non-const pointer. `Insn` is #[repr(C)] with sock_filter's fields and layout.
        filter: filter.program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: seccomp(2) reads `prog` and the `len` instructions it points to, which live
    // in `filter` for the whole call; it writes nothing of ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(filter.flags),
            &prog as *const libc::sock_fprog,
        )
    };
    if r != 0 {
        return Err(fail(std::io::Error::last_os_error()));
    }
    Ok(())
}
