//! userns: Linux user namespaces and subordinate ids.
//!
//! Data flows one way: files and /proc are read into plain typed values
//! (`subid::SubIdEntry`, `idmap::IdMap`), pure functions plan from them, and only the
//! last step (`unshare`, `sys`) touches the kernel.
//!
//! The command line is the binary's (src/cli/): it builds this library's plain spec
//! types (`unshare::NsSpec`, `run::RunSpec`...) and calls it; nothing here knows clap.
//! See docs/ARCHITECTURE.md.
// Every unsafe block says why it is sound, every unsafe fn what its caller must ensure;
// `cargo clippy -- -D warnings` in .ci/run enforces both.
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]
// print!/eprint! panic when the descriptor fails (a full disk, a closed stderr): messages
// go through `note` and `warn`, output through the binary's render::out.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod clean;
pub mod container;
pub mod doctor;
pub(crate) mod drop_ins;
pub mod error;
pub mod exit;
pub mod idmap;
pub mod ids;
pub mod image;
pub mod keep;
pub mod migrate;
pub mod nsinfo;
pub mod podman;
pub mod registry;
pub mod run;
pub(crate) mod seccomp;
pub mod storage;
pub mod subid;
pub mod sys;
pub mod trusted_dir;
pub mod units;
pub mod unshare;
pub mod users;
pub mod whose;

pub(crate) use error::{Error, Result};

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// From here on, say only what is wrong (`-q`, as podman's): [`progress`] prints nothing,
/// warnings and errors still do.
pub fn be_quiet() {
    QUIET.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Tell the user which step a command is at ("unpacking ...", "trying to pull ..."):
/// as [`note`], unless told to be quiet.
pub fn progress(message: impl std::fmt::Display) {
    if !QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        note(message);
    }
}

/// Print a warning to stderr in the one format userns uses.
pub fn warn(message: impl std::fmt::Display) {
    note(format_args!("warning: {message}"));
}

/// Tell the user something on stderr, as "userns: MESSAGE". A failed write is let go:
/// there is nowhere left to report it, and it must not end userns (eprintln! would
/// panic, and abort).
pub fn note(message: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "userns: {message}");
}
