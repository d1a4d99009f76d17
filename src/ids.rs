//! Which kind of id a map, a file or a helper is about.

use serde::Serialize;

/// Largest id the kernel accepts at the end of a range: `(u32)-1` is the invalid id,
/// so an extent must end (exclusive) at or below it (kernel/user_namespace.c rejects a
/// range whose `first + count` wraps, and 4294967295 is never a valid id).
pub const ID_LIMIT: u64 = u32::MAX as u64;

/// The id the kernel shows for anything unmapped (`/proc/sys/kernel/overflowuid`).
pub const OVERFLOW_ID: u32 = 65534;

/// Whether the ids [start, end) all lie in the union of `intervals` (each [first, end)),
/// which may touch or overlap: newuidmap lets a request span adjacent subid lines, and a
/// child map may span several lines of its parent's map.
pub fn intervals_cover(intervals: &[(u64, u64)], mut start: u64, end: u64) -> bool {
    while start < end {
        match intervals
            .iter()
            .filter(|(first, last)| *first <= start && start < *last)
            .map(|(_, last)| *last)
            .max()
        {
            Some(next) => start = next,
            None => return false,
        }
    }
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum IdKind {
    Uid,
    Gid,
}

impl IdKind {
    pub const BOTH: [IdKind; 2] = [IdKind::Uid, IdKind::Gid];

    /// `uid_map` / `gid_map` under /proc/PID.
    pub fn map_file(self) -> &'static str {
        match self {
            IdKind::Uid => "uid_map",
            IdKind::Gid => "gid_map",
        }
    }

    /// /etc/subuid or /etc/subgid.
    pub fn subid_path(self) -> &'static str {
        match self {
            IdKind::Uid => "/etc/subuid",
            IdKind::Gid => "/etc/subgid",
        }
    }

    /// `subuid` / `subgid`, for messages.
    pub fn subid_name(self) -> &'static str {
        match self {
            IdKind::Uid => "subuid",
            IdKind::Gid => "subgid",
        }
    }

    /// The setuid helper of shadow that writes this map.
    pub fn helper_name(self) -> &'static str {
        match self {
            IdKind::Uid => "newuidmap",
            IdKind::Gid => "newgidmap",
        }
    }

    /// "uid" / "gid", for messages.
    pub fn name(self) -> &'static str {
        match self {
            IdKind::Uid => "uid",
            IdKind::Gid => "gid",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::intervals_cover;

    #[test]
    fn cover_spans_adjacent_and_overlapping_intervals() {
        let iv = [(100, 200), (200, 300), (250, 400), (500, 600)];
        assert!(intervals_cover(&iv, 100, 400));
        assert!(intervals_cover(&iv, 150, 151));
        assert!(!intervals_cover(&iv, 350, 501));
        assert!(!intervals_cover(&iv, 99, 101));
        assert!(intervals_cover(&iv, 5, 5), "an empty range is covered");
    }
}
