//! `userns pull` makes its user namespace ahead, while the layers download (a holder
//! child, `unshare::ahead`), and joins it afterwards: against a real registry (Debian's
//! docker-registry, images pushed with skopeo), the real newuidmap/newgidmap, as the
//! unprivileged fixture user. The namespace is there and mapped before the download
//! ends; the files land on the subordinate ids; no process outlives a pull, cached or
//! failed; a user without ranges (or whose helper fails) is told what `unshare` tells;
//! a holder killed by the user mid-download stops the pull with its pid and fate.

mod common;
mod image_support;
mod registry_support;

use common::{assert_code, assert_ok, stderr, Scenario};
use image_support::{path_str, Scratch};
use registry_support::{
    busybox_layer, cache_dir, cache_entries, config, images_json, scenario, Registry, Relay,
    PASSWORD, USER,
};
use serde_json::json;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A busybox layer whose files have owners across the fixture map (0-65536).
fn owned_layer(scratch: &Scratch, name: &str, marker: &str) -> PathBuf {
    let extra = [
        json!({"path": "opt/", "type": "dir", "uid": 1, "gid": 1}),
        json!({"path": "opt/one", "data": "1", "uid": 1, "gid": 1}),
        json!({"path": "opt/thousand", "data": "k", "uid": 1000, "gid": 2000}),
        json!({"path": "opt/top", "data": "t", "uid": 65536, "gid": 65535}),
    ];
    busybox_layer(scratch, name, marker, &extra)
}

fn push(registry: &Registry, scratch: &Scratch, layers: &[&Path], dest: &str) {
    let name = dest.replace([':', '/'], "_");
    let archive = scratch.docker_archive(&name, config("amd64"), layers);
    registry.push(
        &format!("docker-archive:{}", path_str(&archive)),
        dest,
        false,
    );
}

/// A layer of one file of random data (it stays large once skopeo gzips it).
fn random_layer(scratch: &Scratch, name: &str, size: u64) -> PathBuf {
    let data = scratch.path(&format!("{name}.bin"));
    let ok = Command::new("head")
        .arg("-c")
        .arg(size.to_string())
        .arg("/dev/urandom")
        .stdout(std::fs::File::create(&data).unwrap())
        .status()
        .unwrap()
        .success();
    assert!(ok);
    scratch.layer(
        name,
        json!([{"path": format!("{name}.bin"), "file": path_str(&data)}]),
    )
}

/// The owner (host ids) of a file of an unpacked image, as root sees it.
fn owner(scn: &Scenario, id: &str, path: &str) -> (u32, u32) {
    let meta = std::fs::symlink_metadata(cache_dir(scn).join(id).join("rootfs").join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    (meta.uid(), meta.gid())
}

/// `userns ARGS` with its output in files rather than the harness's pipes, which a
/// process left behind would hold (the harness would then wait for it, and find it
/// gone): its exit code, stdout and stderr.
fn run_detached(scn: &Scenario, args: &[&str]) -> (i32, String, String) {
    let (out, err) = (scn.home().join("out.txt"), scn.home().join("err.txt"));
    let script = format!(
        "$USERNS {} >{} 2>{}; echo $?",
        args.join(" "),
        path_str(&out),
        path_str(&err)
    );
    let code = assert_ok(&scn.sh(&script)).trim().parse().unwrap();
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    (code, read(&out), read(&err))
}

/// No process of the scenario is left once a run has returned.
#[track_caller]
fn nothing_left(scn: &Scenario, after: &str) {
    let left = scn.processes();
    let shown: Vec<String> = left
        .iter()
        .map(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            format!("{pid} {}", String::from_utf8_lossy(&cmd).replace('\0', " "))
        })
        .collect();
    assert!(left.is_empty(), "after {after}, left behind: {shown:?}");
}

#[test]
fn owners_land_on_the_subordinate_ids_and_no_process_outlives_a_pull() {
    let scratch = Scratch::new("ahead_owners");
    let registry = Registry::start(&scratch.path("registry"));
    let addr = registry.addr();
    let layer = owned_layer(&scratch, "owned", "owned");
    push(&registry, &scratch, &[&layer], "owned:1");
    let Some(scn) = scenario("ahead_owners", &addr, "") else {
        return;
    };
    let creds = format!("{USER}:{PASSWORD}");
    let reference = format!("{addr}/owned:1");

    let pull = |reference: &str| run_detached(&scn, &["pull", "--creds", &creds, reference]);
    let (code, id, said) = pull(&reference);
    assert_eq!(code, 0, "{said}");
    let id = id.trim().to_string();
    assert!(
        !said.contains("warning") && !said.contains("namespace"),
        "{said}"
    );
    nothing_left(&scn, "a pull");
    // The default map: 0 is the user (2000), 1.. are 200000.. of /etc/subuid.
    for (path, want) in [
        ("marker", (2000, 2000)),
        ("bin/busybox", (2000, 2000)),
        ("opt", (200000, 200000)),
        ("opt/one", (200000, 200000)),
        ("opt/thousand", (200999, 201999)),
        ("opt/top", (265535, 265534)),
    ] {
        assert_eq!(owner(&scn, &id, path), want, "{path}");
    }

    // Cached: nothing to unpack, no namespace joined; the one made ahead is let go
    // without a word, and nothing of it stays.
    let (code, again, said) = pull(&reference);
    assert_eq!((code, again.trim(), said.as_str()), (0, id.as_str(), ""));
    nothing_left(&scn, "a cached pull");

    // Failed before any download: the same.
    let (code, _, said) = pull(&format!("{addr}/owned:missing"));
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("manifest unknown"), "{said}");
    assert!(!said.contains("namespace"), "{said}");
    nothing_left(&scn, "a failed pull");
}

/// The user's error of `userns unshare true` (today's `enter`, which pull used after the
/// download), with a helper's pid made neutral: the words a pull must give too.
fn unshare_error(scn: &Scenario) -> String {
    let out = scn.run(&["unshare", "true"]);
    // 125: unshare runs a program, and follows podman's codes (pull's own is 1).
    assert_code(&out, 125);
    neutral_pids(&stderr(&out))
}

/// `newuidmap 1234 0 2000 1` -> `newuidmap PID 0 2000 1`.
fn neutral_pids(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("map ") {
        let (head, tail) = rest.split_at(at + 4);
        out.push_str(head);
        let digits = tail.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 {
            out.push_str("PID");
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

#[test]
fn without_ranges_or_with_a_broken_line_a_pull_fails_as_unshare_does_and_warns_once() {
    let scratch = Scratch::new("ahead_no_ranges");
    let registry = Registry::start(&scratch.path("registry"));
    let addr = registry.addr();
    for tag in ["1", "2", "3", "4"] {
        let layer = busybox_layer(&scratch, tag, tag, &[]);
        push(&registry, &scratch, &[&layer], &format!("app:{tag}"));
    }
    let Some(scn) = scenario("ahead_no_ranges", &addr, "") else {
        return;
    };
    let creds = format!("{USER}:{PASSWORD}");
    let pull = |tag: &str| scn.run(&["pull", "--creds", &creds, &format!("{addr}/app:{tag}")]);
    assert_ok(&pull("1"));

    // No subuid line: a cached image is named as before; an image to unpack is refused
    // with what `unshare` says, after its download (kept, as before: the stage).
    std::fs::write(scn.etc().join("subuid"), "").unwrap();
    let out = pull("1");
    assert_ok(&out);
    assert_eq!(stderr(&out), "");
    let expected = unshare_error(&scn);
    assert!(expected.contains("has no subuid range"), "{expected}");
    let out = pull("2");
    assert_code(&out, 1);
    assert_eq!(neutral_pids(&stderr(&out)), expected);
    assert_eq!(images_json(&scn).as_array().unwrap().len(), 1);
    nothing_left(&scn, "a pull without ranges");

    // A broken line: the same words as unshare's.
    std::fs::write(scn.etc().join("subuid"), "ivy:abc:65536\n").unwrap();
    let expected = unshare_error(&scn);
    let out = pull("3");
    assert_code(&out, 1);
    assert_eq!(neutral_pids(&stderr(&out)), expected);
    nothing_left(&scn, "a pull with a broken subuid line");
    // A line the plan leaves out: warned about once when the namespace is joined, as
    // `enter` did, and not at all for a cached image (no namespace needed).
    std::fs::write(scn.etc().join("subuid"), "ivy:200000:65536\nivy:xyz:5\n").unwrap();
    let warning = "warning: /etc/subuid:2: left out";
    let out = pull("3");
    assert_ok(&out);
    assert_eq!(stderr(&out).matches(warning).count(), 1, "{}", stderr(&out));
    let out = pull("3");
    assert_ok(&out);
    assert_eq!(stderr(&out), "");
}

#[test]
fn a_failing_newuidmap_stops_a_pull_with_the_words_unshare_gives() {
    let scratch = Scratch::new("ahead_helper_fails");
    let registry = Registry::start(&scratch.path("registry"));
    let addr = registry.addr();
    let layer = busybox_layer(&scratch, "l", "l", &[]);
    push(&registry, &scratch, &[&layer], "app:1");
    // A newuidmap that looks right (setuid root) and fails when run: false(1).
    let Some(scn) = scenario("ahead_helper_fails", &addr, "").map(|s| {
        s.root_setup(
            "cp /bin/false \"$SCRATCH/newuidmap\" && chmod 4755 \"$SCRATCH/newuidmap\" && \
             mount --bind \"$SCRATCH/newuidmap\" /usr/bin/newuidmap",
        )
    }) else {
        return;
    };
    let expected = unshare_error(&scn);
    assert!(expected.contains("newuidmap failed"), "{expected}");
    let creds = format!("{USER}:{PASSWORD}");
    let out = scn.run(&["pull", "--creds", &creds, &format!("{addr}/app:1")]);
    assert_code(&out, 1);
    assert_eq!(neutral_pids(&stderr(&out)), expected);
    assert_eq!(images_json(&scn), json!([]));
    nothing_left(&scn, "a pull whose newuidmap failed");
}

/// The children of process `pid`.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn user_ns(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/user"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// A map file's lines as `inside:outside:count` joined by commas.
fn map_of(pid: u32, file: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(":"))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn the_namespace_is_mapped_during_the_download_and_a_holder_killed_by_the_user_stops_the_pull() {
    let scratch = Scratch::new("ahead_killed");
    let mut registry = Registry::start(&scratch.path("registry"));
    let base = owned_layer(&scratch, "base", "slow");
    let size = 8u64 << 20;
    let big = random_layer(&scratch, "big", size);
    push(&registry, &scratch, &[&base, &big], "slow:1");
    // 2 MiB/s through the relay: the download takes seconds.
    let relay = Relay::start(registry.port, 2 << 20);
    let addr = relay.addr();
    let Some(scn) = scenario("ahead_killed", &addr, "") else {
        return;
    };
    let creds = format!("{USER}:{PASSWORD}");
    let reference = format!("{addr}/slow:1");
    let mut child = scn.spawn_sh(&format!("exec $USERNS pull --creds {creds} {reference}"));
    let userns = child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    // The holder: a child of userns in a user namespace of its own, mapped as planned,
    // while the layers are still on their way.
    let want = "0:2000:1,1:200000:65536";
    let holder = loop {
        let mapped = children(userns)
            .into_iter()
            .find(|&c| user_ns(c) != user_ns(userns) && map_of(c, "uid_map") == want);
        if let Some(holder) = mapped {
            if map_of(holder, "gid_map") == want {
                break holder;
            }
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the pull ended before its namespace was seen"
        );
        assert!(Instant::now() < deadline, "no mapped holder within 30 s");
        std::thread::sleep(Duration::from_millis(2));
    };
    let passed = relay.passed.load(Ordering::Relaxed);
    assert!(passed < size, "mapped only after {passed} bytes");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the pull ended already"
    );

    // The attack: another process of the same user kills the holder mid-download.
    assert_ok(&scn.sh(&format!("kill -KILL {holder}")));
    let out = child.wait_with_output().unwrap();
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("process {holder}")) && err.contains("SIGKILL"),
        "{err}"
    );
    // Nothing unpacked, on any ids: no image, no unpack, only the stage to resume from.
    assert_eq!(images_json(&scn), json!([]));
    let entries = cache_entries(&scn);
    assert!(
        entries.len() == 1 && entries[0].starts_with(".pull-"),
        "{entries:?}"
    );
    nothing_left(&scn, "a pull whose holder was killed");

    // Pulled again: from the stage kept, onto the subordinate ids.
    relay.rate.store(0, Ordering::Relaxed);
    relay.passed.store(0, Ordering::Relaxed);
    let id = assert_ok(&scn.run(&["pull", "--creds", &creds, &reference]));
    let id = id.trim();
    assert!(
        relay.passed.load(Ordering::Relaxed) < size / 2,
        "the download was not kept"
    );
    assert_eq!(owner(&scn, id, "opt/thousand"), (200999, 201999));
    assert_eq!(owner(&scn, id, "marker"), (2000, 2000));
    nothing_left(&scn, "the pull again");
    registry.kill();
}

#[test]
fn nested_in_a_userns_namespace_root_pulls_onto_the_enclosing_ids() {
    let scratch = Scratch::new("ahead_nested");
    let registry = Registry::start(&scratch.path("registry"));
    let addr = registry.addr();
    let layer = owned_layer(&scratch, "nested", "nested");
    push(&registry, &scratch, &[&layer], "nested:1");
    let Some(scn) = scenario("ahead_nested", &addr, "") else {
        return;
    };
    // Inside `userns unshare` the user is root, with the user's $HOME (not passwd's
    // /root): the user's image cache and registries.conf, as outside.
    // Root there maps the enclosing namespace's ids itself (a direct write, `nested`),
    // in the namespace made ahead: the identity over 0-65536, so the owners land where
    // a pull outside puts them.
    let creds = format!("{USER}:{PASSWORD}");
    let out = scn.sh(&format!(
        "exec $USERNS unshare -- $USERNS pull --creds {creds} {addr}/nested:1"
    ));
    let id = assert_ok(&out).trim().to_string();
    let file = |path: &str| {
        let meta = std::fs::symlink_metadata(
            scn.home()
                .join(".local/share/userns/images")
                .join(&id)
                .join("rootfs")
                .join(path),
        )
        .unwrap_or_else(|e| panic!("{path}: {e}"));
        (meta.uid(), meta.gid())
    };
    assert_eq!(file("marker"), (2000, 2000));
    assert_eq!(file("opt/one"), (200000, 200000));
    assert_eq!(file("opt/thousand"), (200999, 201999));
    nothing_left(&scn, "a nested pull");
}
