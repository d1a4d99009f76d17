//! `userns chown [-R] OWNER[:GROUP] PATH...`: change ownership as seen inside your mapped
//! namespace (`1000:1000` gives a volume to container user 1000, `0:0` gives it back).

use crate::cli::args::ChownArgs;
use std::io::Write;
use userns::clean::chown::{chown_tree, NewOwner};
use userns::clean::fd_budget;
use userns::clean::guard;
use userns::clean::target;
use userns::clean::walk::WalkOptions;
use userns::error::{Error, Result};
use userns::exit;
use userns::idmap::IdMap;
use userns::subid::SubIdPaths;
use userns::unshare::{plan_mapping, MapRequest, NsSpec};
use userns::users::Account;

/// `OWNER[:GROUP]` as numbers; `OWNER:` means the group of the same number, `:GROUP`
/// changes only the group. Names are refused: they mean nothing inside a container here.
pub fn parse_owner(spec: &str) -> Result<NewOwner> {
    let bad = |why: &str| {
        Error::usage(format!("invalid owner {spec:?}"))
            .because(why.to_string())
            .fix("give numeric ids as OWNER[:GROUP], e.g. 1000:1000 or 0:0")
    };
    let number = |s: &str| -> Result<Option<u32>> {
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<u32>().map(Some).map_err(|_| {
            bad("ids must be decimal numbers (names inside a container are not known here)")
        })
    };
    let owner = match spec.split_once(':') {
        None => NewOwner {
            uid: number(spec)?,
            gid: None,
        },
        Some((u, "")) => {
            let uid = number(u)?;
            NewOwner { uid, gid: uid }
        }
        Some((u, g)) => NewOwner {
            uid: number(u)?,
            gid: number(g)?,
        },
    };
    if owner.uid.is_none() && owner.gid.is_none() {
        return Err(bad("neither an owner nor a group was given"));
    }
    Ok(owner)
}

/// The ids as the namespace sees them: checked against the map, or translated from host
/// ids with `--from-host`.
pub fn ids_inside(
    owner: NewOwner,
    from_host: bool,
    uid_map: &IdMap,
    gid_map: &IdMap,
) -> Result<NewOwner> {
    let one = |id: Option<u32>, map: &IdMap| -> Result<Option<u32>> {
        let Some(id) = id else { return Ok(None) };
        let inside = if from_host {
            map.to_ns(id)
        } else {
            map.to_host(id).map(|_| id)
        };
        inside.map(Some).ok_or_else(|| {
            let side = if from_host { "host" } else { "namespace" };
            Error::usage(format!("{} {id} is not mapped in your namespace", map.kind.name()))
                .because(format!("allowed {side} {}s: {}", map.kind.name(), allowed(map, from_host)))
                .fix(if from_host {
                    "give your own id or one of your subordinate ids, or drop --from-host to give container ids"
                } else {
                    "give an id inside the namespace, or pass --from-host to give host ids"
                })
        })
    };
    Ok(NewOwner {
        uid: one(owner.uid, uid_map)?,
        gid: one(owner.gid, gid_map)?,
    })
}

/// `0 (host 2000), 1-65536 (host 200000-265535)`, or the host side first with --from-host.
pub fn allowed(map: &IdMap, host_side: bool) -> String {
    let span = |start: u64, count: u32| {
        if count == 1 {
            start.to_string()
        } else {
            format!("{start}-{}", start + count as u64 - 1)
        }
    };
    map.entries
        .iter()
        .map(|e| {
            let inside = span(e.inside as u64, e.count);
            let outside = span(e.outside as u64, e.count);
            if host_side {
                format!("{outside} (inside {inside})")
            } else {
                format!("{inside} (host {outside})")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn run(args: ChownArgs) -> Result<u8> {
    let account = Account::current();
    let owner = parse_owner(&args.owner)?;
    let mapping = plan_mapping(&MapRequest::default(), &account, &SubIdPaths::default())?;
    let owner = ids_inside(owner, args.from_host, &mapping.uid, &mapping.gid)?;
    // A recursive chown of / or of the home directory would lock the user out.
    let homes = if args.recursive {
        guard::protected_homes()
    } else {
        Vec::new()
    };
    // Each PATH is resolved once, to descriptors; the checks and the change act on what
    // they hold (see clean/target.rs). A symlink named is followed, as chown(1) does,
    // unless -h.
    let mut targets = Vec::new();
    for path in &args.paths {
        let r = target::resolve(path, !args.no_dereference, account.uid)?;
        guard::check_path(&r.target, &homes, &mapping.uid)?;
        target::check_identity(&r, &homes)?;
        targets.push(r);
    }
    let options = WalkOptions {
        one_filesystem: !args.cross_filesystems,
        budget: fd_budget(1),
    };
    userns::unshare::enter(&NsSpec::default(), &account)?;
    let mut failures = Vec::new();
    for target in &targets {
        let out = chown_tree(target, owner, args.recursive, options);
        failures.extend(out.failures);
    }
    if failures.is_empty() {
        return Ok(exit::OK);
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "userns: the owner of {} could not be changed:",
        userns::clean::report::counted(failures.len() as u64, "entry")
    );
    for f in &failures {
        let _ = writeln!(err, "{}", f.line());
    }
    Ok(exit::PROBLEMS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use userns::idmap::IdMapEntry;
    use userns::ids::IdKind;

    fn map(kind: IdKind) -> IdMap {
        IdMap::new(
            kind,
            vec![
                IdMapEntry::new(0, 2000, 1),
                IdMapEntry::new(1, 200000, 65536),
            ],
        )
    }

    #[test]
    fn owner_specs() {
        let o = |u, g| NewOwner { uid: u, gid: g };
        assert_eq!(parse_owner("1000:1000").unwrap(), o(Some(1000), Some(1000)));
        assert_eq!(parse_owner("1000").unwrap(), o(Some(1000), None));
        assert_eq!(parse_owner("7:").unwrap(), o(Some(7), Some(7)));
        assert_eq!(parse_owner(":5").unwrap(), o(None, Some(5)));
        assert!(parse_owner("www-data").is_err());
        assert!(parse_owner(":").is_err());
    }

    #[test]
    fn ids_are_checked_or_translated() {
        let (u, g) = (map(IdKind::Uid), map(IdKind::Gid));
        let o = NewOwner {
            uid: Some(1000),
            gid: Some(1000),
        };
        assert_eq!(ids_inside(o, false, &u, &g).unwrap(), o);
        let host = NewOwner {
            uid: Some(200999),
            gid: Some(2000),
        };
        assert_eq!(
            ids_inside(host, true, &u, &g).unwrap(),
            NewOwner {
                uid: Some(1000),
                gid: Some(0)
            }
        );
        let e = ids_inside(
            NewOwner {
                uid: Some(70000),
                gid: None,
            },
            false,
            &u,
            &g,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("uid 70000") && e.contains("1-65536 (host 200000-265535)"),
            "{e}"
        );
        assert!(ids_inside(
            NewOwner {
                uid: Some(1000),
                gid: None
            },
            true,
            &u,
            &g
        )
        .is_err());
    }
}
