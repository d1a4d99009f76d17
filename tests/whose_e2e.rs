//! `userns whose` end to end, as the fixture user ivy (2000, subids 200000:65536, so
//! container id N is host id 200000+N-1), beside bob, who has 300000:65536.

mod common;

use common::{assert_code, assert_ok, describe, stderr, Scenario};
use serde_json::Value;
use std::os::unix::fs::chown;

const SUBUID: &str = "ivy:200000:65536\nbob:300000:65536\n";

fn scenario(name: &str) -> Option<Scenario> {
    Scenario::new(name).map(|s| {
        s.subuid(SUBUID)
            .subgid(SUBUID)
            .extra_passwd("bob:x:2001:2001::/nonexistent:/bin/sh")
    })
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_str(&assert_ok(out)).unwrap_or_else(|e| panic!("{e}: {}", describe(out)))
}

#[test]
fn whose_names_each_kind_of_id() {
    let Some(s) = scenario("whose_each_kind") else {
        return;
    };
    assert_ok(&s.sh(
        "mkdir d && $USERNS unshare sh -c 'echo x > d/sub && chown 1000:33 d/sub && echo me > d/mine'",
    ));
    let d = s.home().join("d");
    // Ids ivy cannot give away herself, set by root (the test).
    for (name, uid) in [
        ("bobs", 300005),
        ("roots", 0),
        ("www", 33),
        ("nobodys", 4_000_000),
    ] {
        std::fs::write(d.join(name), "x").unwrap();
        chown(d.join(name), Some(uid), Some(uid)).unwrap();
    }
    let v = json(&s.run(&[
        "whose",
        "--json",
        "d/mine",
        "d/sub",
        "d/bobs",
        "d/roots",
        "d/www",
        "d/nobodys",
    ]));
    let owner = |i: usize| &v[i]["owner"];
    assert_eq!(owner(0)["belongs"]["kind"], "own");
    assert_eq!(owner(0)["inside"], 0);
    assert_eq!(owner(0)["host"], 2000);

    assert_eq!(owner(1)["host"], 200999);
    assert_eq!(owner(1)["inside"], 1000);
    assert_eq!(owner(1)["belongs"]["kind"], "sub-id");
    assert_eq!(owner(1)["belongs"]["mine"], true);
    assert_eq!(owner(1)["belongs"]["source"], "/etc/subuid");
    assert_eq!(owner(1)["belongs"]["line"], 1);
    assert_eq!(v[1]["group"]["host"], 200032);
    assert_eq!(v[1]["group"]["inside"], 33);

    assert_eq!(owner(2)["belongs"]["kind"], "sub-id");
    assert_eq!(owner(2)["belongs"]["user"], "bob");
    assert_eq!(owner(2)["belongs"]["mine"], false);
    assert_eq!(owner(2)["belongs"]["line"], 2);
    assert_eq!(owner(2)["inside"], Value::Null);

    assert_eq!(owner(3)["belongs"]["kind"], "root");
    assert_eq!(owner(4)["belongs"]["kind"], "account");
    assert_eq!(owner(4)["belongs"]["system"], true);
    assert_eq!(owner(5)["belongs"]["kind"], "no-one");
    assert_eq!(owner(5)["meaning"], "no one can chown it back without root");

    // The text says the same for people.
    let text = assert_ok(&s.run(&["whose", "d/sub", "d/bobs", "d/nobodys"]));
    assert!(
        text.contains("owner 200999: your subuid of ivy (/etc/subuid:1, 200000-265535); uid 1000 in your namespace"),
        "{text}"
    );
    assert!(
        text.contains("owner 300005: a subuid of bob, not yours (/etc/subuid:2, 300000-365535); not mapped in your namespace"),
        "{text}"
    );
    assert!(
        text.contains("owner 4000000: no one (no account, no subordinate range)")
            && text.contains("no one can chown it back without root"),
        "{text}"
    );

    let out = s.run(&["whose", "d/missing"]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains("d/missing"), "{}", describe(&out));
}

#[test]
fn whose_recursive_counts_per_owner_and_names_the_podman_image() {
    let Some(s) = scenario("whose_tree") else {
        return;
    };
    // 3 files of container user 1000 (one with a second hard link), 2 of user 0, a
    // symlink out of the tree.
    assert_ok(&s.sh(
        "mkdir -p out && echo big > out/big && $USERNS unshare sh -c '\
         mkdir -p t/a && printf 1234 > t/a/f1 && printf 12 > t/a/f2 && printf 1 > t/f3 && \
         ln t/a/f1 t/a/hard && chown -R 1000:1000 t/a t/f3 && \
         echo r > t/r1 && echo r > t/r2 && ln -s ../out t/link'",
    ));
    let v = json(&s.run(&["whose", "-R", "--json", "t"]));
    let t = &v[0];
    assert_eq!(t["directories"], 2, "{t}");
    assert_eq!(t["files"], 6, "f1 (once), f2, f3, r1, r2, link: {t}");
    let owners = t["owners"].as_array().unwrap();
    let line = |host: u64| owners.iter().find(|o| o["host"] == host).unwrap();
    assert_eq!(line(200999)["files"], 3);
    assert_eq!(line(200999)["directories"], 1);
    assert_eq!(line(200999)["inside"], 1000);
    assert_eq!(line(200999)["bytes"].as_u64().unwrap(), 4 + 2 + 1 + 4096);
    assert_eq!(line(2000)["files"], 3);
    assert_eq!(line(2000)["inside"], 0);
    let text = assert_ok(&s.run(&["whose", "-R", "t"]));
    assert!(text.contains("6 files, 2 directories"), "{text}");
    assert!(text.contains("your subuid of ivy"), "{text}");

    // A file of an image imported into podman is traced to its layer and image.
    let tar = r#"python3 - <<'PY'
import io, tarfile
with tarfile.open("tiny.tar", "w") as t:
    for name, uid in [("etc", 0), ("app", 1000)]:
        info = tarfile.TarInfo(name)
        info.uid = info.gid = uid
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        t.addfile(info)
    info = tarfile.TarInfo("app/data")
    info.uid = info.gid = 1000
    info.size, info.mode = 6, 0o644
    t.addfile(info, io.BytesIO(b"hello\n"))
PY
podman import -q tiny.tar localhost/whose-tiny >/dev/null && \
find .local/share/containers/storage -path '*/app/data' | head -1; rc=$?; \
kill $(cat "$XDG_RUNTIME_DIR/libpod/tmp/pause.pid") 2>/dev/null; exit $rc"#;
    let found = assert_ok(&s.sh(tar));
    let data = found.trim();
    assert!(
        !data.is_empty(),
        "the imported file is somewhere in podman's storage"
    );
    let v = json(&s.run(&["whose", "--json", data]));
    assert_eq!(v[0]["owner"]["host"], 200999);
    assert_eq!(v[0]["origin"]["kind"], "podman-image", "{v}");
    let text = v[0]["origin"]["text"].as_str().unwrap();
    assert!(text.contains("localhost/whose-tiny:latest"), "{text}");
}

/// Root (the test) makes `c`, a container's directory of container uid 500 (host
/// 200499), mode 0700, closed to ivy on the host, holding files of several owners: ivy,
/// her subuid 200999, bob's 300005, root, an id nobody holds, and a 0700 directory of
/// bob's that stays closed even inside ivy's namespace.
fn closed_container_dir(s: &Scenario) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let c = s.home().join("c");
    std::fs::create_dir_all(c.join("inner")).unwrap();
    for (name, id, size) in [
        ("mine", s.uid(), 1),
        ("inner/sub", 200999, 2),
        ("bobs", 300005, 3),
        ("roots", 0, 4),
        ("nobodys", 4_000_000, 5),
    ] {
        std::fs::write(c.join(name), vec![b'x'; size]).unwrap();
        chown(c.join(name), Some(id), Some(id)).unwrap();
    }
    std::fs::create_dir(c.join("bobdir")).unwrap();
    std::fs::write(c.join("bobdir/secret"), "x").unwrap();
    chown(c.join("bobdir"), Some(300005), Some(300005)).unwrap();
    std::fs::set_permissions(c.join("bobdir"), std::fs::Permissions::from_mode(0o700)).unwrap();
    chown(c.join("inner"), Some(200999), Some(200999)).unwrap();
    std::fs::set_permissions(c.join("inner"), std::fs::Permissions::from_mode(0o700)).unwrap();
    chown(&c, Some(200499), Some(200499)).unwrap();
    std::fs::set_permissions(&c, std::fs::Permissions::from_mode(0o700)).unwrap();
    c
}

#[test]
fn whose_answers_inside_a_directory_closed_to_the_user() {
    let Some(s) = scenario("whose_closed_dir") else {
        return;
    };
    closed_container_dir(&s);
    // Closed on the host, as the issue's "unreadable file under ~/.local".
    assert_code(&s.sh("ls c"), 2);

    let v = json(&s.run(&[
        "whose",
        "--json",
        "c/mine",
        "c/inner/sub",
        "c/bobs",
        "c/roots",
        "c/nobodys",
    ]));
    let host = |i: usize| (v[i]["owner"]["host"].clone(), v[i]["group"]["host"].clone());
    assert_eq!(host(0), (2000.into(), 2000.into()), "{v}");
    assert_eq!(v[0]["owner"]["belongs"]["kind"], "own");
    assert_eq!(host(1), (200999.into(), 200999.into()), "{v}");
    assert_eq!(v[1]["owner"]["inside"], 1000);
    assert_eq!(v[1]["size"], 2);
    // Not mapped in ivy's namespace (65534 there): the host's ids, not the overflow id.
    assert_eq!(host(2), (300005.into(), 300005.into()), "{v}");
    assert_eq!(v[2]["owner"]["belongs"]["user"], "bob");
    assert_eq!(v[2]["owner"]["inside"], Value::Null);
    assert_eq!(host(3), (0.into(), 0.into()), "{v}");
    assert_eq!(v[3]["owner"]["belongs"]["kind"], "root");
    assert_eq!(host(4), (4_000_000.into(), 4_000_000.into()), "{v}");
    assert_eq!(v[4]["owner"]["belongs"]["kind"], "no-one");

    // bob's closed directory stays closed: the kernel gives ivy's namespace no power
    // over ids outside her ranges.
    let out = s.run(&["whose", "c/bobdir/secret"]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("c/bobdir/secret"), "{err}");
    assert!(err.contains("ids outside your ranges"), "{err}");

    let out = s.run(&["whose", "-R", "--json", "c"]);
    assert_code(&out, 1); // bobdir could not be read
    let v: Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    let t = &v[0];
    let owners = t["owners"].as_array().unwrap();
    let line = |host: u64| {
        owners
            .iter()
            .find(|o| o["host"] == host)
            .unwrap_or_else(|| panic!("no line for {host}: {t}"))
    };
    assert_eq!(line(200499)["directories"], 1, "c itself: {t}");
    assert_eq!(line(200499)["inside"], 500);
    assert_eq!(line(200999)["directories"], 1, "inner: {t}");
    assert_eq!(line(200999)["files"], 1, "inner/sub: {t}");
    assert_eq!(line(2000)["files"], 1);
    // bobs; bobdir could not be opened (a failure below), so neither it nor its file.
    assert_eq!(line(300005)["files"], 1, "{t}");
    assert_eq!(line(0)["files"], 1);
    assert_eq!(line(4_000_000)["files"], 1);
    assert!(
        owners.iter().all(|o| o["host"] != 65534),
        "no overflow id: {t}"
    );
    assert_eq!(t["files"], 5, "{t}");
    assert_eq!(t["directories"], 2, "{t}");
    let failures = t["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{t}");
    assert!(
        failures[0]["path"].as_str().unwrap().ends_with("c/bobdir"),
        "{t}"
    );

    // An open directory of ivy's full of ids her namespace does not map (root's, bob's):
    // asked about on the host by name, a directory at a time.
    let open = s.home().join("open");
    std::fs::create_dir(&open).unwrap();
    chown(&open, Some(s.uid()), Some(s.gid())).unwrap();
    for i in 0..300 {
        let f = open.join(format!("f{i}"));
        std::fs::write(&f, "x").unwrap();
        let id = if i % 2 == 0 { 0 } else { 300005 };
        chown(&f, Some(id), Some(id)).unwrap();
    }
    let v = json(&s.run(&["whose", "-R", "--json", "open"]));
    let owners = v[0]["owners"].as_array().unwrap();
    let files = |host: u64| {
        owners
            .iter()
            .find(|o| o["host"] == host)
            .map(|o| o["files"].clone())
    };
    assert_eq!(files(0), Some(150.into()), "{v}");
    assert_eq!(files(300005), Some(150.into()), "{v}");
    assert_eq!(v[0]["failures"].as_array().unwrap().len(), 0, "{v}");

    // A tree of root's is walked on the host (every entry would need the host's stat);
    // a closed directory of ivy's ids in it is named, and answered when given itself.
    let rooted = s.home().join("rooted");
    std::fs::create_dir(&rooted).unwrap();
    std::fs::rename(s.home().join("c"), rooted.join("c")).unwrap();
    let out = s.run(&["whose", "-R", "rooted"]);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("give such a directory as PATH"),
        "{}",
        describe(&out)
    );
    let v = json(&s.run(&["whose", "-R", "--json", "rooted/c/inner"]));
    assert_eq!(v[0]["files"], 1, "{v}");
}

#[test]
fn whose_without_ranges_answers_from_the_host_and_says_what_it_cannot_read() {
    let Some(s) = Scenario::new("whose_no_ranges").map(|s| {
        s.subuid("bob:300000:65536\n")
            .subgid("bob:300000:65536\n")
            .extra_passwd("bob:x:2001:2001::/nonexistent:/bin/sh")
    }) else {
        return;
    };
    closed_container_dir(&s);
    let out = s.run(&["whose", "c/inner/sub"]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("c/inner"), "{err}");
    assert!(err.contains("as root of your own user namespace"), "{err}");
    assert!(err.contains("subordinate"), "{err}");

    let out = s.run(&["whose", "-R", "--json", "c"]);
    assert_code(&out, 1);
    let v: Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    let t = &v[0];
    // c itself, from the host's stat; nothing inside.
    assert_eq!(t["directories"], 1, "{t}");
    assert_eq!(t["owners"][0]["host"], 200499, "{t}");
    assert_eq!(t["failures"].as_array().unwrap().len(), 1, "{t}");
    assert!(
        stderr(&out).contains("1 place could not be read"),
        "{}",
        stderr(&out)
    );
}

/// whose follows no symlink out of the tree, inside the namespace too: a container's
/// symlink (owned by a subordinate id) pointing at a file of root's is described as the
/// link, and a PATH through it is refused.
#[test]
fn whose_inside_follows_no_container_symlink() {
    let Some(s) = scenario("whose_closed_symlink") else {
        return;
    };
    let c = closed_container_dir(&s);
    std::os::unix::fs::symlink("/etc/shadow", c.join("inner/link")).unwrap();
    std::os::unix::fs::lchown(c.join("inner/link"), Some(200999), Some(200999)).unwrap();
    let v = json(&s.run(&["whose", "--json", "c/inner/link"]));
    assert_eq!(v[0]["type"], "symlink", "{v}");
    assert_eq!(v[0]["owner"]["host"], 200999);
    let out = s.run(&["whose", "c/inner/link/x"]);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("refusing to follow the symlink"),
        "{}",
        describe(&out)
    );
    let v: Value = serde_json::from_str(&common::stdout(
        &s.run(&["whose", "-R", "--json", "c/inner"]),
    ))
    .unwrap();
    assert_eq!(v[0]["files"], 2, "sub and the link itself: {v}");
    assert!(
        v[0]["owners"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["host"] != 0),
        "nothing of root's (the link's target) counted: {v}"
    );
}
