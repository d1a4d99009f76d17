//! Which subid entries belong to a user, and which of them the kernel could use.

use super::parse::{Skipped, SubIdEntry, SubIdFile};
use super::range::SubIdRange;
use crate::ids::{IdKind, ID_LIMIT};
use crate::users::Account;
use serde::Serialize;

/// Whether an entry belongs to `account`: shadow 4.13's `list_owner_ranges` (getsubids)
/// and `find_range` (newuidmap, newgidmap) take lines whose owner is the exact name, and
/// lines whose owner is the uid as `%lu` prints it (the uid for subgid lines too, in the
/// helpers): the text is compared, so `02000` is not uid 2000.
pub(crate) fn belongs_to(entry: &SubIdEntry, account: &Account) -> bool {
    owner_text_matches(&entry.owner_text, account)
}

/// Whether an owner field as written names `account` (the test of `belongs_to`, on text).
pub(crate) fn owner_text_matches(text: &str, account: &Account) -> bool {
    account.name.as_deref() == Some(text) || super::parse::canonical_uid(text) == Some(account.uid)
}

/// The entries of `file` that belong to `account`, in file order.
pub fn entries_for<'f>(file: &'f SubIdFile, account: &Account) -> Vec<&'f SubIdEntry> {
    file.entries
        .iter()
        .filter(|e| belongs_to(e, account))
        .collect()
}

/// Lines of `file` that are not entries but may be `account`'s (their first field is its
/// name or uid, a NIS `+`/`-` aside): a plan says it leaves them out, since shadow (or
/// userns) passes over them and the user would never learn why ids are missing.
pub fn skipped_of<'f>(file: &'f SubIdFile, account: &Account) -> Vec<&'f Skipped> {
    file.skipped
        .iter()
        .filter(|s| {
            if file.unreadable == Some(s.line) {
                return true;
            }
            let first = s.text.split(':').next().unwrap_or("");
            let first = first.strip_prefix(['+', '-']).unwrap_or(first);
            owner_text_matches(first, account)
        })
        .collect()
}

/// Whether newuidmap and the kernel could use an entry in a map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Usability {
    Usable,
    /// count 0: the kernel rejects an empty extent.
    ZeroCount,
    /// No id of the range can be mapped: it starts at 4294967295 or above, or
    /// start+count passes 2^64, where newuidmap's arithmetic (`start + count - 1` in an
    /// unsigned long) wraps and it refuses every id of the line.
    Overflow,
    /// start+count passes 2^32-1: newuidmap allows the whole range, but the kernel has no
    /// ids from 4294967295 on, so only `usable` ids from the start can be mapped.
    PastLimit {
        usable: u32,
    },
    /// The range contains the owner's own id, which is mapped separately at inside 0;
    /// the kernel rejects the overlap and podman refuses such a range.
    ContainsOwnId {
        id: u32,
    },
}

impl Usability {
    /// Whether the whole range, as written, can be mapped.
    pub fn is_usable(&self) -> bool {
        matches!(self, Usability::Usable)
    }

    /// Why an entry cannot be used (or only in part), for messages.
    pub fn reason(&self, kind: IdKind) -> Option<String> {
        match self {
            Usability::Usable => None,
            Usability::ZeroCount => Some("count is 0".into()),
            Usability::Overflow => Some(
                "no id of it is below 4294967295, the largest id plus one (or start+count passes 2^64, which newuidmap refuses)"
                    .into(),
            ),
            Usability::PastLimit { usable } => Some(format!(
                "start+count passes 4294967295, the largest id plus one: only its first {usable} ids can be mapped"
            )),
            Usability::ContainsOwnId { id } => Some(format!(
                "range contains the owner's own {} {id}",
                kind.name()
            )),
        }
    }

    /// The ids of `entry` a map may use: all of a usable entry, the part below
    /// 4294967295 of one that passes it, else none.
    pub fn usable_range(&self, entry: &SubIdEntry) -> Option<SubIdRange> {
        let start = u32::try_from(entry.start).ok()?;
        match self {
            Usability::Usable => Some(SubIdRange::new(start, u32::try_from(entry.count).ok()?)),
            Usability::PastLimit { usable } => Some(SubIdRange::new(start, *usable)),
            _ => None,
        }
    }
}

/// Judge an entry for an owner whose own id (uid for subuid, gid for subgid) is `own_id`.
pub fn usability(entry: &SubIdEntry, own_id: Option<u32>) -> Usability {
    if entry.count == 0 {
        return Usability::ZeroCount;
    }
    // newuidmap's `find_range` takes ids from start to (start + count - 1) mod 2^64.
    if entry.start >= ID_LIMIT || entry.end() > 1u128 << 64 {
        return Usability::Overflow;
    }
    let end = entry.end().min(ID_LIMIT as u128);
    if let Some(id) = own_id {
        if (id as u64) >= entry.start && (id as u128) < end {
            return Usability::ContainsOwnId { id };
        }
    }
    if entry.end() > ID_LIMIT as u128 {
        return Usability::PastLimit {
            usable: (end - entry.start as u128) as u32,
        };
    }
    Usability::Usable
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subid::parse::parse;
    use std::path::Path;

    fn ivy() -> Account {
        Account::ivy()
    }

    #[test]
    fn matches_by_name_and_by_uid() {
        let f = parse(
            Path::new("s"),
            b"ivy:100000:10\nbob:200:10\n2000:300000:10\nivy2:5:5\n02000:7:7\n",
        );
        let lines: Vec<usize> = entries_for(&f, &ivy()).iter().map(|e| e.line).collect();
        // "02000" is not uid 2000 to newuidmap 4.13, which compares the text with "2000".
        assert_eq!(lines, vec![1, 3]);
    }

    #[test]
    fn malformed_lines_that_may_be_the_users_are_found() {
        let file = parse(
            Path::new("/etc/subuid"),
            b"ivy:100000:x\nbob:1:x\n2000:5\nivy:1:2\n+ivy:1:2\n02000:1\n",
        );
        let lines: Vec<usize> = skipped_of(&file, &ivy()).iter().map(|s| s.line).collect();
        assert_eq!(lines, [1, 3, 5]);
    }

    #[test]
    fn usability_rules() {
        let f = parse(
            Path::new("s"),
            b"ivy:1:0\nivy:4294967290:10\nivy:1990:20\nivy:100000:65536\nivy:4294967295:1\nivy:1:-1\nivy:2:-1\n",
        );
        let u: Vec<Usability> = f.entries.iter().map(|e| usability(e, Some(2000))).collect();
        assert_eq!(
            u,
            vec![
                Usability::ZeroCount,
                Usability::PastLimit { usable: 5 },
                Usability::ContainsOwnId { id: 2000 },
                Usability::Usable,
                Usability::Overflow,
                Usability::ContainsOwnId { id: 2000 },
                Usability::Overflow,
            ]
        );
    }

    mod props {
        use super::super::*;
        use crate::subid::parse::{format_entry, parse_line};
        use crate::subid::SubIdRange;
        use proptest::prelude::*;

        fn account(name: &str, uid: u32) -> Account {
            Account {
                name: Some(name.into()),
                uid,
                gid: uid,
                home: None,
            }
        }

        proptest! {
            #[test]
            fn a_line_naming_the_user_or_its_uid_belongs_to_it(
                name in "[a-z_][a-z0-9_-]{0,15}", uid in any::<u32>(),
                other in "[a-z_][a-z0-9_-]{0,15}", other_uid in any::<u32>(),
            ) {
                let a = account(&name, uid);
                let by_name = parse_line(&format_entry(&name, 1, 1), 1).unwrap();
                let by_uid = parse_line(&format_entry(&uid.to_string(), 1, 1), 1).unwrap();
                prop_assert!(belongs_to(&by_name, &a));
                prop_assert!(belongs_to(&by_uid, &a));
                let stranger = parse_line(&format_entry(&other, 1, 1), 1).unwrap();
                prop_assert_eq!(belongs_to(&stranger, &a), other == name);
                let stranger = parse_line(&format_entry(&other_uid.to_string(), 1, 1), 1).unwrap();
                prop_assert_eq!(belongs_to(&stranger, &a), other_uid == uid);
            }

            #[test]
            fn usable_means_the_kernel_accepts_it_and_it_spares_the_own_id(
                start in prop_oneof![any::<u32>().prop_map(u64::from), any::<u64>()],
                count in prop_oneof![0u64..3, any::<u32>().prop_map(u64::from), any::<u64>()],
                own in any::<u32>(),
            ) {
                let e = parse_line(&format_entry("ivy", start, count), 1).unwrap();
                let verdict = usability(&e, Some(own));
                let range = e.range();
                let kernel_ok = range.is_some_and(|r| r.fits_kernel());
                let spares_own = range.is_some_and(|r: SubIdRange| !r.contains(own));
                prop_assert_eq!(verdict.is_usable(), kernel_ok && spares_own);
                prop_assert_eq!(verdict.reason(IdKind::Uid).is_none(), verdict.is_usable());
            }
        }
    }
}
