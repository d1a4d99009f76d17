//! Kept namespaces end to end, in the hermetic rootless scenario with the real kernel and
//! the real setuid helpers: `unshare --name` creates and joins, `enter` joins (NAME, PID,
//! podman), `stop` ends, stale records and stale maps are detected.

mod common;

use common::{assert_code, assert_ok, describe, ns_and_map, stderr, Scenario, SHOW};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

const MAP: &str = "0:2000:1,1:200000:65536";

/// Stops every kept namespace of the scenario when the test ends, pass or fail, so that
/// no pause process outlives its test.
struct StopAll<'a>(&'a Scenario);

impl Drop for StopAll<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["stop", "--all"]);
    }
}

fn record(s: &Scenario, name: &str) -> serde_json::Value {
    let path = s.scratch().join(format!("run/userns/{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("record is JSON")
}

fn pause_pid(s: &Scenario, name: &str) -> i32 {
    record(s, name)["pid"].as_i64().expect("pid in record") as i32
}

/// A process that exited may stay a zombie until its new parent reaps it.
fn wait_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next());
        if stat.is_empty() || state == Some("Z") {
            return;
        }
        assert!(Instant::now() < deadline, "pause process {pid} still alive");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ls_json(s: &Scenario) -> Vec<serde_json::Value> {
    let out = assert_ok(&s.run(&["ls", "--json"]));
    serde_json::from_str::<serde_json::Value>(&out)
        .expect("ls --json is JSON")
        .as_array()
        .expect("an array")
        .clone()
}

#[test]
fn create_join_list_stop() {
    let Some(s) = Scenario::new("keep_create_join_list_stop") else {
        return;
    };
    let _stop = StopAll(&s);
    let created = ns_and_map(&s.run(&["unshare", "--name", "dev", "sh", "-c", SHOW]));
    assert_eq!(created.1, MAP);
    let pid = pause_pid(&s, "dev");
    // The pause process holds the namespace after the command ended, as the test (root)
    // sees it in /proc.
    let host_ino = std::fs::metadata(format!("/proc/{pid}/ns/user"))
        .unwrap()
        .ino();
    assert_eq!(created.0, format!("user:[{host_ino}]"));
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "userns-pause");
    let fd0 = std::fs::read_link(format!("/proc/{pid}/fd/0")).unwrap();
    assert_eq!(fd0, std::path::Path::new("/dev/null"));
    assert_eq!(
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count(),
        3
    );

    let entered = ns_and_map(&s.run(&["enter", "dev", "sh", "-c", SHOW]));
    assert_eq!(entered, created);
    let rejoined = ns_and_map(&s.run(&["unshare", "--name", "dev", "sh", "-c", SHOW]));
    assert_eq!(rejoined, created);
    assert_eq!(
        pause_pid(&s, "dev"),
        pid,
        "joining must not make a new pause process"
    );

    let listed = ls_json(&s);
    let dev = listed
        .iter()
        .find(|n| n["name"] == "dev")
        .unwrap_or_else(|| panic!("dev not in ls --json: {listed:?}"));
    assert_eq!(dev["id"].as_u64(), Some(host_ino));
    assert_eq!(dev["owner_uid"].as_u64(), Some(2000));
    let host_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    let host_map: Vec<String> = host_map
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(":"))
        .collect();
    // A map in JSON: {"kind", "entries": [{"inside", "outside", "count"}]}.
    let listed_map: Vec<String> = dev["uid_map"]["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("uid_map is not a map: {dev}"))
        .iter()
        .map(|e| format!("{}:{}:{}", e["inside"], e["outside"], e["count"]))
        .collect();
    assert_eq!(listed_map, host_map);
    assert_eq!(dev["stale_map"], serde_json::Value::Null);
    // Its only process is the pause process, shown as such rather than by the command
    // line of the `unshare --name` that forked it.
    assert_eq!(dev["pid"].as_i64(), Some(pid as i64));
    assert_eq!(dev["command"], "userns pause process of dev");

    let out = s.run(&["stop", "dev"]);
    assert_ok(&out);
    wait_gone(pid);
    assert!(!s.scratch().join("run/userns/dev.json").exists());
    let out = s.run(&["enter", "dev", "true"]);
    assert_code(&out, 125);
    assert!(
        stderr(&out).contains("no kept namespace named \"dev\""),
        "{}",
        describe(&out)
    );
    let out = s.run(&["stop", "dev"]);
    assert_code(&out, 1);
}

#[test]
fn racing_creators_end_in_one_namespace() {
    let Some(s) = Scenario::new("keep_racing_creators") else {
        return;
    };
    let _stop = StopAll(&s);
    let out = s.sh(
        "for i in 1 2 3 4; do \"$USERNS\" unshare --name race readlink /proc/self/ns/user & done; wait",
    );
    let text = assert_ok(&out);
    let seen: std::collections::BTreeSet<&str> = text.lines().collect();
    assert_eq!(text.lines().count(), 4, "{}", describe(&out));
    assert_eq!(
        seen.len(),
        1,
        "racers saw different namespaces\n{}",
        describe(&out)
    );
    let pid = pause_pid(&s, "race");
    let host_ino = std::fs::metadata(format!("/proc/{pid}/ns/user"))
        .unwrap()
        .ino();
    assert_eq!(
        seen.first().copied(),
        Some(format!("user:[{host_ino}]").as_str())
    );
    // Exactly one pause process was made for the name.
    let pauses = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "userns-pause")
                && e.metadata().is_ok_and(|m| m.uid() == 2000)
                && std::fs::metadata(e.path().join("ns/user")).is_ok_and(|m| m.ino() == host_ino)
        })
        .count();
    assert_eq!(pauses, 1);
}

#[test]
fn stale_record_is_detected_and_replaced() {
    let Some(s) = Scenario::new("keep_stale_record") else {
        return;
    };
    let _stop = StopAll(&s);
    let (old, _) = ns_and_map(&s.run(&["unshare", "--name", "dev", "sh", "-c", SHOW]));
    let pid = pause_pid(&s, "dev");
    // SAFETY: kill(2) of the test's own fixture process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    wait_gone(pid);
    let out = s.run(&["enter", "dev", "true"]);
    assert_code(&out, 125);
    assert!(
        stderr(&out).contains("kept namespace dev is gone"),
        "{}",
        describe(&out)
    );
    let ls = ls_json(&s);
    assert!(
        ls.iter().all(|n| n["name"] != "dev"),
        "a dead namespace is listed: {ls:?}"
    );

    let out = s.run(&["unshare", "--name", "dev", "sh", "-c", SHOW]);
    let (new, map) = ns_and_map(&out);
    assert_ne!(new, old);
    assert_eq!(map, MAP);
    assert!(
        stderr(&out).contains("replacing the stale record of dev"),
        "{}",
        describe(&out)
    );
    assert_ne!(pause_pid(&s, "dev"), pid);
    let (entered, _) = ns_and_map(&s.run(&["enter", "dev", "sh", "-c", SHOW]));
    assert_eq!(entered, new);
}

#[test]
fn stale_map_is_flagged_with_the_fix() {
    let Some(s) = Scenario::new("keep_stale_map") else {
        return;
    };
    let _stop = StopAll(&s);
    assert_ok(&s.run(&["unshare", "--name", "dev", "true"]));
    // The administrator moves ivy's range after the namespace was made.
    std::fs::write(s.etc().join("subuid"), "ivy:300000:65536\n").unwrap();
    std::fs::write(s.etc().join("subgid"), "ivy:400000:65536\n").unwrap();
    let out = s.run(&["enter", "dev", "cat", "/proc/self/uid_map"]);
    assert_ok(&out);
    let err = stderr(&out);
    assert!(
        err.contains("stale maps") && err.contains("userns stop dev"),
        "{}",
        describe(&out)
    );
    // Both maps are named, each with what it would be now.
    assert!(
        err.contains("uid_map is") && err.contains("1:300000:65536"),
        "{}",
        describe(&out)
    );
    assert!(
        err.contains("gid_map is") && err.contains("1:400000:65536"),
        "{}",
        describe(&out)
    );
    let out = s.run(&["unshare", "--name", "dev", "true"]);
    assert!(stderr(&out).contains("stale maps"), "{}", describe(&out));
    let ls = ls_json(&s);
    let dev = ls.iter().find(|n| n["name"] == "dev").expect("dev listed");
    assert!(dev["stale_map"]
        .as_str()
        .is_some_and(|w| w.contains("userns stop dev")));
    let table = s.run(&["ls"]);
    assert!(
        common::stdout(&table).contains("dev (stale map)"),
        "{}",
        describe(&table)
    );
    // After stop and a fresh start the map follows the new file.
    assert_ok(&s.run(&["stop", "dev"]));
    let out = s.run(&["unshare", "--name", "dev", "cat", "/proc/self/uid_map"]);
    assert!(assert_ok(&out).contains("300000"), "{}", describe(&out));
    assert!(!stderr(&out).contains("stale"), "{}", describe(&out));
}

#[test]
fn enter_exit_codes_follow_podman() {
    let Some(s) = Scenario::new("keep_enter_exit_codes") else {
        return;
    };
    let _stop = StopAll(&s);
    assert_ok(&s.run(&["unshare", "--name", "dev", "true"]));
    assert_code(&s.run(&["enter", "dev", "sh", "-c", "exit 7"]), 7);
    assert_code(&s.run(&["enter", "dev", "no-such-command"]), 127);
    assert_code(&s.run(&["enter", "dev", "/etc/passwd"]), 126);
    // In place, the program's own death by signal is what the caller sees.
    let killed = s.run(&["enter", "dev", "sh", "-c", "kill -9 $$"]);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&killed.status),
        Some(9),
        "{}",
        describe(&killed)
    );
    assert_code(&s.run(&["enter", "dev", "--bogus"]), 125);
    let out = s.run(&[
        "enter",
        "dev",
        "-w",
        "/",
        "sh",
        "-c",
        "pwd; id -u; echo $_CONTAINERS_USERNS_CONFIGURED",
    ]);
    assert_eq!(assert_ok(&out), "/\n0\ndone\n");
}

#[test]
fn kept_pid_namespace_has_the_pause_process_as_pid_1() {
    let Some(s) = Scenario::new("keep_pid_namespace") else {
        return;
    };
    let _stop = StopAll(&s);
    let out = s.run(&[
        "unshare",
        "--pid",
        "--mount-proc",
        "--name",
        "p",
        "sh",
        "-c",
        "cat /proc/1/comm; echo $$",
    ]);
    assert_eq!(assert_ok(&out), "userns-pause\n3\n");
    // A joiner forks into the pid namespace, under a supervisor: 128+N for signal N.
    let out = s.run(&[
        "enter",
        "--all",
        "p",
        "sh",
        "-c",
        "cat /proc/1/comm; kill -9 $$",
    ]);
    assert_code(&out, 137);
    assert_eq!(common::stdout(&out), "userns-pause\n");
    let out = s.run(&["unshare", "--name", "p", "sh", "-c", "exit 3"]);
    assert_code(&out, 3);
}

#[test]
fn enter_refuses_a_process_of_another_user_and_a_gone_pid() {
    let Some(s) = Scenario::new("keep_enter_foreign_pid") else {
        return;
    };
    let out = s.run(&["enter", "1", "true"]);
    assert_code(&out, 125);
    assert!(stderr(&out).contains("not yours"), "{}", describe(&out));
    let out = s.run(&["enter", "2147483647", "true"]);
    assert_code(&out, 125);
    assert!(stderr(&out).contains("no process"), "{}", describe(&out));
}

#[test]
fn enter_pid_joins_a_plain_unshare() {
    let Some(s) = Scenario::new("keep_enter_pid") else {
        return;
    };
    let out = s.sh(
        "\"$USERNS\" unshare --mount sh -c 'mount -t tmpfs t /mnt; touch /mnt/here; exec sleep 30' & \
         p=$!; sleep 0.5; \
         \"$USERNS\" enter --mount $p sh -c 'readlink /proc/self/ns/user; ls /mnt'; \
         readlink /proc/$p/ns/user; kill $p",
    );
    let text = assert_ok(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{}", describe(&out));
    assert_eq!(lines[0], lines[2]);
    assert_eq!(lines[1], "here");
}

#[test]
fn enter_podman_lands_where_podman_unshare_does() {
    let Some(s) = Scenario::new("keep_enter_podman") else {
        return;
    };
    if std::process::Command::new("podman")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(std::env::var_os("CI").is_none(), "podman is missing in CI");
        eprintln!("keep_enter_podman: skipped: podman is not installed");
        return;
    }
    let out = s.run(&["enter", "podman", "true"]);
    assert_code(&out, 125);
    assert!(
        stderr(&out).contains("podman unshare true"),
        "{}",
        describe(&out)
    );
    let podman = ns_and_map(&s.sh(&format!("podman unshare sh -c '{SHOW}'")));
    let pid_file = s.scratch().join("run/libpod/tmp/pause.pid");
    let pause: i32 = std::fs::read_to_string(&pid_file)
        .unwrap_or_else(|e| panic!("{}: {e}", pid_file.display()))
        .trim()
        .parse()
        .unwrap();
    let ours = ns_and_map(&s.run(&["enter", "podman", "sh", "-c", SHOW]));
    let mnt = assert_ok(&s.sh(
        "podman unshare readlink /proc/self/ns/mnt; \"$USERNS\" enter podman readlink /proc/self/ns/mnt",
    ));
    // SAFETY: kill(2) of the scenario's podman pause process.
    unsafe { libc::kill(pause, libc::SIGKILL) };
    assert_eq!(ours, podman);
    assert_eq!(podman.1, MAP);
    let mnt: Vec<&str> = mnt.lines().collect();
    assert_eq!(mnt.len(), 2);
    assert_eq!(
        mnt[0], mnt[1],
        "enter podman must join podman's mount namespace too"
    );
}
