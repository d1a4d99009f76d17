//! Issue 11, finding 6 ("No seccomp"): a container of `userns run` runs under podman's
//! seccomp profile, performed for real: the real binary, kernel and setuid helpers, as the
//! fixture user ivy of the hermetic scenario (tests/common), in a busybox-static rootfs.
//!
//! What a filter must hold against, and how each test shows it:
//! - the filter is there, for the program and for the `--init` reaper (Seccomp: 2);
//! - a call the default profile refuses fails inside, and works with
//!   `--security-opt seccomp=unconfined`: personality(ADDR_NO_RANDOMIZE), which busybox's
//!   `linux64 -R` makes (containers-common allows only five personalities; ENOSYS else);
//! - a profile named by `--security-opt seccomp=FILE` or containers.conf is the one applied;
//! - without containers-common's file, the built-in copy of its rules applies;
//! - a bad profile or option stops the run (125) and says what and where;
//! - an i386 system call (`int 0x80` from a 64-bit program, compiled here with cc) meets the
//!   same rules when the profile covers x86, and kills the process when it does not.

mod common;
mod run_support;

use common::{assert_code, assert_ok, stderr, stdout, Scenario};
use run_support::{run_sh, setup};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `Seccomp:` lines of /proc/PID/status, inside.
fn seccomp_lines(out: &std::process::Output) -> Vec<String> {
    assert_ok(out)
        .lines()
        .filter(|l| l.contains("Seccomp:"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// Write a file the fixture user can read, in the scenario's scratch dir.
fn write_file(s: &Scenario, name: &str, text: &str) -> PathBuf {
    let path = s.scratch().join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    path
}

/// A profile that allows everything but mkdir and mkdirat, which fail with EDQUOT (an
/// errno no real mkdir here would give). `arches` is its archMap or architectures part.
fn mkdir_profile(arches: &str) -> String {
    format!(
        r#"{{"defaultAction": "SCMP_ACT_ALLOW", {arches}
            "syscalls": [{{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                           "errnoRet": 122}}]}}"#
    )
}

const WITH_X86: &str = r#""archMap": [{"architecture": "SCMP_ARCH_X86_64",
    "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],"#;

/// busybox's message for EDQUOT.
const EDQUOT_TEXT: &str = "Disk quota exceeded";

#[test]
fn a_default_run_is_filtered_and_so_is_the_init_reaper() {
    let Some((s, root)) = setup("seccomp_default") else {
        return;
    };
    let out = run_sh(&s, &root, &[], "grep Seccomp: /proc/self/status");
    assert_eq!(seccomp_lines(&out), ["Seccomp: 2"], "{}", stdout(&out));
    // With --init, pid 1 is userns's reaper and the program its child: both filtered.
    let out = run_sh(
        &s,
        &root,
        &["--init"],
        "grep Seccomp: /proc/1/status /proc/self/status",
    );
    assert_eq!(
        seccomp_lines(&out),
        ["/proc/1/status:Seccomp: 2", "/proc/self/status:Seccomp: 2"],
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_call_the_default_profile_refuses_fails_inside_and_unconfined_allows_it() {
    let Some((s, root)) = setup("seccomp_blocks") else {
        return;
    };
    let script = "busybox linux64 -R true && echo personality-ok";
    let out = run_sh(&s, &root, &[], script);
    assert!(
        !out.status.success(),
        "personality(ADDR_NO_RANDOMIZE) was allowed: {}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("Function not implemented"),
        "expected ENOSYS, podman's default errno: {}",
        stderr(&out)
    );
    let out = run_sh(&s, &root, &["--security-opt", "seccomp=unconfined"], script);
    assert!(assert_ok(&out).contains("personality-ok"));
}

#[test]
fn unconfined_runs_without_a_filter_in_both_spellings() {
    let Some((s, root)) = setup("seccomp_unconfined") else {
        return;
    };
    for args in [
        &["--security-opt", "seccomp=unconfined"][..],
        &["--security-opt=seccomp=unconfined"][..],
    ] {
        let out = run_sh(&s, &root, args, "grep Seccomp: /proc/self/status");
        assert_eq!(seccomp_lines(&out), ["Seccomp: 0"], "{args:?}");
    }
}

#[test]
fn a_profile_file_is_the_one_applied() {
    let Some((s, root)) = setup("seccomp_file") else {
        return;
    };
    let profile = write_file(&s, "no-mkdir.json", &mkdir_profile(WITH_X86));
    let opt = format!("seccomp={}", profile.display());
    let out = run_sh(&s, &root, &["--security-opt", &opt], "mkdir /tmp/d");
    assert_code(&out, 1);
    assert!(stderr(&out).contains(EDQUOT_TEXT), "{}", stderr(&out));
    // The default profile lets mkdir be.
    assert_ok(&run_sh(&s, &root, &[], "mkdir /tmp/d && test -d /tmp/d"));
}

#[test]
fn containers_conf_names_the_profile_and_the_option_overrides_it() {
    let Some((s, root)) = setup("seccomp_conf") else {
        return;
    };
    let profile = write_file(&s, "no-mkdir.json", &mkdir_profile(WITH_X86));
    let conf_dir = s.home().join(".config/containers");
    std::fs::create_dir_all(&conf_dir).unwrap();
    std::fs::write(
        conf_dir.join("containers.conf"),
        format!(
            "[containers]\n# as podman reads it\nseccomp_profile = \"{}\"\n",
            profile.display()
        ),
    )
    .unwrap();
    let out = run_sh(&s, &root, &[], "mkdir /tmp/d");
    assert_code(&out, 1);
    assert!(stderr(&out).contains(EDQUOT_TEXT), "{}", stderr(&out));
    let out = run_sh(
        &s,
        &root,
        &["--security-opt", "seccomp=unconfined"],
        "mkdir /tmp/d && grep Seccomp: /proc/self/status",
    );
    assert_eq!(seccomp_lines(&out), ["Seccomp: 0"]);
    // A containers.conf that names a missing profile stops the run, naming both files.
    std::fs::write(
        conf_dir.join("containers.conf"),
        "[containers]\nseccomp_profile = \"/nonexistent/profile.json\"\n",
    )
    .unwrap();
    let out = run_sh(&s, &root, &[], "true");
    assert_code(&out, 125);
    let err = stderr(&out);
    assert!(err.contains("/nonexistent/profile.json"), "{err}");
    assert!(err.contains(".config/containers/containers.conf"), "{err}");
}

#[test]
fn without_containers_common_the_built_in_profile_applies() {
    let Some(s) = Scenario::new("seccomp_builtin") else {
        return;
    };
    // No /usr/share/containers/seccomp.json in the scenario's mount namespace.
    let s = s.root_setup("mount -t tmpfs tmpfs /usr/share/containers");
    let root = run_support::rootfs(&s).display().to_string();
    let out = run_sh(
        &s,
        &root,
        &[],
        "grep Seccomp: /proc/self/status; \
         busybox linux64 -R true || echo refused",
    );
    let text = assert_ok(&out);
    assert_eq!(seccomp_lines(&out), ["Seccomp: 2"], "{text}");
    assert!(text.contains("refused"), "{text}");
    assert!(
        stderr(&out).contains("Function not implemented"),
        "{}",
        stderr(&out)
    );
    let check = s.sh("test -e /usr/share/containers/seccomp.json && echo present || echo absent");
    assert_eq!(
        assert_ok(&check).trim(),
        "absent",
        "the set-up did not hide the file"
    );
}

#[test]
fn a_bad_profile_stops_the_run_saying_which_file_and_what() {
    let Some((s, root)) = setup("seccomp_bad") else {
        return;
    };
    let cases = [
        (
            "syntax.json",
            "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n}",
            "line 2 column 1",
        ),
        (
            "action.json",
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_EXPLODE"}]}"#,
            "syscalls[0] (mkdir): unknown action \"SCMP_ACT_EXPLODE\"",
        ),
        (
            "op.json",
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 1, "value": 1, "op": "SCMP_CMP_ROUGHLY"}]}]}"#,
            "unknown op \"SCMP_CMP_ROUGHLY\"",
        ),
    ];
    for (name, text, fault) in cases {
        let path = write_file(&s, name, text);
        let opt = format!("seccomp={}", path.display());
        let out = run_sh(&s, &root, &["--security-opt", &opt], "echo ran");
        assert_code(&out, 125);
        let err = stderr(&out);
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains(fault), "{fault:?} not in {err}");
        assert!(!stdout(&out).contains("ran"));
    }
    let missing = s.scratch().join("missing.json");
    let opt = format!("seccomp={}", missing.display());
    let out = run_sh(&s, &root, &["--security-opt", &opt], "echo ran");
    assert_code(&out, 125);
    let err = stderr(&out);
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains("No such file or directory"), "{err}");
}

#[test]
fn unknown_security_opts_are_usage_errors_naming_the_value() {
    let Some((s, root)) = setup("seccomp_opts") else {
        return;
    };
    for (opt, named) in [
        ("label=disable", "label=disable"),
        ("seccomp", "seccomp"),
        ("seccomp=", "seccomp="),
        ("apparmor=unconfined", "apparmor=unconfined"),
    ] {
        let out = run_sh(&s, &root, &["--security-opt", opt], "echo ran");
        assert_code(&out, 125);
        let err = stderr(&out);
        assert!(err.contains(&format!("{named:?}")), "{opt}: {err}");
        assert!(!stdout(&out).contains("ran"));
    }
    // podman's no-new-privileges: always on in userns, so accepted.
    let out = run_sh(
        &s,
        &root,
        &["--security-opt", "no-new-privileges"],
        "echo ran",
    );
    assert!(assert_ok(&out).contains("ran"));
}

/// Build the `int 0x80` helper into the rootfs as /bin/int80; None (skipped) without cc
/// outside CI.
fn build_int80(root: &str) -> Option<()> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/seccomp_helper/int80_mkdir.c");
    let target = Path::new(root).join("bin/int80");
    let out = Command::new("cc")
        .args([
            "-Wall",
            "-Werror",
            "-O2",
            "-static",
            "-no-pie",
            "-nostdlib",
            "-o",
        ])
        .arg(&target)
        .arg(&source)
        .output();
    match out {
        Ok(out) if out.status.success() => Some(()),
        Ok(out) => panic!("cc failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: cannot run cc (package gcc): {e}");
            None
        }
        Err(e) => panic!("cannot run cc (package gcc) in CI: {e}"),
    }
}

#[test]
fn an_i386_system_call_cannot_get_around_the_filter() {
    let Some((s, root)) = setup("seccomp_int80") else {
        return;
    };
    if build_int80(&root).is_none() {
        return;
    }
    let script = "int80 /tmp/via-int80; echo rc=$?; ls /tmp";
    // Unfiltered, the i386 mkdir works: the kernel has IA32 emulation.
    let out = run_sh(&s, &root, &["--security-opt", "seccomp=unconfined"], script);
    let text = assert_ok(&out);
    if text.contains("rc=38") {
        eprintln!("skipped: this kernel has no IA32 emulation (int 0x80 gives ENOSYS)");
        return;
    }
    assert!(
        text.contains("rc=0") && text.contains("via-int80"),
        "{text}"
    );
    // A profile that covers x86 applies its mkdir rule to the i386 call as well.
    let profile = write_file(&s, "with-x86.json", &mkdir_profile(WITH_X86));
    let opt = format!("seccomp={}", profile.display());
    let text = assert_ok(&run_sh(&s, &root, &["--security-opt", &opt], script));
    assert!(
        text.contains("rc=122"),
        "the i386 mkdir got through: {text}"
    );
    assert!(!text.contains("via-int80"), "{text}");
    // A profile for x86_64 alone: the i386 call kills the process (SIGSYS: 128+31).
    let only64 = mkdir_profile(r#""architectures": ["SCMP_ARCH_X86_64"],"#);
    let profile = write_file(&s, "x86_64-only.json", &only64);
    let opt = format!("seccomp={}", profile.display());
    let text = assert_ok(&run_sh(&s, &root, &["--security-opt", &opt], script));
    assert!(
        text.contains("rc=159"),
        "the i386 call was not killed: {text}"
    );
    assert!(!text.contains("via-int80"), "{text}");
}

#[test]
fn the_program_is_cached_privately_and_a_damaged_cache_is_not_trusted() {
    use std::os::unix::fs::MetadataExt;
    let Some((s, root)) = setup("seccomp_cache") else {
        return;
    };
    let script = "grep Seccomp: /proc/self/status; busybox linux64 -R true || echo refused";
    assert!(assert_ok(&run_sh(&s, &root, &[], script)).contains("refused"));
    let dir = s.scratch().join("run/userns/seccomp");
    let meta = std::fs::metadata(&dir).expect("the cache directory");
    assert_eq!(meta.mode() & 0o777, 0o700, "{}", dir.display());
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let cached = &files[0];
    let meta = std::fs::metadata(cached).unwrap();
    assert_eq!((meta.mode() & 0o777, meta.uid()), (0o600, s.uid()));
    // Garbage, a truncated program, a program turned into "allow everything": each is
    // refused, compiled afresh, and the filter inside is the whole profile's.
    let good = std::fs::read(cached).unwrap();
    let allow_all = {
        let mut b = good.clone();
        for insn in b[48..good.len() - 32].chunks_exact_mut(8) {
            insn.copy_from_slice(&[0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]);
        }
        b
    };
    for damaged in [vec![0u8; 100], good[..good.len() / 2].to_vec(), allow_all] {
        std::fs::write(cached, &damaged).unwrap();
        let text = assert_ok(&run_sh(&s, &root, &[], script));
        assert!(
            text.contains("Seccomp: 2") || text.contains("Seccomp:\t2"),
            "{text}"
        );
        assert!(
            text.contains("refused"),
            "a damaged cache weakened the filter: {text}"
        );
        assert_eq!(std::fs::read(cached).unwrap(), good, "not rewritten");
    }
}
