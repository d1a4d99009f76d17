//! Rejoining is never silent: `unshare --name NAME` with options other than NAME's is
//! refused (125, both sets named, the fix); `run --userns shared:NAME` needs a kept NAME;
//! `run --keep NAME` over another SOURCE warns. The real binary, kernel and helpers, as the
//! unprivileged fixture user.

mod common;
mod run_support;

use common::{assert_code, assert_ok, describe, stderr, Scenario};

fn run_root_copy(s: &Scenario, root: &str, name: &str) -> String {
    let copy = s.scratch().join(name);
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(root)
        .arg(&copy)
        .status()
        .expect("cp -a");
    assert!(status.success());
    copy.display().to_string()
}

#[test]
fn unshare_name_with_other_options_is_refused_naming_both() {
    let Some(s) = Scenario::new("rejoin_other_options") else {
        return;
    };
    assert_ok(&s.run(&[
        "unshare",
        "--name",
        "box",
        "--net",
        "--hostname",
        "h1",
        "true",
    ]));
    // The same options join; no options join as it is.
    let first = assert_ok(&s.run(&[
        "unshare",
        "--name",
        "box",
        "--hostname",
        "h1",
        "--net",
        "sh",
        "-c",
        "readlink /proc/self/ns/net; hostname",
    ]));
    let plain = assert_ok(&s.run(&[
        "unshare",
        "--name",
        "box",
        "sh",
        "-c",
        "readlink /proc/self/ns/net; hostname",
    ]));
    assert_eq!(first, plain);
    assert!(first.ends_with("h1\n"), "{first}");

    // Anything else is refused, with both sets and the fix; the program never runs.
    for (extra, asked) in [
        (vec!["--pid"], "this call asks for --pid."),
        (vec!["--net"], "this call asks for --net."),
        (
            vec!["--net", "--hostname", "h2"],
            "this call asks for --net --hostname h2.",
        ),
        (vec!["--single"], "this call asks for --single."),
        (
            vec!["--map-users", "1:200000:10"],
            "this call asks for --map-users 1:200000:10.",
        ),
    ] {
        let mut argv = vec!["unshare", "--name", "box"];
        argv.extend(extra.iter().copied());
        argv.extend(["echo", "ran"]);
        let out = s.run(&argv);
        assert_code(&out, 125);
        let err = stderr(&out);
        for words in [
            "kept namespace box was made with other options than this call asks for",
            "box has --net --hostname h1;",
            asked,
            "userns stop box",
        ] {
            assert!(err.contains(words), "missing {words:?}\n{}", describe(&out));
        }
        assert!(out.stdout.is_empty(), "{}", describe(&out));
    }

    // A namespace made without options refuses options too (a user who asked for --net
    // must not run on the host's network).
    assert_ok(&s.run(&["unshare", "--name", "plain", "true"]));
    let out = s.run(&["unshare", "--name", "plain", "--net", "true"]);
    assert_code(&out, 125);
    assert!(
        stderr(&out).contains("plain has no options"),
        "{}",
        describe(&out)
    );
    // The fix works.
    assert_ok(&s.run(&["stop", "plain"]));
    let out = assert_ok(&s.run(&[
        "unshare",
        "--name",
        "plain",
        "--net",
        "cat",
        "/proc/net/dev",
    ]));
    assert_eq!(out.lines().count(), 3, "only lo: {out}");
    assert_ok(&s.run(&["stop", "--all"]));
}

#[test]
fn run_userns_shared_name_needs_a_kept_name() {
    let Some((s, root)) = run_support::setup("rejoin_shared_name") else {
        return;
    };
    let out = s.run(&["run", "--userns", "shared:nothere", &root, "echo", "ran"]);
    assert_code(&out, 125);
    let err = stderr(&out);
    for words in [
        "no kept namespace named \"nothere\"",
        "make it first (userns unshare --name nothere true)",
        "--userns shared",
    ] {
        assert!(err.contains(words), "missing {words:?}\n{}", describe(&out));
    }
    assert!(out.stdout.is_empty());
    let ls = assert_ok(&s.run(&["ls"]));
    assert!(!ls.contains("nothere"), "no namespace may be made: {ls}");

    // Kept first, it is joined: the container runs in its user namespace.
    assert_ok(&s.run(&["unshare", "--name", "nothere", "true"]));
    let ns = assert_ok(&s.run(&["enter", "nothere", "readlink", "/proc/self/ns/user"]));
    let out = assert_ok(&s.run(&[
        "run",
        "--userns",
        "shared:nothere",
        &root,
        "readlink",
        "/proc/self/ns/user",
    ]));
    assert_eq!(out, ns);
    // The default `shared` still makes `containers` on first use.
    assert_ok(&s.run(&["run", &root, "true"]));
    assert!(assert_ok(&s.run(&["ls"])).contains("containers"));
    assert_ok(&s.run(&["stop", "--all"]));
}

#[test]
fn run_keep_over_another_source_warns() {
    let Some((s, root)) = run_support::setup("rejoin_keep_source") else {
        return;
    };
    let other = run_root_copy(&s, &root, "rootfs2");
    let keep = |source: &str| s.run(&["run", "--keep", "dev", source, "touch", "/made"]);
    let out = keep(&root);
    assert_ok(&out);
    assert!(!stderr(&out).contains("warning"), "{}", describe(&out));
    let out = keep(&root);
    assert_ok(&out);
    assert!(!stderr(&out).contains("warning"), "{}", describe(&out));
    let out = keep(&other);
    assert_ok(&out);
    let err = stderr(&out);
    for words in [
        "warning: kept layer dev was made over",
        &format!("{root}, and this run lays it over {other}"),
        "now apply to another root filesystem",
    ] {
        assert!(err.contains(words), "missing {words:?}\n{}", describe(&out));
    }
    // Said once: the layer is now recorded over the new SOURCE.
    let out = keep(&other);
    assert_ok(&out);
    assert!(!stderr(&out).contains("warning"), "{}", describe(&out));
    assert_ok(&s.run(&["stop", "--all"]));
}

/// `enter NAME` joins NAME's mount namespace (podman inside needs it); when NAME mounted a
/// /proc of its own pid namespace (--mount-proc), its pid namespace too, or /proc/self
/// would name nothing.
#[test]
fn enter_joins_the_mount_and_the_pid_namespace_of_its_own_proc() {
    let Some(s) = Scenario::new("rejoin_enter_own_proc") else {
        return;
    };
    let show = "readlink /proc/self/ns/mnt /proc/self/ns/pid; head -1 /proc/self/uid_map";
    assert_ok(&s.run(&["unshare", "--name", "p", "--mount-proc", "true"]));
    // `unshare --name p` again joins every namespace p holds: enter must land there too.
    let rejoined = assert_ok(&s.run(&["unshare", "--name", "p", "sh", "-c", show]));
    let out = s.run(&["enter", "p", "sh", "-c", show]);
    let entered = assert_ok(&out);
    assert_eq!(entered, rejoined, "{}", describe(&out));
    let lines: Vec<&str> = entered.lines().collect();
    assert_eq!(lines.len(), 3, "{}", describe(&out));
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["0", "2000", "1"],
        "/proc/self must be this process: {}",
        describe(&out)
    );
    let own_mnt = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    assert_ne!(lines[0], own_mnt.to_str().unwrap());
    assert_ok(&s.run(&["stop", "--all"]));
}
