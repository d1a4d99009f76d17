//! Containers that live on: `userns exec` into a running one.

pub mod exec;
