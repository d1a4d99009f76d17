//! `userns clean` of a tree a running userns container lays its overlay over (the kept
//! layer of `run --keep NAME`) is refused, naming the container's process and the fix,
//! as it is for podman's running containers. Once the container ends, clean removes it.

mod common;
mod run_support;

use common::{assert_code, assert_ok, describe, stderr};
use std::io::{BufRead, BufReader};

#[test]
fn clean_of_a_kept_layer_under_a_running_container_is_refused() {
    let Some((s, root)) = run_support::setup("clean_in_use_kept_layer") else {
        return;
    };
    let kept = s.home().join(".local/share/userns/kept/dev");
    // The container says "ready" once running, then waits for its stdin to close.
    let mut container = s.spawn_sh(&format!(
        "exec \"$USERNS\" run -i --keep dev {root} sh -c 'echo data > /made; echo ready; cat >/dev/null'"
    ));
    let mut lines = BufReader::new(container.stdout.take().unwrap()).lines();
    assert_eq!(
        lines.next().map(|l| l.unwrap()),
        Some("ready".to_string()),
        "the container did not start"
    );
    let data_dir = s.home().join(".local/share/userns");
    for target in [&kept, &kept.join("upper"), &data_dir] {
        let out = s.run(&["clean", "--yes", target.to_str().unwrap()]);
        assert_code(&out, 1);
        let err = stderr(&out);
        for words in [
            format!("refusing to touch {}", target.display()),
            "a running container uses it: process ".to_string(),
            // The container's process, and its parent: the `userns run` the user started.
            "; parent ".to_string(),
            format!("run -i --keep dev {root} sh -c echo data > /made;"),
            format!("has an overlay with upperdir={}/upper", kept.display()),
            "fix: end that container first (let its program finish, or kill -KILL ".to_string(),
        ] {
            assert!(
                err.contains(&words),
                "missing {words:?}\n{}",
                describe(&out)
            );
        }
        assert!(
            kept.join("upper/made").exists(),
            "clean removed the layer under the running container"
        );
    }
    // The container is unharmed and ends normally; then the layer can go.
    drop(container.stdin.take());
    assert!(container.wait().unwrap().success());
    let out = assert_ok(&s.run(&["clean", "--yes", kept.to_str().unwrap()]));
    assert!(out.contains("removed"), "{out}");
    assert!(!kept.exists());
    assert_ok(&s.run(&["stop", "--all"]));
}

/// A pause.pid that podman left behind, naming a pid since reused by another process of
/// the user: `clean` of the default storage stops podman's pause process, and must not
/// take that process for it.
#[test]
fn clean_never_stops_a_process_a_stale_pause_pid_names() {
    let Some(s) = common::Scenario::new("clean_stale_pause_pid") else {
        return;
    };
    let out = s.sh(
        "mkdir -p \"$HOME/.local/share/containers/storage/x\" \"$XDG_RUNTIME_DIR/libpod/tmp\"; \
         sleep 60 & printf %s $! > \"$XDG_RUNTIME_DIR/libpod/tmp/pause.pid\"; \
         \"$USERNS\" clean --yes; rc=$?; \
         if kill -0 $! 2>/dev/null; then echo survived; kill $!; fi; exit $rc",
    );
    let text = assert_ok(&out);
    assert!(text.contains("survived"), "{}", describe(&out));
    assert!(!text.contains("pause process"), "{}", describe(&out));
    assert!(!s.home().join(".local/share/containers/storage").exists());
}
