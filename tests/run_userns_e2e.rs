//! `userns run --userns MODE` end to end, in the hermetic rootless scenario (tests/common):
//! containers share the user namespace userns keeps as `containers` (made once, with the
//! real newuidmap/newgidmap, then joined), `private` makes one per container, racing first
//! runs end in one kept namespace, a stale map is replaced, `shared:NAME` joins a
//! namespace of `userns unshare --name`.

mod common;
mod run_support;

use common::{assert_code, assert_ok, describe, ns_and_map, stderr, Scenario, SHOW};
use run_support::{run_sh, setup};
use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

/// "user:[4026532123]" -> 4026532123.
fn inode(ns: &str) -> u64 {
    ns.strip_prefix("user:[")
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a user namespace link: {ns:?}"))
}

fn record(s: &Scenario, name: &str) -> Option<serde_json::Value> {
    let path = s.scratch().join(format!("run/userns/{name}.json"));
    let text = std::fs::read_to_string(path).ok()?;
    Some(serde_json::from_str(&text).expect("a record is JSON"))
}

/// The pid and start time of NAME's pause process, from its record.
fn pause_of(s: &Scenario, name: &str) -> (i64, u64) {
    let rec = record(s, name).unwrap_or_else(|| panic!("no record of {name}"));
    (
        rec["pid"].as_i64().expect("pid"),
        rec["start_time"].as_u64().expect("start_time"),
    )
}

/// The id `userns ls --json` gives the kept namespace NAME.
fn listed_id(s: &Scenario, name: &str) -> u64 {
    let out = assert_ok(&s.run(&["ls", "--json"]));
    let list: serde_json::Value = serde_json::from_str(&out).expect("ls --json is JSON");
    list.as_array()
        .expect("an array")
        .iter()
        .find(|n| n["name"] == name)
        .and_then(|n| n["id"].as_u64())
        .unwrap_or_else(|| panic!("{name} not in ls --json: {out}"))
}

/// The live pause processes of this scenario (they carry its XDG_RUNTIME_DIR).
fn live_pauses(s: &Scenario) -> Vec<i32> {
    let marker = format!("XDG_RUNTIME_DIR={}", s.scratch().join("run").display());
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let live_pause = stat.contains("(userns-pause) ") && !stat.contains(") Z ");
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        if live_pause && environ.split(|&b| b == 0).any(|v| v == marker.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

/// A process that exited may stay a zombie until its new parent reaps it.
fn wait_gone(pid: i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.is_empty() || stat.rsplit(')').next().unwrap_or("").starts_with(" Z") {
            return;
        }
        assert!(Instant::now() < deadline, "pause process {pid} still alive");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops every kept namespace of the scenario when the test ends, pass or fail (the
/// Scenario's Drop would SIGKILL them too; this is the user's way).
struct StopAll<'a>(&'a Scenario);

impl Drop for StopAll<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["stop", "--all"]);
    }
}

#[test]
fn containers_share_the_kept_user_namespace_and_private_ones_do_not() {
    let Some((s, root)) = setup("run_userns_shared") else {
        return;
    };
    let _stop = StopAll(&s);
    let first = ns_and_map(&run_sh(&s, &root, &[], SHOW));
    assert_eq!(first.1, "0:2000:1,1:200000:65536");
    let pause = pause_of(&s, "containers");
    let second = ns_and_map(&run_sh(&s, &root, &["--userns", "shared"], SHOW));
    assert_eq!(second, first, "the second run is in another user namespace");
    assert_eq!(
        pause_of(&s, "containers"),
        pause,
        "joining made a new pause process"
    );
    assert_eq!(live_pauses(&s).len(), 1);
    assert_eq!(listed_id(&s, "containers"), inode(&first.0));
    let rec = record(&s, "containers").unwrap();
    // A user and a mount namespace, as podman's pause process holds (podman inside
    // `userns enter containers` mounts there).
    assert_eq!(rec["namespaces"], serde_json::json!(["user", "mnt"]));

    // `userns enter containers` lands in the containers' user namespace (podman unshare).
    let entered = ns_and_map(&s.run(&["enter", "containers", "sh", "-c", SHOW]));
    assert_eq!(entered, first);

    let private = ns_and_map(&run_sh(&s, &root, &["--userns", "private"], SHOW));
    assert_ne!(
        private.0, first.0,
        "a private run joined the kept namespace"
    );
    assert_eq!(private.1, first.1, "a private run is mapped the same way");
    // The container's other namespaces are its own even when the user namespace is shared.
    let out = assert_ok(&run_sh(
        &s,
        &root,
        &["--hostname", "box"],
        "hostname; readlink /proc/self/ns/pid; readlink /proc/self/ns/net",
    ));
    let host_pid = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "box", "{out}");
    assert_ne!(Some(lines[1]), host_pid.to_str(), "{out}");
    assert_ne!(Some(lines[2]), host_net.to_str(), "{out}");
}

#[test]
fn stop_containers_then_a_run_makes_it_again() {
    let Some((s, root)) = setup("run_userns_stop") else {
        return;
    };
    let _stop = StopAll(&s);
    assert_ok(&run_sh(&s, &root, &[], "true"));
    let (pid, start) = pause_of(&s, "containers");
    let out = s.run(&["stop", "containers"]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("stopped containers"),
        "{}",
        describe(&out)
    );
    wait_gone(pid);
    assert!(record(&s, "containers").is_none());
    let again = ns_and_map(&run_sh(&s, &root, &[], SHOW));
    assert_eq!(again.1, "0:2000:1,1:200000:65536");
    assert_ne!(
        pause_of(&s, "containers"),
        (pid, start),
        "the record names the stopped pause process"
    );
    assert_eq!(listed_id(&s, "containers"), inode(&again.0));
    // A pause process killed behind userns's back leaves a stale record: replaced quietly.
    let (pid, _) = pause_of(&s, "containers");
    // SAFETY: kill(2) on the scenario's pause process, read from its record.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    wait_gone(pid);
    let out = run_sh(&s, &root, &[], SHOW);
    let after = ns_and_map(&out);
    assert_eq!(listed_id(&s, "containers"), inode(&after.0));
    assert_ne!(pause_of(&s, "containers").0, pid);
    assert_eq!(live_pauses(&s).len(), 1);
}

#[test]
fn first_runs_at_once_end_in_one_kept_namespace() {
    let Some((s, root)) = setup("run_userns_race") else {
        return;
    };
    let _stop = StopAll(&s);
    // Four runs started together, none kept yet: the name's lock must leave one creator.
    let out = s.sh(&format!(
        "pids=; for i in 1 2 3 4; do \"$USERNS\" run {root} readlink /proc/self/ns/user & \
         pids=\"$pids $!\"; done; rc=0; for p in $pids; do wait $p || rc=1; done; exit $rc"
    ));
    let text = assert_ok(&out);
    let namespaces: Vec<&str> = text.lines().collect();
    assert_eq!(namespaces.len(), 4, "{}", describe(&out));
    assert!(
        namespaces.iter().all(|n| *n == namespaces[0]),
        "the runs ended in different user namespaces: {namespaces:?}"
    );
    assert_eq!(listed_id(&s, "containers"), inode(namespaces[0]));
    let pauses = live_pauses(&s);
    assert_eq!(pauses.len(), 1, "pause processes: {pauses:?}");
    assert_eq!(pauses[0] as i64, pause_of(&s, "containers").0);
    let records: Vec<String> = std::fs::read_dir(s.scratch().join("run/userns"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(records, ["containers.json"]);
}

#[test]
fn a_stale_map_is_replaced_with_a_warning_and_running_containers_keep_theirs() {
    let Some((s, root)) = setup("run_userns_stale_map") else {
        return;
    };
    let _stop = StopAll(&s);
    // A container that runs across the change, in the old namespace.
    let mut old = s.spawn_sh(&format!(
        "exec \"$USERNS\" run -i {root} sh -c 'readlink /proc/self/ns/user; echo ready; read x'"
    ));
    let mut lines = BufReader::new(old.stdout.take().unwrap()).lines();
    let old_ns = lines.next().expect("a line").expect("read");
    assert_eq!(lines.next().expect("a line").expect("read"), "ready");
    let (old_pause, _) = pause_of(&s, "containers");

    for file in ["subuid", "subgid"] {
        std::fs::write(s.etc().join(file), "ivy:200000:65536\nivy:300000:65536\n").unwrap();
    }
    let out = run_sh(&s, &root, &[], SHOW);
    let err = stderr(&out);
    assert!(
        err.contains("kept namespace containers has stale maps")
            && err.contains("/etc/subuid and /etc/subgid changed")
            && err.contains("replacing it"),
        "{}",
        describe(&out)
    );
    let fresh = ns_and_map(&out);
    assert_eq!(fresh.1, "0:2000:1,1:200000:65536,65537:300000:65536");
    assert_ne!(fresh.0, old_ns);
    wait_gone(old_pause);
    assert_eq!(listed_id(&s, "containers"), inode(&fresh.0));

    // The old container still runs in the old namespace, held by its own processes.
    assert!(old.try_wait().unwrap().is_none(), "the old container died");
    let old_pid1 = std::fs::read_to_string(format!("/proc/{}/task/{0}/children", old.id()))
        .unwrap_or_default();
    assert!(
        !old_pid1.trim().is_empty(),
        "the old container has no pid 1"
    );
    old.stdin.take().unwrap().write_all(b"done\n").unwrap();
    let status = old.wait().unwrap();
    assert!(status.success(), "the old container ended with {status}");

    // Warned once: the next run joins the fresh namespace quietly.
    let out = run_sh(&s, &root, &[], SHOW);
    assert!(!stderr(&out).contains("stale"), "{}", describe(&out));
    assert_eq!(ns_and_map(&out), fresh);
}

#[test]
fn shared_name_joins_only_the_user_namespace_of_a_kept_namespace() {
    let Some((s, root)) = setup("run_userns_shared_name") else {
        return;
    };
    let _stop = StopAll(&s);
    assert_ok(&s.run(&["unshare", "--name", "dev", "--uts", "true"]));
    let (pid, _) = pause_of(&s, "dev");
    let dev_user = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
    let dev_uts = std::fs::read_link(format!("/proc/{pid}/ns/uts")).unwrap();
    let out = assert_ok(&run_sh(
        &s,
        &root,
        &["--userns", "shared:dev"],
        "readlink /proc/self/ns/user; readlink /proc/self/ns/uts",
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(Some(lines[0]), dev_user.to_str(), "{out}");
    assert_ne!(Some(lines[1]), dev_uts.to_str(), "{out}");
    assert!(
        record(&s, "containers").is_none(),
        "shared:dev made the containers namespace"
    );
    assert_eq!(live_pauses(&s).len(), 1);
    // Unlike `containers`, a name of its own is not made on first use (as podman's
    // `--userns ns:PATH` needs a namespace that exists): a misspelt name is an error, not
    // a new namespace that shares nothing with the one meant.
    let out = run_sh(&s, &root, &["--userns", "shared:build"], SHOW);
    assert_code(&out, 125);
    assert!(
        stderr(&out).contains("no kept namespace named \"build\""),
        "{}",
        describe(&out)
    );
    assert!(record(&s, "build").is_none());
}

#[test]
fn a_bad_userns_mode_is_a_usage_error_naming_the_forms() {
    let Some((s, root)) = setup("run_userns_bad_mode") else {
        return;
    };
    let out = s.run(&["run", "--userns", "host", &root, "true"]);
    assert_code(&out, 125);
    let err = stderr(&out);
    for form in ["shared", "shared:NAME", "private"] {
        assert!(err.contains(form), "{}", describe(&out));
    }
    let out = s.run(&["run", "--userns", "shared:../x", &root, "true"]);
    assert_code(&out, 125);
    assert!(
        stderr(&out).contains("invalid namespace name") && stderr(&out).contains("fix:"),
        "{}",
        describe(&out)
    );
    assert!(live_pauses(&s).is_empty());
    assert!(record(&s, "containers").is_none());
}
