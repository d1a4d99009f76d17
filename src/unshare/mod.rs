//! Namespaces: create, map, sync with helpers, exec or supervise.

pub(crate) mod ahead;
pub(crate) mod create;
pub mod diagnose;
pub mod enter;
pub mod env;
pub(crate) mod exec;
pub(crate) mod fds;
pub mod helper;
pub(crate) mod mapping;
pub mod nested;
pub(crate) mod setup;
pub(crate) mod spec;
pub(crate) mod supervise;

pub(crate) use create::enter_new_userns;
pub use enter::{enter, run_program};
pub use exec::Program;
pub use mapping::{plan_mapping, plan_maps, MapRequest, MapWriter, Mapping};
pub use spec::{Namespaces, NsSpec};
