//! Whether rootless container storage is owned consistently with the map the user gets
//! now. Files made under an earlier /etc/subuid keep host owners that the new map does not
//! include: inside, they show as nobody (65534) and cannot be changed — the "edited
//! /etc/subuid, now podman fails with EPERM/EOVERFLOW" reports.

use super::{Check, Status};
use crate::idmap::IdMap;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// How many entries to look at: enough to catch a stale layer, small enough for a login
/// shell (the doctor's budget is 50 ms without the live test).
pub(crate) const SAMPLE_LIMIT: usize = 3000;
const DEPTH_LIMIT: usize = 5;

/// Host uids found under `root` (breadth first, no symlink followed), with a count each.
pub fn sample_owners(root: &Path) -> BTreeMap<u32, usize> {
    let mut owners = BTreeMap::new();
    let mut queue: std::collections::VecDeque<(PathBuf, usize)> = [(root.to_path_buf(), 0)].into();
    let mut seen = 0;
    while let Some((dir, depth)) = queue.pop_front() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            *owners.entry(meta.uid()).or_insert(0) += 1;
            seen += 1;
            if seen >= SAMPLE_LIMIT {
                return owners;
            }
            if meta.is_dir() && depth + 1 < DEPTH_LIMIT {
                queue.push_back((entry.path(), depth + 1));
            }
        }
    }
    owners
}

/// Judge the owners of `graphroot` against the planned uid map (outside ids).
pub fn judge(
    graphroot: &Path,
    owners: &BTreeMap<u32, usize>,
    own_uid: u32,
    plan: Option<&IdMap>,
) -> Check {
    let name = "container storage";
    if owners.is_empty() {
        return Check::pass(
            name,
            format!("{}: empty or not created yet", graphroot.display()),
        );
    }
    let foreign: Vec<(u32, usize)> = owners
        .iter()
        .filter(|(uid, _)| **uid != own_uid && plan.is_none_or(|p| p.to_ns(**uid).is_none()))
        .map(|(u, n)| (*u, *n))
        .collect();
    if foreign.is_empty() {
        let total: usize = owners.values().sum();
        return Check::pass(
            name,
            format!(
                "{}: {total} entries sampled, all owned by ids of your map",
                graphroot.display()
            ),
        );
    }
    let list: Vec<String> = foreign
        .iter()
        .map(|(u, n)| format!("uid {u} ({n} entries)"))
        .collect();
    Check::new(
        name,
        Status::Warn,
        format!(
            "{}: owned by ids outside your current map: {}; they show as 65534 inside and cannot be changed",
            graphroot.display(),
            list.join(", ")
        ),
    )
    .with_fix(format!(
        "it was made with other subordinate ids (was /etc/subuid edited?): restore those ranges, or remove it with `userns clean {}` (podman: `podman system reset`) and pull the images again",
        graphroot.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idmap::IdMapEntry;
    use crate::ids::IdKind;

    #[test]
    fn owners_outside_the_plan_are_flagged() {
        let plan = IdMap::new(
            IdKind::Uid,
            vec![
                IdMapEntry::new(0, 2000, 1),
                IdMapEntry::new(1, 200000, 65536),
            ],
        );
        let ok: BTreeMap<u32, usize> = [(2000, 5), (200999, 3)].into();
        assert_eq!(
            judge(Path::new("/g"), &ok, 2000, Some(&plan)).status,
            Status::Pass
        );
        let stale: BTreeMap<u32, usize> = [(2000, 5), (100999, 3)].into();
        let c = judge(Path::new("/g"), &stale, 2000, Some(&plan));
        assert_eq!(c.status, Status::Warn);
        assert!(c.evidence.contains("uid 100999 (3 entries)"), "{c:?}");
        assert_eq!(
            judge(Path::new("/g"), &BTreeMap::new(), 2000, None).status,
            Status::Pass
        );
    }

    #[test]
    fn samples_without_following_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/f"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("a/link")).unwrap();
        let owners = sample_owners(dir.path());
        let me = nix::unistd::getuid().as_raw();
        assert_eq!(owners.get(&me), Some(&4), "a, b, f and the link itself");
    }
}
