//! The escape suite, descriptors (issue 11, findings 1 and 2), performed for real as the
//! fixture user ivy: the caller opens descriptors on host files (`exec 7<"$HOME"`, a file
//! holding a secret, the directory above home), runs a container in every mode, and the
//! container lists `/proc/PID/fd` of every process it can see and tries to follow each
//! descriptor out (list it and its parent, read the secret beside it, read it).
//!
//! A descriptor the caller made close-on-exec never reaches userns (its own exec closes
//! it); the close-on-exec descriptors at stake are userns's own (the container
//! directory's lock, the report pipe, the terminal socket, the network helper's pipes),
//! which pid 1 used to keep because it never execs with `--init`. Every one of them is a
//! descriptor above 2, which is what the assertions refuse; the container directory's
//! entries (`merged`) must never show either.
//!
//! podman's rule: nothing above 2 reaches the container but `--preserve-fds N`, which
//! passes 3 to 3+N-1.

mod common;
mod run_support;

use common::{assert_code, describe, stderr, stdout, Scenario};
use run_support::rootfs;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;

/// What the canary in the caller's home holds: it must never reach the container's output.
const SECRET: &str = "host-secret-5c81e9";
/// A file name in the caller's home: listing the home from inside would show it.
const HOME_MARKER: &str = "home-marker-0d4f2a";

/// What the container runs: every visible process's descriptors, then the attack. stderr
/// joins stdout once and for all: a redirection of one command would make the shell
/// hold a saved copy of the descriptor (ash keeps it at 10 and up) while it runs.
const PROBE: &str = r#"
exec 2>&1
for p in /proc/[0-9]*; do
  echo "== ${p#/proc/}"
  ls -l "$p/fd/"
done
echo "== end"
for p in /proc/[0-9]*; do
  for f in "$p"/fd/*; do
    case "${f##*/}" in 0|1|2|'*') continue ;; esac
    [ -d "$f" ] && ls -a "$f/" "$f/../"
    cat "$f/canary" "$f/../canary" "$f/../home/canary"
    [ -f "$f" ] && head -c 200 "$f"
  done
done
ls -a /proc/1/fd/3/ /proc/1/fd/3/..
cat /proc/self/fd/7/canary /proc/1/fd/7/canary /proc/1/fd/8
readlink /proc/1/cwd; readlink /proc/1/root
true
"#;

/// A scenario with a rootfs, the probe in the scratch dir, a home with the canary and the
/// marker, and a usable /dev/net/tun (pasta and slirp4netns need it 0666).
fn setup(name: &str) -> Option<(Scenario, String)> {
    // run_support::tun_with_mode makes the node anew, which only the first run can.
    let s = Scenario::new(name)?.root_setup(
        "[ -e \"$SCRATCH/tun\" ] || mknod -m 666 \"$SCRATCH/tun\" c 10 200\n\
         mount --bind \"$SCRATCH/tun\" /dev/net/tun",
    );
    let root = rootfs(&s);
    std::fs::write(s.scratch().join("probe.sh"), PROBE).expect("write the probe");
    let home = s.home();
    for (file, text) in [
        ("canary", SECRET),
        (HOME_MARKER, "marker"),
        ("passed", "passed-descriptor\n"),
    ] {
        std::fs::write(home.join(file), text).expect("write into the home");
        std::os::unix::fs::chown(home.join(file), Some(s.uid()), Some(s.gid())).unwrap();
    }
    Some((s, root.display().to_string()))
}

/// The caller: descriptors on host paths (7 the home, 8 the secret, 9 the directory above
/// the home; `passed` on 3 when `preserve`), then `userns run ARGS ROOT sh -c PROBE`. The
/// probe travels as an argument: a shell reading a script file would hold it open.
fn caller_script(s: &Scenario, args: &[&str], root: &str, preserve: bool) -> String {
    let third = if preserve {
        "3<\"$HOME/passed\""
    } else {
        "3<&-"
    };
    let text = format!(
        "probe=$(cat {})\n\
         exec {third} 4<&- 7<\"$HOME\" 8<\"$HOME/canary\" 9<\"$HOME/..\"\n\
         exec \"$USERNS\" run {} {root} sh -c \"$probe\"\n",
        s.scratch().join("probe.sh").display(),
        args.join(" ")
    );
    let path = s.scratch().join(format!("caller-{}.sh", args.join("_")));
    std::fs::write(&path, text).expect("write the caller script");
    path.display().to_string()
}

/// Run the attack with `args`; with `-t` under script(1), which gives userns a terminal.
fn attack(s: &Scenario, root: &str, args: &[&str], preserve: bool) -> std::process::Output {
    let caller = caller_script(s, args, root, preserve);
    if args
        .iter()
        .any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('t'))
    {
        s.sh(&format!("script -qec 'sh {caller}' /dev/null"))
    } else {
        s.sh(&format!("sh {caller}"))
    }
}

/// Each visible pid's descriptors (number, target), or Err when its fd directory could
/// not be listed (with what ls said).
type Listing = BTreeMap<u32, Result<Vec<(u32, String)>, String>>;

fn parse_listing(text: &str) -> Listing {
    let mut out = Listing::new();
    let mut current: Option<u32> = None;
    // Under script(1) with -i, the terminal echoes the end of input (^@ or ^D) first.
    let lines = text.lines().map(|l| {
        l.trim_end_matches('\r')
            .trim_start_matches(|c: char| c.is_control() || c == '^' || c == '@' || c == 'D')
    });
    for line in lines {
        if let Some(rest) = line.strip_prefix("== ") {
            current = rest.trim().parse().ok();
            if let Some(pid) = current {
                out.insert(pid, Ok(Vec::new()));
            }
            continue;
        }
        let Some(pid) = current else { continue };
        let entry = out.get_mut(&pid).expect("section opened");
        if let Some((left, target)) = line.split_once(" -> ") {
            let fd = left.split_whitespace().last().and_then(|w| w.parse().ok());
            if let (Some(fd), Ok(list)) = (fd, entry.as_mut()) {
                list.push((fd, target.to_string()));
            }
        } else if line.contains("ls:") {
            // A process that ended between the glob and ls leaves no trace worth keeping.
            if line.contains("No such file") {
                out.remove(&pid);
                current = None;
            } else {
                *entry = Err(line.to_string());
            }
        }
    }
    out
}

/// What is wrong with one run's output: descriptors beyond `allowed`, anything of the
/// host shown, pid 1 readable or not as `reaper` says.
fn problems(out: &std::process::Output, allowed: &[u32], reaper: bool) -> Vec<String> {
    let text = format!("{}{}", stdout(out), stderr(out));
    let mut found = Vec::new();
    if !out.status.success() {
        found.push("the run failed".to_string());
    }
    let listing = parse_listing(&stdout(out));
    if !listing.contains_key(&1) {
        found.push("no listing of pid 1".to_string());
    }
    for (pid, fds) in &listing {
        match fds {
            Ok(list) => {
                for (fd, target) in list.iter().filter(|(fd, _)| !allowed.contains(fd)) {
                    found.push(format!("pid {pid} holds fd {fd} -> {target}"));
                }
                if *pid == 1 && reaper {
                    found.push("the reaper's /proc/1/fd is readable (it is dumpable)".into());
                }
            }
            // Only the non-dumpable reaper may refuse the listing.
            Err(why) if !(*pid == 1 && reaper && why.contains("Permission denied")) => {
                found.push(format!("pid {pid}: {why}"));
            }
            Err(_) => {}
        }
    }
    for leak in [SECRET, HOME_MARKER, "merged"] {
        if text.contains(leak) {
            found.push(format!("{leak:?} reached the container"));
        }
    }
    found
}

/// Every mode of `userns run`, with the caller's descriptors open: nothing above 2 in any
/// process the container can see, and nothing of the host read through one.
#[test]
fn no_descriptor_reaches_the_container_in_any_mode() {
    let Some((s, root)) = setup("escape_fds_modes") else {
        return;
    };
    let modes: &[&[&str]] = &[
        &[],
        &["--init"],
        &["-i"],
        &["--init", "-i"],
        &["-t"],
        &["-t", "--init"],
        &["-it", "--init"],
        &["--keep", "fds"],
        &["--init", "--keep", "fds"],
        &["--userns", "private"],
        &["--init", "--userns", "private"],
        &["--init", "-u", "1000"],
        &["--net", "host"],
        &["--init", "--net", "host"],
        &["--net", "pasta"],
        &["--init", "--net", "pasta"],
        &["--net", "slirp4netns"],
        &["--init", "--net", "slirp4netns", "--userns", "private"],
    ];
    let mut failures = Vec::new();
    for args in modes {
        let out = attack(&s, &root, args, false);
        let reaper = args.contains(&"--init");
        let found = problems(&out, &[0, 1, 2], reaper);
        if !found.is_empty() {
            failures.push(format!(
                "userns run {}:\n  {}\n{}",
                args.join(" "),
                found.join("\n  "),
                describe(&out)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} modes leak:\n{}",
        failures.len(),
        modes.len(),
        failures.join("\n\n")
    );
}

/// `--preserve-fds 1` passes exactly descriptor 3 (readable as the caller opened it) and
/// nothing else; the reaper holds none of them.
#[test]
fn preserve_fds_passes_exactly_the_named_descriptors() {
    let Some((s, root)) = setup("escape_fds_preserve") else {
        return;
    };
    for args in [
        &["--preserve-fds", "1"][..],
        &["--preserve-fds", "1", "--init"],
        &["-t", "--preserve-fds", "1"],
    ] {
        let out = attack(&s, &root, args, true);
        let found = problems(&out, &[0, 1, 2, 3], args.contains(&"--init"));
        assert!(found.is_empty(), "{args:?}: {found:?}\n{}", describe(&out));
        // The program (pid 1, or pid 2 under the reaper) holds 3, on the passed file.
        let listing = parse_listing(&stdout(&out));
        let program = if args.contains(&"--init") { 2 } else { 1 };
        let fds = listing[&program].as_ref().expect("program's fds listed");
        assert!(
            fds.iter().any(|(fd, t)| *fd == 3 && t.ends_with("/passed")),
            "{args:?}: fd 3 not passed: {fds:?}\n{}",
            describe(&out)
        );
        assert!(
            stdout(&out).contains("passed-descriptor"),
            "{}",
            describe(&out)
        );
    }
    // One descriptor of the range closed: refused before anything runs, naming it.
    let out = s.sh(&format!(
        "exec 3<\"$HOME/passed\" 4<&-; \"$USERNS\" run --preserve-fds 2 {root} true"
    ));
    assert_code(&out, 125);
    let err = stderr(&out);
    assert!(
        err.contains("descriptor 4") && err.contains("fix:"),
        "{err}"
    );
}

/// A process seen from the host: its pid, the last number of its NSpid chain when it is
/// in a pid namespace below ours (1: pid 1 of the container), its name.
type Proc = (i32, Option<u32>, String);

fn proc_of(pid: i32) -> Option<Proc> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.split_whitespace().collect::<Vec<_>>())
    };
    let nspid = field("NSpid:")?;
    let inner = (nspid.len() > 1)
        .then(|| nspid.last()?.parse().ok())
        .flatten();
    Some((pid, inner, field("Name:")?.join(" ")))
}

fn pid_ns(pid: i32) -> Option<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()
}

/// pid 1 of a pid namespace and userns: the reaper (pasta is pid 1 of a pid namespace
/// of its own, its sandbox).
fn is_reaper(p: &Proc) -> bool {
    p.1 == Some(1) && p.2 == "userns"
}

/// The scenario's processes (userns, its helpers, the pause process and pid 1 carry its
/// XDG_RUNTIME_DIR), and those in pid 1's pid namespace (the program, whose environment
/// is the container's).
fn scenario_procs(s: &Scenario) -> Vec<Proc> {
    let mut procs: Vec<Proc> = s.processes().into_iter().filter_map(proc_of).collect();
    let Some(reaper) = procs.iter().find(|p| is_reaper(p)).map(|p| p.0) else {
        return procs;
    };
    let container = pid_ns(reaper);
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if pid != reaper && pid_ns(pid) == container {
            procs.extend(proc_of(pid));
        }
    }
    procs
}

fn fd_targets(pid: i32) -> Vec<(u32, String)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let fd = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some((fd, target.display().to_string()))
        })
        .collect()
}

/// Seen from the host: the reaper (`--init`'s pid 1) holds 0, 1 and 2 only and has its
/// root and working directory in the container; the program holds the one descriptor
/// `--preserve-fds 1` passes; the other processes userns leaves running (the pause
/// process of `containers`, pasta, slirp4netns) hold nothing of the caller's, passed or
/// not. Only the supervisor, which the container cannot see, keeps them.
#[test]
fn reaper_and_helpers_hold_nothing_of_the_host() {
    let Some((s, root)) = setup("escape_fds_host_view") else {
        return;
    };
    let home = s.home().display().to_string();
    let passed = s.home().join("passed").display().to_string();
    for net in ["slirp4netns", "pasta"] {
        let mut child = s.spawn_sh(&format!(
            "exec 3<\"$HOME/passed\" 7<\"$HOME\" 8<\"$HOME/canary\"\n\
             exec \"$USERNS\" run --init --preserve-fds 1 --net {net} {root} \
             sh -c 'echo ready; sleep 60'"
        ));
        let supervisor = child.id() as i32;
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n", "--net {net}: the container did not start");
        let procs = scenario_procs(&s);
        let reaper = procs
            .iter()
            .find(|p| is_reaper(p))
            .unwrap_or_else(|| panic!("--net {net}: no pid 1 among {procs:?}"))
            .0;
        let in_container = |pid: i32| pid != reaper && pid_ns(pid) == pid_ns(reaper);
        let program = procs
            .iter()
            .find(|(pid, ..)| in_container(*pid))
            .unwrap_or_else(|| panic!("--net {net}: no program among {procs:?}"))
            .0;
        let fds = fd_targets(reaper);
        assert!(
            !fds.is_empty() && fds.iter().all(|(fd, _)| *fd <= 2),
            "--net {net}: the reaper holds {fds:?}"
        );
        let id = |p: String| std::fs::metadata(p).map(|m| (m.dev(), m.ino())).unwrap();
        let container_root = id(format!("/proc/{program}/root"));
        assert_ne!(
            container_root,
            id("/".into()),
            "the program's root is the host's"
        );
        assert_eq!(
            id(format!("/proc/{reaper}/root")),
            container_root,
            "reaper root"
        );
        assert_eq!(
            id(format!("/proc/{reaper}/cwd")),
            container_root,
            "reaper cwd"
        );
        assert!(
            fd_targets(program).contains(&(3, passed.clone())),
            "--net {net}: the program lacks fd 3: {:?}",
            fd_targets(program)
        );
        let mut helpers = 0;
        for (pid, _, name) in procs.iter().filter(|(pid, ..)| *pid != supervisor) {
            helpers += usize::from(!in_container(*pid) && *pid != reaper);
            for (fd, target) in fd_targets(*pid) {
                let allowed = in_container(*pid) && fd == 3 && target == passed;
                assert!(
                    allowed || !target.starts_with(&home),
                    "--net {net}: {name} (pid {pid}) holds the caller's fd {fd} -> {target}"
                );
            }
        }
        assert!(helpers >= 2, "--net {net}: no helper among {procs:?}");
        // SAFETY: kill(2) on our own child; SIGTERM is forwarded into the container.
        unsafe { libc::kill(supervisor, libc::SIGTERM) };
        let _ = child.wait();
    }
}
