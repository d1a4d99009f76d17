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
