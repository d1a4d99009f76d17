//! `userns unshare` end to end: the real binary, the real kernel and the real setuid
//! helpers, as the unprivileged fixture user of the hermetic scenario (tests/common).

mod common;

use common::{assert_code, assert_ok, stderr, stdout, Scenario};
use std::os::unix::fs::MetadataExt;

fn scenario(name: &str) -> Option<Scenario> {
    Scenario::new(name)
}

/// The uid_map and gid_map the namespace really got, as `inside outside count` lines.
fn maps_inside(s: &Scenario, extra: &str) -> (String, String) {
    let out = assert_ok(&s.sh(&format!(
        "$USERNS unshare {extra} sh -c 'cat /proc/self/uid_map; echo --; cat /proc/self/gid_map'"
    )));
    let (uid, gid) = out.split_once("--\n").expect("separator");
    (normalize(uid), normalize(gid))
}

fn normalize(map: &str) -> String {
    map.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn maps_own_id_then_every_subid_range() {
    let Some(s) = scenario("maps_own_id_then_every_subid_range") else {
        return;
    };
    let (uid, gid) = maps_inside(&s, "");
    assert_eq!(uid, "0 2000 1\n1 200000 65536");
    assert_eq!(gid, "0 2000 1\n1 200000 65536");
}

#[test]
fn maps_several_ranges_by_name_and_uid_skipping_bad_lines() {
    let Some(s) = scenario("maps_several_ranges").map(|s| {
        s.subuid(
            "# ranges of ivy, by name and by uid\n\
             bob:100000:65536\n\
             ivy:400000:1000\n\
             this line is broken\n\
             2000:300000:5000\n\
             ivy:500000:0\n\
             ivy:4294967290:100\n\
             ivy:1990:20\n",
        )
        .subgid("ivy:600000:70000\n")
    }) else {
        return;
    };
    let out = s.sh("$USERNS unshare cat /proc/self/uid_map");
    assert_code(&out, 0);
    // Line 7 passes the largest id: newuidmap allows it, and the kernel has its first 5.
    assert_eq!(
        normalize(&stdout(&out)),
        "0 2000 1\n1 300000 5000\n5001 400000 1000\n6001 4294967290 5"
    );
    let err = stderr(&out);
    assert!(err.contains("only its first 5 ids can be mapped"), "{err}");
    for line in [6, 7, 8] {
        assert!(
            err.contains(&format!("/etc/subuid:{line}: left out")),
            "warning for line {line} missing: {err}"
        );
    }
    assert!(err.contains("own uid 2000"), "{err}");
    let (_, gid) = maps_inside(&s, "");
    assert_eq!(gid, "0 2000 1\n1 600000 70000");
}

#[test]
fn runs_as_root_inside_with_podman_environment_and_setgroups_allowed() {
    let Some(s) = scenario("runs_as_root_inside") else {
        return;
    };
    let out = assert_ok(&s.sh(
        "$USERNS unshare sh -c 'id -u; id -g; cat /proc/self/setgroups; \
         echo $_CONTAINERS_USERNS_CONFIGURED $_CONTAINERS_ROOTLESS_UID $_CONTAINERS_ROOTLESS_GID; \
         echo $CONTAINERS_GRAPHROOT; echo $CONTAINERS_RUNROOT'",
    ));
    let home = s.home().display().to_string();
    let run = s.scratch().join("run").display().to_string();
    assert_eq!(
        out,
        format!(
            "0\n0\nallow\ndone 2000 2000\n{home}/.local/share/containers/storage\n{run}/containers\n"
        )
    );
}

#[test]
fn file_made_inside_as_1000_is_owned_by_start_plus_999() {
    let Some(s) = scenario("file_made_inside_as_1000") else {
        return;
    };
    let dir = s.scratch().join("data");
    assert_ok(&s.sh(&format!(
        "mkdir {d} && $USERNS unshare sh -c 'mkdir {d}/sub && touch {d}/sub/f && chown -R 1000:1000 {d}/sub'",
        d = dir.display()
    )));
    let meta = std::fs::metadata(dir.join("sub/f")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (200999, 200999));
    // And the user cannot remove it outside, which is why `userns clean` exists.
    let out = s.sh(&format!("rm -rf {}/sub", dir.display()));
    assert!(!out.status.success(), "{out:?}");
    assert!(stderr(&out).contains("Permission denied"), "{out:?}");
}

#[test]
fn exit_codes_follow_podman() {
    let Some(s) = scenario("exit_codes_follow_podman") else {
        return;
    };
    assert_code(&s.run(&["unshare", "true"]), 0);
    assert_code(&s.run(&["unshare", "sh", "-c", "exit 7"]), 7);
    let out = s.run(&["unshare", "no-such-command-here"]);
    assert_code(&out, 127);
    assert!(stderr(&out).contains("no-such-command-here: command not found"));
    let out = s.run(&["unshare", "/etc/passwd"]);
    assert_code(&out, 126);
    assert!(stderr(&out).contains("cannot execute"));
    assert_code(&s.run(&["unshare", "--no-such-option"]), 125);
    assert_code(&s.run(&["unshare", "--map-users", "1:2"]), 125);
    // Exec'd in place, the program's own death by SIGTERM is what the caller sees: a shell
    // reports it as 128+15.
    let out = assert_ok(&s.sh("$USERNS unshare sh -c 'kill -TERM $$'; echo $?"));
    assert_eq!(out, "143\n");
    assert_code(
        &s.run(&["unshare", "--pid", "sh", "-c", "kill -KILL $$"]),
        137,
    );
    assert_code(&s.run(&["unshare", "--pid", "sh", "-c", "exit 3"]), 3);
    assert_code(&s.run(&["unshare", "--pid", "no-such-command-here"]), 127);
    assert_code(&s.run(&["unshare", "-w", "/no/such/dir", "true"]), 125);
}

#[test]
fn signals_and_mask_are_reset_before_exec() {
    let Some(s) = scenario("signals_and_mask_are_reset") else {
        return;
    };
    // An ignored SIGPIPE would survive exec and make `yes` complain about EPIPE.
    let out =
        assert_ok(&s.sh(
            "$USERNS unshare sh -c 'yes | head -n1; grep -E \"^Sig(Blk|Ign)\" /proc/self/status'",
        ));
    assert_eq!(
        out,
        "y\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
    );
}

#[test]
fn pid_namespace_runs_under_a_reaper_and_forwards_signals() {
    let Some(s) = scenario("pid_namespace_forwards_signals") else {
        return;
    };
    let out = assert_ok(&s.sh(
        "$USERNS unshare --pid --mount-proc sh -c 'echo $$; cat /proc/1/comm; \
         (sleep 0.2 &); sleep 0.5; grep -l \"^State:.*Z\" /proc/[0-9]*/status | wc -l'",
    ));
    assert_eq!(
        out, "2\nuserns\n0\n",
        "pid 1 is userns and no zombie is left"
    );

    let mut child = s.spawn_sh(
        "exec $USERNS unshare --pid sh -c 'trap \"echo got-term; exit 42\" TERM; echo ready; \
         while :; do sleep 0.05; done'",
    );
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 6];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    assert_eq!(&first, b"ready\n");
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest, "got-term\n");
    assert_eq!(status.code(), Some(42));
}

#[test]
fn extra_namespaces_hostname_loopback_and_workdir() {
    let Some(s) = scenario("extra_namespaces") else {
        return;
    };
    let out = assert_ok(&s.sh(
        "$USERNS unshare --net --hostname box --ipc --cgroup --mount -w /tmp sh -c \
         'hostname; cat /sys/class/net/lo/flags; pwd; \
          for ns in user net uts ipc cgroup mnt; do \
            [ $(readlink /proc/self/ns/$ns) = $(readlink /proc/$PPID/ns/$ns) ] && echo same-$ns; done; true'",
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "box");
    let flags = u32::from_str_radix(lines[1].trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "lo is up");
    assert_eq!(lines[2], "/tmp");
    // $PPID is the user's shell outside: every namespace differs from it.
    assert_eq!(lines.len(), 3, "{out}");
}

#[test]
fn explicit_maps_are_checked_against_the_allowed_ranges() {
    let Some(s) = scenario("explicit_maps_checked") else {
        return;
    };
    let (uid, _) = maps_inside(&s, "--map-users 0:200000:10 --map-users 10:2000:1");
    assert_eq!(uid, "0 200000 10\n10 2000 1");
    let out = s.run(&["unshare", "--map-users", "0:300000:10", "true"]);
    assert_code(&out, 125);
    let err = stderr(&out);
    assert!(
        err.contains("outside ids 300000-300009 are not all yours"),
        "{err}"
    );
    assert!(err.contains("200000-265535"), "{err}");
    let out = assert_ok(&s.run(&["unshare", "--map-user", "1000", "id", "-u"]));
    assert_eq!(out, "1000\n");
    let (uid, gid) = maps_inside(&s, "--single");
    assert_eq!((uid.as_str(), gid.as_str()), ("0 2000 1", "0 2000 1"));
    let out = assert_ok(&s.run(&["unshare", "--single", "cat", "/proc/self/setgroups"]));
    assert_eq!(out, "deny\n");
}

#[test]
fn default_program_is_the_users_shell() {
    let Some(s) = scenario("default_program_is_the_shell") else {
        return;
    };
    let out = assert_ok(&s.sh("echo 'id -u; echo $0' | $USERNS unshare"));
    assert_eq!(out, "0\n/bin/sh\n");
}

// ---- failures: each ends with 125 and names the cause and the fix ----

fn fails_with(s: &Scenario, script: &str, needles: &[&str]) {
    let out = s.sh(script);
    assert_code(&out, 125);
    let err = stderr(&out);
    for needle in needles {
        assert!(err.contains(needle), "expected {needle:?} in:\n{err}");
    }
}

#[test]
fn no_subuid_or_no_subgid_entry() {
    let Some(s) = scenario("no_subuid_entry").map(|s| s.subuid("bob:100000:65536\n")) else {
        return;
    };
    fails_with(
        &s,
        "$USERNS unshare true",
        &[
            "ivy has no subuid range",
            "usermod --add-subuids",
            "--single",
        ],
    );
    let Some(s) =
        scenario("no_subgid_entry").map(|s| s.no_subid_files().subuid("ivy:200000:65536\n"))
    else {
        return;
    };
    fails_with(
        &s,
        "$USERNS unshare true",
        &["ivy has no subgid range", "usermod --add-subgids"],
    );
}

#[test]
fn range_containing_own_uid_is_refused() {
    let Some(s) = scenario("range_containing_own_uid").map(|s| s.subuid("ivy:1000:65536\n")) else {
        return;
    };
    fails_with(
        &s,
        "$USERNS unshare true",
        &[
            "no usable subuid range for ivy",
            "/etc/subuid:1",
            "own uid 2000",
        ],
    );
}

#[test]
fn missing_helpers_name_the_package() {
    let Some(s) = scenario("missing_helpers").map(|s| {
        // Hide /usr/bin behind a tmpfs holding only what the scenario itself needs.
        s.root_setup(
            "mkdir -p \"$SCRATCH/stage\" && \
             cp /usr/bin/setpriv /usr/bin/env /usr/bin/dash /usr/bin/cp \"$SCRATCH/stage/\" && \
             mount -t tmpfs tmpfs /usr/bin && \"$SCRATCH/stage/cp\" \"$SCRATCH/stage/\"* /usr/bin/ && \
             \"$SCRATCH/stage/cp\" -s /usr/bin/dash /usr/bin/sh",
        )
    }) else {
        return;
    };
    fails_with(
        &s,
        "$USERNS unshare true",
        &[
            "newuidmap not found",
            "apt-get install uidmap",
            "shadow-utils",
        ],
    );
}

#[test]
fn helper_without_setuid_or_caps() {
    let Some(s) = scenario("helper_not_setuid").map(|s| {
        s.root_setup(
            "cp /usr/bin/newuidmap \"$SCRATCH/newuidmap\" && chmod 755 \"$SCRATCH/newuidmap\" && \
             mount --bind \"$SCRATCH/newuidmap\" /usr/bin/newuidmap",
        )
    }) else {
        return;
    };
    fails_with(
        &s,
        "$USERNS unshare true",
        &[
            "/usr/bin/newuidmap is neither setuid root nor has file capabilities",
            "chmod u+s /usr/bin/newuidmap",
            "setcap cap_setuid=ep",
        ],
    );
}

#[test]
fn helper_on_a_nosuid_mount() {
    let Some(s) = scenario("helper_nosuid").map(|s| {
        s.root_setup(
            "mount --bind /usr/bin/newgidmap /usr/bin/newgidmap && \
             mount -o remount,bind,nosuid /usr/bin/newgidmap",
        )
    }) else {
        return;
    };
    fails_with(
        &s,
        "$USERNS unshare true",
        &[
            "/usr/bin/newgidmap is on a filesystem mounted nosuid",
            "remount",
        ],
    );
}

#[test]
fn no_new_privs_is_named() {
    let Some(s) = scenario("no_new_privs").map(|s| s.no_new_privs()) else {
        return;
    };
    fails_with(
        &s,
        "$USERNS unshare true",
        &["NoNewPrivs", "NoNewPrivileges=no"],
    );
    // --single needs no helper, so it still works.
    assert_ok(&s.run(&["unshare", "--single", "true"]));
}

#[test]
fn user_namespaces_disabled_by_sysctl() {
    let Some(s) = scenario("max_user_namespaces_zero") else {
        return;
    };
    // user.max_user_namespaces is per user namespace and writable by its owner: set it to 0
    // inside a namespace of our own, then ask for another one below it.
    fails_with(
        &s,
        "$USERNS unshare --single sh -c 'echo 0 > /proc/sys/user/max_user_namespaces && \
         exec $USERNS unshare --single true'",
        &[
            "user.max_user_namespaces = 0",
            "sysctl -w user.max_user_namespaces=",
        ],
    );
}

#[test]
fn enclosing_namespace_without_the_subids() {
    let Some(s) = scenario("enclosing_namespace_lacks_subids") else {
        return;
    };
    // A "container" in which ivy is still uid 2000 but only 1000 of her subids exist.
    fails_with(
        &s,
        "$USERNS unshare --map-users 1:200000:1000 --map-user 2000 \
         --map-groups 1:200000:1000 --map-group 2000 $USERNS unshare true",
        &[
            "runs inside a user namespace whose uid_map lacks ids",
            "200000-265535 not mapped here",
        ],
    );
}

#[test]
fn helper_error_is_quoted_with_its_command_line() {
    // newuidmap refuses a caller without a passwd entry ("Cannot determine your user
    // name"), although the numeric subuid line is valid for userns and the kernel.
    let Some(s) = scenario("helper_error_quoted").map(|s| {
        s.omit_passwd_entry()
            .subuid("2000:200000:65536\n")
            .subgid("2000:200000:65536\n")
    }) else {
        return;
    };
    let out = s.sh("$USERNS unshare true");
    assert_code(&out, 125);
    let err = stderr(&out);
    assert!(err.contains("newuidmap failed (exit status 1)"), "{err}");
    assert!(err.contains("newuidmap said: newuidmap: "), "{err}");
    let command = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("command: /usr/bin/newuidmap "))
        .unwrap_or_else(|| panic!("no command line in {err}"));
    let words: Vec<&str> = command.split(' ').collect();
    assert!(words[0].parse::<u32>().is_ok(), "pid first: {command}");
    assert_eq!(words[1..], ["0", "2000", "1", "1", "200000", "65536"]);
}

/// A standard descriptor the caller left closed is /dev/null for the program (as under
/// any program started by Rust's runtime, which userns's C entry point replaces), never
/// a file userns opened meanwhile.
#[test]
fn closed_standard_descriptors_become_dev_null() {
    let Some(s) = scenario("unshare_closed_fds") else {
        return;
    };
    let out = s.sh("\"$USERNS\" unshare sh -c 'readlink /proc/self/fd/0; readlink /proc/self/fd/2 >&3' 3>&1 <&- 2>&-");
    assert_eq!(assert_ok(&out), "/dev/null\n/dev/null\n");
}
