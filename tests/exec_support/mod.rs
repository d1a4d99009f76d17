//! What the `userns exec` tests share: a container running in the background.

#![allow(dead_code)] // each test binary uses a different part

use super::common::Scenario;
use std::io::{BufRead, BufReader};
use std::process::Child;

/// A running container whose pid 1 sleeps, and the name `userns exec` knows it by.
pub struct Running {
    child: Child,
    pub name: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `userns run ARGS ROOT sh -c 'exec sleep 1000'` and wait until it runs.
pub fn start(s: &Scenario, root: &str, args: &str) -> Running {
    let mut child = s.spawn_sh(&format!(
        "exec \"$USERNS\" run {args} {root} sh -c 'echo ready; exec sleep 1000'"
    ));
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("piped stdout"))
        .read_line(&mut line)
        .expect("read the container's first line");
    assert_eq!(line.trim(), "ready", "the container did not start");
    let run = child.id();
    let children = std::fs::read_to_string(format!("/proc/{run}/task/{run}/children"))
        .expect("read userns run's children");
    let pid1 = children
        .split_whitespace()
        .last()
        .expect("pid 1")
        .to_string();
    Running {
        child,
        name: format!("pid:{pid1}"),
    }
}
