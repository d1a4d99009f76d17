//! `userns subid show` lists the same subordinate id ranges as shadow's `getsubids`
//! (libsubid), the tool users compare it with, for the same fixture /etc/subuid and
//! /etc/subgid in the hermetic scenario.
//!
//! getsubids prints `N: owner start count` per range; `userns subid show --json` is read
//! defensively: every JSON object with numeric `start` and `count` is a range, and it is a
//! subuid or a subgid range by the nearest enclosing key (`subuid`, `gid`...) or sibling
//! field (`"kind": "gid"`, `"source": "/etc/subgid"`) that says so.
//!
//! Forms only shadow 4.13 reads (numbers that only `strtoul(…, 0)` takes, a fourth field)
//! are read as it reads them: newuidmap decides what a map may use.

mod common;

use common::{describe, stdout, Scenario};
use serde_json::Value;

type Ranges = Vec<(u64, u64)>;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Uid,
    Gid,
}

/// A subgid (or subuid) file for the other kind, so that a mix-up of the two files
/// shows: its ranges appear in no case file.
const COMPANION: &str = "ivy:900000:7\nalice:910000:7\n";

/// The (start, count) pairs getsubids prints, in its order.
fn getsubids(s: &Scenario, kind: Kind, user: &str) -> Ranges {
    let flag = if kind == Kind::Gid { "-g " } else { "" };
    let out = s.sh(&format!("getsubids {flag}{user}"));
    let text = stdout(&out);
    // getsubids exits 1 with "Error fetching ranges" when the user has none.
    if !out.status.success() {
        assert!(
            text.is_empty(),
            "getsubids failed with output\n{}",
            describe(&out)
        );
        return Vec::new();
    }
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [_index, _owner, start, count] => (
                    start.parse().expect("getsubids start"),
                    count.parse().expect("getsubids count"),
                ),
                _ => panic!("unexpected getsubids line {line:?}\n{}", describe(&out)),
            }
        })
        .collect()
}

/// The subuid and subgid ranges `userns subid show --json USER` lists.
fn userns_show(s: &Scenario, user: &str) -> Option<(Ranges, Ranges)> {
    let out = s.run(&["subid", "show", "--json", user]);
    if !out.status.success() {
        // Acceptable only when there is nothing to show; the caller checks that.
        assert!(
            out.status.code() == Some(1) && !common::stderr(&out).is_empty(),
            "userns subid show failed; only exit 1 with a message is acceptable, and only \
             when there is nothing to show\n{}",
            describe(&out)
        );
        return None;
    }
    let json: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("subid show --json is not JSON: {e}\n{}", describe(&out)));
    let mut found = Vec::new();
    collect_ranges(&json, None, &mut found);
    let pick = |k| {
        found
            .iter()
            .filter(|(kind, _)| *kind == Some(k))
            .map(|(_, r)| *r)
            .collect()
    };
    assert!(
        found.iter().all(|(kind, _)| kind.is_some()),
        "cannot tell subuid from subgid ranges in:\n{json:#}"
    );
    Some((pick(Kind::Uid), pick(Kind::Gid)))
}

fn kind_of_text(text: &str) -> Option<Kind> {
    let t = text.to_ascii_lowercase();
    if t.contains("gid") {
        Some(Kind::Gid)
    } else if t.contains("uid") {
        Some(Kind::Uid)
    } else {
        None
    }
}

fn number(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn collect_ranges(v: &Value, kind: Option<Kind>, out: &mut Vec<(Option<Kind>, (u64, u64))>) {
    match v {
        Value::Object(map) => {
            // A field naming the kind or the file sets it for this object and below.
            let mut here = kind;
            for key in ["kind", "source", "path", "file"] {
                if let Some(k) = map.get(key).and_then(Value::as_str).and_then(kind_of_text) {
                    here = Some(k);
                }
            }
            if let (Some(start), Some(count)) = (number(map.get("start")), number(map.get("count")))
            {
                out.push((here, (start, count)));
                return;
            }
            for (key, child) in map {
                collect_ranges(child, kind_of_text(key).or(here), out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_ranges(i, kind, out)),
        _ => {}
    }
}

fn sorted(mut r: Ranges) -> Ranges {
    r.sort_unstable();
    r
}

/// In a scenario where `subuid_text` and `subgid_text` are the files, userns and
/// getsubids list the same ranges for ivy, asked by name and (userns) by uid.
fn agree_on(test: &str, subuid_text: &str, subgid_text: &str) {
    let Some(s) = Scenario::new(test) else {
        return;
    };
    let s = s.subuid(subuid_text).subgid(subgid_text);
    let peer_uid = getsubids(&s, Kind::Uid, "ivy");
    let peer_gid = getsubids(&s, Kind::Gid, "ivy");
    // getsubids 2000 would match only lines whose owner is the text "2000" (libsubid
    // resolves names to uids, not uids to names); userns resolves a uid to its account,
    // so `show 2000` must list what `getsubids ivy` lists.
    for user in ["ivy", "2000"] {
        match userns_show(&s, user) {
            Some((uids, gids)) => {
                assert_eq!(
                    sorted(uids),
                    sorted(peer_uid.clone()),
                    "subuid ranges of {user} differ from getsubids ivy; /etc/subuid:\n{subuid_text}"
                );
                assert_eq!(
                    sorted(gids),
                    sorted(peer_gid.clone()),
                    "subgid ranges of {user} differ from getsubids -g ivy; /etc/subgid:\n{subgid_text}"
                );
            }
            None => assert!(
                peer_uid.is_empty() && peer_gid.is_empty(),
                "userns subid show {user} failed, but getsubids lists {peer_uid:?} / {peer_gid:?}"
            ),
        }
    }
}

/// Run a case as /etc/subuid and, separately, as /etc/subgid.
fn agree(test: &str, case: &str) {
    agree_on(&format!("{test}-uid"), case, COMPANION);
    agree_on(&format!("{test}-gid"), COMPANION, case);
}

#[test]
fn one_range() {
    agree("one_range", "ivy:200000:65536\n");
}

#[test]
fn comments_and_blank_lines() {
    agree(
        "comments",
        "# allocated by useradd\n\nivy:100000:65536\n  # indented comment\n#ivy:1:1\nivy:300000:10\n",
    );
}

#[test]
fn numeric_owner_lines_count_for_the_user() {
    agree(
        "numeric_owner",
        "2000:300000:10\nivy:100000:65536\n2001:400000:10\n",
    );
}

#[test]
fn several_ranges_among_other_users_lines() {
    agree(
        "several_ranges",
        "alice:100000:65536\nivy:165536:65536\nbob:231072:65536\nivy:500000:1000\n\
         ivyx:1:1\nIVY:2:2\nvy:3:3\n",
    );
}

#[test]
fn malformed_lines_are_skipped_by_both() {
    agree(
        "malformed",
        "ivy:99\nivy::5\nivy:12 :5\nivy:700000:10 # note\n ivy:1:2\nivy:x:5\n\
         ivy:18446744073709551616:1\n:1:2\nivy:1:5\r\nivy\nivy:400000:10\n",
    );
}

#[test]
fn overflowing_ranges_are_listed_by_both() {
    // Listed as written although the kernel cannot map them (start+count > 2^32-1).
    agree(
        "overflow",
        "ivy:4294967000:1000\nivy:5000000000:10\n2000:800000:18446744073709551615\nivy:1:1\n",
    );
}

#[test]
fn count_zero_is_listed_by_both() {
    agree("count_zero", "ivy:200000:0\nivy:300000:65536\n");
}

#[test]
fn range_holding_the_users_own_uid_is_listed_by_both() {
    agree("own_uid", "ivy:1000:2000\n");
}

#[test]
fn user_without_ranges() {
    agree_on("no_ranges", "alice:100000:65536\n", "alice:100000:65536\n");
}

/// shadow 4.13 reads START and COUNT with `strtoul(…, 0)`: hex, octal, signs and leading
/// blanks pass, and a fourth field is ignored. newuidmap decides what a map may use, so
/// userns reads them the same way (and `subid check` warns of each form);
/// tests/shadow_parser_agreement.rs tries generated lines.
#[test]
fn forms_only_shadow_4_13_reads_are_read_as_it_does() {
    agree(
        "strtoul_forms",
        "ivy:0x10:5\nivy:+7:5\nivy:-1:5\nivy: 13:5\nivy:8:9:10\nivy:500:5\nivy:010:3\n",
    );
}

/// `02000` is not uid 2000 to shadow: it compares the text with the uid as `%lu` prints it.
#[test]
fn a_uid_with_a_leading_zero_is_no_ones() {
    agree("leading_zero_owner", "02000:300000:10\nivy:100000:65536\n");
}

/// The JSON reading above on the shapes `subid show --json` may take: per-kind objects
/// keyed by name, a list of objects with a `kind` field, entries nested in tuples.
#[test]
fn json_ranges_are_found_in_any_reasonable_shape() {
    let keyed = serde_json::json!({
        "user": {"name": "ivy", "uid": 2000},
        "subuid": {"path": "/etc/subuid", "ranges": [{"start": 1, "count": 2, "line": 3}]},
        "subgid": {"path": "/etc/subgid", "ranges": [{"start": 4, "count": 5}]}
    });
    let listed = serde_json::json!([
        {"kind": "uid", "source": "/etc/subuid",
         "entries": [[{"owner": {"kind": "uid", "value": 2000}, "start": 1, "count": 2},
                      {"status": "usable"}]]},
        {"kind": "gid", "source": "/etc/subgid",
         "entries": [[{"owner": {"kind": "name", "value": "ivy"}, "start": 4, "count": 5},
                      {"status": "zero-count"}]]}
    ]);
    // The shape src/cmd/subid.rs documents: one flat list, each range naming its kind.
    let flat = serde_json::json!({
        "user": {"name": "ivy", "uid": 2000, "gid": 2000},
        "files": [{"kind": "subuid", "path": "/etc/subuid"}, {"kind": "subgid", "path": "/etc/subgid"}],
        "ranges": [
            {"kind": "subgid", "owner": "ivy", "start": 4, "end": 8, "count": 5, "file": "/etc/subgid"},
            {"kind": "subuid", "owner": "2000", "start": 1, "end": 2, "count": 2, "file": "/etc/subuid"}
        ]
    });
    for json in [keyed, listed, flat] {
        let mut found = Vec::new();
        collect_ranges(&json, None, &mut found);
        found.sort_by_key(|(kind, range)| (*kind == Some(Kind::Gid), *range));
        assert_eq!(
            found,
            vec![(Some(Kind::Uid), (1, 2)), (Some(Kind::Gid), (4, 5))],
            "{json:#}"
        );
    }
}
