//! Containers that live on (issue 15): `run -d`, `ps`, `logs`, `stop`, `kill`, `rm`,
//! `wait`, end to end as the fixture user ivy of the hermetic scenario, with a
//! busybox-static root filesystem. The container must outlive the `userns run -d`
//! process: every step is a separate `userns` run.

mod common;
mod image_support;
mod run_support;

use common::{assert_code, assert_ok, stderr, Scenario};
use run_support::setup;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
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
    assert_eq!(assert_ok(&s.run(&["ps", "-q"])), format!("{}\n", &id[..12]));
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
    // A program that cannot start: run -d says why, with run's exit code, and the
    // record keeps the error.
    let out = s.run(&["run", "-d", "--name", "bad", &root, "/no/such"]);
    assert_code(&out, 127);
    assert!(stderr(&out).contains("/no/such"), "{}", stderr(&out));
    let bad = ps(&s);
    assert_eq!(bad[0]["status"], "exited");
    assert_eq!(bad[0]["exit_code"], 127);
    assert!(bad[0]["error"].as_str().unwrap().contains("/no/such"));
    let out = s.run(&["run", "-d", "-t", &root, "true"]);
    assert_code(&out, 125);
    assert!(
        stderr(&out).contains("-d cannot be combined"),
        "{}",
        stderr(&out)
    );
}

/// The store of the fixture user (persistent: under the data dir).
fn records(s: &Scenario) -> PathBuf {
    s.home().join(".local/share/userns/records")
}

fn record_json(s: &Scenario, id: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(records(s).join(id).join("record.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn pid_alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
        !st.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[test]
fn stop_ends_a_container_that_traps_sigterm_with_its_own_code() {
    let Some((s, root)) = setup("life_stop_trap") else {
        return;
    };
    let id = detach(
        &s,
        &root,
        &["--name", "trapper"],
        "trap 'echo bye; exit 7' TERM; echo ready; while true; do sleep 0.1; done",
    );
    // Its trap is set once it said so.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !assert_ok(&s.run(&["logs", "trapper"])).contains("ready") {
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    assert_eq!(assert_ok(&s.run(&["stop", "trapper"])), "trapper\n");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stop waited for the timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(status_of(&s, &id), Some(("exited".into(), Some(7))));
    assert_eq!(assert_ok(&s.run(&["logs", "trapper"])), "ready\nbye\n");
}

#[test]
fn stop_kills_a_container_that_ignores_sigterm_after_the_timeout() {
    let Some((s, root)) = setup("life_stop_ignore") else {
        return;
    };
    // pid 1 without a handler: the kernel drops SIGTERM for a namespace's init.
    let id = detach(&s, &root, &[], "while true; do sleep 0.1; done");
    let started = Instant::now();
    assert_ok(&s.run(&["stop", "-t", "1", &id[..12]]));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1),
        "stopped before the timeout: {took:?}"
    );
    assert!(took < Duration::from_secs(8), "stop took {took:?}");
    assert_eq!(status_of(&s, &id), Some(("exited".into(), Some(137))));
    assert_ok(&s.run(&["rm", &id]));
}

#[test]
fn kill_sends_the_signal_given() {
    let Some((s, root)) = setup("life_kill") else {
        return;
    };
    let id = detach(
        &s,
        &root,
        &["--name", "k"],
        "trap 'echo usr1; exit 5' USR1; echo ready; while true; do sleep 0.1; done",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !assert_ok(&s.run(&["logs", "k"])).contains("ready") {
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(assert_ok(&s.run(&["kill", "-s", "USR1", "k"])), "k\n");
    assert_eq!(await_status(&s, &id, "exited"), Some(5));
    assert!(assert_ok(&s.run(&["logs", "k"])).contains("usr1"));
    // Not running any more: kill says so.
    let again = s.run(&["kill", "k"]);
    assert_code(&again, 1);
    assert!(
        stderr(&again).contains("is not running"),
        "{}",
        stderr(&again)
    );
    let bad = s.run(&["kill", "-s", "NOPE", "k"]);
    assert_code(&bad, 2);
}

#[test]
fn a_killed_monitor_takes_the_container_with_it_and_ps_says_so() {
    let Some((s, root)) = setup("life_monitor_killed") else {
        return;
    };
    let id = detach(&s, &root, &["--name", "orphan"], "sleep 1000");
    let rec = record_json(&s, &id);
    let monitor = rec["monitor"]["pid"].as_i64().expect("monitor pid");
    let pid1 = rec["pid1"]["pid"].as_i64().expect("pid 1");
    assert!(pid_alive(monitor) && pid_alive(pid1));
    // SAFETY: kill(2) of a pid this test just read; as root.
    unsafe {
        libc::kill(monitor as i32, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while pid_alive(pid1) {
        assert!(Instant::now() < deadline, "pid 1 outlived its monitor");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Never "running": gone, with the reason.
    let (status, code) = status_of(&s, &id).expect("still listed");
    assert_eq!((status.as_str(), code), ("gone", None));
    let listed = assert_ok(&s.run(&["ps"]));
    assert!(!listed.contains("orphan"), "{listed}");
    assert!(assert_ok(&s.run(&["ps", "-a"])).contains("Gone"));
    let wait = s.run(&["wait", "orphan"]);
    assert_code(&wait, 1);
    assert!(stderr(&wait).contains("unknown"), "{}", stderr(&wait));
    // rm cleans what the killed supervisor left: the record and its run directory.
    assert_ok(&s.run(&["rm", "orphan"]));
    assert!(!records(&s).join(&id).exists());
    let run_dir = s.scratch().join("run/userns/containers").join(&id[..12]);
    assert!(!run_dir.exists(), "{} left", run_dir.display());
}

#[test]
fn of_two_runs_with_one_name_one_wins_and_the_other_says_why() {
    let Some((s, root)) = setup("life_name_race") else {
        return;
    };
    let s = std::sync::Arc::new(s);
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (s, root) = (s.clone(), root.clone());
            std::thread::spawn(move || {
                s.run(&["run", "-d", "--name", "same", &root, "sleep", "1000"])
            })
        })
        .collect();
    let outs: Vec<_> = runs.into_iter().map(|h| h.join().unwrap()).collect();
    let won: Vec<_> = outs.iter().filter(|o| o.status.success()).collect();
    let lost: Vec<_> = outs.iter().filter(|o| !o.status.success()).collect();
    assert_eq!((won.len(), lost.len()), (1, 1), "{outs:?}");
    assert_code(lost[0], 125);
    assert!(
        stderr(lost[0]).contains("\"same\" is already in use"),
        "{}",
        stderr(lost[0])
    );
    assert_eq!(ps(&s).len(), 1);
    assert_ok(&s.run(&["rm", "-f", "same"]));
    assert!(ps(&s).is_empty());
}

#[test]
fn rm_with_detach_leaves_nothing() {
    let Some((s, root)) = setup("life_rm") else {
        return;
    };
    let id = detach(&s, &root, &["--rm"], "echo bye");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ps(&s).is_empty() {
        assert!(Instant::now() < deadline, "still listed: {:?}", ps(&s));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!records(&s).join(&id).exists());
    let names: Vec<_> = std::fs::read_dir(records(&s).join("names"))
        .unwrap()
        .collect();
    assert!(names.is_empty(), "{names:?}");
    let run_dir = s.scratch().join("run/userns/containers").join(&id[..12]);
    assert!(!run_dir.exists());
}

#[test]
fn restart_on_failure_restarts_at_most_n_times() {
    let Some((s, root)) = setup("life_restart") else {
        return;
    };
    let id = detach(
        &s,
        &root,
        &["--name", "flaky", "--restart", "on-failure:2"],
        "echo run; exit 1",
    );
    assert_eq!(assert_ok(&s.run(&["wait", "flaky"])), "1\n");
    assert_eq!(assert_ok(&s.run(&["logs", "flaky"])), "run\nrun\nrun\n");
    let c = ps(&s).into_iter().find(|c| c["id"] == id.as_str()).unwrap();
    assert_eq!(c["restarts"], 2);
    // Success is not restarted.
    detach(
        &s,
        &root,
        &["--name", "fine", "--restart", "on-failure"],
        "echo once",
    );
    assert_eq!(assert_ok(&s.run(&["wait", "fine"])), "0\n");
    assert_eq!(assert_ok(&s.run(&["logs", "fine"])), "once\n");
}

#[test]
fn containers_are_found_by_name_id_and_unique_prefix() {
    let Some((s, root)) = setup("life_lookup") else {
        return;
    };
    // 17 ids: two share their first hex digit, whatever the ids are.
    let ids: Vec<String> = (0..17).map(|_| detach(&s, &root, &[], "true")).collect();
    let first = ids
        .iter()
        .find(|id| ids.iter().filter(|o| o[..1] == id[..1]).count() > 1)
        .unwrap();
    let out = s.run(&["wait", &first[..1]]);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("is the start of") && stderr(&out).contains(&first[..12]),
        "{}",
        stderr(&out)
    );
    for id in &ids {
        assert_eq!(assert_ok(&s.run(&["wait", &id[..12]])), "0\n");
    }
    let name = ps(&s)[0]["name"].as_str().unwrap().to_string();
    assert!(
        name.contains('_'),
        "generated names are adjective_noun: {name}"
    );
    assert_eq!(assert_ok(&s.run(&["wait", &name])), "0\n");
    assert_code(&s.run(&["logs", "no-such"]), 1);
    // A foreground run with a name is recorded too, and its end stays listed.
    let out = s.run(&["run", "--name", "fg", &root, "sh", "-c", "exit 4"]);
    assert_code(&out, 4);
    assert_eq!(assert_ok(&s.run(&["wait", "fg"])), "4\n");
    // The kept namespaces' names are not containers' (`userns stop NAME` means one thing).
    let out = s.run(&["run", "-d", "--name", "containers", &root, "true"]);
    assert_code(&out, 125);
    assert!(stderr(&out).contains("kept namespace"), "{}", stderr(&out));
}

#[test]
fn state_is_private_and_another_user_can_neither_list_nor_stop() {
    let Some(s) = Scenario::new("life_private") else {
        return;
    };
    let s = s.extra_passwd("mallory:x:2100:2100::/nonexistent:/bin/sh");
    let root = run_support::rootfs(&s).display().to_string();
    let id = detach(&s, &root, &["--name", "mine"], "sleep 1000");
    for dir in [
        records(&s),
        records(&s).join(&id),
        records(&s).join("names"),
    ] {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
    }
    let file = records(&s).join(&id).join("record.json");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let pid1 = record_json(&s, &id)["pid1"]["pid"].as_i64().unwrap();
    // mallory, with ivy's HOME so that userns looks at ivy's store.
    let attack = std::process::Command::new("setpriv")
        .args([
            "--reuid=2100",
            "--regid=2100",
            "--clear-groups",
            "/bin/sh",
            "-c",
        ])
        .arg(format!(
            "\"$BIN\" ps -a; echo ps=$?; \"$BIN\" stop -t 0 mine; echo stop=$?; \
             \"$BIN\" rm -f mine; echo rm=$?; kill -9 {pid1}; echo kill=$?"
        ))
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", s.home())
        .env("BIN", s.bin())
        .current_dir("/")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&attack.stdout);
    assert!(!said.contains("mine"), "another user listed it: {said}");
    for line in ["ps=0", "stop=0", "rm=0", "kill=0"] {
        assert!(!said.contains(line), "the attack worked ({line}): {said}");
    }
    assert!(pid_alive(pid1), "another user stopped the container");
    assert_eq!(status_of(&s, &id).unwrap().0, "running");
    assert_ok(&s.run(&["rm", "-f", "mine"]));
}

#[test]
fn logs_follow_until_the_end_and_the_size_limit_keeps_the_newest() {
    let Some((s, root)) = setup("life_logs") else {
        return;
    };
    detach(
        &s,
        &root,
        &["--name", "chatty"],
        "for i in 1 2 3; do echo line$i; sleep 0.3; done; echo done >&2",
    );
    // -f returns once the container has ended, with everything it wrote.
    let followed = s.run(&["logs", "-f", "chatty"]);
    assert_eq!(assert_ok(&followed), "line1\nline2\nline3\n");
    assert_eq!(stderr(&followed), "done\n");
    assert_eq!(
        status_of(&s, ps(&s)[0]["id"].as_str().unwrap()).unwrap().0,
        "exited"
    );
    // The last 2 lines of both streams together, as podman counts them.
    let tail = s.run(&["logs", "--tail", "2", "chatty"]);
    assert_eq!(assert_ok(&tail), "line3\n");
    assert_eq!(stderr(&tail), "done\n");
    // 500 lines into a 4 KiB limit: the log stays near it and keeps the newest.
    let id = detach(
        &s,
        &root,
        &["--name", "big", "--log-size-max", "4K"],
        "i=0; while [ $i -lt 500 ]; do echo \"line $i\"; i=$((i+1)); done",
    );
    assert_eq!(assert_ok(&s.run(&["wait", "big"])), "0\n");
    let dir = records(&s).join(&id);
    let size = |f: &str| std::fs::metadata(dir.join(f)).map_or(0, |m| m.len());
    assert!(size("ctr.log.1") > 0, "never rotated");
    assert!(
        size("ctr.log") + size("ctr.log.1") <= 4096 + 200,
        "log grew past its limit"
    );
    assert_eq!(
        assert_ok(&s.run(&["logs", "--tail", "1", "big"])),
        "line 499\n"
    );
    assert!(!assert_ok(&s.run(&["logs", "big"])).contains("line 0\n"));
}

#[test]
fn restart_always_runs_again_until_stopped() {
    let Some((s, root)) = setup("life_restart_always") else {
        return;
    };
    let id = detach(
        &s,
        &root,
        &["--name", "loop", "--restart", "always"],
        "echo up; sleep 0.2",
    );
    let restarts = || {
        ps(&s).into_iter().find(|c| c["id"] == id.as_str()).unwrap()["restarts"]
            .as_u64()
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while restarts() < 2 {
        assert!(Instant::now() < deadline, "never restarted");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_ok(&s.run(&["stop", "-t", "1", "loop"]));
    let after = restarts();
    assert_eq!(status_of(&s, &id).unwrap().0, "exited");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(restarts(), after, "restarted after stop");
    assert_eq!(status_of(&s, &id).unwrap().0, "exited");
}

#[test]
fn rm_force_of_a_foreground_container_ends_its_run() {
    let Some((s, root)) = setup("life_fg_rm") else {
        return;
    };
    let child = s.spawn_sh(&format!("exec \"$USERNS\" run --name fg {root} sleep 1000"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ps(&s)
        .iter()
        .any(|c| c["name"] == "fg" && c["status"] == "running")
    {
        assert!(Instant::now() < deadline, "never listed running");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The foreground run is the monitor: stop and exec find it like a detached one.
    assert_ok(&s.run(&["rm", "-f", "fg"]));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(137), "{out:?}");
    assert!(ps(&s).is_empty(), "{:?}", ps(&s));
}

#[test]
fn stop_still_ends_kept_namespaces_and_says_when_a_name_is_both() {
    let Some((s, root)) = setup("life_stop_kept") else {
        return;
    };
    let id = detach(&s, &root, &["--name", "dev"], "sleep 1000");
    // A namespace kept later under the container's name.
    assert_ok(&s.run(&["unshare", "--name", "dev", "true"]));
    let both = s.run(&["stop", "dev"]);
    assert_code(&both, 2);
    assert!(
        stderr(&both).contains("both a container"),
        "{}",
        stderr(&both)
    );
    assert_eq!(status_of(&s, &id).unwrap().0, "running");
    assert_ok(&s.run(&["stop", "--kept", "dev"]));
    assert!(!assert_ok(&s.run(&["ls", "--json"])).contains("\"dev\""));
    // Now NAME means the container alone.
    assert_ok(&s.run(&["stop", "-t", "0", "dev"]));
    assert_eq!(status_of(&s, &id).unwrap().0, "exited");
}

#[test]
fn stop_sends_the_images_stop_signal_first() {
    let Some(scn) = Scenario::new("life_stop_signal") else {
        return;
    };
    let s = image_support::Scratch::new("life_stop_signal");
    let mut entries = vec![
        serde_json::json!({"path": "bin/", "type": "dir"}),
        serde_json::json!({"path": "bin/busybox", "file": "/bin/busybox", "mode": 0o755}),
    ];
    for applet in ["sh", "sleep", "echo"] {
        entries.push(
            serde_json::json!({"path": format!("bin/{applet}"), "type": "symlink", "target": "busybox"}),
        );
    }
    let layer = s.layer("bb", serde_json::Value::Array(entries));
    let config = serde_json::json!({"config": {
        "Env": ["PATH=/bin"],
        "StopSignal": "SIGUSR1",
        "Cmd": ["sh", "-c", "trap 'exit 9' USR1; trap 'exit 1' TERM; echo ready; while true; do sleep 0.1; done"],
    }});
    let archive_src = s.docker_archive("img", config, &[&layer]);
    let archive = scn.scratch().join("img.tar");
    std::fs::copy(&archive_src, &archive).unwrap();
    let out = scn.run(&["run", "-d", "--name", "usr1", archive.to_str().unwrap()]);
    let id = assert_ok(&out).trim().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !assert_ok(&scn.run(&["logs", "usr1"])).contains("ready") {
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_ok(&scn.run(&["stop", "usr1"]));
    // 9: the image's SIGUSR1, not SIGTERM (1) nor SIGKILL (137).
    assert_eq!(status_of(&scn, &id), Some(("exited".into(), Some(9))));
}
