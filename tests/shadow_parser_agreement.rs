//! Differential test of userns's /etc/subuid and /etc/subgid reader against the real
//! shadow 4.13 tools,
//! on generated lines: whitespace, tabs, CR, comments, signs, hex, octal, leading zeros,
//! overflow, count 0, ranges crossing 2^32 and 2^64, extra fields, NIS lines, long lines,
//! duplicates, odd owners, invalid UTF-8 and NUL bytes.
//!
//! For each generated file, in the hermetic scenario as the fixture user ivy (uid 2000):
//! 1. `getsubids ivy` and `getsubids bob` list exactly what `userns subid show --json`
//!    lists for them (shadow's reading is userns's reading);
//! 2. newuidmap decides what a map may use: each range getsubids lists for ivy is probed
//!    with the real newuidmap (its part below 2^32-1, mapped alone into a fresh namespace);
//!    `userns unshare` must succeed through the real newuidmap when any probe passed, and
//!    map exactly the ids the probes allowed, less the lines holding ivy's own uid (which
//!    userns leaves out, as podman does);
//! 3. every line of ivy that userns does not map in full is named (`/etc/subuid:LINE:`)
//!    on `userns unshare`'s stderr;
//! 4. `subid check` claims "shadow's tools skip it silently" only for lines that neither
//!    getsubids lists nor newuidmap uses.
//!
//! The generator runs from a fixed seed (deterministic) and shrinks a failing case to a
//! small file, printed in the failure message.

mod common;

use common::{describe, stdout, Scenario};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::Value;

/// The largest id plus one: the kernel maps ids below it.
const ID_LIMIT: u64 = u32::MAX as u64;
const IVY_UID: u64 = 2000;

/// A number as an admin (or a typo, or a script) may write it.
fn number() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        Just(0u64),
        Just(1),
        Just(5),
        Just(8),
        Just(1999),
        Just(2000),
        Just(2001),
        Just(100_000),
        Just(165_536),
        Just(65_536),
        Just(4_294_967_000),
        Just(4_294_967_294),
        Just(4_294_967_295),
        Just(4_294_967_296),
        Just(u64::MAX),
        Just(u64::MAX - 5),
        0u64..300_000,
    ];
    let form = prop_oneof![
        6 => Just("dec"),
        1 => Just("hex"),
        1 => Just("oct"),
        1 => Just("zeros"),
        1 => Just("plus"),
        1 => Just("minus"),
        1 => Just("space"),
        1 => Just("junk"),
        1 => Just("empty"),
        1 => Just("huge"),
    ];
    (
        value,
        form,
        prop::sample::select(vec![" ", "\t", "\x0b", "\x0c", "\r", " \t"]),
    )
        .prop_map(|(v, form, blank)| match form {
            "hex" => format!("0x{v:x}"),
            "oct" => format!("0{v:o}"),
            "zeros" => format!("00{v}"),
            "plus" => format!("+{v}"),
            "minus" => format!("-{v}"),
            "space" => format!("{blank}{v}"),
            "junk" => format!("{v}{}", ["x", " ", "\r", "8", "-"][(v % 5) as usize]),
            "empty" => String::new(),
            "huge" => format!("{v}0000000000000000000000"),
            _ => v.to_string(),
        })
}

fn owner() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "ivy", "ivy", "ivy", "2000", "2000", "02000", "+2000", "bob", "2001", " ivy", "ivy ",
        "ivy\t", "#ivy", "+ivy", "-ivy", "IVY", "", "iv y", "\u{1}ivy",
    ])
    .prop_map(str::to_string)
}

/// One line, without its end.
fn line() -> impl Strategy<Value = String> {
    let entry = (
        owner(),
        number(),
        number(),
        prop::sample::select(vec![
            "",
            "",
            "",
            "",
            "",
            ":",
            ":junk",
            ":1:2",
            " # note",
            "\u{2}junk",
            "\u{2}",
        ]),
        any::<bool>(),
    )
        .prop_map(|(o, s, c, extra, long)| {
            // A long line: COUNT padded with leading zeros (octal to shadow 4.13).
            let c = if long {
                format!("{}{c}", "0".repeat(1024))
            } else {
                c
            };
            format!("{o}:{s}:{c}{extra}")
        });
    prop_oneof![
        10 => entry,
        1 => Just("# a comment".to_string()),
        1 => Just(String::new()),
        1 => Just("   ".to_string()),
        1 => Just("ivy:100000".to_string()),
        1 => Just("ivy".to_string()),
    ]
}

/// A file: lines with LF or CRLF ends, the last one perhaps without an end.
fn file() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(
            (line(), prop_oneof![6 => Just("\n"), 1 => Just("\r\n")]),
            1..7,
        ),
        any::<bool>(),
    )
        .prop_map(|(lines, last_end)| {
            let mut text = String::new();
            let n = lines.len();
            for (i, (l, end)) in lines.into_iter().enumerate() {
                text.push_str(&l);
                if i + 1 < n || last_end {
                    text.push_str(end);
                }
            }
            // Bytes a String cannot hold: U+0001 stands for an invalid UTF-8 byte, U+0002
            // for a NUL (which makes shadow glue the next line on, see shadow_lines.rs).
            let mut bytes = Vec::with_capacity(text.len());
            for b in text.into_bytes() {
                bytes.push(match b {
                    1 => 0xff,
                    2 => 0,
                    b => b,
                });
            }
            bytes
        })
}

/// A user's subuid entries as `subid show --json` lists them: (start, count, line).
type Listed = Vec<(u64, u64, usize)>;

/// Everything one case's script prints, section by section.
struct Observed {
    getsubids: Vec<(String, Vec<(u64, u64)>)>,
    show: Vec<(String, Listed)>,
    unshare_ok: bool,
    unshare_map: Vec<(u64, u64, u64)>,
    unshare_stderr: String,
    probes: Vec<(u64, u64, bool)>,
    check_silent_lines: Vec<usize>,
}

/// Which file a case is: /etc/subuid, probed with newuidmap, or /etc/subgid, with
/// newgidmap (which matches a numeric owner with the user's uid, as newuidmap does;
/// ivy's uid and gid are both 2000 here, so getsubids -g agrees).
#[derive(Clone, Copy)]
struct Kind {
    file: &'static str,
    getsubids_flag: &'static str,
    helper: &'static str,
    map: &'static str,
}

const UIDS: Kind = Kind {
    file: "subuid",
    getsubids_flag: "",
    helper: "newuidmap",
    map: "uid_map",
};
const GIDS: Kind = Kind {
    file: "subgid",
    getsubids_flag: "-g",
    helper: "newgidmap",
    map: "gid_map",
};

const SCRIPT: &str = r#"
for u in ivy bob; do
  echo "== getsubids $u"; getsubids $G "$u" 2>/dev/null
  echo "== show $u"; "$USERNS" subid show --json "$u" 2>/dev/null
done
echo "== check"; "$USERNS" subid check --json 2>/dev/null
echo "== unshare"
if "$USERNS" unshare cat /proc/self/$M 2>"$HOME/unshare.err"; then echo "== ok"; else echo "== failed"; fi
echo "== stderr"; cat "$HOME/unshare.err"
echo "== probes"
self=$(readlink /proc/self/ns/user)
getsubids $G ivy 2>/dev/null | while read -r _ _ start count; do
  [ "$count" = 0 ] && continue
  [ "$start" -ge 4294967295 ] 2>/dev/null && continue
  case "$start" in ????????????????????*) continue;; esac
  n=$count; max=$((4294967295 - start))
  if [ ${#count} -gt 10 ] || [ "$count" -gt "$max" ]; then n=$max; fi
  unshare -U sleep 30 & pid=$!
  while [ "$(readlink /proc/$pid/ns/user 2>/dev/null)" = "$self" ]; do :; done
  if $H "$pid" 0 "$start" "$n" 2>/dev/null; then r=ok; else r=refused; fi
  echo "$start $n $r"
  kill "$pid"; wait "$pid" 2>/dev/null
done
echo "== end"
"#;

fn sections(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix("== ") {
            out.push((name.trim_end().to_string(), String::new()));
        } else if let Some(last) = out.last_mut() {
            last.1.push_str(line);
        }
    }
    out
}

fn observe(s: &Scenario, kind: Kind, bytes: &[u8]) -> Observed {
    let path = s.etc().join(kind.file);
    std::fs::write(&path, bytes).expect("write the case's subid file");
    let out = s.sh(&format!(
        "G='{}'; H={}; M={}\n{SCRIPT}",
        kind.getsubids_flag, kind.helper, kind.map
    ));
    let text = stdout(&out);
    let secs = sections(&text);
    let get = |name: &str| -> &str {
        secs.iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
            .unwrap_or_else(|| panic!("no section {name:?} in\n{}", describe(&out)))
    };
    assert!(secs.iter().any(|(n, _)| n == "end"), "{}", describe(&out));
    let mut o = Observed {
        getsubids: Vec::new(),
        show: Vec::new(),
        unshare_ok: secs.iter().any(|(n, _)| n == "ok"),
        unshare_map: Vec::new(),
        unshare_stderr: get("stderr").to_string(),
        probes: Vec::new(),
        check_silent_lines: Vec::new(),
    };
    for user in ["ivy", "bob"] {
        let ranges = get(&format!("getsubids {user}"))
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (
                    f[f.len() - 2].parse().unwrap(),
                    f[f.len() - 1].parse().unwrap(),
                )
            })
            .collect();
        o.getsubids.push((user.to_string(), ranges));
        let json: Value = serde_json::from_str(get(&format!("show {user}")))
            .unwrap_or_else(|e| panic!("show {user}: {e}\n{}", describe(&out)));
        let ranges = json["ranges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["kind"] == kind.file)
            .map(|r| {
                (
                    r["start"].as_u64().unwrap(),
                    r["count"].as_u64().unwrap(),
                    r["line"].as_u64().unwrap() as usize,
                )
            })
            .collect();
        o.show.push((user.to_string(), ranges));
    }
    let check: Value = serde_json::from_str(get("check"))
        .unwrap_or_else(|e| panic!("check --json: {e}\n{}", describe(&out)));
    let findings = check["findings"]
        .as_array()
        .or_else(|| check.as_array())
        .unwrap_or_else(|| panic!("check --json has no findings list: {check:#}"));
    for f in findings {
        let in_subuid = f["file"].as_str().is_some_and(|p| p.ends_with(kind.file));
        let silent = f["fix"]
            .as_str()
            .is_some_and(|t| t.contains("skip it silently"));
        if in_subuid && silent {
            o.check_silent_lines
                .push(f["line"].as_u64().unwrap() as usize);
        }
    }
    if o.unshare_ok {
        o.unshare_map = get("unshare")
            .lines()
            .map(|l| {
                let f: Vec<u64> = l.split_whitespace().map(|n| n.parse().unwrap()).collect();
                (f[0], f[1], f[2])
            })
            .collect();
    }
    o.probes = get("probes")
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].parse().unwrap(), f[1].parse().unwrap(), f[2] == "ok")
        })
        .collect();
    o
}

/// Ids of half-open ranges as a set of runs, merged.
fn union(mut runs: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    runs.retain(|r| r.0 < r.1);
    runs.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (a, b) in runs {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

fn check_case(s: &Scenario, kind: Kind, bytes: &[u8]) -> Result<(), TestCaseError> {
    let o = observe(s, kind, bytes);
    // 1. The same listing.
    for ((user, peer), (_, mine)) in o.getsubids.iter().zip(&o.show) {
        let mut peer = peer.clone();
        let mut listed: Vec<(u64, u64)> = mine.iter().map(|&(s, c, _)| (s, c)).collect();
        peer.sort_unstable();
        listed.sort_unstable();
        prop_assert_eq!(
            &listed,
            &peer,
            "ranges of {} (getsubids on the right)",
            user
        );
    }
    // 2. newuidmap decides.
    let ivy_lines = &o.show[0].1;
    let hole = ivy_lines.iter().any(|&(s, c, _)| s == 0 && c == 0);
    let allowed: Vec<(u64, u64)> = o
        .probes
        .iter()
        .filter(|p| p.2)
        .map(|&(s, n, _)| (s, s + n))
        .collect();
    let contains_own = |s: u64, n: u64| s <= IVY_UID && IVY_UID < s + n;
    let expected = union(
        allowed
            .iter()
            .filter(|&&(a, b)| !contains_own(a, b - a))
            .copied()
            .collect(),
    );
    if o.unshare_ok {
        let outside: Vec<(u64, u64)> = o
            .unshare_map
            .iter()
            .filter(|&&(_, out, n)| !(out == IVY_UID && n == 1))
            .map(|&(_, out, n)| (out, out + n))
            .collect();
        let mapped = union(outside);
        if !hole {
            prop_assert_eq!(
                &mapped,
                &expected,
                "userns mapped (left) other ids than newuidmap allows less own-id lines (right); stderr:\n{}",
                o.unshare_stderr
            );
        }
    } else {
        prop_assert!(
            expected.is_empty(),
            "userns unshare failed but newuidmap allows {:?}; stderr:\n{}",
            expected,
            o.unshare_stderr
        );
    }
    // 3. Lines not mapped in full are named.
    let mapped = union(
        o.unshare_map
            .iter()
            .map(|&(_, out, n)| (out, out + n))
            .collect(),
    );
    for &(start, count, line) in ivy_lines {
        let end = start.saturating_add(count);
        let whole = count > 0
            && mapped
                .iter()
                .any(|&(a, b)| a <= start && end <= b && end <= ID_LIMIT);
        if !whole {
            let named = format!("/etc/{}:{line}:", kind.file);
            prop_assert!(
                o.unshare_stderr.contains(&named),
                "line {} ({}:{}) is not mapped in full, but unshare does not name it; stderr:\n{}",
                line,
                start,
                count,
                o.unshare_stderr
            );
        }
    }
    // 4. "skip it silently" only where shadow skips: no range of ivy or bob comes from such
    // a line (1. ties shadow's listing to userns's entries, which carry their lines).
    for (_, mine) in &o.show {
        for &(_, _, line) in mine {
            prop_assert!(
                !o.check_silent_lines.contains(&line),
                "subid check says shadow skips line {} silently, but getsubids lists it",
                line
            );
        }
    }
    Ok(())
}

/// The host's groups plus ivy's and bob's: `getsubids -g USER` matches a numeric owner
/// with the gid of the *group* named USER.
fn groups() -> String {
    let host = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let mut text: String = host
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split(':').collect();
            !matches!(f.first(), Some(&"ivy" | &"bob"))
                && !matches!(f.get(2), Some(&"2000" | &"2001"))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    text.push_str("ivy:x:2000:\nbob:x:2001:\n");
    text
}

fn scenario(name: &str) -> Option<Scenario> {
    let s = Scenario::new(name)?
        .extra_passwd("bob:x:2001:2001::/nonexistent:/bin/sh")
        .file("group", &groups())
        .subuid("ivy:300000:65536\n")
        .subgid("ivy:300000:65536\n");
    // Materialize the /etc copy, which each case then rewrites.
    common::assert_ok(&s.sh("true"));
    Some(s)
}

fn show_bytes(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

/// Run the generator's cases on the file of `kind`.
fn differential(name: &str, kind: Kind, default_cases: u32) {
    let Some(s) = scenario(name) else {
        return;
    };
    let cases = std::env::var("USERNS_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    let config = Config {
        cases,
        max_shrink_iters: 200,
        failure_persistence: None,
        ..Config::default()
    };
    // A fixed seed: the same cases every run (USERNS_DIFF_CASES asks for more).
    let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let result = runner.run(&file(), |bytes| check_case(&s, kind, &bytes));
    if let Err(e) = result {
        match e {
            proptest::test_runner::TestError::Fail(why, bytes) => {
                panic!("/etc/{} {}:\n{why}", kind.file, show_bytes(&bytes))
            }
            other => panic!("{other}"),
        }
    }
}

#[test]
fn userns_reads_generated_subuid_files_as_shadow_does() {
    differential("shadow_parser_subuid", UIDS, 200);
}

#[test]
fn userns_reads_generated_subgid_files_as_shadow_does() {
    differential("shadow_parser_subgid", GIDS, 100);
}

/// Pinned cases the generator found or that matter most, each on its own.
#[test]
fn known_forms_agree() {
    let Some(s) = scenario("shadow_parser_known") else {
        return;
    };
    for case in [
        "ivy:0x10:5\nivy:010:3\nivy:+7:5\nivy: 13:5\nivy:8:9:10\nivy:500:5\n",
        "02000:300000:10\n2000:400000:10\nivy :500000:10\n",
        "ivy:4294967000:1000\nivy:5000:-1\nivy:-1:5\n",
        "ivy:100000:65536\r\nivy:200000:\r65536\n+ivy:300000:10\n",
        &format!("ivy:1:{}5\nivy:100000:10", "0".repeat(1020)),
        "ivy:1:5\0junk\n:300000:10\nivy:100000:10\n",
        "ivy:100000:10\nivy:1:2\0junk\n",
    ] {
        for kind in [UIDS, GIDS] {
            if let Err(e) = check_case(&s, kind, case.as_bytes()) {
                panic!("/etc/{} {case:?}:\n{e}", kind.file);
            }
        }
    }
}
