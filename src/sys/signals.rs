//! Signal dispositions and handlers, and leaving a forked child: the few calls here that
//! neither nix nor rustix offers safely (a handler runs in signal context, which no type
//! can check), each with the rule that makes it sound.

/// What a handler may do: async-signal-safe calls only (signal-safety(7)).
pub(crate) type Handler = extern "C" fn(libc::c_int);

/// Install `handler` for `sig` with SA_RESTART (so waitpid and read go on) and no extra
/// mask.
///
/// # Safety
///
/// `handler` must make only async-signal-safe calls and touch only atomics or memory that
/// nothing else uses while it may run.
pub(crate) unsafe fn set_handler(sig: libc::c_int, handler: Handler) {
    let mut sa: libc::sigaction = std::mem::zeroed();
    sa.sa_sigaction = handler as *const () as usize;
    sa.sa_flags = libc::SA_RESTART;
    libc::sigemptyset(&mut sa.sa_mask);
    libc::sigaction(sig, &sa, std::ptr::null_mut());
}

/// Ignore `sig` (SIG_IGN), or give it back its default action (SIG_DFL).
pub(crate) fn set_ignored(sig: libc::c_int, ignored: bool) {
    let how = if ignored {
        libc::SIG_IGN
    } else {
        libc::SIG_DFL
    };
    // SAFETY: SIG_IGN and SIG_DFL are dispositions, not handlers: no code of ours runs
    // in signal context, and signal(2) touches no memory of ours.
    unsafe {
        libc::signal(sig, how);
    }
}

/// _exit(2): end the process now, without running destructors or atexit handlers (a
/// forked child must not flush or free what its parent owns). Async-signal-safe.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions; it does not return.
    unsafe { libc::_exit(code) }
}

/// Restore what an exec'd program expects: every signal at its default disposition (an
/// ignored one would survive execve) and an empty signal mask. Async-signal-safe.
///
/// The raw rt_sigaction system call is used because glibc refuses to touch signals 32
/// and 33, which it reserves, yet an ignored disposition of those is inherited too.
pub(crate) fn reset_all() {
    /// struct k_sigaction of the x86_64/aarch64 kernel ABI.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: rt_sigaction reads `default`, a live struct of the kernel's layout whose
    // sigset size (8) is passed, and writes nothing (old action NULL); sigprocmask reads
    // a set that sigemptyset initialised. No handler is installed, so no code of ours can
    // run in signal context.
    unsafe {
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    &default as *const KernelSigaction,
                    std::ptr::null_mut::<KernelSigaction>(),
                    8usize,
                );
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}
