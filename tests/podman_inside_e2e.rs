//! podman inside userns: `userns unshare podman run` and podman inside `userns enter
//! containers` run a real rootless container, as they do inside `podman unshare`. userns
//! tells podman (`_CONTAINERS_USERNS_CONFIGURED=done`) that it is where podman's pause
//! process would have put it, so it must hold a mount namespace of its own too.
//!
//! podman needs `--runtime runc` on this machine (hybrid cgroups) and `--network none`
//! (the scenario's user may not open /dev/net/tun for slirp4netns); its storage is the
//! scenario's HOME and XDG_RUNTIME_DIR.

mod common;

use common::{assert_code, assert_ok, describe, stderr, stdout, Scenario};

/// A busybox root filesystem in ./bbroot and, imported from it, the image localhost/bb.
const MAKE_IMAGE: &str = "set -e; mkdir -p bbroot/bin; cp /bin/busybox bbroot/bin/busybox; \
     for n in sh echo cat readlink true; do ln -s busybox bbroot/bin/$n; done; \
     tar -C bbroot -cf bb.tar .; podman import -q bb.tar localhost/bb >/dev/null";

const PODMAN_RUN: &str = "podman --runtime runc run --rm --network none localhost/bb";

fn podman_scenario(name: &str) -> Option<Scenario> {
    let s = podman_only(name)?;
    if !std::path::Path::new("/bin/busybox").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "busybox-static is missing in CI"
        );
        eprintln!("{name}: skipped: /bin/busybox is not installed");
        return None;
    }
    assert_ok(&s.sh(MAKE_IMAGE));
    Some(s)
}

/// A scenario with podman installed (a skip outside CI when it is not).
fn podman_only(name: &str) -> Option<Scenario> {
    let s = Scenario::new(name)?;
    if std::process::Command::new("podman")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(std::env::var_os("CI").is_none(), "podman is missing in CI");
        eprintln!("{name}: skipped: podman is not installed");
        return None;
    }
    Some(s)
}

#[test]
fn podman_runs_a_container_inside_userns_unshare() {
    let Some(s) = podman_scenario("podman_inside_unshare") else {
        return;
    };
    let out = s.sh(&format!(
        "$USERNS unshare {PODMAN_RUN} echo hello from inside userns unshare"
    ));
    let text = assert_ok(&out);
    assert!(
        text.contains("hello from inside userns unshare"),
        "{}",
        describe(&out)
    );
    // The same with a kept namespace, joined by a second call.
    let out = s.sh(&format!(
        "$USERNS unshare --name dev true && \
         $USERNS unshare --name dev {PODMAN_RUN} echo hello from a kept namespace && \
         $USERNS enter dev {PODMAN_RUN} echo hello from enter dev"
    ));
    let text = assert_ok(&out);
    for words in ["hello from a kept namespace", "hello from enter dev"] {
        assert!(text.contains(words), "{}", describe(&out));
    }
}

#[test]
fn podman_runs_a_container_inside_enter_containers() {
    let Some(s) = podman_scenario("podman_inside_enter_containers") else {
        return;
    };
    // `userns run` makes the kept namespace `containers`; enter it as `podman unshare`.
    assert_ok(&s.run(&["run", "--rm", "bbroot", "/bin/true"]));
    let out = s.sh(&format!(
        "$USERNS enter containers {PODMAN_RUN} echo hello from enter containers"
    ));
    let text = assert_ok(&out);
    assert!(
        text.contains("hello from enter containers"),
        "{}",
        describe(&out)
    );
    // Like `podman unshare`: the kept pause process's user *and* mount namespaces.
    let ls: serde_json::Value =
        serde_json::from_str(&assert_ok(&s.run(&["ls", "--json"]))).expect("ls --json");
    let pid = ls
        .as_array()
        .expect("a list")
        .iter()
        .find(|ns| ns["name"] == "containers")
        .and_then(|ns| ns["pid"].as_i64())
        .unwrap_or_else(|| panic!("no kept namespace containers in {ls}"));
    let theirs: Vec<String> = ["user", "mnt"]
        .iter()
        .map(|k| {
            std::fs::read_link(format!("/proc/{pid}/ns/{k}"))
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    let ours = assert_ok(&s.run(&[
        "enter",
        "containers",
        "readlink",
        "/proc/self/ns/user",
        "/proc/self/ns/mnt",
    ]));
    assert_eq!(ours.lines().collect::<Vec<_>>(), theirs, "{ours}");
}

#[test]
fn enter_podman_with_a_stale_pause_pid_names_podman_and_the_fix() {
    let Some(s) = podman_only("podman_stale_pause_pid") else {
        return;
    };
    // podman's pid file names a live process of the user that is not its pause process
    // (the pid was reused after the pause process ended): a sleep of the user's own.
    let out = s.sh(
        "mkdir -p \"$XDG_RUNTIME_DIR/libpod/tmp\"; sleep 60 & printf %s $! > \"$XDG_RUNTIME_DIR/libpod/tmp/pause.pid\"; \
         \"$USERNS\" enter podman id -u; rc=$?; kill $!; exit $rc",
    );
    assert_code(&out, 125);
    let err = stderr(&out);
    for words in [
        "podman's rootless pause process is not running",
        "not podman's pause process (the pid was reused after it ended): the pid file is stale",
        "fix: remove it, then let podman start a new pause process: rm ",
        "/libpod/tmp/pause.pid && podman unshare true",
    ] {
        assert!(err.contains(words), "missing {words:?}\n{}", describe(&out));
    }
    assert!(stdout(&out).is_empty(), "{}", describe(&out));
    // The fix works: podman starts a new pause process, and enter podman joins it. (The
    // fix as printed, the stale file still naming the live sleep.)
    let fix = err
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("fix: remove it, then let podman start a new pause process: ")
        })
        .expect("the fix line")
        .to_string();
    let run = s.sh(&format!(
        "sleep 60 & printf %s $! > \"$XDG_RUNTIME_DIR/libpod/tmp/pause.pid\"; \
         {fix}; kill $!; \
         podman unshare readlink /proc/self/ns/user; \"$USERNS\" enter podman readlink /proc/self/ns/user; \
         readlink /proc/self/ns/user"
    ));
    let out = assert_ok(&run);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{}", describe(&run));
    assert_eq!(lines[0], lines[1], "{out}");
    assert_ne!(lines[1], lines[2], "{out}");
}
