//! `userns migrate` end to end, as the fixture user ivy (2000): files made in her
//! namespaces while her subordinate ids were 200000:65536 move to 300000:65536 (or to an
//! overlapping 210000:65536), keeping what each container sees inside.

mod common;

use common::{assert_code, assert_ok, describe, stderr, stdout, Scenario};
use serde_json::Value;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const OLD: &str = "ivy:200000:65536\n";

fn set_subids(s: &Scenario, text: &str) {
    for f in ["subuid", "subgid"] {
        std::fs::write(s.etc().join(f), text).unwrap();
    }
}

/// A volume with several owners, a setuid file, a hard link, ACLs (access and default),
/// a capability set by the namespace's root (root id = ivy's own uid) and one set in a
/// namespace whose root is subordinate id 200000 (root id 200000), and set times.
const BUILD: &str = r#"set -e
$USERNS unshare sh -c '
set -e
mkdir -p vol/sub vol/deep/er
echo a > vol/a && chown 1000:1000 vol/a
echo b > vol/sub/b && chown 33:44 vol/sub/b
echo r > vol/r
cp /bin/true vol/suid && chown 1000:1000 vol/suid && chmod 4755 vol/suid
cp /bin/true vol/sgid && chown 7:7 vol/sgid && chmod 2755 vol/sgid
ln vol/a vol/sub/a-link
touch vol/acl && setfacl -m u:1000:r,g:33:rw vol/acl && setfacl -d -m u:7:rwx,g:8:rx vol/sub
cp /bin/true vol/capped && setcap cap_net_raw+ep vol/capped
cp /bin/true vol/capped-sub && chown 1000:1000 vol/capped-sub
chown -R 500:500 vol/deep
touch -h -d "2001-02-03 04:05:06" vol/a vol/suid vol/acl vol/deep/er vol/sub
'
unshare --map-users=200000,0,1000 --map-groups=200000,0,1000 --setuid 0 --setgid 0 \
    setcap cap_net_bind_service+ep "$HOME/vol/capped-sub"
"#;

/// What the namespace shows: owners, modes, links, mtimes, ACLs, capabilities.
const SNAPSHOT: &str = r#"$USERNS unshare sh -c '
cd vol && find . | sort | while read -r f; do stat -c "%n %u:%g %a %h %Y" "$f"; done
getfacl -n -p acl sub 2>/dev/null
getcap capped
' && unshare --map-users=${ROOT_ID},0,1000 --map-groups=${ROOT_ID},0,1000 --setuid 0 --setgid 0 getcap "$HOME/vol/capped-sub""#;

fn snapshot(s: &Scenario, root_id: u32) -> String {
    let script = SNAPSHOT.replace("${ROOT_ID}", &root_id.to_string());
    assert_ok(&s.sh(&script))
}

fn owner(path: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(path).unwrap();
    (m.uid(), m.gid())
}

/// The root id of a v3 capability attribute, read by root (the test) on the host.
fn cap_rootid(path: &Path) -> Option<u32> {
    let mut buf = [0u8; 64];
    let n = rustix::fs::getxattr(path, "security.capability", &mut buf[..]).ok()?;
    (n == 24).then(|| u32::from_le_bytes([buf[20], buf[21], buf[22], buf[23]]))
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", describe(out)))
}

#[test]
fn migrate_keeps_ids_inside_and_every_attribute() {
    let Some(s) = Scenario::new("migrate_attributes").map(|s| s.subuid(OLD).subgid(OLD)) else {
        return;
    };
    assert_ok(&s.sh(BUILD));
    let vol = s.home().join("vol");
    assert_eq!(owner(&vol.join("a")), (200999, 200999));
    assert_eq!(cap_rootid(&vol.join("capped")), Some(2000));
    assert_eq!(cap_rootid(&vol.join("capped-sub")), Some(200000));
    let before = snapshot(&s, 200000);
    assert!(before.contains("user:1000:r--"), "{before}");
    assert!(before.contains("cap_net_raw=ep"), "{before}");
    assert!(before.contains("cap_net_bind_service=ep"), "{before}");

    // The admin moves ivy to 300000:65536 and keeps the old range granted for the move.
    set_subids(&s, "ivy:300000:65536\nivy:200000:65536\n");
    let dry = s.run(&["migrate", "-n", "--json", "vol"]);
    let v = json(&dry);
    assert_code(&dry, 0);
    assert_eq!(v["action"], "dry-run");
    assert_eq!(
        v["old"]["uid_map"],
        serde_json::json!([[0, 2000, 1], [1, 200000, 65536]])
    );
    assert_eq!(
        v["new"]["uid_map"],
        serde_json::json!([[0, 2000, 1], [1, 300000, 65536]])
    );
    assert!(
        v["old_source"].as_str().unwrap().contains("plans.json"),
        "{v}"
    );
    assert_eq!(v["trees"][0]["setid_restored"], 2, "{v}");
    assert_eq!(v["trees"][0]["capabilities"], 1, "{v}");
    assert_eq!(
        owner(&vol.join("a")),
        (200999, 200999),
        "a dry run changes nothing"
    );

    let out = s.run(&["migrate", "--yes", "--json", "vol"]);
    let v = json(&out);
    assert_code(&out, 0);
    assert_eq!(v["action"], "migrated", "{}", describe(&out));
    assert_eq!(owner(&vol.join("a")), (300999, 300999));
    assert_eq!(owner(&vol.join("sub/b")), (300032, 300043));
    assert_eq!(owner(&vol.join("r")), (2000, 2000));
    assert_eq!(cap_rootid(&vol.join("capped")), Some(2000));
    assert_eq!(cap_rootid(&vol.join("capped-sub")), Some(300000));
    let suid = std::fs::metadata(vol.join("suid")).unwrap();
    assert_eq!(suid.mode() & 0o7777, 0o4755);
    assert_eq!(
        std::fs::metadata(vol.join("sub/a-link")).unwrap().ino(),
        std::fs::metadata(vol.join("a")).unwrap().ino()
    );

    // The old range goes; the namespace shows exactly what it showed before.
    set_subids(&s, "ivy:300000:65536\n");
    let after = snapshot(&s, 300000);
    assert_eq!(after, before);

    // A second run with the same old map finds nothing left to move.
    set_subids(&s, "ivy:300000:65536\nivy:200000:65536\n");
    assert_ok(&s.sh("printf '0 2000 1\\n1 200000 65536\\n' > old-map"));
    let again = s.run(&[
        "migrate",
        "--yes",
        "--json",
        "--from-map",
        "old-map:old-map",
        "vol",
    ]);
    let v = json(&again);
    assert_eq!(v["trees"][0]["changed"], 0, "{v}");
    assert_eq!(owner(&vol.join("a")), (300999, 300999));
}
