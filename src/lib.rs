//! userns: Linux user namespaces and subordinate ids.
//!
//! Data flows one way: files and /proc are read into plain typed values
//! (`subid::SubIdEntry`, `idmap::IdMap`), pure functions plan from them, and only the
//! last step (`unshare`, `sys`) touches the kernel.

pub mod clean;
pub mod cli;
pub mod cmd;
pub mod doctor;
pub mod error;
pub mod exit;
pub mod idmap;
pub mod ids;
pub mod image;
pub mod keep;
pub mod nsinfo;
pub mod output;
pub mod quickparse;
pub mod run;
pub mod seccomp;
pub mod storage;
pub mod subid;
pub mod sys;
pub mod table;
pub mod unshare;
pub mod users;

pub use error::{Error, ErrorKind, Result};

/// Print a warning to stderr in the one format userns uses.
pub fn warn(message: impl std::fmt::Display) {
    eprintln!("userns: warning: {message}");
}
