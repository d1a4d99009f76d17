//! `userns migrate --as USER` run by root refreshes what holds USER's old map, as USER's
//! own run does: it stops USER's podman pause process (as `podman system migrate`) and
//! USER's kept namespaces with stale maps. Root acts on pids USER wrote, so each is
//! proven USER's process of the expected kind first; the attacks below name root's,
//! bob's and reused pids, and fail if any of those is signalled.

mod common;

use common::{assert_ok, Scenario};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command};

const OLD: &str = "ivy:200000:65536\n";
const NEW: &str = "ivy:300000:65536\n";

/// Root commands: userns's arguments in $SCRATCH/root-cmd run as root before the next
/// user step, with ivy's runtime dir named as an admin names it
/// (`sudo XDG_RUNTIME_DIR=/run/user/UID userns migrate --as USER`).
const ROOT_HOOK: &str = r#"if [ -e "$SCRATCH/root-cmd" ]; then
  rc=0; eval "HOME=\"\$SCRATCH/roothome\" XDG_RUNTIME_DIR=\"\$SCRATCH/run\" \"\$BIN\" $(cat "$SCRATCH/root-cmd")" >"$SCRATCH/root.out" 2>"$SCRATCH/root.err" || rc=$?
  echo $rc >"$SCRATCH/root.rc"; rm "$SCRATCH/root-cmd"
fi"#;

fn scenario(name: &str) -> Option<Scenario> {
    Scenario::new(name).map(|s| {
        s.subuid(OLD)
            .subgid(OLD)
            .extra_passwd("bob:x:2001:2001::/nonexistent:/bin/sh")
            .root_setup(ROOT_HOOK)
    })
}

fn set_subids(s: &Scenario, text: &str) {
    for f in ["subuid", "subgid"] {
        std::fs::write(s.etc().join(f), text).unwrap();
    }
}

/// `migrate --as ivy --yes --json` of her volume, as root: the JSON report.
fn migrate_as_root(s: &Scenario) -> Value {
    as_root(s, "--yes")
}

/// `migrate --as ivy MODE --json` of her volume, as root: the JSON report.
fn as_root(s: &Scenario, mode: &str) -> Value {
    std::fs::write(
        s.scratch().join("root-cmd"),
        format!("migrate --as ivy {mode} --json \"$SCRATCH/home/vol\""),
    )
    .unwrap();
    assert_ok(&s.sh("true"));
    let read = |f: &str| std::fs::read_to_string(s.scratch().join(f)).unwrap_or_default();
    assert_eq!(read("root.rc").trim(), "0", "{}", read("root.err"));
    serde_json::from_str(&read("root.out")).unwrap_or_else(|e| panic!("{e}: {}", read("root.out")))
}

/// Alive: running, not exited (a zombie waiting for its parent holds nothing).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
    })
}

fn wait_gone(pid: i32) -> bool {
    for _ in 0..300 {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

/// A volume of ivy's container ids, made in her namespace (which records the plan that
/// root's run reads as the old map).
fn make_volume(s: &Scenario) {
    assert_ok(
        &s.sh("$USERNS unshare sh -c 'mkdir vol && echo a > vol/a && chown 1000:1000 vol/a'"),
    );
}

/// ivy's kept namespace NAME, made now: its record's JSON and its pause pid.
fn kept(s: &Scenario, name: &str) -> (Value, i32) {
    assert_ok(&s.run(&["unshare", "--name", name, "true"]));
    let path = s.scratch().join(format!("run/userns/{name}.json"));
    let rec: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let pid = rec["pid"].as_i64().unwrap() as i32;
    (rec, pid)
}

#[test]
fn root_migration_stops_the_users_pause_process_and_stale_kept_namespaces() {
    let Some(s) = scenario("migrate_as_root_refresh") else {
        return;
    };
    make_volume(&s);
    assert_ok(&s.sh("podman unshare true"));
    let pid_file = s.scratch().join("run/libpod/tmp/pause.pid");
    let pause: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(pause));
    let (_, kept_pause) = kept(&s, "dev");

    set_subids(&s, NEW);
    // A dry run names what the move would stop, and stops nothing.
    let dry = as_root(&s, "-n");
    assert_eq!(dry["action"], "dry-run", "{dry}");
    let notes = dry["notes"].to_string();
    for want in [
        format!("would stop podman's pause process {pause} of ivy"),
        format!("would stop ivy's kept namespace dev (pid {kept_pause})"),
    ] {
        assert!(notes.contains(&want), "{want:?} missing: {dry}");
    }
    assert!(alive(pause) && alive(kept_pause));

    let v = migrate_as_root(&s);
    assert_eq!(v["action"], "migrated", "{v}");
    let notes = v["notes"].to_string();
    assert!(
        notes.contains(&format!("stopped podman's pause process {pause} of ivy")),
        "{v}"
    );
    assert!(
        notes.contains(&format!(
            "stopped ivy's kept namespace dev (pid {kept_pause})"
        )),
        "{v}"
    );
    assert!(wait_gone(pause), "podman's pause process {pause} is gone");
    assert!(
        wait_gone(kept_pause),
        "the kept pause process {kept_pause} is gone"
    );

    // podman starts a new pause process, with the new map.
    let map = assert_ok(&s.sh("podman unshare cat /proc/self/uid_map; rc=$?; \
         kill $(cat \"$XDG_RUNTIME_DIR/libpod/tmp/pause.pid\") 2>/dev/null; exit $rc"));
    let lines: Vec<Vec<&str>> = map
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(
        lines.contains(&vec!["0", "2000", "1"]) && lines.contains(&vec!["1", "300000", "65536"]),
        "{map}"
    );
}

/// A copy of sleep named catatonit (the name podman's pause process has), started as
/// `uid` (root when 0), in a user namespace of its own when `userns`.
fn fake_pause(s: &Scenario, uid: u32, userns: bool) -> Child {
    let exe = s.scratch().join("catatonit");
    if !exe.exists() {
        std::fs::copy("/bin/sleep", &exe).unwrap();
    }
    let mut cmd = Command::new("setpriv");
    if uid != 0 {
        cmd.args([
            format!("--reuid={uid}"),
            format!("--regid={uid}"),
            "--clear-groups".into(),
        ]);
    }
    cmd.arg("--");
    if userns {
        cmd.args(["unshare", "--user", "--map-root-user"]);
    }
    let child = cmd.arg(&exe).arg("600").spawn().unwrap();
    // Until it has exec'd catatonit.
    for _ in 0..300 {
        let comm =
            std::fs::read_to_string(format!("/proc/{}/comm", child.id())).unwrap_or_default();
        if comm.trim() == "catatonit" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child
}

fn write_as_ivy(s: &Scenario, path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    assert_ok(&s.sh("true"));
    let run = s.scratch().join("run");
    for dir in path.ancestors().take_while(|d| d.starts_with(&run)) {
        std::os::unix::fs::chown(dir, Some(s.uid()), Some(s.gid())).unwrap();
    }
}

#[test]
fn root_migration_signals_no_process_that_is_not_the_users_pause_process() {
    let Some(s) = scenario("migrate_as_root_attacks") else {
        return;
    };
    make_volume(&s);
    // Root's process and bob's, both named as podman's pause process; bob's in a user
    // namespace of his own.
    let mut roots = fake_pause(&s, 0, true);
    let mut bobs = fake_pause(&s, 2001, true);
    let root_pid = roots.id() as i32;
    let bob_pid = bobs.id() as i32;
    // The pid file, written by ivy, names root's process.
    write_as_ivy(
        &s,
        &s.scratch().join("run/libpod/tmp/pause.pid"),
        &format!("{root_pid}\n"),
    );
    // Kept records, written by ivy, from a real one: one names bob's process, one root's
    // (with its real start time and user namespace), one a process of ivy's own in her
    // namespace that the pid was "reused" by (not the recorded start time).
    let (real, real_pid) = kept(&s, "real");
    let mut mine = s.spawn_sh("exec $USERNS unshare sleep 600");
    let mut reused_pid = 0;
    for _ in 0..300 {
        let kids =
            std::fs::read_to_string(format!("/proc/{}/task/{}/children", mine.id(), mine.id()))
                .unwrap_or_default();
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", mine.id())).unwrap_or_default();
        if comm.trim() == "sleep" {
            reused_pid = mine.id() as i32;
            break;
        }
        if let Some(k) = kids.split_whitespace().next() {
            reused_pid = k.parse().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(reused_pid > 0);
    let start_time = |pid: i32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let rest = &stat[stat.rfind(')').unwrap() + 1..];
        rest.split_whitespace().nth(19).unwrap().parse().unwrap()
    };
    let userns = |pid: i32| -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/proc/{pid}/ns/user"))
            .unwrap()
            .ino()
    };
    for (name, pid, start, ns) in [
        ("bobs", bob_pid, start_time(bob_pid), userns(bob_pid)),
        ("roots", root_pid, start_time(root_pid), userns(root_pid)),
        (
            "reused",
            reused_pid,
            start_time(reused_pid) + 1,
            userns(reused_pid),
        ),
    ] {
        let mut rec = real.clone();
        rec["name"] = name.into();
        rec["pid"] = pid.into();
        rec["start_time"] = start.into();
        rec["userns_inode"] = ns.into();
        write_as_ivy(
            &s,
            &s.scratch().join(format!("run/userns/{name}.json")),
            &rec.to_string(),
        );
    }

    set_subids(&s, NEW);
    let v = migrate_as_root(&s);
    let notes = v["notes"].to_string();
    let survived = [
        ("root's", root_pid),
        ("bob's", bob_pid),
        ("ivy's reused", reused_pid),
    ]
    .map(|(who, pid)| (who, alive(pid)));
    for (who, alive) in survived {
        assert!(alive, "{who} process was signalled: {v}");
    }
    assert!(
        notes.contains(&format!("left the process named by ivy's podman pause pid file alone: pid {root_pid} runs as uids 0")),
        "{v}"
    );
    assert!(
        notes.contains("left ivy's kept namespace bobs alone"),
        "{v}"
    );
    assert!(
        notes.contains("left ivy's kept namespace roots alone"),
        "{v}"
    );
    assert!(
        notes.contains("left ivy's kept namespace reused alone")
            && notes.contains("is not the pause process recorded for reused"),
        "{v}"
    );
    // The real one, stale too, is stopped.
    assert!(
        notes.contains(&format!(
            "stopped ivy's kept namespace real (pid {real_pid})"
        )),
        "{v}"
    );
    for child in [&mut roots, &mut bobs, &mut mine] {
        let _ = child.kill();
        let _ = child.wait();
    }
}
