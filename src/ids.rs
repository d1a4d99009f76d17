//! Which kind of id a map, a file or a helper is about.

use serde::Serialize;

/// Largest id the kernel accepts at the end of a range: `(u32)-1` is the invalid id,
/// so an extent must end (exclusive) at or below it (kernel/user_namespace.c rejects a
/// range whose `first + count` wraps, and 4294967295 is never a valid id).
pub(crate) const ID_LIMIT: u64 = u32::MAX as u64;

/// The id the kernel shows for anything unmapped (`/proc/sys/kernel/overflowuid`).
pub const OVERFLOW_ID: u32 = 65534;

/// Parse an id given on a command line (`userns translate ID`): a decimal u32. Used as a clap value parser, so a bad id is a usage error that says what
/// was expected rather than how Rust's integer parser failed.
pub fn parse_id(text: &str) -> std::result::Result<u32, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "id {text:?} is not a number; give a decimal uid or gid such as 1000 (names are not translated: see `id -u NAME`)"
        ));
    }
    text.parse::<u32>()
        .map_err(|_| format!("id {text} is too large; ids run from 0 to {}", u32::MAX))
}

/// Whether the ids [start, end) all lie in the union of `intervals` (each [first, end)),
/// which may touch or overlap: newuidmap lets a request span adjacent subid lines, and a
/// child map may span several lines of its parent's map.
pub(crate) fn intervals_cover(intervals: &[(u64, u64)], start: u64, end: u64) -> bool {
    union_covers(&union(intervals.to_vec()), start, end)
}

/// The union of half-open intervals as sorted, disjoint runs; intervals that overlap or
/// touch make one run. Build it once to test many ranges against many intervals in
/// O(log n) each.
pub(crate) fn union<T: Ord + Copy>(mut intervals: Vec<(T, T)>) -> Vec<(T, T)> {
    intervals.retain(|(first, end)| first < end);
    intervals.sort_unstable();
    let mut runs: Vec<(T, T)> = Vec::with_capacity(intervals.len());
    for (first, end) in intervals {
        match runs.last_mut() {
            Some(run) if first <= run.1 => run.1 = run.1.max(end),
            _ => runs.push((first, end)),
        }
    }
    runs
}

/// Whether [start, end) lies in the `runs` of `union` (an empty range always does).
pub(crate) fn union_covers<T: Ord + Copy>(runs: &[(T, T)], start: T, end: T) -> bool {
    if start >= end {
        return true;
    }
    // Touching intervals were merged, so a covered range lies in a single run.
    let i = runs.partition_point(|run| run.1 <= start);
    runs.get(i)
        .is_some_and(|run| run.0 <= start && end <= run.1)
}

/// Whether [start, end) shares an id with the `runs` of `union`.
pub(crate) fn union_overlaps<T: Ord + Copy>(runs: &[(T, T)], start: T, end: T) -> bool {
    let i = runs.partition_point(|run| run.1 <= start);
    start < end && runs.get(i).is_some_and(|run| run.0 < end)
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
    pub(crate) fn subid_path(self) -> &'static str {
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
    #[test]
    fn command_line_ids_say_what_was_expected() {
        assert_eq!(super::parse_id("1000"), Ok(1000));
        assert!(super::parse_id("abc")
            .unwrap_err()
            .contains("not a number; give a decimal uid"));
        assert!(super::parse_id("-1").unwrap_err().contains("not a number"));
        assert!(super::parse_id("4294967296")
            .unwrap_err()
            .contains("too large"));
    }

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

    mod props {
        use super::super::{intervals_cover, union, union_covers, union_overlaps};
        use proptest::prelude::*;

        /// The scan `intervals_cover` made before `union`: hop from interval to interval.
        fn hop(intervals: &[(u64, u64)], mut start: u64, end: u64) -> bool {
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

        proptest! {
            #[test]
            fn union_answers_as_the_scans_do(
                intervals in proptest::collection::vec((0u64..60, 0u64..60), 0..12),
                start in 0u64..70, len in 0u64..30,
            ) {
                let end = start + len;
                prop_assert_eq!(intervals_cover(&intervals, start, end), hop(&intervals, start, end));
                let runs = union(intervals.clone());
                prop_assert_eq!(union_covers(&runs, start, end), hop(&intervals, start, end));
                let shares = intervals.iter().any(|&(a, b)| a < b && a < end && start < b && start < end);
                prop_assert_eq!(union_overlaps(&runs, start, end), shares);
            }
        }
    }
}
