//! Lint rules that compare lines with each other (overlaps), add up an owner's lines
//! (totals), or look at the other file (subuid without subgid); and login.defs values.

use super::{finding, owner_slots, span, Finding, Resolved, Rule, Severity, MIN_USABLE_TOTAL};
use crate::ids::IdKind;
use crate::subid::login_defs::{self, LoginDefs};
use crate::subid::lookup::usability;
use crate::subid::overlap::{earlier_overlaps, Overlaps, Span};
use crate::subid::parse::SubIdFile;
use std::collections::HashSet;
use std::path::PathBuf;

/// How many overlapping earlier lines of each kind (other owners, same owner) a line's
/// findings name; the rest are counted in one more finding, so that n mutually
/// overlapping lines make O(n) findings rather than n(n-1)/2.
pub(super) const NAMED_OVERLAPS: usize = 3;

/// Overlapping ranges: between owners an error (each can reach the other's files),
/// within one owner a warning (a map using both lines is rejected by the kernel, which
/// forbids overlapping extents). Each is reported at the later line, naming the earlier;
/// `overlap::earlier_overlaps` finds them in O(n log n) plus what it names.
pub(super) fn overlaps(
    kind: IdKind,
    file: &SubIdFile,
    lines: &[Resolved],
    duplicates: &HashSet<usize>,
    out: &mut Vec<Finding>,
) {
    let considered: Vec<&Resolved> = lines
        .iter()
        .filter(|r| r.entry.count > 0 && !duplicates.contains(&r.entry.line))
        .collect();
    let spans: Vec<Span> = considered
        .iter()
        .map(|r| Span {
            start: r.entry.start,
            end: r.entry.end(),
            line: r.entry.line,
            owner: r.owner,
        })
        .collect();
    let found = earlier_overlaps(&spans, NAMED_OVERLAPS);
    for (later, overlaps) in considered.iter().zip(found) {
        for first in overlaps.named.iter().map(|&j| considered[j]) {
            out.push(named_overlap(kind, file, later, first));
        }
        unnamed_overlaps(kind, file, later, &overlaps, out);
    }
}

/// `later` overlaps the earlier line `first`: an error between owners, a warning within one.
fn named_overlap(kind: IdKind, file: &SubIdFile, later: &Resolved, first: &Resolved) -> Finding {
    let sub = kind.subid_name();
    let (severity, rule, message, fix) = if first.owner != later.owner {
        (
            Severity::Error,
            Rule::OwnersOverlap,
            format!(
                "{sub} range {} of {} overlaps line {} ({}, range {}); each owner can reach the other's files",
                span(later.entry),
                later.who(),
                first.entry.line,
                first.who_brief(),
                span(first.entry)
            ),
            OWNERS_FIX,
        )
    } else {
        (
            Severity::Warning,
            Rule::SameOwnerOverlap,
            format!(
                "{sub} range {} of {} overlaps its own line {} (range {}); a map using both is rejected by the kernel",
                span(later.entry),
                later.who(),
                first.entry.line,
                span(first.entry)
            ),
            SAME_OWNER_FIX,
        )
    };
    finding(
        severity,
        rule,
        file,
        later.entry.line,
        message,
        Some(fix.into()),
    )
}

/// The earlier lines `later` overlaps beyond the NAMED_OVERLAPS named ones: counted, with
/// the ids they lie in, one finding for other owners' lines and one for its own.
fn unnamed_overlaps(
    kind: IdKind,
    file: &SubIdFile,
    later: &Resolved,
    overlaps: &Overlaps,
    out: &mut Vec<Finding>,
) {
    let sub = kind.subid_name();
    let push = |out: &mut Vec<Finding>, severity, rule, message, fix: &str| {
        out.push(finding(
            severity,
            rule,
            file,
            later.entry.line,
            message,
            Some(fix.into()),
        ))
    };
    if let (n @ 1.., Some(within)) = (overlaps.more_other, overlaps.other_within) {
        push(
            out,
            Severity::Error,
            Rule::OwnersOverlap,
            format!(
                "{sub} range {} of {} overlaps {n} more earlier line{} of other owners (at most {NAMED_OVERLAPS} are named per line), all within ids {}; each owner can reach the other's files",
                span(later.entry),
                later.who(),
                plural(n),
                ids(within)
            ),
            OWNERS_FIX,
        );
    }
    if let (n @ 1.., Some(within)) = (overlaps.more_same, overlaps.same_within) {
        push(
            out,
            Severity::Warning,
            Rule::SameOwnerOverlap,
            format!(
                "{sub} range {} of {} overlaps {n} more of its own earlier line{} (at most {NAMED_OVERLAPS} are named per line), all within ids {}; a map using them together is rejected by the kernel",
                span(later.entry),
                later.who(),
                plural(n),
                ids(within)
            ),
            "merge the overlapping lines into one range",
        );
    }
}

const OWNERS_FIX: &str =
    "give one of the owners a free range; every subordinate id must belong to one user";
const SAME_OWNER_FIX: &str = "merge the two lines into one range";

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `FIRST-LAST` of a nonempty half-open range.
fn ids((lo, hi): (u128, u128)) -> String {
    format!("{lo}-{}", hi - 1)
}

/// Owners whose usable ids (union of their usable, non-duplicate lines) number fewer
/// than MIN_USABLE_TOTAL. An owner with none usable is left to the errors on its lines.
pub(super) fn small_totals(
    kind: IdKind,
    file: &SubIdFile,
    lines: &[Resolved],
    duplicates: &HashSet<usize>,
    out: &mut Vec<Finding>,
) {
    // In order of each owner's first line, so findings come out in file order.
    let mut by_owner: Vec<(&Resolved, Vec<(u64, u64)>)> = Vec::new();
    // Owner number -> index in by_owner.
    let mut index: Vec<Option<usize>> = vec![None; owner_slots(lines)];
    for r in lines {
        let pos = *index[r.owner as usize].get_or_insert_with(|| {
            by_owner.push((r, Vec::new()));
            by_owner.len() - 1
        });
        let usable = usability(r.entry, r.own_id(kind)).usable_range(r.entry);
        if let Some(range) = usable.filter(|_| !duplicates.contains(&r.entry.line)) {
            by_owner[pos].1.push((range.start as u64, range.end()));
        }
    }
    for (first, ranges) in by_owner {
        let total = union_len(ranges);
        if first.account.is_some() && total > 0 && total < MIN_USABLE_TOTAL {
            let sub = kind.subid_name();
            out.push(finding(
                Severity::Warning,
                Rule::SmallTotal,
                file,
                first.entry.line,
                format!(
                    "{} has only {total} usable {sub}s; container images use ids 0-65535",
                    first.who()
                ),
                Some(format!(
                    "as root: usermod --add-{sub}s START-END {} with at least {} more free ids",
                    first.usermod_name(),
                    MIN_USABLE_TOTAL - total
                )),
            ));
        }
    }
}

/// The number of ids covered by half-open ranges, counting overlaps once.
pub(super) fn union_len(mut ranges: Vec<(u64, u64)>) -> u64 {
    ranges.sort_unstable();
    let mut total = 0;
    let mut covered_to = 0;
    for (start, end) in ranges {
        let from = start.max(covered_to);
        if end > from {
            total += end - from;
        }
        covered_to = covered_to.max(end);
    }
    total
}

/// Owners with ranges in one file and none in the other: newuidmap would map the uids
/// while newgidmap fails (or the reverse), and every container start fails half-way.
pub(super) fn missing_other_kind(
    kind: IdKind,
    file: &SubIdFile,
    lines: &[Resolved],
    other_file: &SubIdFile,
    other_lines: &[Resolved],
    out: &mut Vec<Finding>,
) {
    // Indexed by owner number, which both files share.
    let mut other = vec![false; owner_slots(lines).max(owner_slots(other_lines))];
    for r in other_lines {
        other[r.owner as usize] = true;
    }
    let mut seen = vec![false; other.len()];
    let other_kind = match kind {
        IdKind::Uid => IdKind::Gid,
        IdKind::Gid => IdKind::Uid,
    };
    for r in lines {
        // An unknown owner already has its own warning; a usermod fix for it would not run.
        if r.account.is_none() || other[r.owner as usize] || seen[r.owner as usize] {
            continue;
        }
        seen[r.owner as usize] = true;
        out.push(finding(
            Severity::Warning,
            Rule::MissingOtherKind,
            file,
            r.entry.line,
            format!(
                "{} has {} ranges but none in {}",
                r.who(),
                kind.subid_name(),
                other_file.path.display()
            ),
            Some(format!(
                "as root: usermod --add-{}s {} {} (the same range is the usual choice)",
                other_kind.subid_name(),
                if r.entry.count > 0 {
                    span(r.entry)
                } else {
                    "START-END".into()
                },
                r.usermod_name()
            )),
        ));
    }
}

/// login.defs numbers shadow cannot read: it falls back to its default, silently for
/// most tools, so the bounds used above may not be the ones the admin meant.
pub(super) fn login_defs_values(defs: &LoginDefs) -> Vec<Finding> {
    let path = defs
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from(login_defs::LOGIN_DEFS));
    defs.invalid()
        .into_iter()
        .map(|i| {
            let default = login_defs::default_of(&i.key).unwrap_or_default();
            Finding {
                severity: Severity::Warning,
                rule: Rule::LoginDefsValue,
                file: path.clone(),
                line: i.line,
                message: format!(
                    "{} value {:?} is not a number; shadow uses the default {default}",
                    i.key, i.value
                ),
                fix: Some(format!("write {} as a decimal number", i.key)),
            }
        })
        .collect()
}
