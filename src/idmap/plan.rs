//! The map `userns unshare` asks for: the caller's own id, then every usable subordinate
//! range packed at full size (podman's layout, `pkg/rootless`; unlike util-linux 2.38's
//! `--map-auto`, no range is left out and no id is lost).

use super::map::{IdMap, IdMapEntry, MAX_BYTES, MAX_LINES};
use crate::error::{Error, Result};
use crate::ids::{IdKind, ID_LIMIT};
use crate::subid::UserSubIds;
use serde::Serialize;

/// A subid entry the plan does not use, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftOut {
    pub source: String,
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for LeftOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: left out: {}",
            self.source, self.line, self.reason
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MapPlan {
    pub map: IdMap,
    pub left_out: Vec<LeftOut>,
    /// True when the map holds more than the caller's own id, so a setuid helper (or
    /// privilege) must write it.
    pub needs_helper: bool,
}

/// An outside range to pack, with the line it came from.
#[derive(Debug, Clone, Copy)]
struct Piece {
    start: u64,
    end: u64,
    line: usize,
}

/// Plan one map: `own_id` lands at `own_inside` (count 1), and the usable ranges of
/// `subids` fill the inside ids from 0 upwards around it, in ascending start order.
/// Overlapping or adjacent ranges (a user listed by name and by uid, say) are merged,
/// since the kernel refuses overlapping outside ranges.
pub fn plan_map(kind: IdKind, own_id: u32, own_inside: u32, subids: &UserSubIds) -> MapPlan {
    let mut left_out: Vec<LeftOut> = subids
        .entries
        .iter()
        .filter_map(|(e, u)| {
            u.reason(kind).map(|reason| LeftOut {
                source: subids.source.clone(),
                line: e.line,
                reason,
            })
        })
        .collect();
    // Lines that may be the user's but that neither shadow nor userns reads as entries.
    left_out.extend(subids.skipped.iter().map(|s| LeftOut {
        source: subids.source.clone(),
        line: s.line,
        reason: match &s.shadow {
            Some(shadow) => format!("not an entry {:?}: {}; {shadow}", s.text, s.reason),
            None => format!("not an entry {:?}: {}", s.text, s.reason),
        },
    }));

    let mut entries = vec![IdMapEntry::new(own_inside, own_id, 1)];
    // The length of the map's text, kept as lines are added: rendering the whole map
    // again for each range made a user with many lines cost O(lines x 340).
    let mut bytes = proc_line_len(&entries[0]);
    let mut next_inside: u64 = 0;
    for piece in merged_pieces(subids) {
        let mut outside = piece.start;
        let mut remaining = piece.end - piece.start;
        let before = (entries.len(), bytes);
        while remaining > 0 {
            if next_inside == own_inside as u64 {
                next_inside += 1;
            }
            // Stop before the own id's slot, and before the largest valid id.
            let limit = if next_inside < own_inside as u64 {
                own_inside as u64
            } else {
                ID_LIMIT
            };
            let count = remaining.min(limit.saturating_sub(next_inside));
            if count == 0 {
                break;
            }
            let entry = IdMapEntry::new(next_inside as u32, outside as u32, count as u32);
            bytes += proc_line_len(&entry);
            entries.push(entry);
            next_inside += count;
            outside += count;
            remaining -= count;
        }
        let over_limit = entries.len() > MAX_LINES || bytes > MAX_BYTES;
        if remaining > 0 || over_limit {
            let reason = if over_limit {
                entries.truncate(before.0);
                bytes = before.1;
                format!("the map would pass the kernel's limit of {MAX_LINES} lines or 4 KiB")
            } else {
                format!("{remaining} ids do not fit below id 4294967295 inside")
            };
            left_out.push(LeftOut {
                source: subids.source.clone(),
                line: piece.line,
                reason,
            });
        }
    }
    entries.sort_by_key(|e| e.inside);
    left_out.sort_by_key(|l| l.line);
    MapPlan {
        needs_helper: entries.len() > 1,
        map: IdMap::new(kind, entries),
        left_out,
    }
}

/// The usable ranges in ascending order, overlapping or adjacent ones merged (each
/// keeps the line of its first range).
fn merged_pieces(subids: &UserSubIds) -> Vec<Piece> {
    let mut pieces: Vec<Piece> = subids
        .usable()
        .map(|(e, r)| Piece {
            start: r.start as u64,
            end: r.end(),
            line: e.line,
        })
        .collect();
    pieces.sort_by_key(|p| (p.start, p.end));
    let mut merged: Vec<Piece> = Vec::new();
    for p in pieces {
        match merged.last_mut() {
            Some(last) if p.start <= last.end => last.end = last.end.max(p.end),
            _ => merged.push(p),
        }
    }
    merged
}

/// The length of an entry's line in `IdMap::to_proc_text`: `inside outside count\n`.
fn proc_line_len(e: &IdMapEntry) -> usize {
    let digits = |n: u32| n.checked_ilog10().map_or(1, |d| d as usize + 1);
    digits(e.inside) + digits(e.outside) + digits(e.count) + 3
}

/// The plan for a user, or an error naming the fix when the user has no usable range.
/// Root with no subid entry gets the identity map: root may map anything.
pub fn plan_for_user(
    kind: IdKind,
    own_id: u32,
    own_inside: u32,
    subids: &UserSubIds,
    user_name: &str,
) -> Result<MapPlan> {
    if own_id == 0 && subids.entries.is_empty() && nix::unistd::geteuid().is_root() {
        return Ok(MapPlan {
            map: IdMap::identity(kind),
            left_out: vec![],
            needs_helper: true,
        });
    }
    let plan = plan_map(kind, own_id, own_inside, subids);
    if subids.entries.is_empty() && subids.skipped.is_empty() {
        return Err(no_entry_error(kind, &subids.source, user_name, own_id));
    }
    if plan.map.entries.len() == 1 {
        let reasons: Vec<String> = plan.left_out.iter().map(|l| l.to_string()).collect();
        return Err(Error::failure(format!(
            "no usable {} range for {user_name}",
            kind.subid_name()
        ))
        .because(reasons.join("; "))
        .fix(format!(
            "fix those lines in {} (userns subid check), or use --single to map only your own id",
            subids.source
        )));
    }
    Ok(plan)
}

/// The error for a user without any entry of `kind`. The fix names the range `userns
/// subid add` would allocate now (first fit after every used range, login.defs bounds),
/// never a fixed range that may be another user's.
pub(crate) fn no_entry_error(kind: IdKind, source: &str, user_name: &str, own_id: u32) -> Error {
    let error = Error::failure(format!("{user_name} has no {} range", kind.subid_name())).because(
        format!("{source} has no line for {user_name} (by name or uid)"),
    );
    if let Some(module) = source.strip_prefix("nss:") {
        return error.fix(format!(
            "ask the administrator of the subid source {module} (nsswitch.conf) for a range for {user_name}; or use --single to map only your own id"
        ));
    }
    let range = crate::subid::alloc::usermod_range_at(std::path::Path::new(source), kind, own_id);
    error.fix(format!(
        "as root: usermod --add-sub{}s {range} {user_name} (or userns subid add {user_name}); or use --single to map only your own id",
        kind.name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subids(text: &str) -> UserSubIds {
        UserSubIds::of_ivy(text)
    }

    fn triples(p: &MapPlan) -> Vec<(u32, u32, u32)> {
        p.map
            .entries
            .iter()
            .map(|e| (e.inside, e.outside, e.count))
            .collect()
    }

    #[test]
    fn podman_layout() {
        let p = plan_map(IdKind::Uid, 2000, 0, &subids("ivy:100000:65536\n"));
        assert_eq!(triples(&p), [(0, 2000, 1), (1, 100000, 65536)]);
        assert!(p.needs_helper);
        assert!(p.map.validate().is_ok());
    }

    #[test]
    fn packs_every_range_in_ascending_order_and_merges() {
        let p = plan_map(
            IdKind::Uid,
            2000,
            0,
            &subids("ivy:300000:10\nivy:100000:65536\n2000:100000:65536\nivy:165536:4\n"),
        );
        assert_eq!(
            triples(&p),
            [(0, 2000, 1), (1, 100000, 65540), (65541, 300000, 10)]
        );
        assert!(p.left_out.is_empty());
    }

    #[test]
    fn leaves_out_unusable_ranges_with_their_lines() {
        let p = plan_map(
            IdKind::Uid,
            2000,
            0,
            &subids("ivy:1:0\nivy:1000:2000\nivy:4294967295:5\nivy:100000:10\n"),
        );
        assert_eq!(triples(&p), [(0, 2000, 1), (1, 100000, 10)]);
        let lines: Vec<usize> = p.left_out.iter().map(|l| l.line).collect();
        assert_eq!(lines, [1, 2, 3]);
        assert!(p.left_out[1].reason.contains("own uid 2000"));
    }

    #[test]
    fn own_id_elsewhere_inside_splits_around_it() {
        let p = plan_map(IdKind::Uid, 2000, 1000, &subids("ivy:100000:65536\n"));
        assert_eq!(
            triples(&p),
            [(0, 100000, 1000), (1000, 2000, 1), (1001, 101000, 64536)]
        );
        assert!(p.map.validate().is_ok());
    }

    #[test]
    fn stays_within_kernel_limits() {
        let text: String = (0..400)
            .map(|i| format!("ivy:{}:1\n", 1_000_000 + i * 10))
            .collect();
        let p = plan_map(IdKind::Uid, 2000, 0, &subids(&text));
        assert!(p.map.validate().is_ok(), "{:?}", p.map.validate());
        assert!(!p.left_out.is_empty());
    }

    #[test]
    fn the_running_length_is_the_length_of_the_text() {
        for (a, b, c) in [
            (0, 0, 1),
            (9, 10, 99),
            (1, 100000, 65536),
            (u32::MAX, 7, 1000),
        ] {
            let e = IdMapEntry::new(a, b, c);
            let text = IdMap::new(IdKind::Uid, vec![e]).to_proc_text();
            assert_eq!(proc_line_len(&e), text.len(), "{text:?}");
        }
        // Many ranges: the map still ends at the kernel's limits, in byte and lines.
        let text: String = (0..20_000u64)
            .map(|i| format!("ivy:{}:1\n", 4_000_000_000 - i * 10))
            .collect();
        let p = plan_map(IdKind::Uid, 2000, 0, &subids(&text));
        assert!(p.map.validate().is_ok(), "{:?}", p.map.validate());
        assert_eq!(p.left_out.len(), 20_000 + 1 - p.map.entries.len());
        assert!(p.map.to_proc_text().len() > MAX_BYTES - 40);
    }

    #[test]
    fn no_entry_names_the_fix() {
        let e = plan_for_user(IdKind::Uid, 2000, 0, &subids("bob:1:5\n"), "ivy").unwrap_err();
        assert!(e.to_string().contains("usermod --add-subuids"));
    }
}
