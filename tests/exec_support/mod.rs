//! What the `userns exec` tests share: a detached container (`run -d --name`).

#![allow(dead_code)] // each test binary uses a different part

use super::common::{describe, Scenario};

/// A running container whose pid 1 sleeps, by the name `userns exec` takes; removed
/// (`rm -f`) when dropped.
pub struct Running<'a> {
    s: &'a Scenario,
    pub name: String,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let _ = self.s.run(&["rm", "-f", &self.name]);
    }
}

/// `userns run -d --name NAME ARGS ROOT sh -c 'exec sleep 1000'`.
pub fn start<'a>(s: &'a Scenario, name: &str, root: &str, args: &[&str]) -> Running<'a> {
    start_with(s, name, root, args, "exec sleep 1000")
}

/// `userns run -d --name NAME ARGS ROOT sh -c SCRIPT`.
pub fn start_with<'a>(
    s: &'a Scenario,
    name: &str,
    root: &str,
    args: &[&str],
    script: &str,
) -> Running<'a> {
    let mut argv = vec!["run", "-d", "--name", name];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&[root, "sh", "-c", script]);
    let out = s.run(&argv);
    assert!(out.status.success(), "run -d failed: {}", describe(&out));
    Running {
        s,
        name: name.to_string(),
    }
}
