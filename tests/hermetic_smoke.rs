//! Proves the hermetic harness (tests/common): the fixture user, the fixture /etc, the
//! real setuid helpers reading the fixtures, and a host /etc left untouched.

mod common;

use common::{assert_code, assert_ok, stdout, Scenario};

#[test]
fn fixture_user_is_who_the_program_runs_as() {
    let Some(s) = Scenario::new("fixture_user_is_who_the_program_runs_as") else {
        return;
    };
    let out = assert_ok(&s.sh("id; getent passwd ivy; echo \"$HOME|$USER|$PWD\""));
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("uid=2000(ivy) gid=2000(ivy) groups=2000(ivy)")
    );
    let home = s.scratch().join("home");
    assert_eq!(
        lines.next(),
        Some(format!("ivy:x:2000:2000::{}:/bin/sh", home.display()).as_str())
    );
    let home = home.display().to_string();
    assert_eq!(lines.next(), Some(format!("{home}|ivy|{home}").as_str()));
}

#[test]
fn fixture_etc_is_private_to_the_scenario() {
    let Some(s) = Scenario::new("fixture_etc_is_private_to_the_scenario") else {
        return;
    };
    let host_subuid = std::fs::read("/etc/subuid").ok();
    let host_passwd = std::fs::read("/etc/passwd").unwrap();
    let s = s.subuid("ivy:300000:1000\n# a comment\n");
    let out = assert_ok(&s.sh("cat /etc/subuid; stat -c '%a %U' /etc/subuid"));
    assert_eq!(out, "ivy:300000:1000\n# a comment\n644 root\n");
    // The run is over: the host's files are as they were.
    assert_eq!(std::fs::read("/etc/subuid").ok(), host_subuid);
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), host_passwd);
    assert!(!String::from_utf8_lossy(&host_passwd).contains("ivy:x:2000"));
}

#[test]
fn changes_to_the_fixture_etc_persist_across_runs_of_one_scenario() {
    let Some(s) = Scenario::new("changes_persist_across_runs")
        .map(|s| s.root_setup("echo root-was-here > /etc/marker"))
    else {
        return;
    };
    assert_ok(&s.sh("test -f /etc/marker"));
    assert_eq!(
        std::fs::read_to_string(s.etc().join("marker")).unwrap(),
        "root-was-here\n"
    );
    assert!(!std::path::Path::new("/etc/marker").exists());
}

#[test]
fn getsubids_reads_the_fixture() {
    let Some(s) = Scenario::new("getsubids_reads_the_fixture") else {
        return;
    };
    let s = s.subuid("other:100000:65536\nivy:200000:65536\n");
    assert_eq!(assert_ok(&s.sh("getsubids ivy")), "0: ivy 200000 65536\n");
    assert_eq!(
        assert_ok(&s.sh("getsubids -g ivy")),
        "0: ivy 200000 65536\n"
    );
}

#[test]
fn real_newuidmap_maps_the_fixture_range() {
    let Some(s) = Scenario::new("real_newuidmap_maps_the_fixture_range") else {
        return;
    };
    // util-linux unshare --map-auto asks newuidmap/newgidmap (setuid, reading the fixture
    // /etc/subuid) for the first subuid range; with -r it maps 0 -> 2000 and 1 -> 200000.
    let out = s.sh("unshare --map-auto --map-root-user cat /proc/self/uid_map /proc/self/gid_map");
    let text = assert_ok(&out);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["0", "2000", "1"],
            vec!["1", "200000", "65535"],
            vec!["0", "2000", "1"],
            vec!["1", "200000", "65535"],
        ],
        "{text}"
    );
}

#[test]
fn no_new_privs_stops_the_setuid_helper() {
    let Some(s) = Scenario::new("no_new_privs_stops_the_setuid_helper").map(|s| s.no_new_privs())
    else {
        return;
    };
    // Under no_new_privs newuidmap runs without its setuid bit and cannot write the map.
    let out = s.sh("unshare --map-auto --map-root-user true");
    assert_code(&out, 1);
    assert!(
        common::stderr(&out).contains("newuidmap"),
        "{}",
        common::describe(&out)
    );
}

#[test]
fn other_user_numeric_only_and_missing_subid_files() {
    let Some(s) = Scenario::new("other_user_numeric_only").map(|s| {
        s.user("rowan", 2345, 2346)
            .omit_passwd_entry()
            .no_subid_files()
            .env("LANG", "C")
    }) else {
        return;
    };
    let out = assert_ok(&s.sh("id -u; id -g; getent passwd 2345 || echo no-passwd; \
         test -e /etc/subuid || echo no-subuid; echo \"${USER-unset} $LANG\""));
    assert_eq!(out, "2345\n2346\nno-passwd\nno-subuid\nunset C\n");
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(s.scratch()).unwrap()),
        2345
    );
}

#[test]
fn run_passes_arguments_verbatim_and_reports_the_exit_code() {
    let Some(s) = Scenario::new("run_passes_arguments_verbatim") else {
        return;
    };
    // Arguments with spaces and quotes reach the binary unchanged (clap echoes the bad
    // one back in its usage error), and a usage error exits 2.
    let out = s.run(&["translate", "it's a $HOME b"]);
    assert_code(&out, 2);
    assert!(
        common::stderr(&out).contains("invalid value 'it's a $HOME b'"),
        "{}",
        common::describe(&out)
    );
    assert_eq!(stdout(&out), "");
}

#[test]
fn spawned_shell_receives_signals_directly() {
    let Some(s) = Scenario::new("spawned_shell_receives_signals_directly") else {
        return;
    };
    let mut child = s.spawn_sh("echo $$; exec sleep 60");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    // Every layer execs, so the Child's pid is the user's shell.
    assert_eq!(line.trim(), child.id().to_string());
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGTERM)
    );
}

#[test]
fn root_setup_can_replace_a_helper_with_a_non_setuid_copy() {
    // The example of the harness docs: $SCRATCH and $BIN are set for root_setup, and a
    // bind mount made there is what the user's program sees.
    let Some(s) = Scenario::new("root_setup_replaces_helper").map(|s| {
        s.root_setup(
            "test -x \"$BIN\"
             cp /usr/bin/newuidmap \"$SCRATCH/newuidmap\"
             chmod 0755 \"$SCRATCH/newuidmap\"
             mount --bind \"$SCRATCH/newuidmap\" /usr/bin/newuidmap",
        )
    }) else {
        return;
    };
    let out = s.sh("stat -c %a /usr/bin/newuidmap; unshare --map-auto --map-root-user true");
    assert_code(&out, 1);
    assert_eq!(stdout(&out), "755\n");
    assert!(
        common::stderr(&out).contains("newuidmap"),
        "{}",
        common::describe(&out)
    );
    // The host's helper keeps its setuid bit.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata("/usr/bin/newuidmap")
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o4000, 0o4000);
}
