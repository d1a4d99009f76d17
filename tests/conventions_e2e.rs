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
    // A volume's HOST and the SOURCE may be any bytes too.
    let out = s.sh(&format!(
        "d=\"$HOME\"/{FF}; mkdir \"$d\" && echo hi > \"$d\"/f && \
         ln -s {root} \"$HOME\"/root{FF} && \
         $USERNS run -v \"$d\":/v:ro \"$HOME\"/root{FF} cat /v/f"
    ));
    assert_eq!(assert_ok(&out), "hi\n");
}

/// clean, chown and stat take a PATH that is not UTF-8 as the bytes it is.
#[test]
fn paths_that_are_not_utf8_are_used_as_they_are() {
    let Some(s) = Scenario::new("conv_path_bytes") else {
        return;
    };
    let out = s.sh(&format!(
        "d=\"$HOME\"/{FF}; mkdir \"$d\" && : > \"$d\"/f && \
         $USERNS chown -R 1000:1000 \"$d\" && $USERNS stat --json \"$d\"/f && \
         $USERNS clean --yes \"$d\" && ! test -e \"$d\""
    ));
    let text = assert_ok(&out);
    assert!(text.contains("\"uid\": 200999"), "{}", describe(&out));
    assert!(text.contains("home/\\\\xff/f"), "{}", describe(&out));
    assert!(text.contains("removed:"), "{}", describe(&out));
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
    // A `--` after COMMAND has begun is the command's too, as util-linux unshare passes it.
    let out = s.run(&[
        "unshare",
        "--single",
        "sh",
        "-c",
        "echo \"$@\"",
        "x",
        "--",
        "a",
        "--b",
    ]);
    assert_eq!(assert_ok(&out), "-- a --b\n");
}

/// Every command's output, for the output tests: each line prints something on stdout.
const PRINTING: &[&str] = &[
    "map",
    "map --json",
    "map --plan",
    "map --plan --json",
    "translate 0",
    "translate --json 0",
    "subid show",
    "subid show --json",
    "subid check",
    "subid check --json",
    "ls",
    "ls --json",
    "ls --tree",
    "stat /",
    "stat --json /",
    "doctor --no-live",
    "doctor --no-live --json",
    "images --json",
    "clean -n --json \"$HOME\"/tree",
    "clean -n \"$HOME\"/tree",
    "completions bash",
    "--help",
    "map --help",
    "--version",
];

/// A tree for `clean -n` to report on.
const TREE: &str = "mkdir -p \"$HOME\"/tree/a && : > \"$HOME\"/tree/a/f";

#[test]
fn a_failed_write_to_stdout_is_a_write_error_not_an_abort() {
    let Some(s) = Scenario::new("conv_dev_full") else {
        return;
    };
    for line in PRINTING {
        let out = s.sh(&format!("{TREE}; $USERNS {line} >/dev/full"));
        assert_code(&out, 1);
        let err = stderr(&out);
        assert!(
            err.contains("write error on standard output: No space left on device")
                && !err.contains("panicked"),
            "{line}: {}",
            describe(&out)
        );
    }
    // A failed write to stderr cannot be reported, but it does not abort either.
    let out = s.sh("$USERNS map 999999 2>/dev/full");
    assert_code(&out, 1);
}

/// A reader that went away ends userns quietly: killed by SIGPIPE as coreutils are when
/// the signal has its default action, and with status 1 and no message when the caller
/// blocked it (then the write fails with EPIPE instead).
#[test]
fn a_closed_pipe_ends_quietly() {
    let Some(s) = Scenario::new("conv_closed_pipe") else {
        return;
    };
    let script = r#"
import os, signal, subprocess, sys
block = sys.argv[1] == "block"
if block:
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGPIPE])
r, w = os.pipe()
os.close(r)
p = subprocess.run(["sh", "-c", 'exec $USERNS ' + sys.argv[2]], stdout=w,
                   stderr=subprocess.PIPE)
sys.stdout.write("%d %s" % (p.returncode, p.stderr.decode(errors="replace")))
"#;
    let py = s.scratch().join("closed_pipe.py");
    std::fs::write(&py, script).unwrap();
    for line in PRINTING {
        for mode in ["block", "default"] {
            let out = s.sh(&format!(
                "{TREE}; python3 {} {mode} '{}'",
                py.display(),
                line.replace('\'', "'\\''")
            ));
            let expected = if mode == "block" { "1 " } else { "-13 " };
            assert_eq!(
                assert_ok(&out),
                expected,
                "{mode} {line}: {}",
                describe(&out)
            );
        }
    }
}

/// A file of an id outside the user's ranges is "unmapped" in clean's report, not the
/// 65534 the kernel shows for it, which is the container's own `nobody` (a subordinate
/// id) in the same report.
#[test]
fn clean_names_owners_outside_the_map_as_unmapped() {
    let Some(s) = Scenario::new("conv_clean_unmapped") else {
        return;
    };
    assert_ok(&s.sh(
        "mkdir tree && $USERNS unshare sh -c 'touch tree/nobody && chown 65534:65534 tree/nobody'",
    ));
    let tree = s.home().join("tree");
    // Root (the test) gives a file to a host id that is nobody's subordinate id.
    let stranger = tree.join("stranger");
    std::fs::write(&stranger, "x").unwrap();
    std::os::unix::fs::chown(&stranger, Some(7777), Some(7777)).unwrap();
    let nobody =
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(tree.join("nobody")).unwrap());
    assert_eq!(nobody, 265533);

    let text = assert_ok(&s.run(&["clean", "-n", "tree"]));
    assert!(
        text.contains("owners (ids inside the namespace): 0: 1 directory, 65534: 1 file, unmapped (ids outside your ranges): 1 file"),
        "{text}"
    );
    let out = s.run(&["clean", "-n", "--json", "tree"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let owners = &report["trees"][0]["owners"];
    assert_eq!(
        owners[1],
        serde_json::json!({"uid": 65534, "host_uid": 265533, "unmapped": false, "files": 1, "directories": 0}),
        "{}",
        describe(&out)
    );
    assert_eq!(
        owners[2],
        serde_json::json!({"uid": null, "host_uid": null, "unmapped": true, "files": 1, "directories": 0})
    );
    let out = assert_ok(&s.run(&["clean", "--yes", "tree"]));
    assert!(
        out.contains("unmapped (ids outside your ranges): 1 file"),
        "{out}"
    );
    assert!(!tree.exists());
}

/// Whether `v` is a map in the one shape every `--json` output gives a map:
/// `{"kind": "uid"|"gid", "entries": [{"inside", "outside", "count", ...}]}`.
fn is_map(v: &serde_json::Value) -> bool {
    matches!(v["kind"].as_str(), Some("uid" | "gid"))
        && v["entries"].as_array().is_some_and(|entries| {
            entries.iter().all(|e| {
                ["inside", "outside", "count"]
                    .iter()
                    .all(|k| e[*k].as_u64().is_some())
            })
        })
}

/// Every map in `v` (keys `uid_map`, `gid_map`, `map`; lists `maps`, `plans`) is in the
/// one shape, and no string anywhere is a map written some other way
/// (`0:2000:1,1:200000:65536`). The number of maps seen.
fn check_maps(v: &serde_json::Value, at: &str) -> usize {
    use serde_json::Value;
    match v {
        Value::Object(fields) => fields
            .iter()
            .map(|(k, x)| {
                let here = format!("{at}.{k}");
                let own = match (k.as_str(), x) {
                    (_, Value::Null) => 0,
                    ("uid_map" | "gid_map" | "map", _) => {
                        assert!(is_map(x), "{here} is not a map in the one shape: {x}");
                        1
                    }
                    ("maps" | "plans", Value::Array(list)) => {
                        for m in list {
                            assert!(is_map(m), "{here} holds a map in another shape: {m}");
                        }
                        list.len()
                    }
                    _ => 0,
                };
                own + check_maps(x, &here)
            })
            .sum(),
        Value::Array(list) => list
            .iter()
            .enumerate()
            .map(|(i, x)| check_maps(x, &format!("{at}[{i}]")))
            .sum(),
        Value::String(s) => {
            let short = s.split(',').all(|part| {
                let n: Vec<&str> = part.split(':').collect();
                n.len() == 3
                    && n.iter()
                        .all(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()))
            });
            assert!(!short, "{at} is a map written as text: {s:?}");
            0
        }
        _ => 0,
    }
}

#[test]
fn json_maps_have_one_shape_and_command_lines_are_whole() {
    let Some(s) = Scenario::new("conv_json_maps") else {
        return;
    };
    // A holder with a long command line (the table shortens it to 60 characters).
    let long = "x".repeat(100);
    std::fs::write(
        s.home().join("holder.sh"),
        format!("echo $$ > \"$HOME/pid\"; exec python3 -c 'import time; time.sleep(30)' {long}\n"),
    )
    .unwrap();
    let out = s.sh(
        "\"$USERNS\" unshare sh \"$HOME/holder.sh\" >/dev/null 2>&1 & \
         i=0; while ! test -s \"$HOME/pid\" && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; \
         \"$USERNS\" ls --json; \"$USERNS\" ls; kill $(cat \"$HOME/pid\")",
    );
    let text = assert_ok(&out);
    let (json, table) = text.split_at(text.rfind("\n]\n").expect("a JSON array") + 3);
    let list: serde_json::Value = serde_json::from_str(json).expect("JSON");
    let whole = format!("python3 -c import time; time.sleep(30) {long}");
    let held = list
        .as_array()
        .unwrap()
        .iter()
        .find(|n| {
            n["command"]
                .as_str()
                .is_some_and(|c| c.starts_with("python3"))
        })
        .unwrap_or_else(|| panic!("no whole command line in ls --json: {json}"));
    assert_eq!(held["command"].as_str().unwrap(), whole);
    assert!(check_maps(&list, "ls") >= 4, "{json}");
    assert!(table.contains('…'), "the table shortens it: {table}");

    let lines = [
        "map --json",
        "map --plan --json",
        "translate --json 0 1",
        "translate --json --gid --to-ns 2000",
        "doctor --no-live --json",
        "unshare userns doctor --no-live --json",
    ];
    let mut maps = 0;
    for line in lines {
        let out = s.sh(&format!(
            "PATH=$(dirname \"$USERNS\"):$PATH; $USERNS {line}"
        ));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{line}: not JSON: {e}\n{}", describe(&out)));
        maps += check_maps(&v, line);
    }
    assert!(maps >= 8, "{maps} maps seen");
}

/// Under --json an error is still text on stderr, with the exit code it always has.
#[test]
fn json_errors_are_text_on_stderr_with_the_usual_exit_codes() {
    let Some(s) = Scenario::new("conv_json_errors") else {
        return;
    };
    let cases: &[(&str, i32)] = &[
        ("map --json 999999", 1),
        ("translate --json --pid 999999 0", 1),
        ("subid show --json nosuchuser", 1),
        ("stat --json /nonexistent", 1),
        ("map --json --bogus", 2),
    ];
    for (line, code) in cases {
        let out = s.sh(&format!("$USERNS {line}"));
        assert_code(&out, *code);
        // Nothing, or the JSON of what did not fail (stat of several paths).
        assert!(
            out.stdout.is_empty()
                || serde_json::from_slice::<serde_json::Value>(&out.stdout).is_ok(),
            "{line}: {}",
            describe(&out)
        );
        let err = stderr(&out);
        assert!(
            (err.starts_with("userns: ") || err.starts_with("error: "))
                && serde_json::from_str::<serde_json::Value>(&err).is_err(),
            "{line}: {}",
            describe(&out)
        );
    }
}
