//! Namespaces: create, map, sync with helpers, exec or supervise.

pub mod create;
pub mod diagnose;
pub mod env;
pub mod exec;
pub mod fds;
pub mod helper;
pub mod mapping;
pub mod setup;
pub mod supervise;

pub use create::enter_new_userns;
pub use exec::Program;
pub use mapping::{plan_mapping, MapRequest, MapWriter, Mapping};
