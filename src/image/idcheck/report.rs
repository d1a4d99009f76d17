//! A census held against the map the image is to be unpacked in: which ids the map
//! cannot hold, with the paths that carry them, the highest id needed, and the
//! `usermod --add-subuids` that would make room.

use super::census::{IdCensus, IdTally, Unlisted};
use crate::idmap::{IdMap, IdMapEntry};
use crate::ids::IdKind;
use serde::Serialize;
use std::fmt;

/// The maps an image must fit, and what they are, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapTarget {
    pub uid: IdMap,
    pub gid: IdMap,
    /// What the maps are: "the map of the kept namespace containers", ...
    pub origin: String,
    /// Given on the command line (--map-users): the fix must add to it too.
    pub explicit: bool,
}

impl MapTarget {
    pub fn map(&self, kind: IdKind) -> &IdMap {
        match kind {
            IdKind::Uid => &self.uid,
            IdKind::Gid => &self.gid,
        }
    }

    /// The maps of the user namespace this process is in (after `run` entered it).
    pub fn current() -> crate::error::Result<MapTarget> {
        let (uid, gid) = crate::idmap::proc::self_maps()?;
        Ok(MapTarget {
            uid,
            gid,
            origin: "the container's user namespace".into(),
            explicit: false,
        })
    }
}

/// An id the map cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnmappedId {
    pub id: u64,
    /// Entries owned by it.
    pub entries: u64,
    /// Some of their paths.
    pub paths: Vec<String>,
}

/// One kind (uids or gids) of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindReport {
    /// "uid" or "gid".
    pub kind: &'static str,
    /// The map checked against: inside, outside, count.
    pub map: Vec<IdMapEntry>,
    /// Distinct ids the layers use (listed ones).
    pub distinct: usize,
    /// The highest id the layers use.
    pub highest: Option<u64>,
    /// Every listed id the map cannot hold, ascending.
    pub unmapped: Vec<UnmappedId>,
    /// Ids past the census's listing bound that the map does not wholly hold: how many
    /// entries, and their span (which of them are unmapped is not known).
    pub unlisted: Option<Unlisted>,
    /// What would make the map hold them (set by `IdReport::suggest_fixes`).
    pub fix: Option<Fix>,
}

impl KindReport {
    pub fn fits(&self) -> bool {
        self.unmapped.is_empty() && self.unlisted.is_none()
    }

    /// How many ids from 0 to `highest` the map does not hold: what a map laid out
    /// as `userns` plans it (own id at 0, subordinate ranges packed after it) needs more.
    pub fn missing_below_highest(&self) -> u64 {
        let Some(highest) = self.highest else {
            return 0;
        };
        let end = highest.saturating_add(1);
        let held: u64 = self
            .map
            .iter()
            .map(|e| {
                let from = e.inside as u64;
                let to = (e.inside as u64 + e.count as u64).min(end);
                to.saturating_sub(from)
            })
            .sum();
        end.saturating_sub(held)
    }
}

/// What checking an image's ids against a map found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdReport {
    /// Whether every id fits.
    pub fits: bool,
    /// What the maps are.
    pub map_origin: String,
    pub layers: usize,
    /// Entries that get an owner when unpacked.
    pub entries: u64,
    pub uids: KindReport,
    pub gids: KindReport,
}

fn covers(map: &IdMap, id: u64) -> bool {
    u32::try_from(id).is_ok_and(|id| map.to_host(id).is_some())
}

/// Whether `map` holds every id from `lowest` to `highest`.
fn covers_span(map: &IdMap, lowest: u64, highest: u64) -> bool {
    let mut entries: Vec<&IdMapEntry> = map.entries.iter().collect();
    entries.sort_by_key(|e| e.inside);
    let mut next = lowest;
    for e in entries {
        let (from, to) = (e.inside as u64, e.inside as u64 + e.count as u64);
        if from <= next && to > next {
            next = to;
        }
        if next > highest {
            return true;
        }
    }
    false
}

fn kind_report(kind: IdKind, tally: &IdTally, map: &IdMap) -> KindReport {
    let unmapped = tally
        .ids()
        .filter(|(id, _)| !covers(map, *id))
        .map(|(id, u)| UnmappedId {
            id,
            entries: u.entries,
            paths: u.paths.clone(),
        })
        .collect();
    let unlisted = tally
        .unlisted()
        .filter(|u| !covers_span(map, u.lowest, u.highest));
    KindReport {
        kind: kind.name(),
        map: map.entries.clone(),
        distinct: tally.listed(),
        highest: tally.highest(),
        unmapped,
        unlisted,
        fix: None,
    }
}

impl IdCensus {
    /// Hold the census against `target`: every id it cannot hold, with its paths.
    pub fn check(&self, target: &MapTarget) -> IdReport {
        let uids = kind_report(IdKind::Uid, self.tally(IdKind::Uid), &target.uid);
        let gids = kind_report(IdKind::Gid, self.tally(IdKind::Gid), &target.gid);
        IdReport {
            fits: uids.fits() && gids.fits(),
            map_origin: target.origin.clone(),
            layers: self.layers,
            entries: self.entries,
            uids,
            gids,
        }
    }
}

impl IdReport {
    pub fn kind(&self, kind: IdKind) -> &KindReport {
        match kind {
            IdKind::Uid => &self.uids,
            IdKind::Gid => &self.gids,
        }
    }

    /// The fix commands of both kinds, one line ("; " between them), when there are any.
    pub fn fix_line(&self) -> Option<String> {
        let fixes: Vec<String> = [&self.uids, &self.gids]
            .into_iter()
            .filter_map(|k| k.fix.as_ref().map(|f| f.to_string()))
            .collect();
        (!fixes.is_empty()).then(|| fixes.join("; "))
    }
}

/// `uid 70000 (2 entries: /a, /b)`.
fn describe(kind: &str, u: &UnmappedId) -> String {
    let mut paths = u.paths.join(", ");
    let more = u.entries.saturating_sub(u.paths.len() as u64);
    if more > 0 {
        paths.push_str(&format!(" and {more} more"));
    }
    format!(
        "{kind} {} ({} entr{}: {paths})",
        u.id,
        u.entries,
        if u.entries == 1 { "y" } else { "ies" }
    )
}

/// The map as `inside-last` spans of inside ids, for "the map holds uids 0-65536".
pub fn inside_spans(map: &[IdMapEntry]) -> String {
    let mut spans: Vec<(u64, u64)> = map
        .iter()
        .map(|e| (e.inside as u64, e.inside as u64 + e.count as u64))
        .collect();
    spans.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    if merged.is_empty() {
        return "none".into();
    }
    merged
        .iter()
        .map(|(a, b)| {
            if b - a == 1 {
                a.to_string()
            } else {
                format!("{a}-{}", b - 1)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Unmapped ids a message lists (`image check` lists them all).
const SHOWN_IDS: usize = 20;

/// Several lines: each unmapped id with its paths, then the highest id per kind. Used as
/// the cause of `run`'s refusal.
impl fmt::Display for IdReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.uids.unmapped.len() + self.gids.unmapped.len();
        match n {
            // Only ids past the listing's bound: how many of them is not known.
            0 => write!(f, "ids of its files are not mapped in {}", self.map_origin)?,
            _ => write!(
                f,
                "{n} id{} of its files {} not mapped in {}",
                if n == 1 { "" } else { "s" },
                if n == 1 { "is" } else { "are" },
                self.map_origin
            )?,
        }
        let mut shown = 0;
        for k in [&self.uids, &self.gids] {
            for u in &k.unmapped {
                shown += 1;
                if shown > SHOWN_IDS {
                    continue;
                }
                write!(f, "\n  {}", describe(k.kind, u))?;
            }
            if let Some(u) = k.unlisted {
                write!(
                    f,
                    "\n  {} more entries with {}s between {} and {} (not listed one by one)",
                    u.entries, k.kind, u.lowest, u.highest
                )?;
            }
        }
        if shown > SHOWN_IDS {
            write!(f, "\n  and {} more ids", shown - SHOWN_IDS)?;
        }
        for k in [&self.uids, &self.gids] {
            if let (false, Some(h)) = (k.fits(), k.highest) {
                write!(
                    f,
                    "\n  the highest {} needed is {h}; the map holds {}s {}",
                    k.kind,
                    k.kind,
                    inside_spans(&k.map)
                )?;
            }
        }
        Ok(())
    }
}

/// The error `run` and `pull` refuse an image with; its report is kept for callers that
/// want it whole (`Error::source` → `downcast_ref::<IdsDoNotFit>`).
#[derive(Debug, Clone)]
pub struct IdsDoNotFit(pub IdReport);

impl fmt::Display for IdsDoNotFit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for IdsDoNotFit {}

/// What would make one kind of ids fit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Fix {
    /// Give the user a range (as root), then run again.
    AddRange {
        /// `usermod --add-subuids FIRST-LAST USER`.
        command: String,
        first: u64,
        last: u64,
        count: u64,
        user: String,
        /// The file the range is free in.
        file: String,
        /// What else to do (an explicit map must name the new range too).
        #[serde(skip_serializing_if = "Option::is_none")]
        then: Option<String>,
    },
    /// No range can make it fit, and why.
    Impossible { reason: String },
}

impl fmt::Display for Fix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fix::AddRange { command, then, .. } => {
                write!(f, "as root: {command}")?;
                if let Some(then) = then {
                    write!(f, ", then {then}")?;
                }
                Ok(())
            }
            Fix::Impossible { reason } => f.write_str(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(uid: &[(u32, u32, u32)]) -> MapTarget {
        MapTarget {
            uid: IdMap::new(
                IdKind::Uid,
                uid.iter()
                    .map(|&(a, b, c)| IdMapEntry::new(a, b, c))
                    .collect(),
            ),
            gid: IdMap::new(IdKind::Gid, vec![IdMapEntry::new(0, 2000, 65537)]),
            origin: "the test map".into(),
            explicit: false,
        }
    }

    #[test]
    fn ids_outside_the_map_are_reported_with_their_paths() {
        let mut c = IdCensus::new();
        c.record(b"a", 0, 0);
        c.record(b"b", 70_000, 5);
        c.record(b"c", 70_000, 5);
        c.record(b"d", 3_000_000, 70_000);
        c.record(b"e", u32::MAX as u64, 0);
        let r = c.check(&target(&[(0, 2000, 1), (1, 200_000, 65536)]));
        assert!(!r.fits);
        let ids: Vec<u64> = r.uids.unmapped.iter().map(|u| u.id).collect();
        assert_eq!(ids, [70_000, 3_000_000, u32::MAX as u64]);
        assert_eq!(r.uids.unmapped[0].paths, ["/b", "/c"]);
        assert_eq!(r.gids.unmapped.len(), 1);
        assert_eq!(r.uids.highest, Some(u32::MAX as u64));
        // 0..=65536 held; ids up to 4294967295 missing.
        assert_eq!(r.uids.missing_below_highest(), u32::MAX as u64 + 1 - 65537);
        let text = r.to_string();
        assert!(text.contains("uid 70000 (2 entries: /b, /c)"), "{text}");
        assert!(text.contains("the map holds uids 0-65536"), "{text}");
        let fits = c.check(&target(&[(0, 0, u32::MAX)]));
        assert!(!fits.fits, "4294967295 is never mapped");
    }

    #[test]
    fn unlisted_ids_count_unless_the_map_holds_their_whole_span() {
        let mut c = IdCensus::new();
        for i in 0..(super::super::census::MAX_IDS as u64 + 10) {
            c.record(b"f", i, 0);
        }
        assert!(c.check(&target(&[(0, 100_000, 1_000_000)])).fits);
        let r = c.check(&target(&[(0, 100_000, 16_385)]));
        assert!(!r.fits);
        assert!(r.uids.unmapped.is_empty());
        assert_eq!(r.uids.unlisted.unwrap().entries, 10);
    }
}
