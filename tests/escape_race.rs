//! The check/use race of `clean` and `chown` (issue 11, finding 5), performed for real.
//!
//! A swapper process exchanges a directory on the way to the target with a symlink to a
//! directory outside, with renameat2(RENAME_EXCHANGE) in a tight loop (python3 + ctypes),
//! while the real `userns clean --yes` / `userns chown -R` run as ivy, many times. Swaps
//! happen at several depths: the grandparent, the parent, the target itself, and a
//! directory inside the tree during the walk.
//!
//! Each symlink points at a canary laid out so that the old bug (check one directory,
//! then reopen the parent by path and act on whatever it leads to) reaches it: the
//! canary holds the same names below the swapped directory. Two kinds of swapper:
//!
//! - the same user (or a container's user, inside the tree): ivy's own symlinks are
//!   followed when the path is resolved, as any tool follows them. The canary's top is then
//!   owned by uid 3000 with mode 0777, so that the checks refuse it when the resolution
//!   meets it, while a command that acts on something other than what it checked empties
//!   it (clean) or changes the owners inside it (chown).
//! - another local user, mallory (3000), who owns an ancestor directory: the canary is
//!   ivy's own data, and mallory's symlink must never be followed at all.
//!
//! The canary must survive every run with its owners. `USERNS_RACE_ROUNDS` sets the runs
//! per case (default 170, about 2,000 runs in all) and `USERNS_RACE_SECONDS` caps each
//! case's time (default 30).

mod common;

use common::{assert_code, assert_ok, describe, stderr, Scenario};
use std::io::Write;
use std::os::unix::fs::{lchown, symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const IVY: u32 = 2000;
const MALLORY: u32 = 3000;
/// Container uid 1000 of ivy (subuid 200000:65536): host 200999.
const CONTAINER_1000: u32 = 200_999;
const CONTAINER_5: u32 = 200_004;

/// Swap argv[1] and argv[2] until stdin ends (or argv[3] seconds pass); a line
/// "A<TAB>B" on stdin aims at another pair. A pair swapped an odd number of times is
/// swapped back before moving on, so the tree is as built when the swapper stops. Prints
/// the number of successful swaps.
const SWAPPER: &str = r#"
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
rename = libc.renameat2
rename.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
a, b = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2])
deadline = time.monotonic() + float(sys.argv[3])
os.set_blocking(0, False)
swaps, odd, pending = 0, False, b""
def swap():
    global swaps, odd
    if rename(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0:
        swaps += 1
        odd = not odd
while True:
    for _ in range(64):
        swap()
    try:
        chunk = os.read(0, 65536)
    except BlockingIOError:
        chunk = None
    if chunk == b"" or time.monotonic() > deadline:
        break
    if chunk:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        if lines:
            if odd:
                swap()
            a, b = lines[-1].split(b"\t")
            odd = False
if odd:
    swap()
print(swaps, flush=True)
"#;

/// One race at a time: each swapper keeps a core busy, and the machine has two.
static ONE_RACE: Mutex<()> = Mutex::new(());

struct Swapper {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Swapper {
    /// Start swapping `a` and `b` as `uid` (setpriv from root, as another user would).
    fn start(uid: u32, a: &Path, b: &Path) -> Swapper {
        let mut child = Command::new("setpriv")
            .arg(format!("--reuid={uid}"))
            .arg(format!("--regid={uid}"))
            .args(["--clear-groups", "/usr/bin/python3", "-c", SWAPPER])
            .arg(a)
            .arg(b)
            .arg("900")
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the swapper (setpriv python3)");
        let stdin = child.stdin.take();
        Swapper { child, stdin }
    }

    fn aim(&mut self, a: &Path, b: &Path) {
        let stdin = self.stdin.as_mut().expect("swapper running");
        writeln!(stdin, "{}\t{}", a.display(), b.display()).expect("aim the swapper");
    }

    /// Stop it (end of stdin); the number of swaps it made.
    fn stop(mut self) -> u64 {
        drop(self.stdin.take());
        let mut count = String::new();
        let stdout = self.child.stdout.as_mut().expect("piped stdout");
        std::io::Read::read_to_string(stdout, &mut count).expect("read the swap count");
        let status = self.child.wait().expect("wait for the swapper");
        assert!(status.success(), "swapper failed: {status:?}");
        count.trim().parse().expect("swap count")
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        // A panicking test must not leave a process spinning on a core.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mkdir(path: &Path, uid: u32, mode: u32) {
    std::fs::create_dir(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
    lchown(path, Some(uid), Some(uid)).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mkfile(path: &Path, uid: u32) {
    std::fs::write(path, "x").unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    lchown(path, Some(uid), Some(uid)).unwrap();
}

fn mklink(to: &Path, path: &Path, uid: u32) {
    symlink(to, path).unwrap_or_else(|e| panic!("symlink {}: {e}", path.display()));
    lchown(path, Some(uid), Some(uid)).unwrap();
}

/// A canary: `top` (owner `uid`, `mode`), a file of ivy's and a file of container user 5.
fn canary(top: &Path, uid: u32, mode: u32) {
    mkdir(top, uid, mode);
    mkfile(&top.join("keep"), IVY);
    mkdir(&top.join("sub"), uid, mode);
    mkfile(&top.join("sub/f"), CONTAINER_5);
}

/// What is wrong with a canary, if anything.
fn damage(top: &Path, uid: u32) -> Option<String> {
    for (rel, owner) in [
        ("", uid),
        ("keep", IVY),
        ("sub", uid),
        ("sub/f", CONTAINER_5),
    ] {
        let p = top.join(rel);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.uid() == owner && m.gid() == owner => {}
            Ok(m) => {
                return Some(format!(
                    "{} now owned by {}:{} (was {owner})",
                    p.display(),
                    m.uid(),
                    m.gid()
                ))
            }
            Err(e) => return Some(format!("{}: {e}", p.display())),
        }
    }
    None
}

/// A target tree of container user 1000: `in/f`, and `x` of container user 5.
fn target(top: &Path) {
    mkdir(top, CONTAINER_1000, 0o755);
    mkdir(&top.join("in"), CONTAINER_1000, 0o755);
    mkfile(&top.join("in/f"), CONTAINER_1000);
    mkfile(&top.join("x"), CONTAINER_5);
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Verb {
    Clean,
    Chown,
}

/// Which directory is swapped for the symlink.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Depth {
    Grandparent,
    Parent,
    Target,
    Inside,
}

fn env_number(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Run `verb` on `base/race/g/p/tK` under a swap race at `depth`, `rounds` times (at most
/// USERNS_RACE_SECONDS); panic as soon as a canary is damaged. Returns (runs, runs that
/// acted, swaps).
fn race(s: &Scenario, verb: Verb, depth: Depth, attacker: Option<u32>) -> (usize, usize, u64) {
    let rounds = env_number("USERNS_RACE_ROUNDS", 170) as usize;
    let limit = Duration::from_secs(env_number("USERNS_RACE_SECONDS", 30));
    let who = if attacker.is_some() { "other" } else { "same" };
    let base = s
        .scratch()
        .join(format!("{verb:?}-{depth:?}-{who}").to_lowercase());
    // The swapper owns the directory that holds the swapped pair: ivy herself, a
    // container's user inside the tree, or mallory (then ivy's data is the canary).
    let swapper_uid = attacker.unwrap_or(if depth == Depth::Inside {
        CONTAINER_1000
    } else {
        IVY
    });
    let (canary_uid, canary_mode) = match attacker {
        Some(_) => (IVY, 0o755),
        None => (MALLORY, 0o777),
    };
    let holder_mode = |d: Depth| match attacker {
        Some(uid) if d == depth => (uid, 0o1777),
        _ => (IVY, 0o755),
    };
    mkdir(&base, IVY, 0o755);
    let race = base.join("race");
    let (uid, mode) = holder_mode(Depth::Grandparent);
    mkdir(&race, uid, mode);
    let (uid, mode) = holder_mode(Depth::Parent);
    mkdir(&race.join("g"), uid, mode);
    let p = race.join("g/p");
    mkdir(&p, IVY, 0o755);
    let outside = base.join("outside");
    mkdir(&outside, IVY, 0o755);
    // clean needs a fresh target each run; chown acts on the same one again and again.
    let targets = if verb == Verb::Clean { rounds } else { 1 };
    let name = |k: usize| format!("t{k}");
    // Where the symlink points, and where the canary of target k then is.
    let mirror = outside.join("m");
    let canary_of = |k: usize| match depth {
        Depth::Grandparent => mirror.join("p").join(name(k)),
        Depth::Parent => mirror.join(name(k)),
        Depth::Target | Depth::Inside => mirror.clone(),
    };
    match depth {
        Depth::Grandparent => {
            mkdir(&mirror, IVY, 0o755);
            mkdir(&mirror.join("p"), IVY, 0o755);
        }
        Depth::Parent => mkdir(&mirror, IVY, 0o755),
        Depth::Target | Depth::Inside => canary(&mirror, canary_uid, canary_mode),
    }
    for k in 0..targets {
        target(&p.join(name(k)));
        if matches!(depth, Depth::Grandparent | Depth::Parent) {
            canary(&canary_of(k), canary_uid, canary_mode);
        }
    }
    let pair = |k: usize| -> (PathBuf, PathBuf) {
        let real = match depth {
            Depth::Grandparent => race.join("g"),
            Depth::Parent => p.clone(),
            Depth::Target => p.join(name(k)),
            Depth::Inside => p.join(name(k)).join("in"),
        };
        let link = PathBuf::from(format!("{}.link", real.display()));
        (real, link)
    };
    // A pair per target when the swap is at or below it; one pair above it.
    let pairs = if matches!(depth, Depth::Target | Depth::Inside) {
        targets
    } else {
        1
    };
    for k in 0..pairs {
        let (_, link) = pair(k);
        mklink(&mirror, &link, swapper_uid);
    }

    let (a, b) = pair(0);
    let mut swapper = Swapper::start(swapper_uid, &a, &b);
    let started = Instant::now();
    let (mut runs, mut acted) = (0, 0);
    for i in 0..rounds {
        if started.elapsed() > limit {
            break;
        }
        let k = if verb == Verb::Clean { i } else { 0 };
        if k > 0 && matches!(depth, Depth::Target | Depth::Inside) {
            let (a, b) = pair(k);
            swapper.aim(&a, &b);
        }
        let path = p.join(name(k)).display().to_string();
        let out = match verb {
            Verb::Clean => s.run(&["clean", "--yes", &path]),
            Verb::Chown => s.run(&["chown", "-R", "1000:1000", &path]),
        };
        runs += 1;
        match out.status.code() {
            Some(0) => acted += 1,
            Some(1) => {}
            _ => panic!("{verb:?} crashed or misparsed\n{}", describe(&out)),
        }
        if let Some(what) = damage(&canary_of(k), canary_uid) {
            drop(swapper);
            panic!(
                "{verb:?} with {depth:?} swapped by uid {swapper_uid}: the canary outside was \
                 damaged in run {runs}: {what}\n{}",
                describe(&out)
            );
        }
    }
    let swaps = swapper.stop();
    for k in 0..targets {
        if let Some(what) = damage(&canary_of(k), canary_uid) {
            panic!("{verb:?} with {depth:?}: canary {k} damaged after the race: {what}");
        }
    }
    eprintln!(
        "{verb:?} {depth:?} ({who} user swapping): {runs} runs, {acted} acted, {} refused, \
         {swaps} swaps, {:.1} s",
        runs - acted,
        started.elapsed().as_secs_f64()
    );
    // Without the race, the command does its job on what is left.
    let last = p.join(name(targets - 1)).display().to_string();
    let out = match verb {
        Verb::Clean => s.run(&["clean", "--yes", &p.display().to_string()]),
        Verb::Chown => s.run(&["chown", "-R", "1000:1000", &last]),
    };
    assert_ok(&out);
    match verb {
        Verb::Clean => assert!(!p.exists(), "{}", describe(&out)),
        Verb::Chown => assert_eq!(
            std::fs::metadata(Path::new(&last).join("x")).unwrap().uid(),
            CONTAINER_1000
        ),
    }
    (runs, acted, swaps)
}

fn scenario(name: &str) -> Option<Scenario> {
    Some(Scenario::new(name)?.extra_passwd(&format!(
        "mallory:x:{MALLORY}:{MALLORY}::/nonexistent:/bin/sh"
    )))
}

fn all_depths(verb: Verb) {
    let Some(s) = scenario(&format!("race_{verb:?}")) else {
        return;
    };
    let _one = ONE_RACE.lock().unwrap_or_else(|p| p.into_inner());
    let mut total = (0, 0, 0);
    for depth in [
        Depth::Grandparent,
        Depth::Parent,
        Depth::Target,
        Depth::Inside,
    ] {
        let (runs, acted, swaps) = race(&s, verb, depth, None);
        // The race must not make the command useless: it acts whenever it resolved the
        // real tree, which is about half of the time.
        assert!(acted > 0, "{verb:?} {depth:?}: no run acted in {runs}");
        total = (total.0 + runs, total.1 + acted, total.2 + swaps);
    }
    eprintln!(
        "{verb:?}: {} runs in all, {} acted, {} swaps",
        total.0, total.1, total.2
    );
}

#[test]
fn clean_under_a_swap_race_never_leaves_the_tree_it_checked() {
    all_depths(Verb::Clean);
}

#[test]
fn chown_under_a_swap_race_never_leaves_the_tree_it_checked() {
    all_depths(Verb::Chown);
}

#[test]
fn another_users_swaps_never_steer_clean_or_chown_into_your_data() {
    let Some(s) = scenario("race_other_user") else {
        return;
    };
    let _one = ONE_RACE.lock().unwrap_or_else(|p| p.into_inner());
    for verb in [Verb::Clean, Verb::Chown] {
        for depth in [Depth::Grandparent, Depth::Parent] {
            race(&s, verb, depth, Some(MALLORY));
        }
    }
}

fn run_ok(s: &Scenario, args: &[&str]) -> Output {
    let out = s.run(args);
    assert_code(&out, 0);
    out
}

#[test]
fn symlinks_on_the_way_are_resolved_once_and_must_be_trusted() {
    let Some(s) = scenario("race_symlink_trust") else {
        return;
    };
    let base = s.scratch().join("trust");
    mkdir(&base, IVY, 0o755);
    // ivy's own symlink on the way is followed, once, up front.
    mkdir(&base.join("real"), IVY, 0o755);
    target(&base.join("real/t"));
    mklink(&base.join("real"), &base.join("mine"), IVY);
    run_ok(
        &s,
        &["chown", "-R", "5", &format!("{}/mine/t", base.display())],
    );
    assert_eq!(
        std::fs::metadata(base.join("real/t/in/f")).unwrap().uid(),
        CONTAINER_5
    );
    run_ok(
        &s,
        &["clean", "--yes", &format!("{}/mine/t", base.display())],
    );
    assert!(!base.join("real/t").exists());

    // mallory's symlink is refused, naming it and its owner.
    let shared = base.join("shared");
    mkdir(&shared, MALLORY, 0o1777);
    target(&base.join("real/t"));
    mklink(&base.join("real"), &shared.join("link"), MALLORY);
    let via = format!("{}/link/t", shared.display());
    for args in [
        vec!["clean", "--yes", &via],
        vec!["chown", "-R", "5", &via],
        vec!["chown", "5", &via],
    ] {
        let out = s.run(&args);
        assert_code(&out, 1);
        let err = stderr(&out);
        assert!(
            err.contains(&shared.join("link").display().to_string()) && err.contains("uid 3000"),
            "{}",
            describe(&out)
        );
    }
    for (rel, uid) in [
        ("", CONTAINER_1000),
        ("in/f", CONTAINER_1000),
        ("x", CONTAINER_5),
    ] {
        let m = std::fs::symlink_metadata(base.join("real/t").join(rel)).unwrap();
        assert_eq!(m.uid(), uid, "real/t/{rel}");
    }

    // chown dereferences a symlink argument; with -h it changes the link itself.
    let file = base.join("real/t/x");
    mklink(&file, &base.join("flink"), IVY);
    let flink = base.join("flink").display().to_string();
    run_ok(&s, &["chown", "7", &flink]);
    assert_eq!(std::fs::metadata(&file).unwrap().uid(), 200_006);
    assert_eq!(std::fs::symlink_metadata(&flink).unwrap().uid(), IVY);
    run_ok(&s, &["chown", "-h", "8", &flink]);
    assert_eq!(std::fs::symlink_metadata(&flink).unwrap().uid(), 200_007);
    assert_eq!(std::fs::metadata(&file).unwrap().uid(), 200_006);
    // clean removes a symlink argument itself, never what it points to.
    run_ok(&s, &["clean", "--yes", &flink]);
    assert!(std::fs::symlink_metadata(&flink).is_err() && file.exists());
}
