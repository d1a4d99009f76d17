//! Owners and modes as the headers say, through the real `userns run` as the fixture user,
//! now that the unpacker makes a file with its permission bits and calls chown and chmod
//! only when what the directory gives a new file differs (src/image/parents.rs):
//! permission bits the umask takes away, setuid and setgid bits (set after chown, which
//! clears them), a setgid directory that gives its group to new files, a directory whose
//! default ACL takes the umask's place, symlinks whose owner is or is not the one a new
//! file gets.

mod common;
mod image_support;

use common::Scenario;
use image_support::{outside, path_str, Scratch};
use serde_json::json;
use std::path::PathBuf;

/// user::rw-, group::r--, other::--- as a `system.posix_acl_default` value (version 2,
/// then tag, permissions and id of each entry, little-endian).
const DEFAULT_ACL_640: &str = "hex:02000000\
                               01000600ffffffff\
                               04000400ffffffff\
                               20000000ffffffff";

#[test]
fn owners_and_modes_are_the_headers_whatever_a_new_file_gets() {
    let Some(scn) = Scenario::new("image_modes") else {
        return;
    };
    let data = scn.scratch().join("data");
    let scn = scn.env("XDG_DATA_HOME", path_str(&data));
    let s = Scratch::new("image_modes");
    // (path, uid, gid, mode) of every file and symlink below, as the headers say.
    let files: &[(&str, u32, u32, u32)] = &[
        ("plain/a", 0, 0, 0o644),
        ("plain/b", 0, 0, 0o777),
        ("plain/c", 0, 0, 0o4755),
        ("plain/d", 5, 5, 0o2755),
        ("plain/e", 0, 7, 0o600),
        ("plain/f", 0, 0, 0o000),
        ("plain/g", 0, 0, 0o1777),
        ("sg/a", 0, 0, 0o644),
        ("sg/b", 0, 33, 0o664),
        ("sg/c", 0, 33, 0o6755),
        ("acl/a", 0, 0, 0o755),
        ("acl/b", 0, 0, 0o644),
        ("acl/c", 0, 0, 0o600),
        ("acl/d", 0, 0, 0o4750),
    ];
    let links: &[(&str, u32, u32)] = &[("plain/s", 9, 9), ("plain/t", 0, 0), ("sg/l", 0, 0)];
    let mut entries = vec![
        json!({"path": "bin/", "type": "dir"}),
        json!({"path": "bin/busybox", "file": "/bin/busybox", "mode": 0o755}),
        json!({"path": "bin/true", "type": "symlink", "target": "busybox"}),
        json!({"path": "plain/", "type": "dir"}),
        json!({"path": "sg/", "type": "dir", "gid": 33, "mode": 0o2775}),
        json!({"path": "acl/", "type": "dir",
               "xattrs": {"system.posix_acl_default": DEFAULT_ACL_640}}),
    ];
    // As a tar lists a directory: its entries one after another, files then symlinks
    // (so that a symlink's owner is weighed against what a new file got there).
    for dir in ["plain/", "sg/", "acl/"] {
        for (path, uid, gid, mode) in files.iter().filter(|f| f.0.starts_with(dir)) {
            entries.push(json!({"path": path, "data": path, "uid": uid, "gid": gid, "mode": mode}));
        }
        for (path, uid, gid) in links.iter().filter(|l| l.0.starts_with(dir)) {
            entries.push(
                json!({"path": path, "type": "symlink", "target": "a", "uid": uid, "gid": gid}),
            );
        }
    }
    let layer = s.layer("modes", serde_json::Value::Array(entries));
    let built = s.docker_archive("modes", json!({"config": {}}), &[&layer]);
    let archive: PathBuf = scn.scratch().join("modes.tar");
    std::fs::copy(&built, &archive).unwrap();

    let script = format!(
        "\"$USERNS\" run '{}' true || exit 1\n\
         cd \"$XDG_DATA_HOME\"/userns/images/*/rootfs || exit 1\n\
         getfacl -cd acl 2>&1 | tr '\\n' ' '; echo\n\
         for p in plain/* sg/* acl/*; do stat -c '%n %u %g %a' \"$p\"; done",
        archive.display()
    );
    let out = scn.sh(&script);
    let text = common::assert_ok(&out);
    let mut lines = text.lines();
    let acl = lines.next().unwrap_or_default();
    assert!(
        acl.contains("user::rw-") && acl.contains("other::---"),
        "the directory's default ACL was set: {acl}"
    );
    let got: Vec<&str> = lines.collect();
    let user = scn.uid();
    let mut expected: Vec<String> = files
        .iter()
        .map(|(p, u, g, m)| format!("{p} {} {} {m:o}", outside(*u, user), outside(*g, user)))
        .chain(
            links
                .iter()
                .map(|(p, u, g)| format!("{p} {} {} 777", outside(*u, user), outside(*g, user))),
        )
        .collect();
    expected.sort();
    let mut got_sorted: Vec<String> = got.iter().map(|l| l.to_string()).collect();
    got_sorted.sort();
    assert_eq!(got_sorted, expected, "owner and mode of every file");
}
