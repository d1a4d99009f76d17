//! `userns run` end to end: the real binary, kernel and setuid helpers, as the fixture
//! user ivy (2000, subids 200000:65536) of the hermetic scenario (tests/common), with a
//! busybox-static root filesystem built at test time.

mod common;
mod run_support;

use common::{assert_code, assert_ok, stderr, stdout, Scenario};
use run_support::{rootfs, run_sh, setup, tun_with_mode};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

fn containers_left(s: &Scenario) -> Vec<String> {
    let dir = s.scratch().join("run/userns/containers");
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn runs_as_root_of_the_full_map_with_the_program_as_pid_1() {
    let Some((s, root)) = setup("run_identity") else {
        return;
    };
    let out = assert_ok(&run_sh(
        &s,
        &root,
        &[],
        "id; cat /proc/self/uid_map; echo pid=$$",
    ));
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines[0], "uid=0(root) gid=0(root)", "{out}");
    assert_eq!(lines[1..3], ["0 2000 1", "1 200000 65536"], "{out}");
    assert_eq!(lines[3], "pid=1", "{out}");
    assert!(
        containers_left(&s).is_empty(),
        "container dir left: {:?}",
        containers_left(&s)
    );
}

#[test]
fn init_is_pid_1_and_reaps_orphans() {
    let Some((s, root)) = setup("run_init") else {
        return;
    };
    // The inner sh leaves an orphan sleep that dies while the outer sh still runs: only
    // a reaping pid 1 keeps it from staying a zombie.
    let script = "echo pid=$$; sh -c 'sleep 0.2 &'; sleep 1; \
                  for f in /proc/[0-9]*/stat; do read -r l < $f && echo \"$l\"; done";
    let out = assert_ok(&run_sh(&s, &root, &["--init"], script));
    assert!(!out.contains("pid=1\n"), "{out}");
    assert!(out.starts_with("pid="), "{out}");
    assert!(out.contains("1 (userns) "), "pid 1 is the reaper: {out}");
    assert!(!out.contains(") Z "), "a zombie was left: {out}");
}

#[test]
fn hostname_is_the_short_id_or_the_given_one() {
    let Some((s, root)) = setup("run_hostname") else {
        return;
    };
    let out = assert_ok(&run_sh(
        &s,
        &root,
        &[],
        "hostname; cat /etc/hostname; echo $HOSTNAME",
    ));
    let names: Vec<&str> = out.lines().collect();
    assert_eq!(names[0].len(), 12, "{out}");
    assert!(names[0].chars().all(|c| c.is_ascii_hexdigit()), "{out}");
    assert_eq!(names[1], names[0]);
    assert_eq!(names[2], names[0]);
    let out = assert_ok(&run_sh(
        &s,
        &root,
        &["--hostname", "box"],
        "hostname; grep box /etc/hosts",
    ));
    assert!(out.starts_with("box\n"), "{out}");
    assert!(out.contains("127.0.1.1\tbox"), "{out}");
}

#[test]
fn provides_proc_dev_sys_and_etc_files() {
    let Some((s, root)) = setup("run_mounts") else {
        return;
    };
    let script = "mount; echo data > /dev/null && echo null-ok; \
                  head -c 4 /dev/urandom | wc -c; ls -l /dev/ptmx; \
                  touch /sys/x 2>&1; cat /etc/hosts /etc/resolv.conf >/dev/null && echo etc-ok";
    let out = assert_ok(&run_sh(&s, &root, &[], script));
    for expected in [
        "proc on /proc type proc",
        "tmpfs on /dev type tmpfs (rw,nosuid",
        "devpts on /dev/pts type devpts",
        "on /dev/shm type tmpfs",
        "sysfs on /sys type sysfs (ro,",
        " on /etc/hosts ",
        "null-ok",
        "4\n",
        "/dev/ptmx -> pts/ptmx",
        "Read-only file system",
        "etc-ok",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    // With the host's network a fresh sysfs is refused, so the host's is bound, and
    // made read-only with its submounts.
    let out = run_sh(
        &s,
        &root,
        &["--net", "host"],
        "mount | grep ' /sys'; touch /sys/x",
    );
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.lines().count() >= 1, "{text}");
    for line in text.lines() {
        assert!(
            line.contains("(ro,"),
            "a /sys mount stayed writable: {line}"
        );
    }
}

#[test]
fn overlay_keeps_the_source_pristine_and_rootfs_rw_writes_through() {
    let Some((s, root)) = setup("run_overlay") else {
        return;
    };
    // While it runs, what it writes lives in a tmpfs of its own mount namespace: the
    // host sees an empty mount point, and a killed run leaves no layer behind.
    let out = s.sh(&format!(
        "$USERNS run {root} sh -c 'echo hi > /made-inside && cat /made-inside; sleep 1' & \
         sleep 0.5; for d in $XDG_RUNTIME_DIR/userns/containers/*/layer; do \
         test -d $d && echo mount-point; ls -A $d; done; wait"
    ));
    assert_eq!(assert_ok(&out), "hi\nmount-point\n");
    assert!(
        !Path::new(&root).join("made-inside").exists(),
        "the overlay leaked into the source"
    );
    assert!(
        containers_left(&s).is_empty(),
        "upper layer left: {:?}",
        containers_left(&s)
    );
    assert_ok(&run_sh(
        &s,
        &root,
        &["--rootfs-rw"],
        "echo hi > /made-inside",
    ));
    assert!(Path::new(&root).join("made-inside").exists());
}

#[test]
fn volume_files_get_the_subordinate_owner_on_the_host() {
    let Some((s, root)) = setup("run_volume") else {
        return;
    };
    let vol = s.scratch().join("vol");
    std::fs::create_dir(&vol).unwrap();
    std::fs::set_permissions(&vol, std::fs::Permissions::from_mode(0o777)).unwrap();
    let ro = s.scratch().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let v = format!("{}:/data", vol.display());
    let v_ro = format!("{}:/srv/ro:ro", ro.display());
    let out = run_sh(
        &s,
        &root,
        &["-u", "1000:1000", "-v", &v, "-v", &v_ro],
        "id -u; id -g; touch /data/f; touch /srv/ro/x 2>&1; true",
    );
    let text = assert_ok(&out);
    assert!(text.starts_with("1000\n1000\n"), "{text}");
    assert!(text.contains("Read-only file system"), "{text}");
    let meta = std::fs::metadata(vol.join("f")).expect("file made in the volume");
    assert_eq!((meta.uid(), meta.gid()), (200_999, 200_999));
}

#[test]
fn env_workdir_and_user() {
    let Some((s, root)) = setup("run_env") else {
        return;
    };
    let env_file = s.scratch().join("env");
    std::fs::write(&env_file, "# comment\nFROM_FILE=f\nA=file\n").unwrap();
    let ef = env_file.display().to_string();
    let out = run_sh(
        &s,
        &root,
        &[
            "-e",
            "A=cli",
            "--env-file",
            &ef,
            "-w",
            "/work/dir",
            "-u",
            "app",
        ],
        "echo $A $FROM_FILE $HOME $PATH; pwd; id",
    );
    let text = assert_ok(&out);
    assert!(
        text.starts_with("cli f /home/app /usr/local/sbin:"),
        "{text}"
    );
    assert!(text.contains("/work/dir\n"), "{text}");
    assert!(text.contains("uid=1000(app) gid=1000(app)"), "{text}");
}

#[test]
fn read_only_root_refuses_writes_but_keeps_tmp() {
    let Some((s, root)) = setup("run_read_only") else {
        return;
    };
    let out = run_sh(
        &s,
        &root,
        &["--read-only"],
        "touch /tmp/ok && echo tmp-ok; touch /x",
    );
    assert_code(&out, 1);
    assert!(stdout(&out).contains("tmp-ok"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn exit_codes_follow_podman() {
    let Some((s, root)) = setup("run_exit_codes") else {
        return;
    };
    assert_code(&run_sh(&s, &root, &[], "exit 7"), 7);
    let out = s.run(&["run", &root, "/no/such/program"]);
    assert_code(&out, 127);
    assert!(
        stderr(&out).contains("command not found"),
        "{}",
        stderr(&out)
    );
    // A bare name is searched in the container's PATH, and the message says which.
    let out = s.run(&["run", "-e", "PATH=/opt/x:/bin", &root, "nosuchprogram"]);
    assert_code(&out, 127);
    assert!(
        stderr(&out).contains("nosuchprogram: command not found")
            && stderr(&out).contains("(PATH is /opt/x:/bin)"),
        "{}",
        stderr(&out)
    );
    assert_code(&s.run(&["run", &root, "/etc/passwd"]), 126);
    let out = s.run(&["run", "/no/such/source", "true"]);
    assert_code(&out, 125);
    assert!(stderr(&out).contains("/no/such/source"), "{}", stderr(&out));
    // pid 1 cannot be killed from inside, so the program is a child of --init here.
    assert_code(&run_sh(&s, &root, &["--init"], "kill -TERM $$"), 143);
    assert!(containers_left(&s).is_empty());
}

#[test]
fn sigterm_to_userns_reaches_pid_1() {
    let Some((s, root)) = setup("run_signal") else {
        return;
    };
    let mut child = s.spawn_sh(&format!(
        "exec $USERNS run {root} sh -c 'trap \"echo got-term; exit 42\" TERM; echo ready; \
         while :; do sleep 0.05; done'"
    ));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").expect("read");
    assert_eq!(first, "ready");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let started = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "SIGTERM was not forwarded"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let rest: Vec<String> = lines.map_while(|l| l.ok()).collect();
    assert_eq!(rest, ["got-term"]);
    assert_eq!(status.code(), Some(42));
}

#[test]
fn capabilities_are_podmans_default_set_with_no_new_privs() {
    let Some((s, root)) = setup("run_caps") else {
        return;
    };
    let out = assert_ok(&run_sh(
        &s,
        &root,
        &[],
        "grep -E '^(CapEff|CapBnd|CapInh|NoNewPrivs)' /proc/self/status",
    ));
    let fields: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    // containers.conf default_capabilities of the podman installed here (11 capabilities).
    assert!(
        fields.contains(&vec!["CapEff:", "00000000800405fb"]),
        "{out}"
    );
    assert!(
        fields.contains(&vec!["CapBnd:", "00000000800405fb"]),
        "{out}"
    );
    assert!(
        fields.contains(&vec!["CapInh:", "0000000000000000"]),
        "{out}"
    );
    assert!(fields.contains(&vec!["NoNewPrivs:", "1"]), "{out}");
    let out = assert_ok(&run_sh(
        &s,
        &root,
        &["-u", "1000"],
        "grep CapEff /proc/self/status",
    ));
    assert!(out.contains("0000000000000000"), "{out}");
}

#[test]
fn tty_gives_the_program_a_terminal_of_its_own() {
    let Some((s, root)) = setup("run_tty") else {
        return;
    };
    // script(1) gives userns a terminal; -e returns the child's exit code.
    let out = s.sh(&format!(
        "script -qec \"$USERNS run -t {root} sh -c 'tty; test -t 0 && echo stdin-tty; exit 3'\" /dev/null"
    ));
    assert_code(&out, 3);
    let text = stdout(&out);
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("stdin-tty"), "{text}");
    let out = s.sh(&format!(
        "printf 'echo typed-$((6*7))\\nexit 5\\n' | script -qec \"$USERNS run -it {root} sh\" /dev/null"
    ));
    assert_code(&out, 5);
    assert!(stdout(&out).contains("typed-42"), "{}", stdout(&out));
}

#[test]
fn stdin_is_null_without_i_and_kept_with_it() {
    let Some((s, root)) = setup("run_stdin") else {
        return;
    };
    let out = assert_ok(&s.sh(&format!("echo piped | $USERNS run {root} cat; echo end")));
    assert_eq!(out, "end\n");
    let out = assert_ok(&s.sh(&format!("echo piped | $USERNS run -i {root} cat")));
    assert_eq!(out, "piped\n");
}

#[test]
fn keep_reuses_the_named_layer() {
    let Some((s, root)) = setup("run_keep") else {
        return;
    };
    assert_ok(&run_sh(&s, &root, &["--keep", "dev"], "echo kept > /state"));
    let out = assert_ok(&run_sh(&s, &root, &["--keep", "dev"], "cat /state"));
    assert_eq!(out, "kept\n");
    assert!(!Path::new(&root).join("state").exists());
    let out = run_sh(&s, &root, &[], "cat /state");
    assert_code(&out, 1);
}

#[test]
fn runs_a_podman_saved_image_with_its_config() {
    let Some((s, root)) = setup("run_image") else {
        return;
    };
    let tar = s.scratch().join("rootfs.tar");
    let image = s.scratch().join("image.tar");
    let out = s.sh(&format!(
        "tar -C {root} -cf {tar} . && \
         podman import --change 'CMD [\"/bin/sh\", \"-c\", \"echo cmd $FOO; pwd\"]' \
           --change 'ENV FOO=bar' --change 'WORKDIR /home/app' {tar} localhost/userns-run-test >/dev/null && \
         podman save -q -o {image} localhost/userns-run-test",
        tar = tar.display(),
        image = image.display()
    ));
    assert_ok(&out);
    let out = s.run(&["run", &image.display().to_string()]);
    assert_eq!(assert_ok(&out), "cmd bar\n/home/app\n");
    let out = s.run(&["run", &image.display().to_string(), "id", "-u"]);
    assert_eq!(assert_ok(&out), "0\n");
}

#[test]
fn slirp4netns_connects_the_container() {
    let Some(s) = Scenario::new("run_net").map(|s| s.root_setup(&tun_with_mode("666"))) else {
        return;
    };
    let root = rootfs(&s).display().to_string();
    let out = run_sh(
        &s,
        &root,
        &["--net", "slirp4netns"],
        "ls /sys/class/net; cat /etc/resolv.conf; grep tap0 /proc/net/route | head -1",
    );
    let text = assert_ok(&out);
    assert!(text.contains("tap0\n"), "{text}");
    assert!(text.contains("nameserver 10.0.2.3"), "{text}");
    assert!(
        text.contains("tap0\t00000000\t0202000A"),
        "no default route via 10.0.2.2: {text}"
    );
    // The helper's chatter goes to its log, not into the container's output.
    assert!(!text.contains("Starting slirp"), "{text}");
    let out = run_sh(&s, &root, &[], "ls /sys/class/net");
    assert_eq!(assert_ok(&out), "lo\n");
}

/// A run killed before its clean-up leaves its directory, with a writable layer of
/// subordinate-id files the user cannot delete. The next run removes it (in the
/// namespace), but never a directory that a live run holds locked, a fresh one, or
/// anything not named like a container.
#[test]
fn directories_of_killed_runs_are_removed_by_the_next_run() {
    let Some((s, root)) = setup("run_sweep") else {
        return;
    };
    // ab: abandoned, its layer owned by subordinate ids; ac: as old, but a live run holds
    // its lock; ad: unlocked but just made; not-a-container: not a container's name; and
    // the directory of a run killed with SIGKILL.
    let script = format!(
        "c=$XDG_RUNTIME_DIR/userns/containers; mkdir -m 700 $XDG_RUNTIME_DIR/userns; \
         $USERNS unshare sh -c \"mkdir -p $c/0123456789ab/upper/etc $c/0123456789ac \
             $c/0123456789ad $c/not-a-container && touch $c/0123456789ab/upper/etc/f && \
             chown -R 1000:1000 $c/0123456789ab/upper\" || exit 9; \
         touch -d '2 hours ago' $c/0123456789ab $c/0123456789ac $c/not-a-container; \
         flock -n $c/0123456789ac sleep 30 >/dev/null 2>&1 & holder=$!; \
         $USERNS run {root} sleep 30 & victim=$!; sleep 0.5; kill -9 $victim; sleep 0.3; \
         for d in $c/*; do case $d in */0123456789a?|*/not-a-container) ;; \
             *) touch -d '2 hours ago' $d; echo killed-run-left-its-dir;; esac; done; \
         $USERNS run {root} true; echo status=$?; kill $holder; ls $c"
    );
    let out = s.sh(&script);
    let text = assert_ok(&out);
    let err = stderr(&out);
    assert!(text.contains("status=0"), "{text}\n{err}");
    // A run killed with SIGKILL: its directory stays, its lock goes with it.
    assert!(text.contains("killed-run-left-its-dir\n"), "{text}\n{err}");
    assert!(
        err.contains("removed 2 container directories left by runs that were killed"),
        "{err}"
    );
    let left: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("status") && !l.starts_with("killed"))
        .collect();
    assert_eq!(
        left,
        ["0123456789ac", "0123456789ad", "not-a-container"],
        "{text}"
    );
}

/// `-u N` of an id the map lacks names the ids the container really maps: here two
/// ranges give 0-165536 inside, not the 0..65536 of a single default range.
#[test]
fn an_unmapped_user_names_the_real_extent_of_the_map() {
    let Some(s) = Scenario::new("run_unmapped_user") else {
        return;
    };
    let s = s
        .subuid("ivy:200000:65536\nivy:300000:100000\n")
        .subgid("ivy:200000:65536\n");
    let root = rootfs(&s).display().to_string();
    let out = run_sh(&s, &root, &["-u", "100000"], "id -u");
    assert_ok(&out);
    let out = run_sh(&s, &root, &["-u", "200000"], "id -u");
    let err = stderr(&out);
    assert_code(&out, 125);
    assert!(
        err.contains("cannot switch to uid 200000")
            && err.contains("this container maps uids 0-165536"),
        "{err}"
    );
    let out = run_sh(&s, &root, &["-u", "0:70000"], "id -g");
    let err = stderr(&out);
    assert!(err.contains("this container maps gids 0-65536"), "{err}");
}
