//! Namespaces: create, map, sync with helpers, exec or supervise.

pub mod create;
pub mod diagnose;
pub mod enter;
pub mod env;
pub mod exec;
pub mod fds;
pub mod helper;
pub mod mapping;
pub mod setup;
pub mod spec;
pub mod supervise;

pub use create::enter_new_userns;
pub use enter::{enter, run_program};
pub use exec::Program;
pub use mapping::{plan_mapping, MapRequest, MapWriter, Mapping};
pub use spec::{Namespaces, NsSpec};
