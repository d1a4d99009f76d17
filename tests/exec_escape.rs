//! The escape suite for `userns exec` (runc's CVE-2019-5736 and CVE-2024-21626): the
//! process that joins a running container is a host process until it execs (userns's
//! memory, maybe the caller's descriptors, the host's userns binary as /proc/PID/exe).
//! The container sees it in its /proc from the fork in its pid namespace to the exec; a
//! process of the container tries to reach through it meanwhile.
//!
//! The window is held open for real: strace delays the joining process at the entry of
//! its execve (`--inject=execve:delay_enter`), after every step userns takes before the
//! exec, while an attacker already inside (another `userns exec`) finds it by its command
//! line and tries to open /proc/PID/exe for writing and reading, list and follow
//! /proc/PID/fd, read /proc/PID/environ and /proc/PID/mem, and follow /proc/PID/cwd and
//! /proc/PID/root. Each attempt must fail.

mod common;
mod exec_support;
mod run_support;

use common::{describe, stdout};

/// Inside the container: wait for the joining process (its command line names the
/// marker), then attack it; one `RESULT name ok|denied` line per attempt.
const ATTACK: &str = r#"
target=
i=0
while [ -z "$target" ] && [ $i -lt 400 ]; do
  for p in /proc/[0-9]*; do
    [ "$p" = /proc/$$ ] && continue
    if grep -q joining-marker-7d1e "$p/cmdline" 2>/dev/null; then target=$p; fi
  done
  i=$((i+1))
  sleep 0.05
done
[ -n "$target" ] || { echo "NOTFOUND"; exit 0; }
echo "TARGET $target"
try() { name=$1; shift; if "$@" >/dev/null 2>&1; then echo "RESULT $name ok"; else echo "RESULT $name denied"; fi; }
try exe-write sh -c ": >> $target/exe"
try exe-read head -c 4 $target/exe
try exe-link readlink $target/exe
try cwd-link readlink $target/cwd
try cwd-list ls $target/cwd/
try root-list ls $target/root/
try fd-list ls $target/fd/
try fd3-follow ls $target/fd/3/
try environ cat $target/environ
try mem head -c 1 $target/mem
try maps cat $target/maps
grep -E '^(Uid|CapEff|NoNewPrivs|Seccomp):' $target/status
true
"#;

#[test]
fn the_joining_process_cannot_be_reached_from_inside_before_it_execs() {
    let Some((s, root)) = run_support::setup("exec_escape_window") else {
        return;
    };
    let c = exec_support::start(&s, "victim", &root, &[]);
    let attacker = s.spawn_sh(&format!(
        "exec \"$USERNS\" exec {} sh -c '{}'",
        c.name,
        ATTACK.replace('\'', "'\\''")
    ));
    std::thread::sleep(std::time::Duration::from_millis(300));
    // The caller holds a descriptor of its home (7) and of a secret (8) too.
    std::fs::write(s.home().join("canary"), "host-secret-91c2").unwrap();
    let victim = s.sh(&format!(
        "exec 7<\"$HOME\" 8<\"$HOME/canary\"; \
         exec strace -f -qq -o /dev/null -e trace=execve \
           -e inject=execve:delay_enter=2500000 \
           \"$USERNS\" exec {} /bin/true joining-marker-7d1e",
        c.name
    ));
    let attack = attacker.wait_with_output().expect("wait for the attacker");
    let text = stdout(&attack);
    assert!(
        victim.status.success(),
        "the traced exec failed: {}",
        describe(&victim)
    );
    assert!(
        text.contains("TARGET "),
        "the attacker never saw the joining process: {}",
        describe(&attack)
    );
    let results: Vec<&str> = text.lines().filter(|l| l.starts_with("RESULT ")).collect();
    assert_eq!(results.len(), 11, "{}", describe(&attack));
    let reached: Vec<&&str> = results.iter().filter(|l| l.ends_with(" ok")).collect();
    assert!(
        reached.is_empty(),
        "the container reached the joining process: {reached:?}\n{}",
        describe(&attack)
    );
    assert!(!text.contains("host-secret-91c2"), "{}", describe(&attack));
}

/// What the exec'd program lists: its descriptors (ls's own directory is 3) and its
/// working directory, then it tries the caller's descriptors by number.
const PROBE: &str =
    "ls -l /proc/self/fd/; echo FDS $(ls /proc/self/fd/); echo CWD $(readlink /proc/self/cwd); \
    ls -a /proc/self/fd/7/ /proc/self/fd/9/; cat /proc/self/fd/8; true";

/// The program `userns exec` starts holds 0, 1 and 2 only, whatever the caller had open,
/// in every mode; its working directory is the container's.
#[test]
fn the_program_gets_no_descriptor_of_the_caller_in_any_mode() {
    let Some((s, root)) = run_support::setup("exec_escape_fds") else {
        return;
    };
    std::fs::write(s.home().join("canary"), "host-secret-4be0").unwrap();
    std::fs::write(s.home().join("home-marker-e21c"), "").unwrap();
    let c = exec_support::start(&s, "victim", &root, &[]);
    for mode in ["", "-i", "-t", "-it"] {
        let exec = format!("\"$USERNS\" exec {mode} -w /tmp {} sh -c '{PROBE}'", c.name);
        let caller = "exec 7<\"$HOME\" 8<\"$HOME/canary\" 9<\"$HOME/..\"; ";
        let out = if mode.contains('t') {
            s.sh(&format!(
                "{caller} script -qec '{}' /dev/null </dev/null",
                exec.replace('\'', "'\\''")
            ))
        } else {
            s.sh(&format!("{caller} exec {exec} </dev/null"))
        };
        let text = stdout(&out);
        // With -it, script(1) sends its EOF (^D) as soon as its stdin (/dev/null) ends; when
        // that lands before userns puts the caller's terminal in raw mode, the kernel keeps
        // it as an end-of-line marker, which raw mode then hands over as one NUL byte
        // (n_tty: EOF_CHAR is queued as __DISABLED_CHAR). It is relayed like any input, and
        // the container's terminal echoes it as "^@" before the next line of output.
        assert!(
            text.lines()
                .any(|l| l.trim_end().trim_start_matches("^@") == "FDS 0 1 2 3"),
            "mode {mode:?}: {}",
            describe(&out)
        );
        assert!(
            text.contains("CWD /tmp"),
            "mode {mode:?}: {}",
            describe(&out)
        );
        for leak in ["host-secret-4be0", "home-marker-e21c"] {
            assert!(
                !text.contains(leak),
                "mode {mode:?}: {leak}: {}",
                describe(&out)
            );
        }
    }
}

/// CVE-2024-21626: the container makes its working directory a link to
/// /proc/self/fd/N, hoping N is a descriptor of a host directory in the joining
/// process. userns never follows a magic link there: exec fails (125), nothing of the
/// host is listed.
#[test]
fn a_working_directory_through_proc_self_fd_is_refused() {
    let Some((s, root)) = run_support::setup("exec_escape_cwd") else {
        return;
    };
    std::fs::write(s.home().join("home-marker-77aa"), "").unwrap();
    let c = exec_support::start(&s, "victim", &root, &[]);
    let plant = s.run(&[
        "exec",
        &c.name,
        "sh",
        "-c",
        "for n in 3 4 5 6 7 8 9; do ln -s /proc/self/fd/$n /tmp/fd$n; done",
    ]);
    assert!(plant.status.success(), "{}", describe(&plant));
    for n in [7, 9, 3, 4, 5, 6, 8] {
        let out = s.sh(&format!(
            "exec 7<\"$HOME\" 8<\"$HOME\" 9<\"$HOME\"; \
             exec \"$USERNS\" exec -w /tmp/fd{n} {} sh -c 'ls -a; readlink /proc/self/cwd'",
            c.name
        ));
        common::assert_code(&out, 125);
        assert!(
            !stdout(&out).contains("home-marker-77aa"),
            "fd {n}: {}",
            describe(&out)
        );
        assert!(
            common::stderr(&out).contains("/tmp/fd"),
            "fd {n}: the error names the directory: {}",
            describe(&out)
        );
    }
}

/// The same attack on `userns run -w`: an image or root filesystem whose working
/// directory is a link to /proc/self/fd/N, hoping N is a descriptor of the caller's.
#[test]
fn run_never_enters_a_working_directory_through_proc_self_fd() {
    let Some((s, root)) = run_support::setup("exec_escape_run_cwd") else {
        return;
    };
    std::fs::write(s.home().join("home-marker-5d0e"), "").unwrap();
    std::os::unix::fs::symlink("/proc/self/fd/7", std::path::Path::new(&root).join("w7")).unwrap();
    let out = s.sh(&format!(
        "exec 7<\"$HOME\"; exec \"$USERNS\" run -w /w7 {root} sh -c 'ls -a; readlink /proc/self/cwd'"
    ));
    assert!(
        !stdout(&out).contains("home-marker-5d0e"),
        "run entered the caller's home: {}",
        describe(&out)
    );
    common::assert_code(&out, 125);
}
