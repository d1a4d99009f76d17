//! `userns migrate` end to end, as the fixture user ivy (2000): files made in her
//! namespaces while her subordinate ids were 200000:65536 move to 300000:65536 (or to an
//! overlapping 210000:65536), keeping what each container sees inside.

mod common;
#[path = "run_support/mod.rs"]
mod run_support;

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

    // A kept namespace, made with the old map, to be refreshed.
    assert_ok(&s.run(&["unshare", "--name", "old-ns", "true"]));

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
    // It says what the move would stop, and stops nothing.
    assert!(
        v["notes"]
            .to_string()
            .contains("would stop kept namespace old-ns"),
        "{v}"
    );
    assert!(assert_ok(&s.run(&["ls"])).contains("old-ns"));
    assert_eq!(
        owner(&vol.join("a")),
        (200999, 200999),
        "a dry run changes nothing"
    );

    let out = s.run(&["migrate", "--yes", "--json", "vol"]);
    let v = json(&out);
    assert_code(&out, 0);
    assert_eq!(v["action"], "migrated", "{}", describe(&out));
    assert!(v["notes"].to_string().contains("stopped old-ns"), "{v}");
    assert!(!assert_ok(&s.run(&["ls"])).contains("old-ns"));
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

/// Root commands for a test: userns's arguments in $SCRATCH/root-cmd run as root in the
/// scenario's mount namespace before the next user step, once.
const ROOT_HOOK: &str = r#"if [ -e "$SCRATCH/root-cmd" ]; then
  rc=0; eval "HOME=\"\$SCRATCH/roothome\" \"\$BIN\" $(cat "$SCRATCH/root-cmd")" >"$SCRATCH/root.out" 2>"$SCRATCH/root.err" || rc=$?
  echo $rc >"$SCRATCH/root.rc"; rm "$SCRATCH/root-cmd"
fi"#;

/// Run `userns ARGS` as root (through ROOT_HOOK): exit code, stdout, stderr.
fn as_root(s: &Scenario, args: &str) -> (i32, String, String) {
    std::fs::write(s.scratch().join("root-cmd"), args).unwrap();
    assert_ok(&s.sh("true"));
    let read = |f: &str| std::fs::read_to_string(s.scratch().join(f)).unwrap_or_default();
    let rc = read("root.rc").trim().parse().unwrap_or(-1);
    (rc, read("root.out"), read("root.err"))
}

#[test]
fn migrate_says_what_to_ask_when_the_old_ranges_are_gone_and_root_can_do_it() {
    let Some(s) =
        Scenario::new("migrate_old_gone").map(|s| s.subuid(OLD).subgid(OLD).root_setup(ROOT_HOOK))
    else {
        return;
    };
    assert_ok(&s.sh(
        "$USERNS unshare sh -c 'mkdir vol && echo a > vol/a && chown 1000:1000 vol/a && \
         cp /bin/true vol/suid && chown 5:5 vol/suid && chmod 4755 vol/suid && ln -s a vol/link && \
         chown -h 9:9 vol/link'",
    ));
    // The admin replaced the range outright: the old one is nobody's now.
    set_subids(&s, "ivy:300000:65536\n");
    let vol = s.home().join("vol");
    let out = s.run(&["migrate", "--yes", "vol"]);
    assert_code(&out, 1);
    let err = stderr(&out);
    for want in [
        "cannot move files still owned by the old subuids 200000-265535 and subgids 200000-265535",
        "usermod --add-subuids 200000-265535 --add-subgids 200000-265535 ivy",
        "usermod --del-subuids 200000-265535 --del-subgids 200000-265535 ivy",
        "userns migrate --as ivy",
    ] {
        assert!(err.contains(want), "{want:?} in {}", describe(&out));
    }
    assert_eq!(owner(&vol.join("a")), (200999, 200999), "nothing moved");

    // `whose` names what the old ids are now: no one's.
    let v: Value = serde_json::from_str(&assert_ok(&s.run(&["whose", "--json", "vol/a"]))).unwrap();
    assert_eq!(v[0]["owner"]["belongs"]["kind"], "no-one", "{v}");

    // --as is for root only.
    let out = s.run(&["migrate", "--as", "ivy", "vol"]);
    assert_code(&out, 2);

    // Attacks on the root run. A tree outside ivy's home, though hers (made with the new
    // range), is refused.
    assert_ok(&s.sh(
        "$USERNS unshare sh -c 'mkdir ../elsewhere && touch ../elsewhere/f && chown -R 1000:1000 ../elsewhere'",
    ));
    let (rc, _, err) = as_root(&s, "migrate --as ivy --yes \"$SCRATCH/elsewhere\"");
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("only trees in the home of ivy"), "{err}");
    assert_eq!(owner(&s.scratch().join("elsewhere/f")), (300999, 300999));
    // A symlink in the tree to a file outside it: the link moves, never its target.
    std::fs::write(s.scratch().join("target"), "t").unwrap();
    std::os::unix::fs::chown(s.scratch().join("target"), Some(200004), Some(200004)).unwrap();
    std::os::unix::fs::symlink(s.scratch().join("target"), vol.join("out")).unwrap();
    std::os::unix::fs::lchown(vol.join("out"), Some(200004), Some(200004)).unwrap();
    // A plan record planted by ivy that claims root's and system ids were hers.
    let plans = s.home().join(".local/state/userns/plans.json");
    let real = std::fs::read_to_string(&plans).unwrap();
    std::fs::write(
        &plans,
        r#"{"plans":[{"uid_map":[[0,0,1000],[1000,200000,65536]],"gid_map":[[0,2000,1]],"first_used":1,"last_used":1}]}"#,
    )
    .unwrap();
    let (rc, _, err) = as_root(&s, "migrate --as ivy --yes \"$SCRATCH/home/vol\"");
    assert_eq!(rc, 1, "{err}");
    assert!(
        err.contains("refusing the old uid map line 0:0:1000")
            && err.contains("root or system ids"),
        "{err}"
    );
    assert_eq!(owner(&vol.join("a")), (200999, 200999), "nothing moved");
    std::fs::write(&plans, real).unwrap();

    // Root does it, without a namespace, from the plan ivy's namespaces recorded.
    let (rc, out, err) = as_root(&s, "migrate --as ivy --yes --json \"$SCRATCH/home/vol\"");
    assert_eq!(rc, 0, "{err}");
    assert_eq!(
        owner(&s.scratch().join("target")),
        (200004, 200004),
        "not followed"
    );
    assert_eq!(owner(&vol.join("out")), (300004, 300004));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["action"], "migrated", "{v}");
    assert_eq!(owner(&vol.join("a")), (300999, 300999));
    assert_eq!(owner(&vol.join("suid")), (300004, 300004));
    assert_eq!(
        owner(&vol.join("link")),
        (300008, 300008),
        "the symlink itself"
    );
    assert_eq!(
        std::fs::metadata(vol.join("suid")).unwrap().mode() & 0o7777,
        0o4755
    );
    let inside = assert_ok(&s.sh("$USERNS unshare stat -c '%n %u %a' vol/a vol/suid"));
    assert_eq!(inside, "vol/a 1000 644\nvol/suid 5 4755\n");
}

#[test]
fn an_interrupted_migration_finishes_on_the_next_run_with_overlapping_ranges() {
    let Some(s) = Scenario::new("migrate_interrupted").map(|s| s.subuid(OLD).subgid(OLD)) else {
        return;
    };
    // 60 files of container user 1000 and one setuid file of user 3.
    assert_ok(&s.sh(
        "$USERNS unshare sh -c 'mkdir vol && for i in $(seq 60); do echo $i > vol/f$i; done && \
         chown -R 1000:1000 vol/* && cp /bin/true vol/suid && chown 3:3 vol/suid && chmod 4755 vol/suid'",
    ));
    // New ids overlap the old ones: 210999 is the new id of container user 1000, and an
    // old id too (of container user 11000). A second translation would be wrong.
    set_subids(&s, "ivy:210000:65536\nivy:200000:65536\n");
    let dry = json(&s.run(&["migrate", "-n", "--json", "vol"]));
    assert_eq!(dry["journaled_every_inode"], true, "{dry}");
    let out = s.sh("USERNS_MIGRATE_KILL_AFTER=20 USERNS_CLEAN_WORKERS=1 $USERNS migrate --yes vol");
    assert_eq!(
        out.status.code(),
        Some(137),
        "killed mid-way: {}",
        describe(&out)
    );
    let owners: Vec<u32> = (1..=60)
        .map(|i| owner(&s.home().join(format!("vol/f{i}"))).0)
        .collect();
    let moved = owners.iter().filter(|&&u| u == 210999).count();
    assert!((20..60).contains(&moved), "part moved: {owners:?}");

    let out = s.run(&["migrate", "--yes", "--json", "vol"]);
    let v = json(&out);
    assert_code(&out, 0);
    assert!(v["old_source"].as_str().unwrap().contains("resumed"), "{v}");
    assert!(v["trees"][0]["from_journal"].as_u64().unwrap() >= 20, "{v}");
    for i in 1..=60 {
        assert_eq!(
            owner(&s.home().join(format!("vol/f{i}"))),
            (210999, 210999),
            "f{i}"
        );
    }
    assert_eq!(owner(&s.home().join("vol/suid")), (210002, 210002));
    assert_eq!(
        std::fs::metadata(s.home().join("vol/suid")).unwrap().mode() & 0o7777,
        0o4755
    );
    assert!(
        !s.home()
            .join(".local/state/userns/migrate-2000/migrate.json")
            .exists(),
        "journal gone"
    );
    set_subids(&s, "ivy:210000:65536\n");
    let inside = assert_ok(
        &s.sh("$USERNS unshare sh -c 'stat -c %u vol/f* | sort -u; stat -c \"%u %a\" vol/suid'"),
    );
    assert_eq!(inside, "1000\n3 4755\n");
}

/// The image: busybox, /home/app owned by container user 1000 (made with tarfile, which
/// writes any owner).
const MAKE_IMAGE: &str = r#"python3 - "$SCRATCH/rootfs" <<'PY'
import os, sys, tarfile
root = sys.argv[1]
def owner(info):
    inside_app = info.name.startswith("./home/app")
    info.uid = info.gid = 1000 if inside_app else 0
    info.uname = info.gname = ""
    return info
with tarfile.open("image.tar", "w") as t:
    t.add(root, arcname=".", filter=owner)
PY
podman import -q image.tar localhost/migrate-test >/dev/null
mkdir vol
podman --runtime runc run --rm --network none -v "$HOME/vol:/vol" localhost/migrate-test sh -c '
set -e
mkdir /vol/sub && echo a > /vol/a && chown 1000:1000 /vol/a
echo b > /vol/sub/b && chown 33:44 /vol/sub/b
cp /bin/busybox /vol/suid && chown 1000:1000 /vol/suid && chmod 4755 /vol/suid
ln /vol/a /vol/sub/a-link
echo d > /home/app/data && chown 1000:1000 /home/app/data
touch /vol/acl /vol/capped
'
$USERNS unshare sh -c 'setfacl -m u:1000:r,g:33:rw vol/acl && cp /bin/true vol/capped && setcap cap_net_raw+ep vol/capped && touch -d "2001-02-03 04:05:06" vol/a vol/suid'
"#;

const PODMAN_VIEW: &str = r#"podman --runtime runc run --rm --network none -v "$HOME/vol:/vol" localhost/migrate-test sh -c '
for f in /vol/a /vol/sub /vol/sub/b /vol/sub/a-link /vol/suid /vol/acl /home/app; do stat -c "%n %u:%g %a %h %Y" $f; done'
$USERNS unshare sh -c 'getfacl -n -p vol/acl; getcap vol/capped'"#;

#[test]
fn podman_sees_the_same_ids_after_the_ranges_moved() {
    let Some(s) = Scenario::new("migrate_podman").map(|s| s.subuid(OLD).subgid(OLD)) else {
        return;
    };
    let rootfs = run_support::rootfs(&s);
    for applet in ["chown", "chmod", "ln", "cp"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    assert_ok(&s.sh(&MAKE_IMAGE.replace("$SCRATCH/rootfs", &rootfs.display().to_string())));
    let before = assert_ok(&s.sh(PODMAN_VIEW));
    assert!(before.contains("/vol/suid 1000:1000 4755 1"), "{before}");
    assert!(
        before.contains("/vol/a 1000:1000 644 2 981173106"),
        "{before}"
    );
    assert!(before.contains("/home/app 1000:1000"), "{before}");
    assert!(
        before.contains("user:1000:r--") && before.contains("cap_net_raw=ep"),
        "{before}"
    );
    let pause: i32 = std::fs::read_to_string(s.scratch().join("run/libpod/tmp/pause.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let graphroot = s.home().join(".local/share/containers/storage");

    set_subids(&s, "ivy:300000:65536\nivy:200000:65536\n");
    // The default trees: podman's storage (and userns's data dir when it exists).
    let dry = json(&s.run(&["migrate", "-n", "--json"]));
    assert_eq!(
        dry["trees"][0]["path"],
        graphroot.display().to_string(),
        "{dry}"
    );
    assert!(dry["trees"][0]["changed"].as_u64().unwrap() > 0, "{dry}");
    let out = s.run(&[
        "migrate",
        "--yes",
        "--json",
        &graphroot.display().to_string(),
        "vol",
    ]);
    let v = json(&out);
    assert_code(&out, 0);
    let notes = v["notes"].to_string();
    assert!(
        notes.contains(&format!("stopped podman's pause process {pause}")),
        "{v}"
    );
    assert_eq!(owner(&s.home().join("vol/a")), (300999, 300999));

    set_subids(&s, "ivy:300000:65536\n");
    let after = assert_ok(&s.sh(&format!(
        "{PODMAN_VIEW}; rc=$?; kill $(cat \"$XDG_RUNTIME_DIR/libpod/tmp/pause.pid\") 2>/dev/null; exit $rc"
    )));
    assert_eq!(after, before);
}

#[test]
fn ids_the_new_map_cannot_hold_stay_and_the_fix_is_named() {
    let Some(s) = Scenario::new("migrate_unholdable").map(|s| s.subuid(OLD).subgid(OLD)) else {
        return;
    };
    assert_ok(&s.sh(
        "$USERNS unshare sh -c 'mkdir vol && echo a > vol/low && chown 10:10 vol/low && \
         echo b > vol/high && chown 1000:1000 vol/high'",
    ));
    // Only 500 subordinate ids now: container id 1000 has no place.
    set_subids(&s, "ivy:300000:500\nivy:200000:65536\n");
    let out = s.run(&["migrate", "--yes", "--json", "vol"]);
    assert_code(&out, 1);
    let v = json(&out);
    assert_eq!(owner(&s.home().join("vol/low")), (300009, 300009));
    assert_eq!(
        owner(&s.home().join("vol/high")),
        (200999, 200999),
        "left as it is"
    );
    assert_eq!(v["unholdable"][0]["from"], 200999, "{v}");
    assert_eq!(v["unholdable"][0]["inside"], 1000, "{v}");
    let fixes = v["fixes"].to_string();
    assert!(
        fixes.contains("userns subid add ivy --count 500"),
        "{fixes}"
    );
}
