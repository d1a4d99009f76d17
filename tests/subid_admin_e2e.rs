//! `userns subid add|del` end to end, as root: concurrent writers, a lock held by a live
//! process, a stale lock, writers killed at random moments, and agreement of the result
//! with `userns subid check` and shadow's `getsubids`.
//!
//! Most tests work on a scratch tree with `--root DIR`; the ones that need the live
//! paths (getsubids reads /etc/subuid only; lckpwdf locks /etc/.pwd.lock) run in the
//! hermetic scenario of tests/common, whose /etc is a private copy. The host's /etc is
//! never written.

mod common;

use common::{assert_code, assert_ok, stderr, stdout, Scenario};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use userns::subid::parse::parse;
use userns::subid::SubIdFile;

const BIN: &str = env!("CARGO_BIN_EXE_userns");

/// A scratch tree DIR/etc with a passwd of `users` (uids from 3000), removed on drop.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new(test: &str, users: usize) -> Option<Tree> {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            assert!(
                std::env::var("CI").map_or(true, |v| v.is_empty() || v == "0" || v == "false"),
                "{test}: needs root, and CI is set"
            );
            eprintln!("{test}: skipped: needs root (subid add/del write as root)");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("userns-subid-admin.")
            .tempdir_in("/var/tmp")
            .expect("scratch dir");
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        let mut passwd = String::from("root:x:0:0:root:/root:/bin/bash\n");
        for i in 0..users {
            passwd.push_str(&format!(
                "u{i}:x:{}:{}::/home/u{i}:/bin/sh\n",
                3000 + i,
                3000 + i
            ));
        }
        std::fs::write(dir.path().join("etc/passwd"), passwd).unwrap();
        Some(Tree { dir })
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn etc(&self, name: &str) -> PathBuf {
        self.dir.path().join("etc").join(name)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(["subid"]).args(args).arg("--root").arg(self.root());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run userns")
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn userns")
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.etc(name)).unwrap_or_default()
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every line parses, no two ranges overlap, each owner appears once: the file is whole.
fn assert_disjoint(path: &Path, owners: usize) -> SubIdFile {
    let text = std::fs::read(path).unwrap();
    let file = parse(path, &text);
    assert!(
        file.skipped.is_empty(),
        "{}: {:?}",
        path.display(),
        file.skipped
    );
    assert_eq!(
        file.entries.len(),
        owners,
        "{}",
        String::from_utf8_lossy(&text)
    );
    let mut names: Vec<&str> = file.entries.iter().map(|e| e.owner_text.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), owners, "an owner got two ranges");
    for (i, a) in file.entries.iter().enumerate() {
        let ra = a.range().unwrap();
        assert!(ra.start >= 100_000 && ra.count == 65536, "{a:?}");
        for b in &file.entries[i + 1..] {
            assert!(!ra.overlaps(&b.range().unwrap()), "{a:?} overlaps {b:?}");
        }
    }
    file
}

/// A pid that is certainly dead: a child we started and reaped.
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

#[test]
fn sixteen_concurrent_adds_on_the_live_paths_agree_with_check_and_getsubids() {
    let mut users = String::new();
    for i in 0..16 {
        users.push_str(&format!("u{i}:x:{}:{}::/tmp:/bin/sh\n", 3000 + i, 3000 + i));
    }
    let Some(s) = Scenario::new("sixteen_concurrent_adds")
        .map(|s| s.user("root", 0, 0).extra_passwd(&users).no_subid_files())
    else {
        return;
    };
    // All 16 start together against the scenario's /etc (lckpwdf and the link locks
    // included), then getsubids and subid check read the result.
    let out = assert_ok(&s.sh(
        "set -e
         pids=
         for i in $(seq 0 15); do \"$USERNS\" subid add u$i > /tmp/add.$$.$i 2>&1 & pids=\"$pids $!\"; done
         fail=0; for pid in $pids; do wait $pid || fail=1; done
         cat /tmp/add.$$.*; rm -f /tmp/add.$$.*
         test $fail = 0
         for i in $(seq 0 15); do getsubids u$i; getsubids -g u$i; done
         \"$USERNS\" subid check --strict",
    ));
    let subuid = assert_disjoint(&s.etc().join("subuid"), 16);
    let subgid = assert_disjoint(&s.etc().join("subgid"), 16);
    for (kind, file) in [("subuid", &subuid), ("subgid", &subgid)] {
        for e in &file.entries {
            // getsubids prints "0: OWNER START COUNT" for each range.
            let line = format!("0: {} {} {}", e.owner_text, e.start, e.count);
            assert!(
                out.contains(&line),
                "{kind}: getsubids did not list {line:?}\n{out}"
            );
        }
    }
    assert!(out.contains("0 errors, 0 warnings"), "{out}");
    // useradd's files: 0644 root:root, no lock or temp file left behind.
    let meta = std::fs::metadata(s.etc().join("subuid")).unwrap();
    assert_eq!((meta.mode() & 0o7777, meta.uid()), (0o644, 0));
    for leftover in [
        "subuid.lock",
        "subgid.lock",
        "subuid+",
        "subgid+",
        ".pwd.lock.userns",
    ] {
        assert!(!s.etc().join(leftover).exists(), "{leftover} left behind");
    }
}

#[test]
fn sixteen_concurrent_adds_in_a_tree() {
    let Some(t) = Tree::new("sixteen_concurrent_adds_in_a_tree", 16) else {
        return;
    };
    let children: Vec<Child> = (0..16)
        .map(|i| t.spawn(&["add", &format!("u{i}")]))
        .collect();
    for c in children {
        ok(&c.wait_with_output().unwrap());
    }
    assert_disjoint(&t.etc("subuid"), 16);
    assert_disjoint(&t.etc("subgid"), 16);
    let check = Command::new(BIN)
        .args(["subid", "check", "--subuid"])
        .arg(t.etc("subuid"))
        .arg("--subgid")
        .arg(t.etc("subgid"))
        .output()
        .unwrap();
    // The users live in the tree's passwd, not the host's: unknown-owner warnings only.
    let report = ok(&check);
    assert!(report.contains("0 errors"), "{report}");
}

#[test]
fn a_live_lock_makes_add_wait_then_fail_naming_the_holder() {
    let Some(t) = Tree::new("a_live_lock", 1) else {
        return;
    };
    let mut holder = Command::new("sleep").arg("60").spawn().unwrap();
    std::fs::write(t.etc("subuid.lock"), format!("{}\0", holder.id())).unwrap();
    let started = Instant::now();
    let out = t.run(&["add", "u0", "--lock-timeout", "1"]);
    let waited = started.elapsed();
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(waited >= Duration::from_secs(1), "gave up after {waited:?}");
    assert!(
        err.contains(&t.etc("subuid.lock").display().to_string()),
        "{err}"
    );
    assert!(
        err.contains(&format!("process {} (sleep)", holder.id())),
        "{err}"
    );
    assert!(err.contains("--lock-timeout"), "{err}");
    // Nothing was written, and the other's lock was left alone until it died.
    assert!(!t.etc("subuid").exists() && !t.etc("subgid").exists());
    // Its holder is dead now: the lock is stale and is taken over.
    let out = ok(&t.run(&["add", "u0", "--lock-timeout", "1"]));
    assert!(out.contains("gave u0 100000-165535"), "{out}");
    assert!(!t.etc("subuid.lock").exists());
}

#[test]
fn a_waiting_add_proceeds_when_the_holder_dies() {
    let Some(t) = Tree::new("a_waiting_add_proceeds", 1) else {
        return;
    };
    let mut holder = Command::new("sleep").arg("60").spawn().unwrap();
    std::fs::write(t.etc("subgid.lock"), format!("{}\0", holder.id())).unwrap();
    let waiting = t.spawn(&["add", "u0", "--lock-timeout", "20"]);
    std::thread::sleep(Duration::from_millis(700));
    assert!(!t.etc("subgid").exists(), "add did not wait for the lock");
    holder.kill().unwrap();
    holder.wait().unwrap();
    let out = ok(&waiting.wait_with_output().unwrap());
    assert!(out.contains("subgid: gave u0"), "{out}");
    assert_disjoint(&t.etc("subgid"), 1);
}

#[test]
fn a_stale_lock_of_a_dead_pid_is_taken_over() {
    let Some(t) = Tree::new("a_stale_lock", 1) else {
        return;
    };
    std::fs::write(t.etc("subuid.lock"), format!("{}\0", dead_pid())).unwrap();
    ok(&t.run(&["add", "u0", "--uids-only", "--lock-timeout", "2"]));
    assert_eq!(t.read("subuid"), "u0:100000:65536\n");
    assert!(!t.etc("subuid.lock").exists());
}

/// A tiny xorshift generator: random kill moments without a dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn writers_killed_at_random_moments_never_leave_a_torn_file() {
    let Some(t) = Tree::new("writers_killed_at_random_moments", 1) else {
        return;
    };
    // A large file makes the write long enough to be hit mid-way.
    let mut text = String::from("# site ranges\n");
    for i in 0..20_000u64 {
        text.push_str(&format!("{}:{}:10\n", 100_000 + i, 1_000_000_000 + i * 10));
    }
    std::fs::write(t.etc("subuid"), &text).unwrap();
    let mut seed = Instant::now().elapsed().as_nanos() as u64 | 1;
    seed ^= std::process::id() as u64;
    let mut before = text;
    let mut killed = 0;
    for round in 0..40 {
        let mut child = t.spawn(&[
            "add",
            "u0",
            "--uids-only",
            "--count",
            "7",
            "--lock-timeout",
            "5",
        ]);
        std::thread::sleep(Duration::from_micros(next(&mut seed) % 40_000));
        // SAFETY: kill(2) on our own child.
        if unsafe { libc::kill(child.id() as i32, libc::SIGKILL) } == 0 {
            killed += 1;
        }
        let _ = child.wait();
        let after = t.read("subuid");
        let file = parse(&t.etc("subuid"), after.as_bytes());
        assert!(
            file.skipped.is_empty(),
            "round {round}: torn file: {:?}",
            file.skipped
        );
        // Either nothing happened, or exactly one line was added to the old text.
        assert!(
            after == before
                || (after.starts_with(&before)
                    && after[before.len()..].lines().count() == 1
                    && after[before.len()..].starts_with("u0:")),
            "round {round}: unexpected change"
        );
        before = after;
    }
    assert!(killed > 0);
    // Whatever lock a killed writer left is stale: the next add goes through.
    ok(&t.run(&[
        "add",
        "u0",
        "--uids-only",
        "--count",
        "7",
        "--lock-timeout",
        "2",
    ]));
    let file = parse(&t.etc("subuid"), t.read("subuid").as_bytes());
    let mine: Vec<_> = file
        .entries
        .iter()
        .filter(|e| e.owner_text == "u0")
        .collect();
    assert!(!mine.is_empty());
    for (i, a) in mine.iter().enumerate() {
        for b in &mine[i + 1..] {
            assert!(!a.range().unwrap().overlaps(&b.range().unwrap()));
        }
    }
}

#[test]
fn add_respects_login_defs_and_explicit_ranges() {
    let Some(t) = Tree::new("add_respects_login_defs", 3) else {
        return;
    };
    std::fs::write(
        t.etc("login.defs"),
        "SUB_UID_MIN 500000\nSUB_UID_MAX 600000\nSUB_UID_COUNT 1000\n",
    )
    .unwrap();
    std::fs::write(t.etc("subuid"), "u1:500000:1000\n").unwrap();
    let out = ok(&t.run(&["add", "u0", "--uids-only"]));
    assert!(out.contains("gave u0 501000-501999 (1000 ids)"), "{out}");
    // Already has a usable range: nothing to do, exit 0, and it says so.
    let out = ok(&t.run(&["add", "u0", "--uids-only"]));
    assert!(out.contains("nothing to do"), "{out}");
    // An explicit range over another owner's is refused, naming the line.
    let out = t.run(&["add", "u2", "--uids-only", "--range", "500500:10"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("subuid:1 (u1:500000:1000)"), "{err}");
    let out = ok(&t.run(&["add", "u2", "--uids-only", "--range", "700000:10"]));
    assert!(out.contains("gave u2 700000-700009"), "{out}");
    // The pool is exhausted for a count that no gap holds.
    let out = t.run(&["add", "u2", "--uids-only", "--count", "99000"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no free range of 99000 ids between 500000 and 600000"),
        "{err}"
    );
    assert!(err.contains("SUB_UID_MAX"), "{err}");
    assert_eq!(
        t.read("subuid"),
        "u1:500000:1000\nu0:501000:1000\nu2:700000:10\n"
    );
}

#[test]
fn del_splits_a_line_keeps_mode_owner_and_a_backup() {
    let Some(t) = Tree::new("del_splits_a_line", 2) else {
        return;
    };
    let original = "# keep me\nu0:100000:65536\nu1:165536:65536\n3000:300000:10\n";
    std::fs::write(t.etc("subuid"), original).unwrap();
    std::fs::set_permissions(t.etc("subuid"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(t.etc("subuid"), Some(0), Some(42)).unwrap();
    let out = ok(&t.run(&["del", "u0", "100100:100", "--uids-only"]));
    assert!(
        out.contains("now u0:100000:100 and u0:100200:65336"),
        "{out}"
    );
    assert_eq!(
        t.read("subuid"),
        "# keep me\nu0:100000:100\nu0:100200:65336\nu1:165536:65536\n3000:300000:10\n"
    );
    assert_eq!(t.read("subuid-"), original);
    let meta = std::fs::metadata(t.etc("subuid")).unwrap();
    assert_eq!(
        (meta.mode() & 0o7777, meta.uid(), meta.gid()),
        (0o640, 0, 42)
    );
    // Without a range: every line of u0, by name and by its numeric uid 3000.
    ok(&t.run(&["del", "u0", "--uids-only"]));
    assert_eq!(t.read("subuid"), "# keep me\nu1:165536:65536\n");
    let out = ok(&t.run(&["del", "u0", "--uids-only"]));
    assert!(out.contains("nothing to do"), "{out}");
}

#[test]
fn a_user_missing_from_the_tree_is_an_error() {
    let Some(t) = Tree::new("a_user_missing_from_the_tree", 1) else {
        return;
    };
    let out = t.run(&["add", "nobody-here"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no such user: nobody-here"), "{err}");
    assert!(
        err.contains(&t.etc("passwd").display().to_string()),
        "{err}"
    );
}

#[test]
fn non_root_is_refused_naming_sudo() {
    let Some(s) = Scenario::new("non_root_is_refused_naming_sudo") else {
        return;
    };
    let out = s.run(&["subid", "add", "ivy"]);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("sudo userns subid add ivy"),
        "{}",
        stderr(&out)
    );
    let out = s.run(&["subid", "del", "ivy"]);
    assert_code(&out, 1);
    assert!(stdout(&out).is_empty());
    assert_eq!(
        std::fs::read_to_string(s.etc().join("subuid")).unwrap(),
        "ivy:200000:65536\n"
    );
}
