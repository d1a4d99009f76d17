//! `userns map --plan`, run as the real binary with fixture subid files and accounts that
//! exist on Debian (root, daemon uid 1, nobody).

use std::path::Path;

mod map_support;

use map_support::{rows, run};

fn row(words: &str) -> Vec<String> {
    words.split_whitespace().map(String::from).collect()
}

fn write(dir: &Path, name: &str, contents: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p.display().to_string()
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

#[test]
fn plan_for_an_existing_account() {
    // daemon (uid 1, gid 1) exists on Debian; plans for it need no privilege.
    let dir = tempfile::tempdir().unwrap();
    let subuid = write(
        dir.path(),
        "subuid",
        "daemon:100000:65536\nbob:500:5\ndaemon:7:0\ndaemon:x:5\n1:300000:10\ndaemon:0:3\n",
    );
    let subgid = write(dir.path(), "subgid", "daemon:200000:1000\n");
    let (code, out, err) = run(&[
        "map", "--plan", "--user", "daemon", "--subuid", &subuid, "--subgid", &subgid,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "maps userns unshare would ask for daemon (uid 1, gid 1):\n\n\
             KIND  INSIDE  OUTSIDE  COUNT  OWNER\n\
             uid   0       1        1      own uid of daemon, subuid of daemon ({subuid}:6)\n\
             uid   1       100000   65536  subuid of daemon ({subuid}:1)\n\
             uid   65537   300000   10     subuid of 1 ({subuid}:5)\n\
             gid   0       1        1      own gid of daemon\n\
             gid   1       200000   1000   subgid of daemon ({subgid}:1)\n\
             \n\
             newuidmap PID 0 1 1 1 100000 65536 65537 300000 10\n\
             newgidmap PID 0 1 1 1 200000 1000\n"
        )
    );
    assert_eq!(
        err,
        format!(
            "userns: warning: {subuid}:3: left out: count is 0\n\
             userns: warning: {subuid}:4: left out: not an entry \"daemon:x:5\": START \"x\" is not a number; shadow's tools skip it silently\n\
             userns: warning: {subuid}:6: left out: range contains the owner's own uid 1\n"
        )
    );

    let (code, json, _) = run(&[
        "map", "--plan", "--user", "daemon", "--subuid", &subuid, "--subgid", &subgid, "--json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["plans"][0]["command"],
        "newuidmap PID 0 1 1 1 100000 65536 65537 300000 10"
    );
    assert_eq!(v["plans"][0]["left_out"][1]["line"], 4);
    assert_eq!(v["plans"][0]["left_out"][2]["line"], 6);
    assert_eq!(v["plans"][1]["entries"][1]["outside"], 200000);
}

#[test]
fn plan_without_an_entry_names_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let subuid = write(dir.path(), "subuid", "daemon:100000:65536\n");
    let (code, out, err) = run(&[
        "map", "--plan", "--user", "nobody", "--subuid", &subuid, "--subgid", &subuid,
    ]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    // 100000-165535 is daemon's: the fix names the range `subid add` would allocate.
    assert_eq!(
        err,
        format!(
            "userns: nobody has no subuid range: {subuid} has no line for nobody (by name or uid)\n  \
             fix: as root: usermod --add-subuids 165536-231071 nobody (or userns subid add nobody); \
             or use --single to map only your own id\n"
        )
    );
    // Only unusable lines: the error lists each with its line.
    let bad = write(dir.path(), "bad", "daemon:1:10\ndaemon:5:0\n");
    let (code, _, err) = run(&[
        "map", "--plan", "--user", "daemon", "--subuid", &bad, "--subgid", &bad,
    ]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("userns: no usable subuid range for daemon: {bad}:1: left out: range contains the owner's own uid 1; {bad}:2: left out: count is 0")), "{err}");

    let (code, _, err) = run(&["map", "--plan", "--user", "no-such-user-here"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("userns: no such user: no-such-user-here"),
        "{err}"
    );
}

#[test]
fn plan_for_root() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "empty", "");
    let (code, out, err) = run(&[
        "map", "--plan", "--user", "root", "--subuid", &empty, "--subgid", &empty,
    ]);
    if euid() == 0 {
        // Root without subid ranges may map every id: the identity map, written directly.
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            rows(&out),
            [
                row("uid 0 0 4294967295 identity (initial namespace)"),
                row("gid 0 0 4294967295 identity (initial namespace)"),
            ]
        );
        assert!(out.ends_with(
            "as root, userns writes /proc/PID/uid_map itself: 0 0 4294967295\n\
             as root, userns writes /proc/PID/gid_map itself: 0 0 4294967295\n"
        ));
        let ranges = write(dir.path(), "root", "root:500000:100\n");
        let (code, out, _) = run(&["map", "--plan", "--subuid", &ranges, "--subgid", &ranges]);
        assert_eq!(code, 0);
        assert!(out.contains("newuidmap PID 0 0 1 1 500000 100\n"), "{out}");
        assert!(out.contains("newgidmap PID 0 0 1 1 500000 100\n"), "{out}");
    } else {
        assert_eq!(code, 1);
        assert!(err.starts_with("userns: root has no subuid range"), "{err}");
    }
}
