//! `userns map` and `userns translate`, run as the real binary against live processes,
//! real user namespaces made by util-linux `unshare`, fixture /proc trees,
//! and (as root) the hermetic rootless scenario with the real newuidmap. `map --plan` is
//! tested in map_plan_cli.rs.

mod common;
mod map_support;

use map_support::{rows, run};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn row(words: &str) -> Vec<String> {
    words.split_whitespace().map(String::from).collect()
}

fn fixture_proc(case: &str) -> String {
    format!("{}/fixtures/proc/{case}", env!("CARGO_MANIFEST_DIR"))
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

fn egid() -> u32 {
    nix::unistd::getegid().as_raw()
}

fn own_name() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| euid().to_string())
}

fn in_initial_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
        .unwrap_or(false)
}

fn ns_inode(pid: &str) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/user"))
        .unwrap()
        .ino()
}

/// A child process, killed and reaped when the test ends (also on failure).
struct Live(Child);

impl Live {
    /// Start `argv` and wait until it has exec'd `sleep` (so any unshare before it is done).
    fn start(argv: &[&str]) -> Live {
        let child = Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {argv:?}: {e}"));
        let live = Live(child);
        let comm = format!("/proc/{}/comm", live.pid());
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&comm).unwrap_or_default() != "sleep\n" {
            assert!(Instant::now() < deadline, "{argv:?} did not reach sleep");
            std::thread::sleep(Duration::from_millis(10));
        }
        live
    }

    fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn map_of_itself() {
    let (code, out, err) = run(&["map"]);
    assert_eq!(code, 0, "{out}{err}");
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with("process ")
            && first.ends_with(&format!("owned by {} (uid {})", own_name(), euid())),
        "{first}"
    );
    // The binary runs in the test's namespace: same inode.
    assert!(
        out.contains(&format!("user namespace: {}\n", ns_inode("self"))),
        "{out}"
    );
    if !in_initial_namespace() {
        eprintln!(
            "skipped the identity check: this test does not run in the initial user namespace"
        );
        return;
    }
    assert_eq!(
        rows(&out),
        [
            row("uid 0 0 4294967295 identity (initial namespace)"),
            row("gid 0 0 4294967295 identity (initial namespace)"),
        ]
    );
    assert!(out.contains("setgroups: allow\n"), "{out}");
}

#[test]
fn map_of_a_live_child_matches_its_proc_files() {
    let sleeper = Live::start(&["sleep", "30"]);
    let pid = sleeper.pid();
    let (code, out, err) = run(&["map", &pid]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with(&format!("process {pid}, owned by ")),
        "{out}"
    );
    let mut expected = Vec::new();
    for kind in ["uid", "gid"] {
        let file = std::fs::read_to_string(format!("/proc/{pid}/{kind}_map")).unwrap();
        for line in file.lines() {
            let mut r = vec![kind.to_string()];
            r.extend(line.split_whitespace().map(String::from));
            expected.push(r);
        }
    }
    let got: Vec<Vec<String>> = rows(&out).into_iter().map(|r| r[..4].to_vec()).collect();
    assert_eq!(got, expected);

    let (code, json, _) = run(&["map", &pid, "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["pid"].to_string(), pid);
    assert_eq!(v["owner_uid"], euid());
    assert_eq!(v["userns_inode"], ns_inode(&pid));
    assert_eq!(v["maps"][0]["kind"], "uid");
    assert_eq!(v["maps"][1]["kind"], "gid");
    if in_initial_namespace() {
        assert_eq!(v["maps"][0]["state"], "identity");
        assert_eq!(v["maps"][0]["entries"][0]["owners"][0]["kind"], "identity");
    }
}

#[test]
fn map_of_a_missing_process_is_a_clear_error() {
    // Above any pid_max Linux allows (2^22), so it never exists.
    let (code, out, err) = run(&["map", "2147483647"]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert_eq!(
        err,
        "userns: no process 2147483647: /proc/2147483647 does not exist\n  \
         fix: check the pid (ps -p 2147483647); the process may have exited\n"
    );
    let (code, _, err) = run(&["translate", "--pid", "2147483647", "0"]);
    assert_eq!(code, 1);
    assert!(err.starts_with("userns: no process 2147483647"), "{err}");

    let (code, _, err) = run(&["map", "abc"]);
    assert_eq!(code, 2);
    assert!(err.contains("pid \"abc\" is not a number"), "{err}");
    let (code, _, err) = run(&["translate", "--pid", "0", "5"]);
    assert_eq!(code, 2);
    assert!(err.contains("pid 0 is not a process"), "{err}");
}

#[test]
fn map_and_translate_a_map_root_user_namespace() {
    // util-linux `unshare -r` maps the caller's own ids to 0 (as root: `0 0 1`) and,
    // being unprivileged-style, writes `deny` to setgroups first.
    let ns = Live::start(&["unshare", "--user", "--map-root-user", "sleep", "30"]);
    let pid = ns.pid();
    let (code, out, err) = run(&["map", &pid]);
    assert_eq!(code, 0, "{out}{err}");
    let me = own_name();
    assert_eq!(
        rows(&out),
        [
            row(&format!("uid 0 {} 1 own uid of {me}", euid())),
            row(&format!("gid 0 {} 1 own gid of {me}", egid())),
        ]
    );
    assert!(out.contains("setgroups: deny\n"), "{out}");
    let inode = ns_inode(&pid);
    assert_ne!(inode, ns_inode("self"));
    assert!(out.contains(&format!("user namespace: {inode}\n")), "{out}");

    let (code, out, _) = run(&["translate", "--pid", &pid, "0"]);
    assert_eq!(code, 0);
    assert_eq!(rows(&format!("\n\n{out}")), [row(&format!("0 {}", euid()))]);
    let (code, out, _) = run(&[
        "translate",
        "--pid",
        &pid,
        "--to-ns",
        &euid().to_string(),
        "4242",
    ]);
    assert_eq!(code, 1, "4242 is unmapped");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(row(lines[0]), row("OUTSIDE UID INSIDE UID"));
    assert_eq!(row(lines[1]), row(&format!("{} 0", euid())));
    assert_eq!(
        row(lines[2]),
        row("4242 unmapped: the kernel shows it as 65534")
    );
}

#[test]
fn map_and_translate_a_namespace_root_maps_by_hand() {
    if euid() != 0 || !in_initial_namespace() {
        eprintln!(
            "skipped: writing a map of 65536 ids by hand needs root in the initial namespace"
        );
        return;
    }
    let ns = Live::start(&["unshare", "--user", "sleep", "30"]);
    let pid = ns.pid();
    let (code, out, _) = run(&["map", &pid]);
    assert_eq!(code, 0);
    assert_eq!(
        rows(&out),
        [
            row("uid - - - unmapped: nothing written to uid_map yet; every uid reads as 65534"),
            row("gid - - - unmapped: nothing written to gid_map yet; every gid reads as 65534"),
        ]
    );
    let (code, out, _) = run(&["translate", "--pid", &pid, "0"]);
    assert_eq!(code, 1);
    assert!(out.contains("unmapped"), "{out}");

    std::fs::write(
        format!("/proc/{pid}/uid_map"),
        "0 100000 1000\n1000 300000 10\n",
    )
    .unwrap();
    std::fs::write(format!("/proc/{pid}/gid_map"), "0 200000 65536\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let subuid = write(dir.path(), "subuid", "daemon:100000:500\nbin:100500:500\n");
    let subgid = write(dir.path(), "subgid", "daemon:200000:65536\n");
    let (code, out, err) = run(&["map", &pid, "--subuid", &subuid, "--subgid", &subgid]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        rows(&out),
        [
            row(&format!(
                "uid 0 100000 1000 subuid of daemon ({subuid}:1), subuid of bin ({subuid}:2)"
            )),
            row("uid 1000 300000 10 unknown"),
            row(&format!("gid 0 200000 65536 subgid of daemon ({subgid}:1)")),
        ]
    );

    let (code, out, _) = run(&["translate", "--pid", &pid, "0", "999", "1005", "1010"]);
    assert_eq!(code, 1, "1010 is unmapped");
    let got: Vec<Vec<String>> = out.lines().skip(1).map(row).collect();
    assert_eq!(
        got,
        [
            row("0 100000"),
            row("999 100999"),
            row("1005 300005"),
            row("1010 unmapped: no host id; setuid or chown to it fail with EINVAL"),
        ]
    );
    let (code, out, _) = run(&[
        "translate",
        "--pid",
        &pid,
        "--gid",
        "--to-ns",
        "265535",
        "200000",
    ]);
    assert_eq!(code, 0);
    let got: Vec<Vec<String>> = out.lines().skip(1).map(row).collect();
    assert_eq!(got, [row("265535 65535"), row("200000 0")]);

    let (code, json, _) = run(&[
        "translate",
        "--pid",
        &pid,
        "--to-ns",
        "100001",
        "5",
        "--json",
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["direction"], "to-ns");
    assert_eq!(v["ids"][0]["result"], 1);
    assert!(v["ids"][1]["result"].is_null());
}

#[test]
fn fixture_trees() {
    let dir = tempfile::tempdir().unwrap();
    let subuid = write(dir.path(), "subuid", "ivy:100000:65536\n");
    let empty = write(dir.path(), "empty", "");
    let (code, out, err) = run(&[
        "map",
        "--proc-root",
        &fixture_proc("podman"),
        "4242",
        "--subuid",
        &subuid,
        "--subgid",
        &empty,
    ]);
    assert_eq!(code, 0, "{err}");
    // The fixture files belong to whoever checked them out, so uid 1000 is nobody's own
    // id here unless it is ours.
    let own = if euid() == 1000 {
        format!("own uid of {}", own_name())
    } else {
        "unknown".into()
    };
    assert_eq!(
        rows(&out),
        [
            row(&format!("uid 0 1000 1 {own}")),
            row(&format!("uid 1 100000 65536 subuid of ivy ({subuid}:1)")),
            row(&format!(
                "gid 0 1000 1 {}",
                if egid() == 1000 {
                    format!("own gid of {}", own_name())
                } else {
                    "unknown".into()
                }
            )),
            row("gid 1 100000 65536 unknown"),
        ]
    );
    assert!(out.contains("setgroups: allow\n"));
    assert!(
        out.contains("user namespace: unknown (cannot stat "),
        "{out}"
    );

    let (code, out, err) = run(&["map", "--proc-root", &fixture_proc("malformed"), "6666"]);
    assert_eq!(code, 1, "a map with skipped lines is a problem found");
    assert_eq!(rows(&out).len(), 4, "{out}");
    let path = format!("{}/6666/uid_map", fixture_proc("malformed"));
    let warnings: Vec<&str> = err.lines().collect();
    assert_eq!(
        warnings,
        [
            format!("userns: warning: {path}:2: skipped \"garbage here\": expected 3 fields INSIDE OUTSIDE COUNT, found 2"),
            format!("userns: warning: {path}:3: skipped \"         1\": expected 3 fields INSIDE OUTSIDE COUNT, found 1"),
            format!("userns: warning: {path}:5: skipped \"         5          5          0\": count is 0; the kernel never maps an empty range"),
        ]
    );

    let (code, out, _) = run(&[
        "map",
        "--proc-root",
        &fixture_proc("many-lines"),
        "5555",
        "--json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["maps"][0]["entries"].as_array().unwrap().len(), 340);
    assert_eq!(v["maps"][1]["entries"][339]["outside"], 2000 + 339 * 4);

    let (code, out, _) = run(&["map", "--proc-root", &fixture_proc("identity")]);
    assert_eq!(code, 0);
    assert!(out.starts_with("this process, owned by "), "{out}");
    assert_eq!(
        rows(&out)[0],
        row("uid 0 0 4294967295 identity (initial namespace)")
    );

    let (code, out, _) = run(&[
        "translate",
        "--proc-root",
        &fixture_proc("unmapped"),
        "--pid",
        "4343",
        "--gid",
        "--to-ns",
        "0",
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        out.lines().nth(1).map(row),
        Some(row("0 unmapped: the kernel shows it as 65534"))
    );
}

fn write(dir: &Path, name: &str, contents: &str) -> String {
    let p: PathBuf = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p.display().to_string()
}

/// As the fixture user ivy, inside a namespace util-linux maps with the real setuid
/// helpers (`--map-auto`, first subuid line only, `1 200000 65535` in 2.38), `userns map`
/// reads its own maps: outside ids are host ids, and its own id is seen from the parent.
#[test]
fn rootless_map_inside_a_helper_mapped_namespace() {
    let Some(sc) = common::Scenario::new("rootless_map_inside_a_helper_mapped_namespace") else {
        return;
    };
    let sc = sc.subuid("ivy:200000:65536\n").subgid("ivy:300000:65536\n");
    let out = sc.sh("unshare --user --map-auto --map-root-user \"$USERNS\" map");
    let stdout = common::assert_ok(&out);
    let got: Vec<Vec<String>> = rows(&stdout).into_iter().map(|r| r[..4].to_vec()).collect();
    assert_eq!(got[0], row("uid 0 2000 1"));
    assert_eq!(got[1][..3], row("uid 1 200000")[..]);
    // 65535 with util-linux 2.38 (one id lost), 65536 once fixed upstream.
    assert!(["65535", "65536"].contains(&got[1][3].as_str()), "{stdout}");
    assert_eq!(got[2], row("gid 0 2000 1"));
    assert_eq!(got[3][..3], row("gid 1 300000")[..]);
    let owners: Vec<String> = stdout
        .split("\n\n")
        .nth(1)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().skip(4).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(owners[0], "own uid of ivy");
    assert_eq!(owners[1], "subuid of ivy (/etc/subuid:1)");
    assert_eq!(owners[2], "own gid of ivy");
    assert_eq!(owners[3], "subgid of ivy (/etc/subgid:1)");

    // Another user's process: the map files (mode 0444) read, the namespace link needs
    // ptrace access, and the table says why its inode is missing instead of failing.
    let out = sc.run(&["map", "1"]);
    let stdout = common::assert_ok(&out);
    assert!(
        stdout.contains(
            "user namespace: unknown (cannot stat /proc/1/ns/user of process 1, owned by root \
             (uid 0): Permission denied (os error 13); fix: run as root; reading another \
             user's namespace needs ptrace access)\n"
        ),
        "{stdout}"
    );
    let daemon = Live::start(&[
        "setpriv",
        "--reuid=1",
        "--regid=1",
        "--clear-groups",
        "sleep",
        "30",
    ]);
    let out = sc.run(&["map", &daemon.pid()]);
    let stdout = common::assert_ok(&out);
    assert!(
        stdout.contains("owned by daemon (uid 1): Permission denied (os error 13); fix: run as daemon or as root;"),
        "{stdout}"
    );

    let out = sc.run(&["map", "--plan"]);
    let stdout = common::assert_ok(&out);
    assert!(
        stdout.contains("newuidmap PID 0 2000 1 1 200000 65536\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("newgidmap PID 0 2000 1 1 300000 65536\n"),
        "{stdout}"
    );
}
