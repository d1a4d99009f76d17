//! The `usermod --add-subuids FIRST-LAST USER` that makes an image's ids fit: a range
//! free in /etc/subuid (of every owner), found as `userns subid add` and useradd find
//! one (`subid::alloc::first_fit`, SUB_UID_MIN..SUB_UID_MAX of login.defs), as large as
//! the ids the map lacks below the highest one, rounded up to SUB_UID_COUNT.
//!
//! Why that size: userns maps the caller's own id at 0 and packs every subordinate range
//! after it (`idmap::plan`), so a map of N ids holds 0..N-1 and an image whose highest id
//! is H needs H+1 of them, whatever the ranges' outside starts.

use super::report::{Fix, IdReport, KindReport};
use crate::error::Result;
use crate::ids::{IdKind, ID_LIMIT};
use crate::subid::alloc::{self, AllocError, Pool};
use crate::subid::login_defs::LoginDefs;
use crate::subid::{SubIdFile, SubIdPaths};
use crate::users::Account;
use std::path::Path;

/// What a fix is computed from: the user, both subid files whole, the pools.
#[derive(Debug, Clone)]
pub struct FixBasis {
    pub account: Account,
    subuid: SubIdFile,
    subgid: SubIdFile,
    defs: LoginDefs,
}

impl FixBasis {
    /// Read the subid files of `paths` and /etc/login.defs.
    pub fn read(account: &Account, paths: &SubIdPaths) -> Result<FixBasis> {
        Ok(FixBasis {
            account: account.clone(),
            subuid: SubIdFile::read(paths.path(IdKind::Uid))?,
            subgid: SubIdFile::read(paths.path(IdKind::Gid))?,
            defs: LoginDefs::read(Path::new("/etc/login.defs"))?,
        })
    }

    fn file(&self, kind: IdKind) -> &SubIdFile {
        match kind {
            IdKind::Uid => &self.subuid,
            IdKind::Gid => &self.subgid,
        }
    }

    /// The fix for `report` (a kind that does not fit).
    pub fn fix(&self, kind: IdKind, report: &KindReport, explicit: bool) -> Fix {
        let highest = report.highest.unwrap_or(0);
        if highest >= ID_LIMIT {
            return Fix::Impossible {
                reason: format!(
                    "the image gives a file {} {highest}, which no user namespace can map \
                     ({} is the kernel's invalid id): the image is broken or hostile",
                    kind.name(),
                    ID_LIMIT
                ),
            };
        }
        let needed = report.missing_below_highest().max(1);
        let (pool, step) = Pool::from_login_defs(&self.defs, kind);
        let step = step.max(1);
        let count = needed.div_ceil(step).saturating_mul(step);
        let file = self.file(kind);
        let own = self.account.own_id(kind);
        let range = match alloc::first_fit(file, pool, count, Some(own))
            .or_else(|_| alloc::first_fit(file, pool, needed, Some(own)))
        {
            Ok(range) => range,
            Err(e) => {
                let why = match &e {
                    AllocError::Exhausted { .. } => format!(
                        "{e} in {} (SUB_{}_MIN and SUB_{}_MAX of /etc/login.defs)",
                        file.path.display(),
                        kind.name().to_uppercase(),
                        kind.name().to_uppercase()
                    ),
                    AllocError::BadRequest(why) => why.clone(),
                };
                return Fix::Impossible {
                    reason: format!(
                        "the image needs {needed} more {}s than your map holds, and {why}",
                        kind.name()
                    ),
                };
            }
        };
        let first = range.start as u64;
        let last = first + range.count as u64 - 1;
        let user = self.account.display_name();
        let option = match kind {
            IdKind::Uid => "--map-users",
            IdKind::Gid => "--map-groups",
        };
        let then = explicit.then(|| match single_gap(report, highest) {
            Some(inside) => format!(
                "add {option} {inside}:{first}:{} to map them",
                highest + 1 - inside
            ),
            None => format!("map the ids the image needs onto that range with {option}"),
        });
        Fix::AddRange {
            command: format!("usermod --add-sub{}s {first}-{last} {user}", kind.name()),
            first,
            last,
            count: range.count as u64,
            user,
            file: file.path.display().to_string(),
            then,
        }
    }
}

/// The first inside id the map lacks, when what it lacks from 0 to `highest` is one
/// span ending at `highest` (a map laid out from 0, too short).
fn single_gap(report: &KindReport, highest: u64) -> Option<u64> {
    let mut spans: Vec<(u64, u64)> = report
        .map
        .iter()
        .map(|e| (e.inside as u64, e.inside as u64 + e.count as u64))
        .collect();
    spans.sort_unstable();
    let mut next = 0u64;
    for (a, b) in spans {
        if a > next {
            break;
        }
        next = next.max(b);
    }
    (next <= highest && report.missing_below_highest() == highest + 1 - next).then_some(next)
}

impl IdReport {
    /// Work out, for each kind that does not fit, the subordinate range that would make
    /// it fit (free in /etc/subuid or /etc/subgid, as `subid add` allocates).
    pub fn suggest_fixes(&mut self, basis: &FixBasis, explicit: bool) {
        for kind in IdKind::BOTH {
            let report = match kind {
                IdKind::Uid => &mut self.uids,
                IdKind::Gid => &mut self.gids,
            };
            if !report.fits() {
                report.fix = Some(basis.fix(kind, report, explicit));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idmap::{IdMap, IdMapEntry};
    use crate::image::idcheck::{IdCensus, MapTarget};

    fn basis(subuid: &str) -> FixBasis {
        let parse = |t: &str, p: &str| crate::subid::parse::parse(Path::new(p), t.as_bytes());
        FixBasis {
            account: Account::ivy(),
            subuid: parse(subuid, "/etc/subuid"),
            subgid: parse(subuid, "/etc/subgid"),
            defs: LoginDefs::defaults(),
        }
    }

    fn ivy_target() -> MapTarget {
        let map = |k| {
            IdMap::new(
                k,
                vec![
                    IdMapEntry::new(0, 2000, 1),
                    IdMapEntry::new(1, 200_000, 65536),
                ],
            )
        };
        MapTarget {
            uid: map(IdKind::Uid),
            gid: map(IdKind::Gid),
            origin: "the test map".into(),
            explicit: false,
        }
    }

    #[test]
    fn the_range_is_free_of_every_owner_and_large_enough() {
        let mut c = IdCensus::new();
        c.record(b"big", 3_000_000, 70_000);
        let mut r = c.check(&ivy_target());
        // bob holds what the first fit would otherwise take.
        let b = basis("ivy:200000:65536\nbob:100000:100000\nbob:265536:65536\n");
        r.suggest_fixes(&b, false);
        let Some(Fix::AddRange {
            first,
            last,
            count,
            command,
            ..
        }) = &r.uids.fix
        else {
            panic!("{:?}", r.uids.fix);
        };
        // 0..=65536 are held: 3000000 - 65536 more needed, rounded to 65536s.
        assert_eq!(*count, (3_000_000u64 - 65536).div_ceil(65536) * 65536);
        assert_eq!(*first, 331_072);
        assert_eq!(*last, first + count - 1);
        assert_eq!(
            command,
            &format!("usermod --add-subuids {first}-{last} ivy")
        );
        let Some(Fix::AddRange { count, .. }) = &r.gids.fix else {
            panic!("{:?}", r.gids.fix);
        };
        assert_eq!(*count, 65536);
        assert_eq!(
            r.fix_line().unwrap(),
            format!("as root: {command}; as root: usermod --add-subgids 331072-396607 ivy")
        );
    }

    #[test]
    fn an_explicit_map_is_told_what_to_add_and_broken_ids_cannot_be_fixed() {
        let mut c = IdCensus::new();
        c.record(b"f", 70_000, 0);
        let mut target = ivy_target();
        target.explicit = true;
        let mut r = c.check(&target);
        r.suggest_fixes(&basis("ivy:200000:65536\n"), true);
        let Some(Fix::AddRange { then, first, .. }) = &r.uids.fix else {
            panic!("{:?}", r.uids.fix);
        };
        assert_eq!(
            then.as_deref(),
            Some(format!("add --map-users 65537:{first}:4464 to map them").as_str())
        );
        let mut c = IdCensus::new();
        c.record(b"f", u32::MAX as u64 + 5, 0);
        let mut r = c.check(&ivy_target());
        r.suggest_fixes(&basis("ivy:200000:65536\n"), false);
        assert!(
            matches!(r.uids.fix, Some(Fix::Impossible { .. })),
            "{:?}",
            r.uids.fix
        );
        // A pool too small for what is needed says so.
        let mut c = IdCensus::new();
        c.record(b"f", 4_000_000_000, 0);
        let mut r = c.check(&ivy_target());
        r.suggest_fixes(&basis("ivy:200000:65536\n"), false);
        let Some(Fix::Impossible { reason }) = &r.uids.fix else {
            panic!("{:?}", r.uids.fix);
        };
        assert!(reason.contains("SUB_UID_MIN"), "{reason}");
    }
}
