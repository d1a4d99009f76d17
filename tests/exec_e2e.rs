//! `userns exec` into a running container, as the fixture user.

mod common;
mod run_support;

use common::{assert_code, describe, stderr, stdout, Scenario};
use std::io::{BufRead, BufReader};
use std::process::Child;

/// A running container (pid 1 sleeps), and how `userns exec` names it.
struct Running {
    child: Child,
    name: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(s: &Scenario, root: &str, args: &str) -> Running {
    let mut child = s.spawn_sh(&format!(
        "exec \"$USERNS\" run {args} {root} sh -c 'echo ready; exec sleep 1000'"
    ));
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    let run = child.id();
    let children = std::fs::read_to_string(format!("/proc/{run}/task/{run}/children")).unwrap();
    let pid1 = children.split_whitespace().last().unwrap().to_string();
    Running {
        child,
        name: format!("pid:{pid1}"),
    }
}

#[test]
fn smoke() {
    let Some((s, root)) = run_support::setup("exec_smoke") else {
        return;
    };
    let c = start(&s, &root, "--init");
    let out = s.run(&["exec", &c.name, "sh", "-c", "cat /proc/1/cmdline; echo; id; grep -E 'Cap|Seccomp|NoNew' /proc/self/status; ls -l /proc/self/fd /proc/self/cwd; ls -l /proc/self/ns"]);
    eprintln!("{}", describe(&out));
    let _ = (assert_code, stderr, stdout);
}
