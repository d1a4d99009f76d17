//! The conventions userns shares with the tools it stands in for (issue 12, "Conventions
//! and rough edges"), end to end: the real binary as the fixture user of the hermetic
//! scenario (tests/common). Arguments are bytes; `--` is the only end of options.

mod common;
mod run_support;

use common::{assert_code, assert_ok, describe, stderr, Scenario};

/// Words of a shell script that print argument bytes as hex (`ff`), whatever the locale.
const HEX: &str = "od -An -tx1 | tr -d ' \\n'";

/// The byte 0xff as a shell word: `"$(printf '\377')"`.
const FF: &str = "\"$(printf '\\377')\"";

struct StopAll<'a>(&'a Scenario);

impl Drop for StopAll<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["stop", "--all"]);
    }
}

#[test]
fn unshare_passes_a_non_utf8_argument_as_its_bytes() {
    let Some(s) = Scenario::new("conv_unshare_bytes") else {
        return;
    };
    for opts in ["--single", ""] {
        let out = s.sh(&format!("$USERNS unshare {opts} printf %s {FF}x | {HEX}"));
        assert_eq!(assert_ok(&out), "ff78", "{opts}: {}", describe(&out));
    }
    // A non-UTF-8 working directory and program path are bytes too.
    let out = s.sh(&format!(
        "d=\"$HOME\"/{FF}; mkdir \"$d\" && cp /bin/pwd \"$d\"/ && \
         $USERNS unshare -w \"$d\" \"$d\"/pwd | {HEX}"
    ));
    let home_hex: String = s
        .home()
        .to_string_lossy()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(assert_ok(&out), format!("{home_hex}2fff0a"));
}

#[test]
fn enter_passes_a_non_utf8_argument_as_its_bytes() {
    let Some(s) = Scenario::new("conv_enter_bytes") else {
        return;
    };
    let _stop = StopAll(&s);
    assert_ok(&s.run(&["unshare", "--name", "dev", "true"]));
    // The plain line (the quick parse) and one with an option (clap) alike.
    for opts in ["", "-w / "] {
        let out = s.sh(&format!("$USERNS enter {opts}dev printf %s {FF} | {HEX}"));
        assert_eq!(assert_ok(&out), "ff", "{opts}: {}", describe(&out));
    }
}

#[test]
fn run_passes_a_non_utf8_argument_as_its_bytes() {
    let Some((s, root)) = run_support::setup("conv_run_bytes") else {
        return;
    };
    let out = s.sh(&format!(
        "$USERNS run {root} sh -c 'echo -n \"$1\"' sh {FF} | {HEX}"
    ));
    assert_eq!(assert_ok(&out), "ff", "{}", describe(&out));
}

/// A non-UTF-8 word in any place of any command is refused or used, never a panic or an
/// abort.
#[test]
fn no_command_aborts_on_a_non_utf8_argument() {
    let Some(s) = Scenario::new("conv_no_abort") else {
        return;
    };
    let lines = [
        "map W",
        "map --subuid W --plan",
        "translate W",
        "translate --pid W 0",
        "subid show W",
        "subid check --subuid W",
        "subid check --login-defs W",
        "subid add W",
        "subid del W",
        "ls W",
        "stop W",
        "enter W",
        "enter W true",
        "unshare --name W true",
        "unshare --hostname W --uts true",
        "unshare --map-users W true",
        "run W",
        "run -v W:/x /nonexistent",
        "run -e W /nonexistent",
        "clean -n W",
        "chown W /nonexistent",
        "chown 0 W",
        "stat W",
        "doctor --user W",
        "completions W",
        "W",
    ];
    for line in lines {
        let out = s.sh(&format!("$USERNS {}", line.replace('W', FF)));
        let err = stderr(&out);
        assert!(
            !err.contains("panicked") && out.status.code().is_some_and(|c| c < 128),
            "{line}: {}",
            describe(&out)
        );
    }
}

#[test]
fn an_unknown_option_before_the_command_is_a_usage_error() {
    let Some(s) = Scenario::new("conv_unknown_option") else {
        return;
    };
    let _stop = StopAll(&s);
    assert_ok(&s.run(&["unshare", "--name", "dev", "true"]));
    let refused: &[&[&str]] = &[
        &["unshare", "--bogus", "x", "--", "y"],
        &["unshare", "--bogus"],
        &["unshare", "--single", "--bogus", "true"],
        &["enter", "dev", "--bogus", "--", "true"],
        &["enter", "--bogus", "dev"],
        &["run", "--bogus", "/nonexistent", "--", "true"],
        &["run", "/nonexistent", "--bogus", "true"],
    ];
    for words in refused {
        let out = s.run(words);
        assert_code(&out, 125);
        assert!(stderr(&out).contains("'--bogus'"), "{}", describe(&out));
    }
    // After `--`, or once COMMAND has begun, a word that looks like an option is the
    // command's.
    let out = s.run(&["unshare", "--single", "--", "--bogus"]);
    assert_code(&out, 127);
    assert!(
        stderr(&out).contains("--bogus: command not found"),
        "{}",
        describe(&out)
    );
    let out = s.run(&[
        "unshare",
        "--single",
        "sh",
        "-c",
        "echo \"$0\" \"$1\"",
        "-l",
        "--single",
    ]);
    assert_eq!(assert_ok(&out), "-l --single\n");
    let out = s.run(&["enter", "dev", "sh", "-c", "echo \"$0\"", "--mount"]);
    assert_eq!(assert_ok(&out), "--mount\n");
}
