//! `userns chown` and `userns stat` end to end, as the fixture user ivy (2000, subids
//! 200000:65536, so container id N is host id 200000+N-1).

mod common;

use common::{assert_code, assert_ok, describe, stderr, Scenario};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn owner(path: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(path).unwrap();
    (m.uid(), m.gid())
}

#[test]
fn chown_gives_a_volume_to_a_container_user_and_back() {
    let Some(s) = Scenario::new("chown_volume_round_trip") else {
        return;
    };
    assert_ok(&s.sh(
        "mkdir -p data/sub/deeper outside && echo x > data/f && echo y > data/sub/deeper/g && \
         echo keep > outside/target && ln -s \"$HOME/outside/target\" data/link && \
         ln -s \"$HOME/outside\" data/sub/dirlink && chmod 000 data/sub/deeper",
    ));
    let data = s.home().join("data");
    assert_ok(&s.run(&["chown", "-R", "1000:1000", "data"]));
    for p in [
        "",
        "f",
        "sub",
        "sub/deeper",
        "sub/deeper/g",
        "link",
        "sub/dirlink",
    ] {
        assert_eq!(owner(&data.join(p)), (200999, 200999), "{p}");
    }
    // Symlinks changed themselves, never their targets.
    let outside = s.home().join("outside");
    assert_eq!(owner(&outside), (2000, 2000));
    assert_eq!(owner(&outside.join("target")), (2000, 2000));

    // The user cannot take it back outside the namespace; chown 0:0 can.
    assert!(!s.sh("chown -R 2000:2000 data 2>/dev/null").status.success());
    assert_ok(&s.run(&["chown", "-R", "0:0", "data"]));
    for p in ["", "f", "sub/deeper/g", "link"] {
        assert_eq!(owner(&data.join(p)), (2000, 2000), "{p}");
    }

    // Host ids, translated: 200004 is container id 5.
    assert_ok(&s.run(&["chown", "-R", "--from-host", "200004:2000", "data"]));
    assert_eq!(owner(&data.join("sub/deeper/g")), (200004, 2000));
    // Not recursive: only the named file, and with -h a symlink named is changed itself.
    assert_ok(&s.run(&["chown", "-h", "7", "data/link"]));
    assert_eq!(owner(&data.join("link")), (200006, 2000));
    assert_eq!(owner(&outside.join("target")), (2000, 2000));
    assert_eq!(owner(&data.join("f")), (200004, 2000));
}

#[test]
fn chown_refuses_unmapped_ids_and_foreign_trees() {
    let Some(s) = Scenario::new("chown_refusals") else {
        return;
    };
    assert_ok(&s.sh("mkdir data"));
    let out = s.run(&["chown", "-R", "70000", "data"]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("uid 70000 is not mapped") && err.contains("1-65536 (host 200000-265535)"),
        "{}",
        describe(&out)
    );
    let out = s.run(&["chown", "--from-host", "1234", "data"]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("200000-265535 (inside 1-65536)"),
        "{}",
        describe(&out)
    );
    let out = s.run(&["chown", "-R", "0:0", "/etc"]);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("owned by uid 0"),
        "{}",
        describe(&out)
    );
    let home = s.home().display().to_string();
    let out = s.run(&["chown", "-R", "1000", &home]);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("your home directory"),
        "{}",
        describe(&out)
    );
    assert_eq!(owner(&s.home()), (2000, 2000));
}

#[test]
fn stat_shows_both_views() {
    let Some(s) = Scenario::new("stat_both_views") else {
        return;
    };
    assert_ok(&s.sh(
        "$USERNS unshare sh -c 'mkdir d && printf abc > d/f && chown 1000:33 d/f && chmod 640 d/f && ln -s f d/l'",
    ));
    let out = assert_ok(&s.run(&["stat", "--json", "d/f", "d", "d/l"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let f = &v[0];
    assert_eq!(f["type"], "file");
    assert_eq!(f["mode"], "0640");
    assert_eq!(f["size"], 3);
    assert_eq!(f["host"]["uid"], 200999);
    assert_eq!(f["host"]["gid"], 200032);
    assert_eq!(f["namespace"]["uid"], 1000);
    assert_eq!(f["namespace"]["gid"], 33);
    assert_eq!(v[1]["type"], "directory");
    assert_eq!(v[1]["namespace"]["uid"], 0);
    assert_eq!(v[1]["host"]["uid"], 2000);
    assert_eq!(v[2]["type"], "symlink");

    let text = assert_ok(&s.run(&["stat", "d/f", "/etc/passwd"]));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("PATH"), "{text}");
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        row,
        ["d/f", "file", "0640", "3", "200999:200032", "1000:33"]
    );
    let row: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(&row[4..], ["0:0", "unmapped:unmapped"]);

    let out = s.run(&["stat", "missing"]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains("missing"), "{}", describe(&out));
}
