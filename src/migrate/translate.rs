//! The translation of one id: old host id → namespace id (through the old map) → new host
//! id (through the new map). Pure: the whole plan is decided here, tested without files.
//!
//! Re-running a migration must not move an id twice. When no new host id of the old
//! map's ids is itself an old host id (other than an id that stays where it is, such as
//! the user's own), translating twice is translating once: a moved id is no longer in
//! the old map's domain, so a second pass leaves it. When the ranges overlap that way
//! (`ambiguous`), a file's id alone cannot say whether it has moved; the journal then
//! records each inode's target before it is changed (see `journal.rs`).

pub use crate::idmap::record::{Maps, MapsRecord};
use crate::idmap::{IdMap, IdMapEntry};
use crate::ids::IdKind;

/// What becomes of one host id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// Not an id of the old map (root, another user, no one), or one that stays.
    Keep,
    To(u32),
    /// An id of the old map whose namespace id the new map does not hold.
    Unholdable {
        inside: u32,
    },
}

/// Old and new map of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTranslation {
    pub kind: IdKind,
    pub old: IdMap,
    pub new: IdMap,
}

impl IdTranslation {
    pub fn translate(&self, host: u32) -> Move {
        let Some(inside) = self.old.to_ns(host) else {
            return Move::Keep;
        };
        match self.new.to_host(inside) {
            Some(h) if h == host => Move::Keep,
            Some(h) => Move::To(h),
            None => Move::Unholdable { inside },
        }
    }

    /// The id after translation (unholdable ids stay).
    pub fn target(&self, host: u32) -> u32 {
        match self.translate(host) {
            Move::To(h) => h,
            _ => host,
        }
    }

    /// Whether some old id moves to an id that is itself an old id that moves: then a
    /// second pass over a moved file would move it again.
    pub fn ambiguous(&self) -> bool {
        self.old.entries.iter().any(|o| {
            self.new.entries.iter().any(|n| {
                // Namespace ids both maps hold, moved by this pair of lines.
                let lo = o.inside.max(n.inside) as u64;
                let hi = o.inside_end().min(n.inside_end());
                if lo >= hi || o.outside == n.outside && o.inside == n.inside {
                    return false;
                }
                let (start, end) = (
                    n.outside as u64 + (lo - n.inside as u64),
                    n.outside as u64 + (hi - n.inside as u64),
                );
                // Do those new host ids land in the old map's outside ranges?
                self.old
                    .entries
                    .iter()
                    .any(|x| (x.outside as u64) < end && start < x.outside_end())
            })
        })
    }

    /// The host ranges a namespace must map to reach both old and new ids: the union of
    /// both maps' outside ranges, as identity lines (inside = outside), so that inside it
    /// every id reads as its host id.
    pub fn identity_lines(&self) -> Vec<IdMapEntry> {
        let runs = crate::ids::union(
            self.old
                .entries
                .iter()
                .chain(&self.new.entries)
                .map(|e| (e.outside as u64, e.outside_end()))
                .collect(),
        );
        runs.into_iter()
            .map(|(s, e)| IdMapEntry::new(s as u32, s as u32, (e - s) as u32))
            .collect()
    }
}

/// Both kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    pub uid: IdTranslation,
    pub gid: IdTranslation,
}

impl Translation {
    pub fn new(old: &Maps, new: &Maps) -> Translation {
        Translation {
            uid: IdTranslation {
                kind: IdKind::Uid,
                old: old.uid.clone(),
                new: new.uid.clone(),
            },
            gid: IdTranslation {
                kind: IdKind::Gid,
                old: old.gid.clone(),
                new: new.gid.clone(),
            },
        }
    }

    pub fn ambiguous(&self) -> bool {
        self.uid.ambiguous() || self.gid.ambiguous()
    }

    /// Whether nothing moves at all: the same maps.
    pub fn is_noop(&self) -> bool {
        self.uid.old == self.uid.new && self.gid.old == self.gid.new
    }
}

/// `0:2000:1,1:200000:65536` for messages.
pub fn map_text(map: &IdMap) -> String {
    map.entries
        .iter()
        .map(|e| format!("{}:{}:{}", e.inside, e.outside, e.count))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(old: &[(u32, u32, u32)], new: &[(u32, u32, u32)]) -> IdTranslation {
        IdTranslation {
            kind: IdKind::Uid,
            old: IdMap::uids(old),
            new: IdMap::uids(new),
        }
    }

    #[test]
    fn ids_move_through_the_namespace_id() {
        let tr = t(
            &[(0, 2000, 1), (1, 200000, 65536)],
            &[(0, 2000, 1), (1, 300000, 65536)],
        );
        assert_eq!(tr.translate(2000), Move::Keep);
        assert_eq!(tr.translate(200999), Move::To(300999));
        assert_eq!(tr.translate(0), Move::Keep);
        assert_eq!(tr.translate(300999), Move::Keep, "a moved id stays");
        assert!(!tr.ambiguous());
        let lines = tr.identity_lines();
        assert_eq!(
            lines,
            [
                IdMapEntry::new(2000, 2000, 1),
                IdMapEntry::new(200000, 200000, 65536),
                IdMapEntry::new(300000, 300000, 65536)
            ]
        );
    }

    #[test]
    fn smaller_new_maps_leave_ids_unholdable() {
        let tr = t(
            &[(0, 2000, 1), (1, 200000, 65536)],
            &[(0, 2000, 1), (1, 300000, 1000)],
        );
        assert_eq!(tr.translate(201000), Move::Unholdable { inside: 1001 });
        assert_eq!(tr.translate(200999), Move::To(300999));
        assert_eq!(tr.target(201000), 201000);
    }

    #[test]
    fn overlapping_ranges_are_ambiguous() {
        let tr = t(
            &[(0, 2000, 1), (1, 200000, 65536)],
            &[(0, 2000, 1), (1, 210000, 65536)],
        );
        assert!(tr.ambiguous());
        assert_eq!(tr.translate(200000), Move::To(210000));
        // 210000 is an old id too: a second pass would move it to 220000.
        assert_eq!(tr.translate(210000), Move::To(220000));
        // Adjacent, not overlapping: a second pass is harmless.
        let tr = t(
            &[(0, 2000, 1), (1, 200000, 65536)],
            &[(0, 2000, 1), (1, 265536, 65536)],
        );
        assert!(!tr.ambiguous());
        // The same maps: nothing moves, and nothing is ambiguous.
        let same = t(
            &[(0, 2000, 1), (1, 200000, 65536)],
            &[(0, 2000, 1), (1, 200000, 65536)],
        );
        assert!(!same.ambiguous());
    }
}
