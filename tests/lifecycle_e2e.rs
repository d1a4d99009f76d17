//! Containers that live on (issue 15): `run -d`, `ps`, `logs`, `stop`, `kill`, `rm`,
//! `wait`, end to end as the fixture user ivy of the hermetic scenario, with a
//! busybox-static root filesystem. The container must outlive the `userns run -d`
//! process: every step is a separate `userns` run.

mod common;
mod run_support;

use common::{assert_code, assert_ok, stderr, stdout, Scenario};
use run_support::setup;
use std::time::{Duration, Instant};

/// `userns run -d ARGS... ROOTFS sh -c SCRIPT`: the id it printed.
fn detach(s: &Scenario, root: &str, args: &[&str], script: &str) -> String {
    let mut argv = vec!["run", "-d"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&[root, "sh", "-c", script]);
    let id = assert_ok(&s.run(&argv)).trim().to_string();
    assert_eq!(id.len(), 64, "not an id: {id:?}");
    id
}

/// `ps -a --json` as values.
fn ps(s: &Scenario) -> Vec<serde_json::Value> {
    let out = assert_ok(&s.run(&["ps", "-a", "--json"]));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("ps --json: {e}: {out}"))
}

fn status_of(s: &Scenario, id: &str) -> Option<(String, Option<u64>)> {
    ps(s).into_iter().find(|c| c["id"] == id).map(|c| {
        (
            c["status"].as_str().unwrap_or_default().to_string(),
            c["exit_code"].as_u64(),
        )
    })
}

/// Wait until `ps` shows container `id` with `status`, at most 20 s.
fn await_status(s: &Scenario, id: &str, status: &str) -> Option<u64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = status_of(s, id);
        if now.as_ref().is_some_and(|(st, _)| st == status) {
            return now.and_then(|(_, code)| code);
        }
        assert!(
            Instant::now() < deadline,
            "container {id} never became {status}: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn detached_container_is_listed_running_then_exited_with_its_code() {
    let Some((s, root)) = setup("life_detach") else {
        return;
    };
    let id = detach(
        &s,
        &root,
        &["--name", "web"],
        "echo out; echo err >&2; sleep 1; exit 3",
    );
    // The run -d process has returned: the container lives on under its monitor.
    let listed = assert_ok(&s.run(&["ps"]));
    assert!(
        listed.contains(&id[..12]) && listed.contains("web"),
        "{listed}"
    );
    assert!(listed.contains("Up "), "{listed}");
    assert_eq!(await_status(&s, &id, "exited"), Some(3));
    let listed = assert_ok(&s.run(&["ps"]));
    assert!(
        !listed.contains(&id[..12]),
        "ps without -a lists it: {listed}"
    );
    let all = assert_ok(&s.run(&["ps", "-a"]));
    assert!(all.contains("Exited (3)"), "{all}");
    // Both streams, each to its own.
    let logs = s.run(&["logs", "web"]);
    assert_eq!(assert_ok(&logs), "out\n");
    assert_eq!(stderr(&logs), "err\n");
    assert_eq!(assert_ok(&s.run(&["wait", &id[..8]])), "3\n");
    assert_ok(&s.run(&["rm", "web"]));
    assert!(ps(&s).is_empty());
}
