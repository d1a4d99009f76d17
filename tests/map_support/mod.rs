//! What map_cli.rs and map_plan_cli.rs share: run the binary, read its table.

#![allow(dead_code)] // each test binary uses a different part

use std::process::Command;

/// Exit code, stdout, stderr of `userns ARGS`; and no run may panic.
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_userns"))
        .args(args)
        .output()
        .expect("cannot run the userns binary");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("panicked"),
        "userns {args:?} panicked:\n{stderr}"
    );
    (
        out.status.code().expect("killed by a signal"),
        stdout,
        stderr,
    )
}

/// The table rows (after the first blank line, up to the next), each split into words.
pub fn rows(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .split("\n\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no table in:\n{stdout}"))
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}
