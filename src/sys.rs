//! Small process-wide settings that must be made before anything else runs.

/// Rust starts every program with SIGPIPE ignored, and an ignored disposition survives
/// execve: a shell started from userns would then see EPIPE instead of dying quietly in
/// `yes | head`. Restore the default at once (what coreutils and ripgrep expect).
pub fn reset_sigpipe() {
    // SAFETY: setting a signal disposition to SIG_DFL has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
