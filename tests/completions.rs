//! `userns completions bash` as bash itself uses it: source the script, call the
//! completion function the way readline does, read COMPREPLY.

use std::process::Command;

/// Complete the words of `line` (the last word is the one being completed) in a real
/// bash that sourced `userns completions bash`; return the candidates.
fn complete_bash(words: &[&str]) -> Vec<String> {
    let script = Command::new(env!("CARGO_BIN_EXE_userns"))
        .args(["completions", "bash"])
        .output()
        .expect("run userns completions bash");
    assert!(script.status.success(), "{script:?}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("userns.bash");
    std::fs::write(&path, &script.stdout).unwrap();
    // Readline calls the function with $1 = command, $2 = word being completed, $3 =
    // the word before it, and sets COMP_WORDS/COMP_CWORD.
    let cword = words.len() - 1;
    let driver = r#"
        source "$0"
        COMP_WORDS=("$@")
        COMP_CWORD=$(( $# - 1 ))
        COMP_LINE="$*"
        COMP_POINT=${#COMP_LINE}
        complete -p userns >/dev/null
        _userns userns "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let out = Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(driver)
        .arg(&path)
        .args(words)
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "bash failed completing {words:?} (word {cword}): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_subcommands() {
    assert_eq!(complete_bash(&["userns", "su"]), vec!["subid"]);
    let all = complete_bash(&["userns", ""]);
    for sub in [
        "subid",
        "map",
        "unshare",
        "enter",
        "ls",
        "clean",
        "completions",
    ] {
        assert!(all.iter().any(|c| c == sub), "{sub} missing from {all:?}");
    }
}

#[test]
fn bash_completes_nested_subcommands_and_their_options() {
    let subid = complete_bash(&["userns", "subid", ""]);
    assert!(subid.contains(&"show".to_string()), "{subid:?}");
    assert!(subid.contains(&"check".to_string()), "{subid:?}");
    let show = complete_bash(&["userns", "subid", "show", "--"]);
    for opt in ["--json", "--subuid", "--subgid"] {
        assert!(show.iter().any(|c| c == opt), "{opt} missing from {show:?}");
    }
    assert!(
        !show.iter().any(|c| c == "--strict"),
        "check's option offered for show: {show:?}"
    );
}

#[test]
fn bash_completes_shell_names_for_completions() {
    let shells = complete_bash(&["userns", "completions", ""]);
    for shell in ["bash", "zsh", "fish"] {
        assert!(
            shells.iter().any(|c| c == shell),
            "{shell} missing from {shells:?}"
        );
    }
}

#[test]
fn unknown_shell_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_userns"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}
