//! `userns doctor` end to end: each failing condition is produced for real in the hermetic
//! scenario (tests/common), and the checklist must name it with its fix.

mod common;

use common::{assert_code, assert_ok, stdout, Scenario};
use serde_json::Value;

/// Run `doctor --json` and return (exit code, checks by name).
fn doctor(s: &Scenario, extra: &str) -> (i32, Vec<Value>) {
    let out = s.sh(&format!("$USERNS doctor --json {extra}"));
    let code = out.status.code().expect("doctor exits");
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "doctor --json is not JSON ({e}):\n{}",
            common::describe(&out)
        )
    });
    (code, report["checks"].as_array().unwrap().clone())
}

fn check<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {checks:#?}"))
}

fn status(checks: &[Value], name: &str) -> String {
    check(checks, name)["status"].as_str().unwrap().to_string()
}

#[test]
fn healthy_setup_passes_with_the_live_test() {
    let Some(s) = Scenario::new("doctor_healthy") else {
        return;
    };
    let (code, checks) = doctor(&s, "");
    assert_eq!(code, 0, "{checks:#?}");
    for name in [
        "kernel",
        "newuidmap",
        "newgidmap",
        "NoNewPrivs",
        "subuid",
        "subgid",
        "live test",
    ] {
        assert_eq!(status(&checks, name), "pass", "{name}: {checks:#?}");
    }
    assert!(check(&checks, "live test")["evidence"]
        .as_str()
        .unwrap()
        .contains("planned maps"));
    assert!(check(&checks, "subid source")["evidence"]
        .as_str()
        .unwrap()
        .contains("/etc/subuid"));
    // The text form: one line a check and a summary line.
    let text = assert_ok(&s.run(&["doctor", "--no-live"]));
    assert!(
        text.lines().any(|l| l.starts_with("pass  newuidmap")),
        "{text}"
    );
    assert!(text.trim_end().ends_with("0 failed"), "{text}");
}

#[test]
fn missing_subuid_entry_fails_with_the_usermod_fix() {
    let Some(s) = Scenario::new("doctor_no_subuid").map(|s| s.subuid("bob:100000:65536\n")) else {
        return;
    };
    let (code, checks) = doctor(&s, "");
    assert_eq!(code, 1);
    assert_eq!(status(&checks, "subuid"), "fail");
    assert!(check(&checks, "subuid")["fix"]
        .as_str()
        .unwrap()
        .contains("usermod --add-subuids"));
    assert_eq!(status(&checks, "live test"), "fail");
}

#[test]
fn non_setuid_helper_and_nosuid_mount_are_named() {
    let Some(s) = Scenario::new("doctor_helpers").map(|s| {
        s.root_setup(
            "cp /usr/bin/newuidmap \"$SCRATCH/newuidmap\" && chmod 755 \"$SCRATCH/newuidmap\" && \
             mount --bind \"$SCRATCH/newuidmap\" /usr/bin/newuidmap && \
             mount --bind /usr/bin/newgidmap /usr/bin/newgidmap && \
             mount -o remount,bind,nosuid /usr/bin/newgidmap",
        )
    }) else {
        return;
    };
    let (code, checks) = doctor(&s, "--no-live");
    assert_eq!(code, 1);
    assert_eq!(status(&checks, "newuidmap"), "fail");
    assert!(check(&checks, "newuidmap")["evidence"]
        .as_str()
        .unwrap()
        .contains("neither setuid root nor has file capabilities"));
    assert_eq!(status(&checks, "newgidmap"), "fail");
    assert!(check(&checks, "newgidmap")["evidence"]
        .as_str()
        .unwrap()
        .contains("nosuid"));
}

#[test]
fn no_new_privs_fails() {
    let Some(s) = Scenario::new("doctor_nnp").map(|s| s.no_new_privs()) else {
        return;
    };
    let (code, checks) = doctor(&s, "");
    assert_eq!(code, 1);
    assert_eq!(status(&checks, "NoNewPrivs"), "fail");
    assert_eq!(status(&checks, "live test"), "fail");
}

#[test]
fn disabled_user_namespaces_fail() {
    let Some(s) = Scenario::new("doctor_max_userns_zero") else {
        return;
    };
    let out = s.sh(
        "$USERNS unshare --single sh -c 'echo 0 > /proc/sys/user/max_user_namespaces && \
         exec $USERNS doctor --json --no-live'",
    );
    assert_code(&out, 1);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(status(checks, "user.max_user_namespaces"), "fail");
    assert!(check(checks, "user.max_user_namespaces")["fix"]
        .as_str()
        .unwrap()
        .contains("sysctl -w user.max_user_namespaces="));
}

#[test]
fn enclosing_namespace_without_the_subids_fails() {
    let Some(s) = Scenario::new("doctor_enclosing") else {
        return;
    };
    let out = s.sh("$USERNS unshare --map-users 1:200000:1000 --map-user 2000 \
         --map-groups 1:200000:1000 --map-group 2000 $USERNS doctor --json --no-live");
    assert_code(&out, 1);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(status(checks, "enclosing uid_map"), "fail");
    assert!(check(checks, "enclosing uid_map")["evidence"]
        .as_str()
        .unwrap()
        .contains("200000-265535 not mapped here"));
}

#[test]
fn runtime_dir_and_stale_storage_are_flagged() {
    let Some(s) = Scenario::new("doctor_runtime_storage") else {
        return;
    };
    // Storage made under the default map: a file owned by container uid 1000 (200999).
    let graph = s.home().join(".local/share/containers/storage/overlay");
    assert_ok(&s.sh(&format!(
        "mkdir -p {g} && $USERNS unshare sh -c 'touch {g}/f && chown 1000:1000 {g}/f'",
        g = graph.display()
    )));
    let (_, checks) = doctor(&s, "--no-live");
    assert_eq!(status(&checks, "container storage"), "pass", "{checks:#?}");
    assert_eq!(status(&checks, "XDG_RUNTIME_DIR"), "pass");
    // Then the administrator moves ivy's ranges: the old files are outside the new map.
    std::fs::write(s.etc().join("subuid"), "ivy:300000:65536\n").unwrap();
    let (_, checks) = doctor(&s, "--no-live");
    assert_eq!(status(&checks, "container storage"), "warn", "{checks:#?}");
    assert!(check(&checks, "container storage")["evidence"]
        .as_str()
        .unwrap()
        .contains("uid 200999"));
    let (_, checks) = doctor(&s.env("XDG_RUNTIME_DIR", "/nonexistent/run"), "--no-live");
    assert_eq!(status(&checks, "XDG_RUNTIME_DIR"), "fail");
}

#[test]
fn a_kept_namespace_with_a_stale_map_is_flagged_with_its_stop() {
    let Some(s) = Scenario::new("doctor_kept_stale") else {
        return;
    };
    assert_ok(&s.run(&["unshare", "--name", "dev", "true"]));
    let (_, checks) = doctor(&s, "--no-live");
    assert_eq!(status(&checks, "kept namespaces"), "pass");
    assert_eq!(
        check(&checks, "kept namespaces")["evidence"],
        "dev: maps current"
    );
    // The administrator moves the user's range: the kept map is stale now.
    std::fs::write(s.etc().join("subuid"), "ivy:300000:65536\n").unwrap();
    let (_, checks) = doctor(&s, "--no-live");
    let kept = check(&checks, "kept namespaces");
    assert_eq!(kept["status"], "warn", "{kept}");
    let evidence = kept["evidence"].as_str().unwrap();
    assert!(
        evidence.starts_with("dev: /etc/subuid changed") && evidence.contains("1:300000:65536"),
        "{kept}"
    );
    assert!(
        kept["fix"].as_str().unwrap().starts_with("userns stop dev"),
        "{kept}"
    );
    assert_ok(&s.run(&["stop", "dev"]));
    let (_, checks) = doctor(&s, "--no-live");
    assert_eq!(check(&checks, "kept namespaces")["evidence"], "none");
}
