//! One file per subcommand, each a thin layer over the library: it turns its options into
//! the library's spec types, calls the library, and renders the outcome.

pub mod chown;
pub mod clean;
pub mod completions;
pub mod doctor;
pub mod enter;
pub mod exec;
pub mod image_check;
pub mod images;
pub mod lifecycle;
pub mod logs;
pub mod ls;
pub mod map;
pub mod migrate;
pub mod ps;
pub mod pull;
pub mod run;
pub mod stat;
pub mod stop;
pub mod subid;
pub mod subid_admin;
pub mod translate;
pub mod unshare;
pub mod whose;
