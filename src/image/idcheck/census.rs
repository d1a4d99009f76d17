//! The ids a set of layers gives its files, and which paths carry each one, in bounded
//! memory: an image of a million files costs no more than one of a few thousand.
//!
//! Bounds (per census): [`MAX_IDS`] distinct ids of each kind are listed; ids met after
//! that are counted with their lowest and highest, not listed. Each listed id keeps its
//! first path, and up to [`PATHS_PER_ID`] while the sampled paths stay within
//! [`SAMPLE_BUDGET`] bytes; a path is kept to [`MAX_PATH_SHOWN`] bytes. At most about
//! 2 × 16384 × (512 + 64) bytes for the first paths and 4 MiB for the others: ~23 MiB
//! for the most hostile image, a few KiB for a real one.

use crate::ids::IdKind;
use serde::Serialize;
use std::collections::BTreeMap;

/// Distinct ids of one kind listed one by one.
pub const MAX_IDS: usize = 16_384;
/// Paths kept for one id.
pub const PATHS_PER_ID: usize = 5;
/// Bytes of path a sample keeps (longer ones end in "…").
pub const MAX_PATH_SHOWN: usize = 512;
/// Bytes of the paths kept beyond each id's first.
pub const SAMPLE_BUDGET: usize = 4 << 20;

/// How one id is used: by how many entries, and some of their paths.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IdUse {
    /// Entries of the layers owned by this id (an entry in two layers counts twice).
    pub entries: u64,
    /// Up to PATHS_PER_ID of their paths, in layer order, as `/path/in/image`.
    pub paths: Vec<String>,
}

/// Ids met after MAX_IDS distinct ones were listed: how many entries, and their span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Unlisted {
    pub entries: u64,
    pub lowest: u64,
    pub highest: u64,
}

/// The ids of one kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdTally {
    ids: BTreeMap<u64, IdUse>,
    unlisted: Option<Unlisted>,
}

impl IdTally {
    /// The listed ids, ascending.
    pub fn ids(&self) -> impl Iterator<Item = (u64, &IdUse)> {
        self.ids.iter().map(|(id, u)| (*id, u))
    }

    pub fn get(&self, id: u64) -> Option<&IdUse> {
        self.ids.get(&id)
    }

    /// Ids past the listing's bound, when there were any.
    pub fn unlisted(&self) -> Option<Unlisted> {
        self.unlisted
    }

    /// How many distinct ids are listed.
    pub fn listed(&self) -> usize {
        self.ids.len()
    }

    /// The highest id any entry has, listed or not.
    pub fn highest(&self) -> Option<u64> {
        let listed = self.ids.keys().next_back().copied();
        match (listed, self.unlisted) {
            (Some(a), Some(u)) => Some(a.max(u.highest)),
            (a, u) => a.or(u.map(|u| u.highest)),
        }
    }

    /// Count one entry owned by `id`; `path` is called only when its path is kept.
    fn record(&mut self, id: u64, path: &dyn Fn() -> String, budget: &mut usize) {
        if let Some(use_) = self.ids.get_mut(&id) {
            use_.entries += 1;
            if use_.paths.len() < PATHS_PER_ID && *budget > 0 {
                let p = path();
                *budget = budget.saturating_sub(p.len());
                use_.paths.push(p);
            }
            return;
        }
        if self.ids.len() < MAX_IDS {
            self.ids.insert(
                id,
                IdUse {
                    entries: 1,
                    paths: vec![path()],
                },
            );
            return;
        }
        let u = self.unlisted.get_or_insert(Unlisted {
            entries: 0,
            lowest: id,
            highest: id,
        });
        u.entries += 1;
        u.lowest = u.lowest.min(id);
        u.highest = u.highest.max(id);
    }

    /// Add `other`'s ids (a later layer's) after these, as if recorded here in order.
    fn merge(&mut self, other: IdTally, budget: &mut usize) {
        for (id, use_) in other.ids {
            let listed = self.ids.len();
            match self.ids.get_mut(&id) {
                Some(mine) => {
                    mine.entries += use_.entries;
                    for p in use_.paths {
                        if mine.paths.len() >= PATHS_PER_ID || *budget == 0 {
                            break;
                        }
                        *budget = budget.saturating_sub(p.len());
                        mine.paths.push(p);
                    }
                }
                None if listed < MAX_IDS => {
                    self.ids.insert(id, use_);
                }
                None => self.add_unlisted(Unlisted {
                    entries: use_.entries,
                    lowest: id,
                    highest: id,
                }),
            }
        }
        if let Some(u) = other.unlisted {
            self.add_unlisted(u);
        }
    }

    fn add_unlisted(&mut self, more: Unlisted) {
        let u = self.unlisted.get_or_insert(Unlisted {
            entries: 0,
            lowest: more.lowest,
            highest: more.highest,
        });
        u.entries += more.entries;
        u.lowest = u.lowest.min(more.lowest);
        u.highest = u.highest.max(more.highest);
    }
}

/// The uids and gids of a set of layers, as their tar headers give them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdCensus {
    uids: IdTally,
    gids: IdTally,
    /// Entries counted (those the unpacker gives an owner: see `scan`).
    pub entries: u64,
    /// Layers scanned.
    pub layers: usize,
    budget: usize,
}

impl Default for IdCensus {
    fn default() -> Self {
        IdCensus {
            uids: IdTally::default(),
            gids: IdTally::default(),
            entries: 0,
            layers: 0,
            budget: SAMPLE_BUDGET,
        }
    }
}

impl IdCensus {
    pub fn new() -> IdCensus {
        IdCensus::default()
    }

    pub fn tally(&self, kind: IdKind) -> &IdTally {
        match kind {
            IdKind::Uid => &self.uids,
            IdKind::Gid => &self.gids,
        }
    }

    /// Count an entry at `path` (as the tar gives it) owned by `uid`:`gid`.
    pub fn record(&mut self, path: &[u8], uid: u64, gid: u64) {
        self.entries += 1;
        let shown = || shown_path(path);
        self.uids.record(uid, &shown, &mut self.budget);
        self.gids.record(gid, &shown, &mut self.budget);
    }

    /// Add the census of the next layer(s), scanned apart (a pull scans its layers
    /// concurrently, each as it streams): the result lists what one census of all the
    /// layers in order would, but for which paths past each id's first the sample keeps.
    pub fn merge(&mut self, next: IdCensus) {
        self.uids.merge(next.uids, &mut self.budget);
        self.gids.merge(next.gids, &mut self.budget);
        self.entries += next.entries;
        self.layers += next.layers;
    }
}

/// A tar path as the image shows it: `/` and the path without `./` or leading slashes,
/// lossy UTF-8, cut at MAX_PATH_SHOWN bytes.
pub(crate) fn shown_path(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let parts: Vec<&str> = text
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let mut path = format!("/{}", parts.join("/"));
    if path.len() > MAX_PATH_SHOWN {
        let mut cut = MAX_PATH_SHOWN;
        while !path.is_char_boundary(cut) {
            cut -= 1;
        }
        path.truncate(cut);
        path.push('…');
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_shown_from_the_image_root_and_cut() {
        assert_eq!(shown_path(b"./usr//bin/su"), "/usr/bin/su");
        assert_eq!(shown_path(b"./"), "/");
        assert_eq!(shown_path(b"/etc/"), "/etc");
        let long = "é".repeat(400);
        let shown = shown_path(long.as_bytes());
        assert!(
            shown.len() <= MAX_PATH_SHOWN + '…'.len_utf8(),
            "{}",
            shown.len()
        );
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn ids_are_counted_with_a_few_paths_each() {
        let mut c = IdCensus::new();
        for i in 0..20 {
            c.record(format!("f{i}").as_bytes(), 1000, 1000 + (i % 2));
        }
        c.record(b"./", 0, 0);
        let u = c.tally(IdKind::Uid).get(1000).unwrap();
        assert_eq!(u.entries, 20);
        assert_eq!(u.paths, ["/f0", "/f1", "/f2", "/f3", "/f4"]);
        assert_eq!(c.tally(IdKind::Gid).get(1001).unwrap().paths[0], "/f1");
        assert_eq!(c.tally(IdKind::Uid).highest(), Some(1000));
        assert_eq!(c.tally(IdKind::Gid).highest(), Some(1001));
        assert_eq!(c.entries, 21);
    }

    #[test]
    fn merged_censuses_count_as_one_of_all_the_layers() {
        let (mut one, mut a, mut b) = (IdCensus::new(), IdCensus::new(), IdCensus::new());
        for i in 0..8u64 {
            let path = format!("f{i}");
            one.record(path.as_bytes(), i % 3, 7);
            if i < 4 { &mut a } else { &mut b }.record(path.as_bytes(), i % 3, 7);
        }
        (one.layers, a.layers, b.layers) = (2, 1, 1);
        a.merge(b);
        assert_eq!(a.tally(IdKind::Uid), one.tally(IdKind::Uid));
        assert_eq!(a.tally(IdKind::Gid), one.tally(IdKind::Gid));
        assert_eq!((a.entries, a.layers), (8, 2));
    }

    #[test]
    fn a_million_files_of_distinct_ids_stay_within_the_bounds() {
        let mut c = IdCensus::new();
        let long = "d/".repeat(400);
        for i in 0..1_000_000u64 {
            // Every file its own uid; gids repeat, each many paths long.
            let path = format!("{long}{i}");
            c.record(path.as_bytes(), 5_000_000 - i, i % 7);
        }
        let uids = c.tally(IdKind::Uid);
        assert_eq!(uids.listed(), MAX_IDS);
        let unlisted = uids.unlisted().unwrap();
        assert_eq!(unlisted.entries, 1_000_000 - MAX_IDS as u64);
        assert_eq!(unlisted.highest, 5_000_000 - MAX_IDS as u64);
        assert_eq!(unlisted.lowest, 4_000_001);
        assert_eq!(uids.highest(), Some(5_000_000));
        let sampled: usize = uids
            .ids()
            .chain(c.tally(IdKind::Gid).ids())
            .map(|(_, u)| u.paths.iter().map(String::len).sum::<usize>())
            .sum();
        // Each listed id's first path, and at most the budget (plus one path) beyond.
        let firsts = (MAX_IDS + 7) * (MAX_PATH_SHOWN + 3);
        assert!(
            sampled <= firsts + SAMPLE_BUDGET + MAX_PATH_SHOWN + 3,
            "{sampled}"
        );
        assert!(uids.ids().all(|(_, u)| u.paths.len() == 1));
        let gids = c.tally(IdKind::Gid);
        assert_eq!(gids.listed(), 7);
        assert!(gids.ids().all(|(_, u)| u.paths.len() == PATHS_PER_ID));
        assert_eq!(gids.ids().map(|(_, u)| u.entries).sum::<u64>(), 1_000_000);
    }
}
