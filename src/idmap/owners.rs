//! Who owns the outside ids of a map line on the host: the process owner's own id, the
//! subordinate ranges of /etc/subuid or /etc/subgid it overlaps, or nobody known.
//!
//! Pure: it takes a parsed subid file and the accounts to recognise, so it is tested
//! without /proc, NSS or privileges.

use super::map::IdMapEntry;
use crate::ids::IdKind;
use crate::subid::SubIdFile;
use crate::users::Account;
use serde::Serialize;

/// One owner of (part of) an outside range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RangeOwner {
    /// `0 0 4294967295`: the map of the initial namespace, owned by nobody in particular.
    Identity,
    /// The range is exactly one id, the user's own uid (or primary gid).
    OwnId { user: String, id: u32 },
    /// The range is larger than one id and contains the user's own id.
    IncludesOwnId { user: String, id: u32 },
    /// The range overlaps this subid entry in `ids` ids.
    SubId {
        user: String,
        source: String,
        line: usize,
        ids: u64,
    },
    /// `ids` ids of the range belong to no subid entry and to no listed user's own id.
    Unknown { ids: u64 },
}

impl RangeOwner {
    /// The words of the OWNER column.
    pub(crate) fn describe(&self, kind: IdKind) -> String {
        match self {
            RangeOwner::Identity => "identity (initial namespace)".into(),
            RangeOwner::OwnId { user, .. } => format!("own {} of {user}", kind.name()),
            RangeOwner::IncludesOwnId { user, id } => {
                format!("includes own {} of {user} ({id})", kind.name())
            }
            RangeOwner::SubId {
                user, source, line, ..
            } => format!("{} of {user} ({source}:{line})", kind.subid_name()),
            RangeOwner::Unknown { ids } => format!("unknown ({ids} ids)"),
        }
    }
}

/// All owners of a map line, joined for a table cell; a line nobody owns is "unknown".
pub fn describe_owners(kind: IdKind, owners: &[RangeOwner]) -> String {
    match owners {
        [RangeOwner::Unknown { .. }] => "unknown".into(),
        _ => owners
            .iter()
            .map(|o| o.describe(kind))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Attribute the outside ids of `entry`. `subids` is the whole subid file of `kind`
/// (every owner, not only the process owner's: a map may use anybody's range when
/// root wrote it); `accounts` are the users whose own id is recognised (the process
/// owner and the invoking user). Subid entries are listed in file order; an outside
/// range may span several.
pub fn attribute(
    kind: IdKind,
    entry: &IdMapEntry,
    subids: &SubIdFile,
    accounts: &[Account],
) -> Vec<RangeOwner> {
    if *entry == IdMapEntry::new(0, 0, u32::MAX) {
        return vec![RangeOwner::Identity];
    }
    let start = entry.outside as u64;
    let end = entry.outside_end();
    let mut owners = Vec::new();
    // Covered sub-intervals, to count what nobody owns.
    let mut covered: Vec<(u64, u64)> = Vec::new();

    let mut seen_ids = Vec::new();
    for account in accounts {
        let id = account.own_id(kind);
        if seen_ids.contains(&id) {
            continue;
        }
        seen_ids.push(id);
        if (id as u64) < start || (id as u64) >= end {
            continue;
        }
        let user = account.display_name();
        owners.push(if entry.count == 1 {
            RangeOwner::OwnId { user, id }
        } else {
            RangeOwner::IncludesOwnId { user, id }
        });
        covered.push((id as u64, id as u64 + 1));
    }

    for e in &subids.entries {
        let e_end = u64::try_from(e.end()).unwrap_or(u64::MAX);
        let lo = start.max(e.start);
        let hi = end.min(e_end);
        if lo < hi {
            owners.push(RangeOwner::SubId {
                user: e.owner_text.clone(),
                source: subids.path.display().to_string(),
                line: e.line,
                ids: hi - lo,
            });
            covered.push((lo, hi));
        }
    }

    let unknown = (end - start) - union_len(&mut covered);
    if unknown > 0 {
        owners.push(RangeOwner::Unknown { ids: unknown });
    }
    owners
}

/// The accounts whose own ids `attribute` recognises in the map of a process: its owner
/// when the owner is a user (`account` from passwd, or a uid no subordinate range holds),
/// else, for a container's process running as a subordinate id (uid 1000 inside shows
/// as 200999), the users whose subuid lines hold that id (`resolve` names them), since
/// the map's own-id line is theirs. `owner` is the process owner as far as known; the
/// ids of a subordinate owner are no one's "own".
pub fn own_id_accounts(
    owner: Account,
    known_user: bool,
    subuids: &SubIdFile,
    resolve: impl Fn(&str) -> Option<Account>,
) -> Vec<Account> {
    if known_user {
        return vec![owner];
    }
    let holders: Vec<Account> = subuids
        .entries
        .iter()
        .filter(|e| e.count > 0 && e.start <= owner.uid as u64 && (owner.uid as u128) < e.end())
        .filter_map(|e| resolve(&e.owner_text))
        .collect();
    if holders.is_empty() {
        vec![owner]
    } else {
        holders
    }
}

/// Total length of a set of half-open intervals, counting overlaps once.
fn union_len(intervals: &mut [(u64, u64)]) -> u64 {
    intervals.sort_unstable();
    let mut total = 0;
    let mut reach = 0;
    for &(lo, hi) in intervals.iter() {
        let lo = lo.max(reach);
        if hi > lo {
            total += hi - lo;
            reach = hi;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subordinate_owner_gives_way_to_the_user_whose_range_holds_it() {
        let file = parse(
            Path::new("/etc/subuid"),
            b"bob:100000:65536\nivy:200000:65536\n",
        );
        let ivy = account("ivy", 2000, 2000);
        let resolve = |name: &str| (name == "ivy").then(|| ivy.clone());
        let sub = account("x", 200999, 200999);
        assert_eq!(
            own_id_accounts(sub.clone(), false, &file, resolve),
            vec![ivy.clone()]
        );
        // A user of passwd stays itself, wherever its uid lies.
        assert_eq!(
            own_id_accounts(sub.clone(), true, &file, resolve),
            vec![sub]
        );
        // No range holds it: a numeric-only user, shown as itself.
        let lone = account("y", 5000, 5000);
        assert_eq!(
            own_id_accounts(lone.clone(), false, &file, resolve),
            vec![lone]
        );
    }
    use crate::subid::parse::parse;
    use std::path::Path;

    fn account(name: &str, uid: u32, gid: u32) -> Account {
        Account {
            name: Some(name.into()),
            uid,
            gid,
            home: None,
        }
    }

    fn subuid(text: &str) -> SubIdFile {
        parse(Path::new("/etc/subuid"), text.as_bytes())
    }

    fn cells(kind: IdKind, e: IdMapEntry, f: &SubIdFile, accounts: &[Account]) -> String {
        describe_owners(kind, &attribute(kind, &e, f, accounts))
    }

    #[test]
    fn podman_like_map() {
        let f = subuid("bob:200000:65536\nivy:100000:65536\n");
        let ivy = [account("ivy", 1000, 1001)];
        assert_eq!(
            cells(IdKind::Uid, IdMapEntry::new(0, 1000, 1), &f, &ivy),
            "own uid of ivy"
        );
        assert_eq!(
            cells(IdKind::Uid, IdMapEntry::new(1, 100000, 65536), &f, &ivy),
            "subuid of ivy (/etc/subuid:2)"
        );
        // For gid maps the own id is the primary gid.
        assert_eq!(
            cells(IdKind::Gid, IdMapEntry::new(0, 1001, 1), &f, &ivy),
            "own gid of ivy"
        );
        assert_eq!(
            cells(IdKind::Gid, IdMapEntry::new(0, 1000, 1), &f, &ivy),
            "unknown"
        );
    }

    #[test]
    fn identity_and_unknown() {
        let f = subuid("ivy:100000:65536\n");
        assert_eq!(
            attribute(IdKind::Uid, &IdMapEntry::new(0, 0, u32::MAX), &f, &[]),
            [RangeOwner::Identity]
        );
        assert_eq!(
            attribute(IdKind::Uid, &IdMapEntry::new(0, 5000, 10), &f, &[]),
            [RangeOwner::Unknown { ids: 10 }]
        );
    }

    #[test]
    fn a_range_may_span_several_entries_and_a_gap() {
        // 100000-100009 (line 1), 100010-100019 (line 3, a uid owner), then 10 unowned ids.
        let f = subuid("ivy:100000:10\nbob:500:5\n2000:100010:10\n");
        let owners = attribute(IdKind::Uid, &IdMapEntry::new(1, 100000, 30), &f, &[]);
        assert_eq!(
            owners,
            [
                RangeOwner::SubId {
                    user: "ivy".into(),
                    source: "/etc/subuid".into(),
                    line: 1,
                    ids: 10
                },
                RangeOwner::SubId {
                    user: "2000".into(),
                    source: "/etc/subuid".into(),
                    line: 3,
                    ids: 10
                },
                RangeOwner::Unknown { ids: 10 },
            ]
        );
        assert_eq!(
            describe_owners(IdKind::Uid, &owners),
            "subuid of ivy (/etc/subuid:1), subuid of 2000 (/etc/subuid:3), unknown (10 ids)"
        );
    }

    #[test]
    fn overlapping_entries_are_counted_once() {
        let f = subuid("ivy:100000:65536\n2000:100000:65536\n");
        let owners = attribute(IdKind::Uid, &IdMapEntry::new(1, 100000, 65536), &f, &[]);
        assert_eq!(owners.len(), 2);
        assert!(!owners
            .iter()
            .any(|o| matches!(o, RangeOwner::Unknown { .. })));
    }

    #[test]
    fn own_id_inside_a_larger_range() {
        let f = subuid("");
        let root = [account("root", 0, 0), account("root", 0, 0)];
        assert_eq!(
            attribute(IdKind::Uid, &IdMapEntry::new(0, 0, 1), &f, &root),
            [RangeOwner::OwnId {
                user: "root".into(),
                id: 0
            }]
        );
        assert_eq!(
            cells(IdKind::Uid, IdMapEntry::new(0, 0, 1000), &f, &root),
            "includes own uid of root (0), unknown (999 ids)"
        );
    }

    #[test]
    fn entries_past_the_id_limit_do_not_overflow() {
        let f = subuid("ivy:4294967290:100\nivy:18446744073709551615:5\n");
        let owners = attribute(IdKind::Uid, &IdMapEntry::new(0, 4294967280, 14), &f, &[]);
        assert_eq!(owners.len(), 2);
        assert_eq!(owners[1], RangeOwner::Unknown { ids: 10 });
    }
}
