//! Root's view of the machine: `userns doctor` run by root without --user, and
//! `scripts/run` run by root without a user name, in the hermetic scenario (tests/common)
//! with the fixture user root and two other users who own ranges.

mod common;

use common::{assert_code, assert_ok, stdout, Scenario};
use serde_json::Value;

/// Root, with ivy (65536 ids of each kind) and bob (too few uids, no subgid line).
fn machine(test: &str, subuid: &str) -> Option<Scenario> {
    Scenario::new(test).map(|s| {
        s.user("root", 0, 0)
            .extra_passwd("ivy:x:2000:2000::/nonexistent:/bin/sh")
            .extra_passwd("bob:x:2001:2001::/nonexistent:/bin/sh")
            .subuid(subuid)
            .subgid("ivy:100000:65536\n")
    })
}

const SUBUID: &str = "ivy:100000:65536\nbob:300000:1000\n";

fn checks(s: &Scenario) -> (i32, Value) {
    let out = s.run(&["doctor", "--json"]);
    let report: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", common::describe(&out)));
    (out.status.code().expect("doctor exits"), report)
}

fn find<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {report:#}"))
}

#[test]
fn root_doctor_checks_the_machine_and_every_user_with_ranges() {
    let Some(s) = machine("machine_doctor", SUBUID) else {
        return;
    };
    let (code, report) = checks(&s);
    assert_eq!(
        code, 0,
        "a user's shortfall is no machine problem: {report:#}"
    );
    assert_eq!(report["scope"], "machine");
    assert!(report["user"].is_null(), "{report:#}");
    for name in ["kernel", "newuidmap", "newgidmap", "subgid lint"] {
        assert_eq!(find(&report, name)["status"], "pass", "{name}: {report:#}");
    }
    // bob's short line is a warning of the lint, not an error.
    assert_eq!(find(&report, "subuid lint")["status"], "warn", "{report:#}");
    let ivy = find(&report, "user ivy");
    assert_eq!(ivy["status"], "pass", "{report:#}");
    assert_eq!(
        ivy["evidence"],
        "uid_map 0:2000:1,1:100000:65536\ngid_map 0:2000:1,1:100000:65536"
    );
    let bob = find(&report, "user bob");
    assert_eq!(bob["status"], "warn", "{report:#}");
    assert!(bob["evidence"]
        .as_str()
        .unwrap()
        .contains("no subgid range in /etc/subgid"));
    // Root needs no ranges: no check is about root's own.
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.contains(&"subuid") && !names.contains(&"user root"),
        "{names:?}"
    );

    // --user still checks that one user, as before.
    let out = s.run(&["doctor", "--user", "ivy", "--no-live"]);
    let text = assert_ok(&out);
    assert!(
        text.lines().any(|l| l.starts_with("pass  subuid ")),
        "{text}"
    );
}

#[test]
fn root_doctor_fails_on_an_error_in_the_files() {
    let Some(s) = machine("machine_doctor_lint", "ivy:100000:65536\nivy:0x1g:5\n") else {
        return;
    };
    let (code, report) = checks(&s);
    assert_eq!(code, 1, "{report:#}");
    let lint = find(&report, "subuid lint");
    assert_eq!(lint["status"], "fail", "{report:#}");
    assert!(lint["evidence"]
        .as_str()
        .unwrap()
        .starts_with("/etc/subuid:2: error:"));
}

/// `scripts/run` as root without a user name shows the machine and exits 0; with a user
/// name, that user's ranges and plan, as before.
#[test]
fn scripts_run_as_root_shows_the_machine() {
    let Some(s) = machine("machine_scripts_run", SUBUID) else {
        return;
    };
    let script = format!("{}/scripts/run", env!("CARGO_MANIFEST_DIR"));
    let bin = s.bin().display().to_string();
    let s = s.env("USERNS_BIN", &bin);
    let out = s.sh(&format!("exec {script}"));
    let text = assert_ok(&out);
    for expected in [
        "$ userns subid check",
        "$ userns doctor",
        "pass  user ivy",
        "warn  user bob",
        "pass  newuidmap",
    ] {
        assert!(text.contains(expected), "{expected:?} missing:\n{text}");
    }
    assert!(!text.contains("root has no"), "{text}");

    let out = s.sh(&format!("exec {script} ivy"));
    let text = assert_ok(&out);
    assert!(text.contains("$ userns map --plan --user ivy"), "{text}");
    assert!(text.contains("subuid  100000"), "{text}");
    // Named explicitly, root is a user like any other, and has no ranges.
    assert_code(&s.sh(&format!("exec {script} root")), 1);
}
