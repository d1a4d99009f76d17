//! `userns translate`: ids through a process's uid_map or gid_map, in either direction.
//! Exit 1 when any id is unmapped, so scripts can test it.

use crate::cli::args::TranslateArgs;
use serde::Serialize;
use userns::error::Result;
use userns::exit;
use userns::idmap::proc::{ProcRoot, ProcTarget};
use userns::idmap::IdMap;
use userns::ids::{IdKind, OVERFLOW_ID};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Ids inside the namespace to ids outside (the reader's view: host ids from the
    /// initial namespace).
    ToHost,
    /// Ids outside to ids inside.
    ToNs,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Translation {
    pub id: u32,
    /// None when the id is not mapped.
    pub result: Option<u32>,
}

/// Translate `ids` through `map` (pure).
pub fn translate(map: &IdMap, direction: Direction, ids: &[u32]) -> Vec<Translation> {
    ids.iter()
        .map(|&id| Translation {
            id,
            result: match direction {
                Direction::ToHost => map.to_host(id),
                Direction::ToNs => map.to_ns(id),
            },
        })
        .collect()
}

/// What an unmapped id means, by direction (user_namespaces(7)).
pub fn unmapped_text(direction: Direction) -> String {
    match direction {
        // A host id without an inside id: files and processes owned by it show up
        // inside as the overflow id.
        Direction::ToNs => format!("unmapped: the kernel shows it as {OVERFLOW_ID}"),
        // An inside id without a host id cannot own anything: setuid, chown to it fail.
        Direction::ToHost => {
            "unmapped: no host id; setuid or chown to it fail with EINVAL".to_string()
        }
    }
}

#[derive(Debug, Serialize)]
struct TranslateReport {
    pid: Option<i32>,
    kind: IdKind,
    direction: Direction,
    map: IdMap,
    ids: Vec<Translation>,
}

pub fn run(args: TranslateArgs) -> Result<u8> {
    let root = args
        .proc_root
        .clone()
        .map(ProcRoot::new)
        .unwrap_or_default();
    let target = args.pid.map(ProcTarget::Pid).unwrap_or(ProcTarget::Current);
    let kind = if args.gid { IdKind::Gid } else { IdKind::Uid };
    let direction = if args.to_ns {
        Direction::ToNs
    } else {
        Direction::ToHost
    };
    let pm = root.read_map(target, kind)?;
    for s in &pm.parsed.skipped {
        userns::warn(format!(
            "{}:{}: skipped {:?}: {}",
            pm.path.display(),
            s.line,
            s.text,
            s.reason
        ));
    }
    let map = pm.parsed.map;
    let results = translate(&map, direction, &args.ids);
    let any_unmapped = results.iter().any(|t| t.result.is_none());
    if args.json {
        crate::cli::render::json::print_json(&TranslateReport {
            pid: args.pid,
            kind,
            direction,
            map,
            ids: results,
        })?;
    } else {
        crate::cli::render::out::print(render(kind, direction, &results))?;
    }
    Ok(if any_unmapped {
        exit::PROBLEMS
    } else {
        exit::OK
    })
}

/// The table: the given ids in the first column, their translation in the second (pure).
pub fn render(kind: IdKind, direction: Direction, results: &[Translation]) -> String {
    let (from, to) = match direction {
        Direction::ToHost => ("INSIDE", "OUTSIDE"),
        Direction::ToNs => ("OUTSIDE", "INSIDE"),
    };
    let from = format!("{from} {}", kind.name().to_uppercase());
    let to = format!("{to} {}", kind.name().to_uppercase());
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                t.result
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| unmapped_text(direction)),
            ]
        })
        .collect();
    crate::cli::render::table::render(&[&from, &to], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use userns::idmap::proc::parse_map;

    fn podman() -> IdMap {
        parse_map(IdKind::Uid, b"0 1000 1\n1 100000 65536\n").map
    }

    #[test]
    fn both_directions() {
        let to_host = translate(&podman(), Direction::ToHost, &[0, 1, 1000, 65536, 65537]);
        let r: Vec<Option<u32>> = to_host.iter().map(|t| t.result).collect();
        assert_eq!(
            r,
            [Some(1000), Some(100000), Some(100999), Some(165535), None]
        );
        let to_ns = translate(&podman(), Direction::ToNs, &[1000, 100999, 99999, 0]);
        let r: Vec<Option<u32>> = to_ns.iter().map(|t| t.result).collect();
        assert_eq!(r, [Some(0), Some(1000), None, None]);
    }

    #[test]
    fn unmapped_namespace_maps_nothing() {
        let empty = parse_map(IdKind::Gid, b"").map;
        assert!(translate(&empty, Direction::ToHost, &[0, 65534])
            .iter()
            .all(|t| t.result.is_none()));
    }

    #[test]
    fn identity_keeps_every_id() {
        let id = IdMap::identity(IdKind::Uid);
        let t = translate(&id, Direction::ToNs, &[0, 4294967294]);
        assert_eq!(t[1].result, Some(4294967294));
    }

    #[test]
    fn table_names_unmapped_ids() {
        let t = translate(&podman(), Direction::ToNs, &[1000, 5]);
        let text = render(IdKind::Uid, Direction::ToNs, &t);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("OUTSIDE UID"));
        assert!(lines[0].contains("INSIDE UID"));
        assert!(lines[1].starts_with("1000") && lines[1].trim_end().ends_with(" 0"));
        assert!(lines[2].ends_with("unmapped: the kernel shows it as 65534"));
    }
}
