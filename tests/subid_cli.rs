//! `userns subid show` and `userns subid check`, run as the real binary on the fixture
//! files in fixtures/subid/. The owners there (root, daemon, bin, sys, sync, nobody, man)
//! exist in every Debian passwd, so no test edits /etc/passwd.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use std::path::PathBuf;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/subid")
        .join(name)
        .display()
        .to_string()
}

/// `userns subid VERB ARGS --subuid SET.subuid --subgid SET.subgid`.
fn subid(verb: &str, set: &str, args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("userns").unwrap();
    cmd.args(["subid", verb])
        .args(args)
        .args(["--subuid", &fixture(&format!("{set}.subuid"))])
        .args(["--subgid", &fixture(&format!("{set}.subgid"))]);
    cmd
}

/// Run, check the exit code, and parse stdout as JSON.
fn json_of(mut cmd: Command, code: i32) -> Value {
    let out = cmd.assert().code(code).get_output().clone();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Run, check the exit code, and return (stdout, stderr).
fn text_of(mut cmd: Command, code: i32) -> (String, String) {
    let out = cmd.assert().code(code).get_output().clone();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

type Row = (String, u64, u64, u64, bool);

/// (kind, start, count, line, usable) of each range in `show --json` output.
fn ranges(v: &Value) -> Vec<Row> {
    v["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_string(),
                r["start"].as_u64().unwrap(),
                r["count"].as_u64().unwrap(),
                r["line"].as_u64().unwrap(),
                r["usable"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn row(kind: &str, start: u64, count: u64, line: u64, usable: bool) -> Row {
    (kind.to_string(), start, count, line, usable)
}

/// (file name, line, severity, rule) of each finding in `check --json` output.
fn findings(v: &Value) -> Vec<(String, u64, String, String)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let file = f["file"].as_str().unwrap();
            (
                file.rsplit('/').next().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["severity"].as_str().unwrap().to_string(),
                f["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn finding(file: &str, line: u64, severity: &str, rule: &str) -> (String, u64, String, String) {
    (file.into(), line, severity.into(), rule.into())
}

#[test]
fn show_prints_a_table_with_the_source_line_of_each_range() {
    // daemon is uid 1: line 6 of clean.subuid names it by number.
    let (out, err) = text_of(subid("show", "clean", &["daemon"]), 0);
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        ["KIND", "START", "END", "COUNT", "USABLE", "SOURCE"]
    );
    let uid_source = format!("{}:6", fixture("clean.subuid"));
    let gid_source = format!("{}:6", fixture("clean.subgid"));
    assert_eq!(
        lines[1],
        ["subuid", "165536", "231071", "65536", "yes", &uid_source]
    );
    assert_eq!(
        lines[2],
        ["subgid", "165536", "231071", "65536", "yes", &gid_source]
    );
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(err, "");
}

#[test]
fn show_json_lists_several_ranges_of_one_user() {
    let v = json_of(subid("show", "clean", &["bin", "--json"]), 0);
    assert_eq!(v["user"]["name"], "bin");
    assert_eq!(v["user"]["uid"], 2);
    assert_eq!(
        ranges(&v),
        vec![
            row("subuid", 231072, 30000, 8, true),
            row("subuid", 300000, 35536, 9, true),
            row("subgid", 231072, 30000, 8, true),
            row("subgid", 300000, 35536, 9, true),
        ]
    );
    assert_eq!(v["ranges"][0]["end"], 261071);
    assert_eq!(v["ranges"][0]["owner"], "bin");
    assert_eq!(v["ranges"][0]["reason"], Value::Null);
    assert_eq!(v["files"][0]["kind"], "subuid");
    assert_eq!(v["files"][0]["exists"], true);
    assert_eq!(v["files"][0]["malformed_lines"], 0);
}

#[test]
fn show_accepts_a_numeric_uid_and_matches_name_lines_too() {
    // "0" resolves to root: root's name line (3) and no numeric line in clean.subuid.
    let v = json_of(subid("show", "clean", &["0", "--json"]), 0);
    assert_eq!(v["user"]["name"], "root");
    assert_eq!(
        ranges(&v),
        vec![
            row("subuid", 100000, 65536, 4, true),
            row("subgid", 100000, 65536, 4, true)
        ]
    );
}

#[test]
fn show_keeps_duplicates_and_numeric_lines_and_notes_malformed_lines() {
    // As `getsubids root` lists them: lines 2 and 5 (a duplicate) by name, 11 as uid 0.
    // Line 9 (`root:0x1g:5`) is malformed to getsubids 4.13 too: strtoul stops at the g.
    let mut cmd = subid("show", "messy", &["root", "--json"]);
    let v = json_of(
        {
            cmd.assert().stderr(
                predicate::str::contains("messy.subuid: 2 malformed lines skipped")
                    .and(predicate::str::contains(
                        "messy.subgid: 1 malformed line skipped",
                    ))
                    .and(predicate::str::contains("userns subid check")),
            );
            cmd
        },
        0,
    );
    assert_eq!(
        ranges(&v),
        vec![
            row("subuid", 100000, 65536, 2, true),
            row("subuid", 100000, 65536, 5, true),
            row("subuid", 600000, 65536, 11, true),
            row("subgid", 100000, 65536, 1, true),
        ]
    );
    assert_eq!(v["files"][0]["malformed_lines"], 2);
}

#[test]
fn show_marks_unusable_ranges_with_the_reason() {
    let v = json_of(subid("show", "messy", &["bin", "--json"]), 0);
    // newuidmap allows the whole line; the kernel has the ids below 4294967295 of it.
    assert_eq!(ranges(&v)[0], row("subuid", 4294967000, 65536, 6, true));
    assert_eq!(v["ranges"][0]["end"].as_u64(), Some(4295032535));
    let reason = v["ranges"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("4294967295") && reason.contains("only its first 295 ids"),
        "{reason}"
    );

    let (out, _) = text_of(subid("show", "messy", &["sys"]), 0);
    let zero = out.lines().nth(1).unwrap();
    let cols: Vec<&str> = zero.split_whitespace().collect();
    assert_eq!(
        &cols[..6],
        ["subuid", "400000", "-", "0", "no:", "count"],
        "{out}"
    );

    // daemon:1:5 contains daemon's own uid 1.
    let v = json_of(subid("show", "messy", &["daemon", "--json"]), 0);
    let own: Vec<&Value> = v["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["line"] == 12 && r["kind"] == "subuid")
        .collect();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["usable"], false);
    assert!(own[0]["reason"].as_str().unwrap().contains("own uid 1"));
}

#[test]
fn show_without_ranges_names_the_fix_and_exits_1() {
    let (out, err) = text_of(subid("show", "clean", &["man"]), 1);
    assert_eq!(out, "");
    assert!(err.contains("man has no subordinate ids"), "{err}");
    // The suggested range is the first free one above all lines of both files.
    assert!(
        err.contains("usermod --add-subuids 335536-401071 --add-subgids 335536-401071 man"),
        "{err}"
    );
    // JSON consumers still get the document, with no ranges.
    let v = json_of(subid("show", "clean", &["man", "--json"]), 1);
    assert_eq!(v["ranges"], Value::Array(vec![]));
}

#[test]
fn show_warns_when_one_kind_is_missing() {
    let (out, err) = text_of(subid("show", "warnings", &["daemon"]), 0);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(err.contains("daemon has no subgid ranges"), "{err}");
    assert!(err.contains("newgidmap"), "{err}");
}

#[test]
fn show_treats_a_missing_file_as_empty() {
    let mut cmd = Command::cargo_bin("userns").unwrap();
    cmd.args([
        "subid",
        "show",
        "root",
        "--json",
        "--subgid",
        "/nonexistent/subgid",
    ])
    .args(["--subuid", &fixture("clean.subuid")]);
    let v = json_of(cmd, 0);
    assert_eq!(ranges(&v), vec![row("subuid", 100000, 65536, 4, true)]);
    assert_eq!(v["files"][1]["exists"], false);
}

#[test]
fn show_defaults_to_the_invoking_user() {
    let me = userns::users::Account::current();
    let dir = tempfile::tempdir().unwrap();
    let subuid = dir.path().join("subuid");
    std::fs::write(&subuid, format!("{}:100000:65536\n", me.uid)).unwrap();
    let mut cmd = Command::cargo_bin("userns").unwrap();
    cmd.args(["subid", "show", "--json", "--subgid", "/nonexistent/subgid"])
        .arg("--subuid")
        .arg(&subuid);
    let v = json_of(cmd, 0);
    assert_eq!(v["user"]["uid"], me.uid);
    assert_eq!(ranges(&v), vec![row("subuid", 100000, 65536, 1, true)]);
}

#[test]
fn show_of_an_unknown_user_fails() {
    let (_, err) = text_of(subid("show", "clean", &["no-such-user-here"]), 1);
    assert!(err.contains("no such user: no-such-user-here"), "{err}");
}

#[test]
fn check_passes_a_clean_pair() {
    let (out, _) = text_of(subid("check", "clean", &[]), 0);
    assert_eq!(
        out,
        format!(
            "0 errors, 0 warnings in {}, {}\n",
            fixture("clean.subuid"),
            fixture("clean.subgid")
        )
    );
}

#[test]
fn check_reports_each_error_like_a_compiler() {
    let (out, _) = text_of(subid("check", "messy", &[]), 1);
    let uid = fixture("messy.subuid");
    assert!(
        out.contains(&format!(
            "{uid}:5: error: subuid range 100000-165535 of root duplicates line 2\n    fix: delete line 5\n"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("{uid}:9: error: malformed line: START \"0x1g\"")),
        "{out}"
    );
    assert!(
        out.contains("overlaps line 2 (root, range 100000-165535)"),
        "{out}"
    );
    assert!(out.ends_with(&format!(
        "9 errors, 2 warnings in {uid}, {}\n",
        fixture("messy.subgid")
    )));
}

#[test]
fn check_json_names_every_rule() {
    let v = json_of(subid("check", "messy", &["--json"]), 1);
    assert_eq!(v["errors"], 9);
    assert_eq!(v["warnings"], 2);
    assert_eq!(v["ok"], false);
    assert_eq!(
        findings(&v),
        vec![
            finding("messy.subuid", 5, "error", "duplicate"),
            finding("messy.subuid", 6, "error", "overflow"),
            finding("messy.subuid", 6, "warning", "small-total"),
            finding("messy.subuid", 7, "error", "zero-count"),
            finding("messy.subuid", 8, "error", "owners-overlap"),
            finding("messy.subuid", 8, "warning", "small-total"),
            finding("messy.subuid", 9, "error", "malformed"),
            finding("messy.subuid", 10, "error", "malformed"),
            finding("messy.subuid", 12, "error", "contains-own-id"),
            finding("messy.subgid", 3, "error", "owners-overlap"),
            finding("messy.subgid", 6, "error", "malformed"),
        ]
    );
    assert!(v["findings"][0]["fix"].is_string());
}

#[test]
fn check_warnings_fail_only_with_strict() {
    let v = json_of(subid("check", "warnings", &["--json"]), 0);
    assert_eq!(v["errors"], 0);
    assert_eq!(
        findings(&v),
        vec![
            finding("warnings.subuid", 4, "warning", "account-ids"),
            finding("warnings.subuid", 4, "warning", "small-total"),
            finding("warnings.subuid", 4, "warning", "missing-other-kind"),
            finding("warnings.subuid", 5, "warning", "unknown-owner"),
        ]
    );
    let (out, _) = text_of(subid("check", "warnings", &["--strict"]), 1);
    assert!(out.ends_with(&format!(
        "0 errors, 4 warnings in {}, {}\n",
        fixture("warnings.subuid"),
        fixture("warnings.subgid")
    )));
}

#[test]
fn check_reads_account_bounds_from_login_defs() {
    let defs = fixture("narrow.login.defs");
    let v = json_of(
        subid("check", "warnings", &["--json", "--login-defs", &defs]),
        0,
    );
    assert!(!findings(&v).iter().any(|f| f.3 == "account-ids"), "{v}");
    assert_eq!(findings(&v).len(), 3, "{v}");

    // Bounds that reach into root's range 100000-165535 of the clean files.
    let dir = tempfile::tempdir().unwrap();
    let wide = dir.path().join("login.defs");
    std::fs::write(&wide, "UID_MAX 0x30d40\nGID_MAX 200000\n").unwrap();
    let wide = wide.display().to_string();
    let (out, _) = text_of(subid("check", "clean", &["--login-defs", &wide]), 0);
    let uid_line = format!(
        "{}:4: warning: subuid range 100000-165535 of root overlaps the ids of ordinary accounts, UID_MIN..UID_MAX (1000-200000, per {wide})",
        fixture("clean.subuid")
    );
    assert!(out.contains(&uid_line), "{out}");
    assert!(out.contains("GID_MIN..GID_MAX (1000-200000"), "{out}");
    assert_eq!(v["login_defs"], defs.as_str());
}

#[test]
fn usage_errors_exit_2() {
    let (_, err) = text_of(subid("check", "clean", &["--no-such-flag"]), 2);
    assert!(err.contains("--no-such-flag"), "{err}");
}
