//! Decide the uid_map and gid_map of a new namespace and who writes them.

use super::helper::{self, Helper};
use super::nested::{self, Enclosing};
use crate::error::{Error, Result};
use crate::idmap::{plan_for_user, IdMap, IdMapEntry, LeftOut};
use crate::ids::IdKind;
use crate::subid::{SubIdPaths, SubIdRange, UserSubIds};
use crate::users::Account;

/// Who writes the maps.
#[derive(Debug, Clone)]
pub enum MapWriter {
    /// The process writes its own one-line map after `setgroups` = deny (no privilege).
    SelfSingle,
    /// A pre-forked child in the parent namespace writes the files (the caller is root).
    Direct,
    /// A pre-forked child in the parent namespace runs newuidmap and newgidmap.
    Helpers { uid: Helper, gid: Helper },
}

/// The maps of a namespace to be made, and how they get written.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub uid: IdMap,
    pub gid: IdMap,
    pub writer: MapWriter,
    pub left_out: Vec<LeftOut>,
}

impl Mapping {
    pub(crate) fn map(&self, kind: IdKind) -> &IdMap {
        match kind {
            IdKind::Uid => &self.uid,
            IdKind::Gid => &self.gid,
        }
    }
}

/// What the user asked for on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapRequest {
    pub explicit_uid: Vec<IdMapEntry>,
    pub explicit_gid: Vec<IdMapEntry>,
    /// Where the caller's own uid/gid land inside (default 0).
    pub own_uid_inside: Option<u32>,
    pub own_gid_inside: Option<u32>,
    pub single: bool,
}

impl MapRequest {
    /// The request of `--map-users`, `--map-groups` (each `INNER:OUTER:COUNT`, or `auto`
    /// for the plan), `--map-user`, `--map-group` and `--single`: as the command line
    /// gives them, and as a kept namespace's record keeps them.
    pub fn from_options(
        map_users: &[String],
        map_groups: &[String],
        map_user: Option<u32>,
        map_group: Option<u32>,
        single: bool,
    ) -> Result<MapRequest> {
        let parse = |specs: &[String], option: &str| -> Result<Vec<IdMapEntry>> {
            specs
                .iter()
                .filter(|s| s.as_str() != "auto")
                .map(|s| parse_map_spec(s, option))
                .collect()
        };
        Ok(MapRequest {
            explicit_uid: parse(map_users, "--map-users")?,
            explicit_gid: parse(map_groups, "--map-groups")?,
            own_uid_inside: map_user,
            own_gid_inside: map_group,
            single,
        })
    }
}

/// Parse `INNER:OUTER:COUNT`.
pub(crate) fn parse_map_spec(spec: &str, option: &str) -> Result<IdMapEntry> {
    let bad = || {
        Error::usage(format!("invalid {option} {spec:?}"))
            .because("expected INNER:OUTER:COUNT, three decimal numbers, COUNT above 0")
            .fix(format!("for example: {option} 1:100000:65536"))
    };
    let parts: Vec<&str> = spec.split(':').collect();
    if parts.len() != 3 {
        return Err(bad());
    }
    let n: Vec<u32> = parts
        .iter()
        .map(|p| p.parse::<u32>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad())?;
    if n[2] == 0 {
        return Err(bad());
    }
    Ok(IdMapEntry::new(n[0], n[1], n[2]))
}

/// The maps `plan_mapping` asks for, planned and validated, without looking for what
/// would write them (an image's ids are checked against them: `image check`).
pub fn plan_maps(
    req: &MapRequest,
    account: &Account,
    paths: &SubIdPaths,
) -> Result<(IdMap, IdMap, Vec<LeftOut>)> {
    let root = nix::unistd::geteuid().is_root();
    if req.single {
        let m = single_mapping(req, account, root);
        return Ok((m.uid, m.gid, m.left_out));
    }
    if root {
        let (uid_here, gid_here) = crate::idmap::proc::self_maps()?;
        if let Some(enclosing) = Enclosing::of(uid_here, gid_here) {
            let m = nested_mapping(req, &enclosing)?;
            return Ok((m.uid, m.gid, m.left_out));
        }
    }
    let mut left_out = Vec::new();
    let uid = plan_kind(IdKind::Uid, req, account, paths, root, &mut left_out)?;
    let gid = plan_kind(IdKind::Gid, req, account, paths, root, &mut left_out)?;
    Ok((uid, gid, left_out))
}

/// Plan the namespace's maps for `account` and check them before anything runs.
pub fn plan_mapping(req: &MapRequest, account: &Account, paths: &SubIdPaths) -> Result<Mapping> {
    let root = nix::unistd::geteuid().is_root();
    if req.single {
        return Ok(single_mapping(req, account, root));
    }
    let (uid_here, gid_here) = crate::idmap::proc::self_maps()?;
    if root {
        if let Some(enclosing) = Enclosing::of(uid_here.clone(), gid_here.clone()) {
            return nested_mapping(req, &enclosing);
        }
    }
    let (uid, gid, left_out) = plan_maps(req, account, paths)?;
    // Inside a user namespace, the ids asked for must exist in it; say so before the
    // helpers (whose setuid bit means nothing where root is unmapped) are even looked at.
    nested::check_within_parent(&uid_here, &uid)?;
    nested::check_within_parent(&gid_here, &gid)?;
    let writer = if root {
        MapWriter::Direct
    } else {
        if helper::no_new_privs() {
            return Err(helper::no_new_privs_error());
        }
        MapWriter::Helpers {
            uid: helper::find(IdKind::Uid)?,
            gid: helper::find(IdKind::Gid)?,
        }
    };
    Ok(Mapping {
        uid,
        gid,
        writer,
        left_out,
    })
}

/// Root inside a user namespace: every id of the enclosing namespace (or the explicit
/// map, checked against the kernel's rule for nested maps), written by a pre-forked child
/// that keeps root's capabilities here (see `nested`).
fn nested_mapping(req: &MapRequest, enclosing: &Enclosing) -> Result<Mapping> {
    let own = |kind: IdKind| match kind {
        IdKind::Uid => nix::unistd::geteuid().as_raw(),
        IdKind::Gid => nix::unistd::getegid().as_raw(),
    };
    let map_of = |kind: IdKind| -> Result<IdMap> {
        let (explicit, own_given) = match kind {
            IdKind::Uid => (&req.explicit_uid, req.own_uid_inside),
            IdKind::Gid => (&req.explicit_gid, req.own_gid_inside),
        };
        let parent = enclosing.map(kind);
        let map = if explicit.is_empty() {
            nested::plan(parent, own(kind), own_given.unwrap_or(0)).map
        } else {
            let mut entries = explicit.clone();
            if let Some(inside) = own_given {
                entries.push(IdMapEntry::new(inside, own(kind), 1));
            }
            IdMap::new(kind, entries)
        };
        map.validate().map_err(|e| {
            Error::usage(format!("the {} cannot be written", kind.map_file()))
                .because(e)
                .fix(
                    "give ranges that do not overlap, inside or outside, each with a count above 0",
                )
        })?;
        nested::check_within_parent(parent, &map)?;
        Ok(map)
    };
    Ok(Mapping {
        uid: map_of(IdKind::Uid)?,
        gid: map_of(IdKind::Gid)?,
        writer: MapWriter::Direct,
        left_out: vec![],
    })
}

/// `--single`: one line each, the caller's own ids, which needs no helper.
fn single_mapping(req: &MapRequest, account: &Account, root: bool) -> Mapping {
    let own_uid_inside = req.own_uid_inside.unwrap_or(0);
    let own_gid_inside = req.own_gid_inside.unwrap_or(0);
    Mapping {
        uid: IdMap::new(
            IdKind::Uid,
            vec![IdMapEntry::new(own_uid_inside, account.uid, 1)],
        ),
        gid: IdMap::new(
            IdKind::Gid,
            vec![IdMapEntry::new(
                own_gid_inside,
                nix::unistd::getegid().as_raw(),
                1,
            )],
        ),
        writer: if root {
            MapWriter::Direct
        } else {
            MapWriter::SelfSingle
        },
        left_out: vec![],
    }
}

/// The map of one kind: planned from the subordinate ranges, or the explicit one checked
/// against them (unless root); validated either way. What a plan leaves out goes to
/// `left_out`.
fn plan_kind(
    kind: IdKind,
    req: &MapRequest,
    account: &Account,
    paths: &SubIdPaths,
    root: bool,
    left_out: &mut Vec<LeftOut>,
) -> Result<IdMap> {
    let (explicit, own_given) = match kind {
        IdKind::Uid => (&req.explicit_uid, req.own_uid_inside),
        IdKind::Gid => (&req.explicit_gid, req.own_gid_inside),
    };
    let own_inside = own_given.unwrap_or(0);
    let subids = UserSubIds::read(paths, kind, account)?;
    let own_id = account.own_id(kind);
    let map = if explicit.is_empty() {
        let plan = plan_for_user(kind, own_id, own_inside, &subids, &account.display_name())?;
        left_out.extend(plan.left_out);
        plan.map
    } else {
        let mut entries = explicit.clone();
        if own_given.is_some() {
            entries.push(IdMapEntry::new(own_inside, own_id, 1));
        }
        let map = IdMap::new(kind, entries);
        if !root {
            check_allowed(&map, own_id, &subids)?;
        }
        map
    };
    map.validate().map_err(|e| {
        Error::usage(format!("the {} cannot be written", kind.map_file()))
            .because(e)
            .fix("give ranges that do not overlap, inside or outside, each with a count above 0")
    })?;
    Ok(map)
}

/// Check an explicit map against what newuidmap allows the caller: every outside range
/// inside the caller's subid ranges (a range may span adjacent entries, as shadow's
/// `have_range` allows), or exactly the caller's own id with count 1.
pub(crate) fn check_allowed(map: &IdMap, own_id: u32, subids: &UserSubIds) -> Result<()> {
    let mut allowed: Vec<SubIdRange> = subids.usable().map(|(_, r)| r).collect();
    allowed.sort();
    // Once, not per map line: a user may have thousands of lines.
    let runs = crate::ids::union(allowed.iter().map(|r| (r.start as u64, r.end())).collect());
    for entry in &map.entries {
        if entry.count == 1 && entry.outside == own_id {
            continue;
        }
        if !crate::ids::union_covers(&runs, entry.outside as u64, entry.outside_end()) {
            let list = if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed
                    .iter()
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(Error::usage(format!(
                "cannot map {} {}:{}:{}",
                map.kind.name(),
                entry.inside,
                entry.outside,
                entry.count
            ))
            .because(format!(
                "outside ids {}-{} are not all yours; allowed: your own {} {own_id} (count 1) and {} ({})",
                entry.outside,
                entry.outside_end() - 1,
                map.kind.name(),
                list,
                subids.source
            ))
            .fix(format!(
                "map only ids inside those ranges, or ask an administrator for more (usermod --add-sub{}s)",
                map.kind.name()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subids(text: &str) -> UserSubIds {
        UserSubIds::of_ivy(text)
    }

    fn map(entries: &[(u32, u32, u32)]) -> IdMap {
        IdMap::uids(entries)
    }

    #[test]
    fn spec_parsing() {
        assert_eq!(
            parse_map_spec("1:100000:65536", "--map-users").unwrap(),
            IdMapEntry::new(1, 100000, 65536)
        );
        assert!(parse_map_spec("1:100000", "--map-users").is_err());
        assert!(parse_map_spec("1:100000:0", "--map-users").is_err());
        assert!(parse_map_spec("a:1:1", "--map-users").is_err());
    }

    #[test]
    fn explicit_maps_are_checked_against_subids() {
        let s = subids("ivy:100000:1000\nivy:101000:1000\nbob:300000:10\n");
        assert!(check_allowed(&map(&[(0, 2000, 1), (1, 100500, 1500)]), 2000, &s).is_ok());
        let err = check_allowed(&map(&[(0, 300000, 5)]), 2000, &s).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("300000-300004"), "{text}");
        assert!(text.contains("100000-100999"), "{text}");
        assert!(check_allowed(&map(&[(0, 2000, 2)]), 2000, &s).is_err());
        assert!(check_allowed(&map(&[(0, 101500, 600)]), 2000, &s).is_err());
    }
}
