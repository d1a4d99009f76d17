//! Containers that live on: `userns run -d` and `--name`, and what finds and ends them
//! later (`ps`, `logs`, `stop`, `kill`, `rm`, `wait`, `exec`), the podman way, rootless
//! and without a daemon.
//!
//! Each container has a record in the user's store (`store`, `record`). A detached one
//! has a monitor of its own (`monitor`, as podman's conmon): a process out of the
//! caller's session that runs the container's supervisor (`run`), collects pid 1's exit
//! status, writes the output to the log (`log`) and restarts it as `--restart` says.

pub mod control;
pub mod exec;
pub mod follow;
pub mod launch;
pub mod log;
pub(crate) mod monitor;
pub mod record;
pub mod store;

pub use launch::{launch, wants_record, LaunchSpec, Launched};
pub use record::{ContainerRecord, ExecConfig, ProcessRef, RestartPolicy, Status};
pub use store::Store;
