//! `userns clean` end to end: real kernel, real setuid helpers, trees built inside
//! `userns unshare` so that they are owned by subordinate ids on the host.

mod common;

use common::{assert_code, assert_ok, describe, stderr, stdout, Scenario};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Builds ./tree inside the namespace: five owners, read-only files, mode-000 and
/// read-only directories (as overlay's work/ dirs), names with a newline and bytes that
/// are not UTF-8, a fifo, relative symlinks, and a chain 5,000 directories deep.
/// Totals: 115 non-directories, 5,012 directories.
const BUILD_TREE: &str = r#"$USERNS unshare python3 - <<'PY'
import os
def mk(path, uid, mode=0o644, data=b"x"):
    with open(path, "wb") as f:
        f.write(data)
    os.chown(path, uid, uid)
    os.chmod(path, mode)
os.mkdir("tree")
for uid in (0, 1, 33, 1000, 65536):
    d = "tree/u%d" % uid
    os.mkdir(d)
    for i in range(20):
        mk("%s/f%d" % (d, i), uid, 0o444 if i % 3 == 0 else 0o644, b"y" * i)
    os.symlink("f1", d + "/rel-link")
    os.lchown(d + "/rel-link", uid, uid)
    os.chown(d, uid, uid)
os.makedirs("tree/work/work/inner")
mk("tree/work/work/inner/f", 1000)
for d in ("tree/work/work/inner", "tree/work/work"):
    os.chown(d, 1000, 1000)
    os.chmod(d, 0)
os.mkdir("tree/ro")
mk("tree/ro/f", 5)
os.chmod("tree/ro", 0o555)
mk(b"tree/new\nline", 7)
os.mkdir(b"tree/bad\xffdir")
mk(b"tree/bad\xffdir/\xfe\n", 8)
os.mkfifo("tree/fifo")
os.mkdir("tree/deep")
fd = os.open("tree/deep", os.O_RDONLY)
for i in range(5000):
    os.mkdir("d", dir_fd=fd)
    nfd = os.open("d", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = nfd
    if i % 1000 == 999:
        f = os.open("f", os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=fd)
        os.fchown(f, 1000 + i, 1000 + i)
        os.close(f)
    if i % 500 == 0:
        os.fchown(fd, i % 7 + 1, i % 7 + 1)
    if i == 2500:
        os.fchmod(fd, 0)
os.close(fd)
PY"#;

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON: {e}\n{}", describe(out)))
}

#[test]
fn removes_a_hostile_tree_completely_and_dry_run_counts_exactly() {
    let Some(s) = Scenario::new("clean_hostile_tree") else {
        return;
    };
    assert_ok(&s.sh(BUILD_TREE));
    let tree = s.home().join("tree");
    assert_eq!(std::fs::metadata(tree.join("u1000")).unwrap().uid(), 200999);
    assert_eq!(
        std::fs::metadata(tree.join("u65536")).unwrap().uid(),
        265535
    );
    // The user cannot remove it outside the namespace (why this command exists).
    assert!(!s.sh("rm -rf tree/u1000").status.success());

    // What find sees inside the namespace is what the dry run must count.
    let truth = assert_ok(&s.sh(
        "$USERNS unshare sh -c 'find tree ! -type d -printf x | wc -c; find tree -type d -printf x | wc -c; \
         find tree ! -type d -printf \"%s\\n\" | awk \"{s+=\\$1} END {print s+0}\"; \
         find tree -type d -printf \"%s\\n\" | awk \"{s+=\\$1} END {print s+0}\"'",
    ));
    let t: Vec<u64> = truth
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!((t[0], t[1]), (115, 5012), "{truth}");
    let dry = s.run(&["clean", "--dry-run", "--json", "tree"]);
    let report = json(&dry);
    assert_code(&dry, 0);
    assert_eq!(report["action"], "dry-run");
    let tree_report = &report["trees"][0];
    assert_eq!(tree_report["files"], t[0], "{}", describe(&dry));
    assert_eq!(tree_report["directories"], t[1]);
    assert_eq!(tree_report["bytes"], t[2] + t[3]);
    let owners = tree_report["owners"].as_array().unwrap();
    let u1000 = owners.iter().find(|o| o["uid"] == 1000).unwrap();
    assert_eq!(u1000["host_uid"], 200999);
    assert_eq!(u1000["files"], 21 + 1);
    assert!(tree.join("deep").exists(), "the dry run removed something");

    // Text dry run: same numbers, nothing removed.
    let text = assert_ok(&s.run(&["clean", "-n", "tree"]));
    assert!(text.contains("115 files, 5,012 directories"), "{text}");
    assert!(
        text.contains("1000: 22 files and 3 directories, 1999: 1 file"),
        "{text}"
    );

    let out = s.run(&["clean", "--yes", "tree"]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("115 files, 5,012 directories"),
        "{}",
        describe(&out)
    );
    assert!(!tree.exists(), "tree still there\n{}", describe(&out));
    assert_eq!(stderr(&out), "", "a piped run must print no progress bar");
}

#[test]
fn symlinks_out_of_the_tree_are_removed_not_followed() {
    let Some(s) = Scenario::new("clean_symlinks_not_followed") else {
        return;
    };
    assert_ok(&s.sh(
        "mkdir -p outside/dir && echo keep > outside/file && echo keep > outside/dir/f && \
         $USERNS unshare sh -c 'mkdir -p tree/sub && ln -s \"$HOME/outside/file\" tree/file-link && \
         ln -s \"$HOME/outside/dir\" tree/sub/dir-link && ln -s / tree/root-link && \
         chown -h 1000:1000 tree/sub/dir-link tree/sub'",
    ));
    let out = s.run(&["clean", "--yes", "tree"]);
    assert_code(&out, 0);
    assert!(!s.home().join("tree").exists());
    let outside = s.home().join("outside");
    assert_eq!(
        std::fs::read_to_string(outside.join("file")).unwrap(),
        "keep\n"
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("dir/f")).unwrap(),
        "keep\n"
    );
}

#[test]
fn a_directory_swapped_for_a_symlink_never_leads_outside() {
    let Some(s) = Scenario::new("clean_swap_race") else {
        return;
    };
    // The racer swaps directories of the tree for symlinks to the canary and back, as
    // fast as it can, while clean runs; the canary's files are the user's own, so a
    // followed link would remove them.
    let script = r#"
set -e
mkdir -p canary
for i in $(seq 1 200); do echo c > canary/f$i; done
for round in 1 2 3 4 5; do
  $USERNS unshare sh -c 'for i in $(seq 1 40); do mkdir -p tree/d$i/in; for j in 1 2 3 4 5; do echo x > tree/d$i/in/f$j; done; chown -R 1000:1000 tree/d$i/in; done'
  ( set +e; while :; do
      for i in $(seq 1 40); do
        mv tree/d$i tree/m$i 2>/dev/null && ln -s "$HOME/canary" tree/d$i 2>/dev/null
        rm -f tree/d$i 2>/dev/null; mv tree/m$i tree/d$i 2>/dev/null || true
        mv tree/d$i/in tree/d$i/in.x 2>/dev/null && ln -s "$HOME/canary" tree/d$i/in 2>/dev/null
        rm -f tree/d$i/in 2>/dev/null; mv tree/d$i/in.x tree/d$i/in 2>/dev/null || true
      done
    done ) &
  racer=$!
  $USERNS clean --yes tree > /dev/null 2>clean.err || true
  kill $racer 2>/dev/null || true; wait $racer 2>/dev/null || true
  $USERNS clean --yes tree > /dev/null 2>&1 || true
  test "$(ls canary | wc -l)" = 200 || { echo "canary damaged in round $round"; cat clean.err; exit 1; }
done
cat canary/f1 canary/f200
"#;
    let out = assert_ok(&s.sh(script));
    assert_eq!(out, "c\nc\n");
    assert!(!s.home().join("tree").exists());
}

#[test]
fn root_home_strangers_and_unconfirmed_runs_are_refused() {
    let Some(s) = Scenario::new("clean_refusals") else {
        return;
    };
    let home = s.home().display().to_string();
    for (path, why) in [
        ("/", "root directory"),
        (home.as_str(), "your home directory"),
        ("/etc", "owned by uid 0"),
        ("..", "contains your home directory"),
    ] {
        let out = s.run(&["clean", "--yes", path]);
        assert_code(&out, 1);
        assert!(stderr(&out).contains(why), "{path}: {}", describe(&out));
    }
    assert!(s.home().exists());
    // Not a terminal and no --yes: report, then refuse; nothing removed.
    assert_ok(&s.sh("$USERNS unshare sh -c 'mkdir t && touch t/a && chown -R 5:5 t'"));
    let out = s.run(&["clean", "t"]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains("--yes"), "{}", describe(&out));
    assert!(
        stdout(&out).contains("1 file, 1 directory"),
        "{}",
        describe(&out)
    );
    assert!(s.home().join("t/a").exists());
}

#[test]
fn unremovable_entries_are_reported_and_the_rest_removed() {
    let Some(s) = Scenario::new("clean_reports_failures") else {
        return;
    };
    // An immutable-looking case without root: a file owned by an id outside the map
    // (created by root in the test) cannot be unlinked from a sticky directory.
    assert_ok(&s.sh("$USERNS unshare sh -c 'mkdir -p t/a t/sticky && touch t/a/x && chmod 1777 t/sticky && chown -R 9:9 t'"));
    let sticky = s.home().join("t/sticky");
    std::fs::write(sticky.join("foreign"), "x").unwrap();
    std::os::unix::fs::chown(sticky.join("foreign"), Some(4242), Some(4242)).unwrap();
    let out = s.run(&["clean", "--yes", "t"]);
    assert_code(&out, 1);
    let err = stderr(&out);
    let line = format!("{}: ", sticky.join("foreign").display());
    assert!(err.contains(&line), "{}", describe(&out));
    assert!(!s.home().join("t/a").exists(), "the rest must go");
    assert!(Path::new(&sticky.join("foreign")).exists());
}

/// A tiny image whose files belong to three container users, made with python3 tarfile
/// (a tar header carries any uid; no namespace is needed to write it).
const MAKE_TAR: &str = r#"python3 - <<'PY'
import io, tarfile
with tarfile.open("tiny.tar", "w") as t:
    for name, uid, kind in [("bin", 0, "d"), ("etc", 0, "d"), ("etc/hostname", 0, "f"),
                            ("home", 0, "d"), ("home/app", 1000, "d"), ("home/app/data", 1000, "f"),
                            ("var", 0, "d"), ("var/www", 33, "d"), ("var/www/index", 33, "f")]:
        info = tarfile.TarInfo(name)
        info.uid = info.gid = uid
        if kind == "d":
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            t.addfile(info)
        else:
            data = b"hello\n"
            info.size, info.mode = len(data), 0o644
            t.addfile(info, io.BytesIO(data))
PY"#;

#[test]
fn default_storage_after_podman_import_is_found_and_cleaned() {
    let Some(s) = Scenario::new("clean_podman_storage") else {
        return;
    };
    let setup = format!(
        "{MAKE_TAR}\npodman import tiny.tar localhost/tiny >/dev/null && \
         podman images --format '{{{{.Repository}}}}' && cat \"$XDG_RUNTIME_DIR/libpod/tmp/pause.pid\""
    );
    let out = assert_ok(&s.sh(&setup));
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("localhost/tiny"), "{out}");
    let old_pause: i32 = lines.next().unwrap().parse().unwrap();
    let graphroot = s.home().join(".local/share/containers/storage");
    assert!(graphroot.exists());

    let dry = assert_ok(&s.run(&["clean", "--dry-run"]));
    assert!(dry.contains(&graphroot.display().to_string()), "{dry}");
    assert!(dry.contains("1000: 1 file and 1 directory"), "{dry}");
    assert!(
        dry.contains(&format!("would stop podman's pause process {old_pause}")),
        "{dry}"
    );

    let out = s.run(&["clean", "--yes"]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("stopped podman's pause process {old_pause}")),
        "{text}"
    );
    assert!(!graphroot.exists(), "{}", describe(&out));
    assert!(
        !Path::new(&format!("/proc/{old_pause}")).exists() || {
            let stat =
                std::fs::read_to_string(format!("/proc/{old_pause}/stat")).unwrap_or_default();
            stat.contains(") Z")
        }
    );

    // podman works as after `podman system reset`; then stop the pause process it started.
    let after = assert_ok(&s.sh(
        "podman images --format '{{.Repository}}' && podman info --format '{{.Store.GraphRoot}}'; \
         rc=$?; kill $(cat \"$XDG_RUNTIME_DIR/libpod/tmp/pause.pid\") 2>/dev/null; exit $rc",
    ));
    assert_eq!(
        after.trim(),
        graphroot.display().to_string(),
        "no image may be listed"
    );
}
