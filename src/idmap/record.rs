//! The maps userns planned for the user, remembered: `migrate` needs the map that files
//! were made with after /etc/subuid has changed, when nothing running holds it any more.
//! Here, below `unshare` (which records) and `migrate` (which reads), so that neither
//! imports the other.
//!
//! `plans.json` in the user's private state dir ($XDG_STATE_HOME/userns, else
//! ~/.local/state/userns) lists the last few distinct default plans, newest first. It
//! is read at each `unshare`/`run`/`clean`/`chown` (one small file) and written only
//! when the plan differs from the newest one recorded, atomically (a temporary file
//! renamed over it), so the common run costs one read.

use super::IdMap;
use crate::error::{Error, Result};
use crate::ids::IdKind;
use crate::trusted_dir::{self, Kind};
use crate::users::Account;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A pair of maps, as kept in records: `[inside, outside, count]` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maps {
    pub uid: IdMap,
    pub gid: IdMap,
}

/// Maps as JSON lines, for the journal and the plan record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapsRecord {
    pub uid_map: Vec<[u32; 3]>,
    pub gid_map: Vec<[u32; 3]>,
}

impl From<&Maps> for MapsRecord {
    fn from(m: &Maps) -> MapsRecord {
        MapsRecord {
            uid_map: m.uid.to_lines(),
            gid_map: m.gid.to_lines(),
        }
    }
}

impl MapsRecord {
    pub fn maps(&self) -> Maps {
        Maps {
            uid: IdMap::from_lines(IdKind::Uid, &self.uid_map),
            gid: IdMap::from_lines(IdKind::Gid, &self.gid_map),
        }
    }
}

/// How many distinct plans are kept.
const KEPT_PLANS: usize = 8;
pub(crate) const PLANS_FILE: &str = "plans.json";

/// One remembered plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRecord {
    #[serde(flatten)]
    pub maps: MapsRecord,
    /// Seconds since the epoch: first and last time the plan was used.
    pub first_used: u64,
    pub last_used: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Plans {
    pub plans: Vec<PlanRecord>,
}

/// The user's private state dir: $XDG_STATE_HOME/userns (when absolute), else
/// ~/.local/state/userns. None without any home.
pub fn state_dir(account: &Account) -> Option<PathBuf> {
    crate::users::xdg_dir(account, "XDG_STATE_HOME", ".local/state/userns")
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Read the plans recorded in `dir` (none when there is no file or it cannot be read).
pub fn read_plans(dir: &Path) -> Plans {
    std::fs::read(dir.join(PLANS_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Write `contents` to `dir/name` through a temporary file renamed over it, so a reader
/// sees the old file or the new one, never a part.
pub(crate) fn write_atomic(dir: &Path, name: &str, contents: &[u8]) -> Result<()> {
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let path = dir.join(name);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_data()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io("write", &path, &e)
    })
}

/// Remember `maps` as the newest plan, unless it is already. Errors are the caller's to
/// ignore: a plan that cannot be recorded must not stop a namespace.
pub fn note_plan(account: &Account, maps: &Maps) -> Result<()> {
    match state_dir(account) {
        Some(dir) => note_plan_in(&dir, maps),
        None => Ok(()),
    }
}

/// `note_plan` with the state dir given.
pub(crate) fn note_plan_in(dir: &Path, maps: &Maps) -> Result<()> {
    let dir = dir.to_path_buf();
    let record = MapsRecord::from(maps);
    let mut plans = read_plans(&dir);
    if plans.plans.first().is_some_and(|p| p.maps == record) {
        return Ok(());
    }
    trusted_dir::ensure_all(&dir, Kind::Private)?;
    let now = now();
    let first_used = plans
        .plans
        .iter()
        .find(|p| p.maps == record)
        .map_or(now, |p| p.first_used);
    plans.plans.retain(|p| p.maps != record);
    plans.plans.insert(
        0,
        PlanRecord {
            maps: record,
            first_used,
            last_used: now,
        },
    );
    plans.plans.truncate(KEPT_PLANS);
    let text = serde_json::to_vec_pretty(&plans)
        .map_err(|e| Error::failure("cannot encode the plan record").because(e.to_string()))?;
    write_atomic(&dir, PLANS_FILE, &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idmap::IdMapEntry;

    fn maps(start: u32) -> Maps {
        let m = |k| {
            IdMap::new(
                k,
                vec![
                    IdMapEntry::new(0, 2000, 1),
                    IdMapEntry::new(1, start, 65536),
                ],
            )
        };
        Maps {
            uid: m(IdKind::Uid),
            gid: m(IdKind::Gid),
        }
    }

    #[test]
    fn plans_are_written_only_when_they_change_newest_first() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("state/userns");
        note_plan_in(&dir, &maps(200000)).unwrap();
        let first = std::fs::metadata(dir.join(PLANS_FILE))
            .unwrap()
            .modified()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        note_plan_in(&dir, &maps(200000)).unwrap();
        let again = std::fs::metadata(dir.join(PLANS_FILE))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(first, again, "the same plan is not written again");
        note_plan_in(&dir, &maps(300000)).unwrap();
        let plans = read_plans(&dir);
        assert_eq!(plans.plans.len(), 2);
        assert_eq!(plans.plans[0].maps.maps(), maps(300000));
        assert_eq!(plans.plans[1].maps.maps(), maps(200000));
        note_plan_in(&dir, &maps(200000)).unwrap();
        assert_eq!(read_plans(&dir).plans.len(), 2, "a plan is listed once");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
