//! The maps of a migration: the new ones planned from the subordinate ranges now, the old
//! ones as given (old subid files, or saved map files) or as userns remembers them (the
//! plan record, kept namespaces, podman's pause process, which still holds the old map
//! until it is restarted). And the checks before anything moves.

use super::translate::{Maps, MapsRecord};
use crate::error::{Error, Result};
use crate::idmap::record::{read_plans, state_dir};
use crate::idmap::{plan_for_user, plan_map, IdMap, IdMapEntry};
use crate::ids::IdKind;
use crate::subid::{SubIdFile, SubIdPaths, UserSubIds};
use crate::users::Account;
use std::path::Path;

/// The maps `userns unshare` plans for `account` from `paths` now.
pub fn current_maps(account: &Account, paths: &SubIdPaths) -> Result<Maps> {
    let one = |kind| plan(account, kind, &UserSubIds::read(paths, kind, account)?);
    Ok(Maps {
        uid: one(IdKind::Uid)?,
        gid: one(IdKind::Gid)?,
    })
}

/// The map `userns unshare` plans for `account` from `subids`.
fn plan(account: &Account, kind: IdKind, subids: &UserSubIds) -> Result<IdMap> {
    Ok(plan_for_user(
        kind,
        account.own_id(kind),
        0,
        subids,
        &account.display_name(),
    )?
    .map)
}

/// The maps to move to: planned from the ranges granted now, leaving out a line that is
/// exactly one of the old map's ranges when other lines remain. That line is the
/// temporary grant that lets a namespace of the user map the old ids during the move
/// (`usermod --add-subuids OLD`), to be removed after it; files must not move to it.
pub fn new_maps(account: &Account, paths: &SubIdPaths, old: &Maps) -> Result<Maps> {
    let one = |kind, old: &IdMap| -> Result<IdMap> {
        let mut subids = UserSubIds::read(paths, kind, account)?;
        let is_old = |e: &crate::subid::SubIdEntry| {
            old.entries.iter().any(|o| {
                o.outside as u64 == e.start
                    && o.count as u64 == e.count
                    && !(o.count == 1 && o.outside == account.own_id(kind))
            })
        };
        let others = subids.usable().filter(|(e, _)| !is_old(e)).count();
        if others > 0 {
            subids.entries.retain(|(e, _)| !is_old(e));
        }
        plan(account, kind, &subids)
    };
    Ok(Maps {
        uid: one(IdKind::Uid, &old.uid)?,
        gid: one(IdKind::Gid, &old.gid)?,
    })
}

/// The maps the old subid files gave (`--from-subuid`, `--from-subgid`).
pub fn from_subid_files(account: &Account, subuid: &Path, subgid: &Path) -> Result<Maps> {
    let one = |kind, path: &Path| -> Result<IdMap> {
        let file = SubIdFile::read(path)?;
        let subids = UserSubIds::from_file(kind, &file, account);
        if subids.entries.is_empty() {
            return Err(Error::usage(format!(
                "{} has no line for {}",
                path.display(),
                account.display_name()
            ))
            .fix("give the old file that still lists the user's former ranges"));
        }
        Ok(plan_map(kind, account.own_id(kind), 0, &subids).map)
    };
    Ok(Maps {
        uid: one(IdKind::Uid, subuid)?,
        gid: one(IdKind::Gid, subgid)?,
    })
}

/// `--from-map UIDMAP:GIDMAP`: two files in the format of /proc/PID/uid_map (a copy
/// saved before the change, or the map of a process that still runs with the old one).
pub fn from_map_files(spec: &str) -> Result<Maps> {
    let (u, g) = spec.split_once(':').ok_or_else(|| {
        Error::usage(format!("invalid --from-map {spec:?}"))
            .because("expected UIDMAP:GIDMAP, two files in the uid_map format")
            .fix("for example: --from-map old-uid_map:old-gid_map (copies of /proc/PID/uid_map and gid_map)")
    })?;
    let one = |kind, path: &str| -> Result<IdMap> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("read", Path::new(path), &e))?;
        let parsed = crate::idmap::proc::parse_map(kind, &bytes);
        if let Some(s) = parsed.skipped.first() {
            return Err(Error::usage(format!("{path}: cannot use line {}", s.line))
                .because(s.reason.clone())
                .fix("give lines of INSIDE OUTSIDE COUNT, as /proc/PID/uid_map has them"));
        }
        if parsed.map.entries.is_empty() {
            return Err(Error::usage(format!("{path} holds no map line")));
        }
        Ok(parsed.map)
    };
    Ok(Maps {
        uid: one(IdKind::Uid, u)?,
        gid: one(IdKind::Gid, g)?,
    })
}

/// The newest map userns knows the user had that differs from `current`, and where it
/// was found. For a root run (`as_root`) only the user's plan record counts, read from
/// their home (root's environment says nothing about the user's state dir, and their
/// kept namespaces and podman's pause process are found through the user's runtime dir).
pub fn recorded(account: &Account, current: &Maps, as_root: bool) -> Option<(Maps, String)> {
    let cur = MapsRecord::from(current);
    let dir = if as_root {
        account.home.as_ref().map(|h| h.join(".local/state/userns"))
    } else {
        state_dir(account)
    };
    if let Some(dir) = dir {
        let plans = read_plans(&dir);
        if let Some(p) = plans.plans.iter().find(|p| p.maps != cur) {
            return Some((
                p.maps.maps(),
                format!(
                    "the map userns last used before the change ({}, last used at {})",
                    dir.join(crate::idmap::record::PLANS_FILE).display(),
                    p.last_used
                ),
            ));
        }
    }
    if as_root {
        return None;
    }
    if let Ok(dir) = crate::keep::record::registry_dir(false) {
        for rec in crate::keep::record::list(&dir).into_iter().flatten() {
            let maps = MapsRecord {
                uid_map: rec.uid_map.clone(),
                gid_map: rec.gid_map.clone(),
            };
            if maps != cur && rec.request == Default::default() {
                return Some((
                    maps.maps(),
                    format!("kept namespace {} (pid {})", rec.name, rec.pid),
                ));
            }
        }
    }
    if let Ok(Some(pause)) = crate::podman::PauseProcess::find(account.uid) {
        let read = |kind: IdKind| {
            let path = format!("/proc/{}/{}", pause.pid, kind.map_file());
            std::fs::read(path)
                .ok()
                .map(|b| crate::idmap::proc::parse_map(kind, &b).map)
        };
        if let (Some(uid), Some(gid)) = (read(IdKind::Uid), read(IdKind::Gid)) {
            let maps = Maps { uid, gid };
            if MapsRecord::from(&maps) != cur && !maps.uid.entries.is_empty() {
                return Some((maps, format!("podman's pause process {}", pause.pid)));
            }
        }
    }
    None
}

/// The old outside ranges (besides the own id) that the user's subordinate ranges no
/// longer cover: newuidmap would refuse to map them.
pub fn ungranted(map: &IdMap, own_id: u32, subids: &UserSubIds) -> Vec<IdMapEntry> {
    let runs = crate::ids::union(
        subids
            .usable()
            .map(|(_, r)| (r.start as u64, r.start as u64 + r.count as u64))
            .collect(),
    );
    map.entries
        .iter()
        .filter(|e| !(e.count == 1 && e.outside == own_id))
        .filter(|e| !crate::ids::union_covers(&runs, e.outside as u64, e.outside_end()))
        .copied()
        .collect()
}

/// Refuse, with the exact commands, when the old ranges are no longer the user's: no
/// namespace the user can make maps them, so only root can move those files.
pub fn check_granted(account: &Account, old: &Maps, paths: &SubIdPaths) -> Result<()> {
    let user = account.display_name();
    let mut missing = Vec::new();
    for (kind, map) in [(IdKind::Uid, &old.uid), (IdKind::Gid, &old.gid)] {
        let subids = UserSubIds::read(paths, kind, account)?;
        let lost = ungranted(map, account.own_id(kind), &subids);
        if !lost.is_empty() {
            missing.push((kind, lost));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let spans = |kind: IdKind, verb: &str| -> String {
        missing
            .iter()
            .filter(|(k, _)| *k == kind)
            .flat_map(|(_, lost)| lost.iter())
            .map(|e| {
                format!(
                    " --{verb}-sub{}s {}-{}",
                    kind.name(),
                    e.outside,
                    e.outside_end() - 1
                )
            })
            .collect()
    };
    let add = format!("{}{}", spans(IdKind::Uid, "add"), spans(IdKind::Gid, "add"));
    let del = format!("{}{}", spans(IdKind::Uid, "del"), spans(IdKind::Gid, "del"));
    let what = missing
        .iter()
        .map(|(kind, lost)| format!("sub{}s {}", kind.name(), IdMapEntry::outside_ranges(lost)))
        .collect::<Vec<_>>()
        .join(" and ");
    Err(Error::failure(format!(
        "cannot move files still owned by the old {what}: they are no longer yours"
    ))
    .because(format!(
        "{} and {} do not grant them to {user} any more, so newuidmap will not map them into a namespace of yours, and without a namespace that maps both the old and the new ids no one but root can chown the files",
        paths.subuid.display(),
        paths.subgid.display()
    ))
    .fix(format!(
        "ask an administrator for one of: a temporary grant, `usermod{add} {user}`, then run `userns migrate` again, then `usermod{del} {user}`; or a root run of `userns migrate --as {user}`"
    )))
}

/// For a root run: the old map comes from the user's own records (or the command line),
/// so it must not reach ids that are not plausibly the user's: root, system ids, or
/// another user's subordinate ranges now.
pub fn check_old_for_root(account: &Account, old: &Maps, paths: &SubIdPaths) -> Result<()> {
    for (kind, map) in [(IdKind::Uid, &old.uid), (IdKind::Gid, &old.gid)] {
        let own = account.own_id(kind);
        let everyone = SubIdFile::read(paths.path(kind))?;
        for e in &map.entries {
            if e.count == 1 && e.outside == own {
                continue;
            }
            let (start, end) = (e.outside as u64, e.outside_end());
            let bad = if start < 1000 {
                Some("it holds root or system ids".to_string())
            } else if (start..end).contains(&(own as u64)) {
                Some(format!(
                    "it holds {}'s own id in a larger range",
                    account.display_name()
                ))
            } else {
                everyone
                    .entries
                    .iter()
                    .filter(|s| !crate::subid::lookup::owner_text_matches(&s.owner_text, account))
                    .find(|s| s.start < end && start < s.start.saturating_add(s.count))
                    .map(|s| {
                        format!(
                            "it overlaps {}'s range at {}:{}",
                            s.owner_text,
                            paths.path(kind).display(),
                            s.line
                        )
                    })
            };
            if let Some(why) = bad {
                return Err(Error::failure(format!(
                    "refusing the old {} map line {}:{}:{} for a root run",
                    kind.name(),
                    e.inside,
                    e.outside,
                    e.count
                ))
                .because(why)
                .fix("give the old map explicitly (--from-subuid/--from-subgid or --from-map) with only the user's former ranges"));
            }
        }
    }
    Ok(())
}
