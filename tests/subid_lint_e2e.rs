//! `subid check` and `doctor` on a file of 4,000 mutually overlapping lines, run as the
//! real binary by the fixture user in the hermetic scenario (tests/common). Reporting
//! every overlapping pair made 7,998,000 findings a file (gigabytes of output, more of
//! memory); the report must stay linear in the file and say how many it did not name.
//!
//! The runs are bounded so that a quadratic binary fails fast instead of filling the
//! machine: 256 MiB of address space (ulimit -v; the linear lint needs a few tens), and
//! at most OUTPUT_LIMIT bytes of stdout are read before the run is killed. No assertion
//! here is about time.

mod common;

use common::Scenario;
use std::io::Read;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

const LINES: usize = 4000;
/// Above what a linear report of two files of LINES lines prints (15 MB: 8 findings of
/// ~230 bytes a line), far below a quadratic one (gigabytes).
const OUTPUT_LIMIT: usize = 32 << 20;

/// 4,000 lines over one stretch of ids, each of ann, bob, cat and ivy in turn: every
/// line overlaps every other, of other owners (errors) and of its own (warnings).
fn overlapping() -> String {
    let owners = ["ann", "bob", "cat", "ivy"];
    (0..LINES)
        .map(|i| format!("{}:{}:1000000\n", owners[i % 4], 300_000 + i))
        .collect()
}

fn scenario(test: &str) -> Option<Scenario> {
    let text = overlapping();
    Scenario::new(test).map(|s| {
        s.extra_passwd("ann:x:2001:2001::/nonexistent:/bin/sh")
            .extra_passwd("bob:x:2002:2002::/nonexistent:/bin/sh")
            .extra_passwd("cat:x:2003:2003::/nonexistent:/bin/sh")
            .subuid(&text)
            .subgid(&text)
    })
}

struct Bounded {
    status: Option<ExitStatus>,
    stdout: String,
    /// Stdout passed OUTPUT_LIMIT and the run was killed.
    cut: bool,
    stderr: String,
}

/// Run `args` of userns as the fixture user under the address-space limit, reading at
/// most OUTPUT_LIMIT bytes of stdout. A run still going after USERNS_TEST_TIMEOUT
/// seconds (default 120, the harness's) is killed and fails the test: a hang guard.
fn run_bounded(s: &Scenario, args: &str) -> Bounded {
    // Every layer of the scenario execs the next, so the child's pid is userns itself.
    let mut child = s.spawn_sh(&format!("ulimit -v 262144; exec \"$USERNS\" {args}"));
    drop(child.stdin.take());
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut out)
            .take(OUTPUT_LIMIT as u64 + 1)
            .read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut err).take(1 << 20).read_to_end(&mut buf);
        // Keep draining, so that a chatty stderr cannot block the run.
        let _ = std::io::copy(&mut err, &mut std::io::sink());
        buf
    });
    let limit = Duration::from_secs(
        std::env::var("USERNS_TEST_TIMEOUT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(120),
    );
    let started = Instant::now();
    let mut status = None;
    while !reader.is_finished() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("userns {args} still running after {limit:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let stdout = reader.join().expect("stdout reader");
    let cut = stdout.len() > OUTPUT_LIMIT;
    if cut {
        let _ = child.kill();
    }
    if let Ok(s) = child.wait() {
        status = Some(s);
    }
    Bounded {
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        cut,
        stderr: String::from_utf8_lossy(&err_reader.join().expect("stderr reader")).into_owned(),
    }
}

/// The report is linear: at most 8 findings (2 lines each) per input line, each a few
/// hundred bytes with these short owner names, and it says how many overlaps it left
/// unnamed.
fn assert_linear(run: &Bounded, input_lines: usize, what: &str, warnings: bool) {
    let head: String = run.stdout.chars().take(2000).collect();
    assert!(
        !run.cut,
        "{what}: more than {OUTPUT_LIMIT} bytes of output; killed. It began:\n{head}"
    );
    assert_eq!(
        run.status.and_then(|s| s.code()),
        Some(1),
        "{what}: problems found must exit 1; status {:?}\nstderr: {}\nstdout began:\n{head}",
        run.status,
        run.stderr
    );
    let lines = run.stdout.lines().count();
    assert!(
        lines <= 16 * input_lines + 30,
        "{what}: {lines} lines of output for {input_lines} input lines"
    );
    assert!(
        run.stdout.len() <= 3 * 1024 * input_lines,
        "{what}: {} bytes of output for {input_lines} input lines",
        run.stdout.len()
    );
    assert!(
        run.stdout.contains(
            "more earlier lines of other owners (at most 3 are named per line), all within ids "
        ),
        "{what}: no count of the unnamed overlaps:\n{head}"
    );
    // doctor shows errors only.
    assert_eq!(
        run.stdout
            .contains("more of its own earlier lines (at most 3 are named per line)"),
        warnings,
        "{what}: the count of the unnamed overlaps of one owner:\n{head}"
    );
}

#[test]
fn check_of_mutually_overlapping_lines_is_linear_and_counts_the_rest() {
    let Some(s) = scenario("lint_overlap_check") else {
        return;
    };
    let run = run_bounded(&s, "subid check --subuid /etc/subuid --subgid /etc/subgid");
    assert_linear(&run, 2 * LINES, "subid check", true);
    // The last line names the first three lines of other owners and of its own.
    let last: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with(&format!("/etc/subuid:{LINES}: ")))
        .collect();
    assert_eq!(last.len(), 8, "{last:#?}");
    assert!(
        last[0].contains("of ivy overlaps line 1 (ann, range 300000-1299999)"),
        "{}",
        last[0]
    );
    assert!(
        last[6].contains("of ivy overlaps 2997 more earlier lines of other owners"),
        "{}",
        last[6]
    );
    assert!(
        last[7].contains("overlaps 996 more of its own earlier lines"),
        "{}",
        last[7]
    );
    // Every pair is counted once, at its later line: named or in a count.
    let summary = run.stdout.lines().last().unwrap_or_default();
    assert!(
        summary.ends_with("in /etc/subuid, /etc/subgid"),
        "{summary}"
    );
}

#[test]
fn doctor_on_mutually_overlapping_lines_is_linear() {
    let Some(s) = scenario("lint_overlap_doctor") else {
        return;
    };
    let run = run_bounded(&s, "doctor --no-live");
    assert_linear(&run, 2 * LINES, "doctor", false);
    assert!(
        run.stdout.lines().any(
            |l| l.starts_with("FAIL  subuid lint") && l.contains("of ivy overlaps line 1 (ann")
        ),
        "{}",
        run.stdout.chars().take(3000).collect::<String>()
    );
}
