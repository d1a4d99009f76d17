//! `userns exec NAME COMMAND...` into a detached container (`run -d --name`), as the
//! fixture user: the program is in every namespace of the container (compared link by
//! link with the container's process), sees its pid 1, has its user, capabilities,
//! seccomp filter and no_new_privs, its environment plus -e and --env-file, its working
//! directory or -w, another user with -u; exit codes as `run`; stdin with -i, a terminal
//! with -t; a container that is gone is named in a clear error.

mod common;
mod exec_support;
mod run_support;

use common::{assert_code, describe, stderr, stdout};
use exec_support::start;

/// Inside: the pid of the container's program (`sleep 1000`: pid 1, or the child of the
/// reaper with --init), then each namespace link of this process and of that one, then
/// the credential lines of /proc/PID/status of both.
const PROBE: &str = r#"
prog=
for p in /proc/[0-9]*; do
  case "$(cat $p/cmdline 2>/dev/null | head -c 5)" in sleep) prog=${p#/proc/} ;; esac
done
echo "PROGRAM $prog"
echo "PID1 $(cat /proc/1/cmdline | head -c 64)"
for n in cgroup ipc mnt net pid user uts; do
  echo "NS $n $(readlink /proc/self/ns/$n) $(readlink /proc/$prog/ns/$n)"
done
for f in Uid Gid CapEff CapBnd CapPrm NoNewPrivs Seccomp; do
  echo "SELF $(grep "^$f:" /proc/self/status | tr -s '\t ' ' ')"
  echo "PROG $(grep "^$f:" /proc/$prog/status | tr -s '\t ' ' ')"
done
"#;

fn lines_with<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .collect()
}

#[test]
fn exec_is_in_every_namespace_of_the_container_with_its_credentials() {
    let Some((s, root)) = run_support::setup("exec_namespaces") else {
        return;
    };
    let host_user_ns = std::fs::read_link("/proc/self/ns/user").unwrap();
    let host_net_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    for (name, args) in [
        ("plain", &[][..]),
        ("reaped", &["--init"][..]),
        ("hostnet", &["--net", "host"][..]),
        ("private", &["--userns", "private"][..]),
    ] {
        let c = start(&s, name, &root, args);
        let out = s.run(&["exec", &c.name, "sh", "-c", PROBE]);
        let text = stdout(&out);
        assert!(out.status.success(), "{name}: {}", describe(&out));
        let program = lines_with(&text, "PROGRAM ");
        assert!(
            program.len() == 1 && !program[0].is_empty(),
            "{name}: the container's program is not visible: {}",
            describe(&out)
        );
        if name != "reaped" {
            assert_eq!(
                program[0],
                "1",
                "{name}: sleep is pid 1: {}",
                describe(&out)
            );
            assert!(text.contains("PID1 sleep"), "{name}: {}", describe(&out));
        } else {
            assert_ne!(program[0], "1", "{name}: {}", describe(&out));
        }
        let ns = lines_with(&text, "NS ");
        assert_eq!(ns.len(), 7, "{name}: {}", describe(&out));
        for line in ns {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert!(
                words.len() == 3 && words[1] == words[2],
                "{name}: namespace {} differs from the container's: {line}\n{}",
                words[0],
                describe(&out)
            );
            if words[0] == "net" {
                // The host's network namespace with --net host, and only then.
                assert_eq!(
                    words[1] == host_net_ns.to_str().unwrap(),
                    name == "hostnet",
                    "{name}: {line}"
                );
            }
            if words[0] == "user" {
                assert_ne!(
                    words[1],
                    host_user_ns.to_str().unwrap(),
                    "{name}: still the host's user namespace"
                );
            }
        }
        let me = lines_with(&text, "SELF ");
        let prog = lines_with(&text, "PROG ");
        assert_eq!(me.len(), 7, "{name}: {}", describe(&out));
        assert_eq!(me, prog, "{name}: credentials differ: {}", describe(&out));
        for want in [
            "Uid: 0 0 0 0",
            "CapEff: 00000000800405fb",
            "CapBnd: 00000000800405fb",
            "NoNewPrivs: 1",
            "Seccomp: 2",
        ] {
            assert!(
                me.contains(&want),
                "{name}: no {want:?}: {}",
                describe(&out)
            );
        }
    }
}

#[test]
fn environment_working_directory_and_user() {
    let Some((s, root)) = run_support::setup("exec_env_user") else {
        return;
    };
    let c = start(
        &s,
        "envy",
        &root,
        &["-e", "FROM_RUN=r1", "-e", "A=run", "-w", "/tmp"],
    );
    let env_file = s.scratch().join("exec.env");
    std::fs::write(&env_file, "# comment\nFROM_FILE=f1\nA=file\n").unwrap();
    let env_file = env_file.display().to_string();
    let out = s.sh(&format!(
        "PASSED=from-caller \"$USERNS\" exec -e A=cli -e PASSED -e UNSET_HERE --env-file {env_file} \
         {} sh -c 'env; echo PWD $(pwd); id'",
        c.name
    ));
    let text = stdout(&out);
    assert!(out.status.success(), "{}", describe(&out));
    for want in [
        "FROM_RUN=r1",
        "FROM_FILE=f1",
        "A=cli",
        "PASSED=from-caller",
        "HOME=/root",
        "PWD /tmp",
        "uid=0(root) gid=0(root)",
    ] {
        assert!(text.contains(want), "no {want:?}: {}", describe(&out));
    }
    assert!(!text.contains("UNSET_HERE"), "{}", describe(&out));
    let out = s.run(&["exec", "-w", "/home", &c.name, "pwd"]);
    assert_eq!(stdout(&out).trim(), "/home", "{}", describe(&out));
    // -u: the container's passwd and group, HOME of that user, no capabilities but the
    // bounding set, as the kernel leaves a non-root user.
    let out = s.run(&[
        "exec",
        "-u",
        "app",
        &c.name,
        "sh",
        "-c",
        "id; echo HOME=$HOME; grep -E '^Cap(Eff|Bnd)' /proc/self/status",
    ]);
    let text = stdout(&out);
    for want in [
        "uid=1000(app) gid=1000(app)",
        "HOME=/home/app",
        "CapEff:\t0000000000000000",
        "CapBnd:\t00000000800405fb",
    ] {
        assert!(
            text.contains(want),
            "-u app: no {want:?}: {}",
            describe(&out)
        );
    }
    let out = s.run(&["exec", "-u", "1000:5", &c.name, "id"]);
    assert!(
        stdout(&out).contains("uid=1000(app) gid=5(tty)"),
        "{}",
        describe(&out)
    );
    let out = s.run(&["exec", "-u", "nobody-here", &c.name, "id"]);
    assert_code(&out, 125);
    assert!(
        stderr(&out).contains("no user \"nobody-here\" in the container's /etc/passwd"),
        "{}",
        describe(&out)
    );
    // A container run as app: exec runs as app too.
    let app = start(&s, "as-app", &root, &["-u", "app"]);
    let out = s.run(&["exec", &app.name, "id"]);
    assert!(
        stdout(&out).contains("uid=1000(app) gid=1000(app)"),
        "{}",
        describe(&out)
    );
}

#[test]
fn exit_codes_follow_run() {
    let Some((s, root)) = run_support::setup("exec_exit_codes") else {
        return;
    };
    let c = start(&s, "codes", &root, &[]);
    assert_code(&s.run(&["exec", &c.name, "sh", "-c", "exit 3"]), 3);
    assert_code(&s.run(&["exec", &c.name, "sh", "-c", "kill -9 $$"]), 137);
    let out = s.run(&["exec", &c.name, "no-such-command"]);
    assert_code(&out, 127);
    assert!(
        stderr(&out).contains("no-such-command: command not found"),
        "{}",
        describe(&out)
    );
    let out = s.run(&["exec", &c.name, "/etc/passwd"]);
    assert_code(&out, 126);
    let out = s.run(&["exec", "-w", "/no/such/dir", &c.name, "true"]);
    assert_code(&out, 125);
    assert!(stderr(&out).contains("/no/such/dir"), "{}", describe(&out));
    let out = s.run(&["exec", "no-such-container", "true"]);
    assert_code(&out, 125);
    assert!(
        stderr(&out).contains("no-such-container"),
        "{}",
        describe(&out)
    );
}

#[test]
fn stdin_with_i_and_a_terminal_with_t() {
    let Some((s, root)) = run_support::setup("exec_stdio") else {
        return;
    };
    let c = start(&s, "stdio", &root, &[]);
    let out = s.sh(&format!(
        "echo piped-in | \"$USERNS\" exec -i {} cat",
        c.name
    ));
    assert_eq!(stdout(&out).trim(), "piped-in", "{}", describe(&out));
    // Without -i, stdin is /dev/null (podman's rule).
    let out = s.sh(&format!(
        "echo piped-in | \"$USERNS\" exec {} sh -c 'cat; readlink /proc/self/fd/0'",
        c.name
    ));
    assert_eq!(stdout(&out).trim(), "/dev/null", "{}", describe(&out));
    let out = s.sh(&format!(
        "script -qec \"$USERNS exec -t {} sh -c 'tty; test -t 0 && echo stdin-tty; exit 4'\" /dev/null",
        c.name
    ));
    assert_code(&out, 4);
    let text = stdout(&out);
    assert!(
        text.contains("/dev/pts/") && text.contains("stdin-tty"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_container_that_is_gone_is_named() {
    let Some((s, root)) = run_support::setup("exec_gone") else {
        return;
    };
    // Ended on its own: the monitor recorded it.
    let ended = exec_support::start_with(&s, "ended", &root, &[], "exit 0");
    let out = s.run(&["wait", &ended.name]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = s.run(&["exec", &ended.name, "true"]);
    assert_code(&out, 125);
    assert!(
        stderr(&out).contains("container ended is not running"),
        "{}",
        describe(&out)
    );
    // Killed with its monitor, no end recorded: pid 1 is gone all the same.
    let killed = start(&s, "killed", &root, &[]);
    for pid in s.processes() {
        // SAFETY: kill(2) with a pid of this scenario's processes.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !s.processes().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "processes outlived SIGKILL"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = s.run(&["exec", &killed.name, "true"]);
    assert_code(&out, 125);
    let err = stderr(&out);
    assert!(
        err.contains("container killed is not running"),
        "{}",
        describe(&out)
    );
}

/// SIGTERM to `userns exec` reaches the program (it is in a session of its own, so
/// userns forwards it, as podman's sig-proxy does), and its exit code comes back.
#[test]
fn a_signal_to_userns_exec_reaches_the_program() {
    let Some((s, root)) = run_support::setup("exec_signal") else {
        return;
    };
    let c = start(&s, "signals", &root, &[]);
    let mut child = s.spawn_sh(&format!(
        "exec \"$USERNS\" exec {} sh -c 'trap \"echo got-term; exit 7\" TERM; echo ready; \
         while :; do sleep 0.1; done'",
        c.name
    ));
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ready");
    // SAFETY: kill(2) of our own child, which is still running (not reaped).
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", describe(&out));
    assert!(stdout(&out).contains("got-term"), "{}", describe(&out));
}
