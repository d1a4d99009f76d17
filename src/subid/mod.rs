//! /etc/subuid and /etc/subgid: parse, look up, lint (and, later, allocate).

pub mod alloc;
pub mod lint;
pub mod login_defs;
pub mod lookup;
pub mod nss;
mod overlap;
pub mod parse;
pub(crate) mod range;
mod shadow_lines;
pub(crate) mod source;
mod strtoul;
pub mod write;

pub use parse::{Owner, Skipped, SubIdEntry, SubIdFile};
pub use range::SubIdRange;
pub use source::{SubIdPaths, UserSubIds};
