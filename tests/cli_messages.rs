//! Bad command-line input gets a message that says what was expected, naming the input
//! (issue 12): not a Rust parser's words, not a syscall's errno.

use std::process::{Command, Output};

fn userns(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_userns"))
        .args(args)
        .output()
        .expect("run userns")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn translate_of_a_name_says_an_id_was_expected() {
    let out = userns(&["translate", "abc"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("id \"abc\" is not a number; give a decimal uid or gid"),
        "{err}"
    );
    assert!(!err.contains("invalid digit"), "{err}");
    let out = userns(&["translate", "4294967296"]);
    assert!(
        stderr(&out).contains("id 4294967296 is too large"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn enter_0_says_pid_0_is_not_a_process_as_map_0_does() {
    for args in [&["enter", "0", "true"][..], &["map", "0"][..]] {
        let out = userns(args);
        let err = stderr(&out);
        assert!(err.contains("pid 0 is not a process"), "{args:?}: {err}");
        assert!(!err.contains("pidfd"), "{args:?}: {err}");
        assert!(!out.status.success(), "{args:?}");
    }
    // enter runs a program: its own failures are 125, as podman's.
    assert_eq!(userns(&["enter", "0", "true"]).status.code(), Some(125));
}

#[test]
fn subid_check_of_a_missing_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nonexistent");
    let missing = missing.to_str().unwrap();
    for flag in ["--subuid", "--subgid"] {
        let out = userns(&["subid", "check", flag, missing]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{flag}: {err}");
        assert!(
            err.contains(&format!("{missing} does not exist")),
            "{flag}: {err}"
        );
        assert!(
            out.stdout.is_empty(),
            "{flag}: no report of 0 errors for nothing"
        );
    }
}
