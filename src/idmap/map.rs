//! A user namespace's uid_map or gid_map: lines of `inside outside count`.

use crate::ids::{IdKind, ID_LIMIT};
use serde::Serialize;

/// Kernel limit on lines in one map since Linux 4.15 (user_namespaces(7)).
pub(crate) const MAX_LINES: usize = 340;
/// A map must be written in one write(2) smaller than a page.
pub(crate) const MAX_BYTES: usize = 4095;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
pub struct IdMapEntry {
    /// First id as seen inside the namespace.
    pub inside: u32,
    /// First id as seen in the parent namespace.
    pub outside: u32,
    pub count: u32,
}

impl IdMapEntry {
    /// Map lines as a list of outside ranges for messages: `200000-265535, 1000`.
    pub fn outside_ranges(entries: &[IdMapEntry]) -> String {
        entries
            .iter()
            .map(|e| {
                if e.count == 1 {
                    e.outside.to_string()
                } else {
                    format!("{}-{}", e.outside, e.outside_end() - 1)
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn new(inside: u32, outside: u32, count: u32) -> Self {
        IdMapEntry {
            inside,
            outside,
            count,
        }
    }

    pub(crate) fn inside_end(&self) -> u64 {
        self.inside as u64 + self.count as u64
    }

    pub(crate) fn outside_end(&self) -> u64 {
        self.outside as u64 + self.count as u64
    }

    pub(crate) fn to_host(self, id: u32) -> Option<u32> {
        let off = id.wrapping_sub(self.inside);
        (off < self.count).then(|| self.outside.wrapping_add(off))
    }

    pub(crate) fn to_ns(self, id: u32) -> Option<u32> {
        let off = id.wrapping_sub(self.outside);
        (off < self.count).then(|| self.inside.wrapping_add(off))
    }
}

/// Why a map cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapError {
    Empty,
    ZeroCount { line: usize },
    PastLimit { line: usize },
    OverlapInside { a: usize, b: usize },
    OverlapOutside { a: usize, b: usize },
    TooManyLines { lines: usize },
    TooLong { bytes: usize },
}

impl std::fmt::Display for MapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MapError::Empty => write!(f, "the map is empty; the kernel needs at least one line"),
            MapError::ZeroCount { line } => write!(f, "line {line} has count 0"),
            MapError::PastLimit { line } => {
                write!(f, "line {line} passes 4294967295, the largest id")
            }
            MapError::OverlapInside { a, b } => {
                write!(f, "lines {a} and {b} overlap inside the namespace")
            }
            MapError::OverlapOutside { a, b } => {
                write!(f, "lines {a} and {b} overlap outside the namespace")
            }
            MapError::TooManyLines { lines } => write!(
                f,
                "{lines} lines; the kernel takes at most {MAX_LINES} (user_namespaces(7))"
            ),
            MapError::TooLong { bytes } => write!(
                f,
                "{bytes} bytes; the kernel takes one write smaller than a page (4096)"
            ),
        }
    }
}

impl std::error::Error for MapError {}

impl From<MapError> for crate::error::Cause {
    fn from(e: MapError) -> Self {
        crate::error::Cause::other(e)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdMap {
    pub kind: IdKind,
    pub entries: Vec<IdMapEntry>,
}

impl IdMap {
    pub fn new(kind: IdKind, entries: Vec<IdMapEntry>) -> Self {
        IdMap { kind, entries }
    }

    /// A map from `[inside, outside, count]` lines, the form records keep it in.
    pub fn from_lines(kind: IdKind, lines: &[[u32; 3]]) -> Self {
        IdMap::new(
            kind,
            lines
                .iter()
                .map(|l| IdMapEntry::new(l[0], l[1], l[2]))
                .collect(),
        )
    }

    /// The map as `[inside, outside, count]` lines, the form records keep it in.
    pub fn to_lines(&self) -> Vec<[u32; 3]> {
        self.entries
            .iter()
            .map(|e| [e.inside, e.outside, e.count])
            .collect()
    }

    /// A uid map from (inside, outside, count) triples, for tests.
    #[cfg(test)]
    pub(crate) fn uids(entries: &[(u32, u32, u32)]) -> Self {
        IdMap::new(
            IdKind::Uid,
            entries
                .iter()
                .map(|&(a, b, c)| IdMapEntry::new(a, b, c))
                .collect(),
        )
    }

    /// The map of the initial namespace: every id to itself.
    pub fn identity(kind: IdKind) -> Self {
        IdMap::new(kind, vec![IdMapEntry::new(0, 0, u32::MAX)])
    }

    pub fn is_identity(&self) -> bool {
        self.entries.len() == 1 && self.entries[0] == IdMapEntry::new(0, 0, u32::MAX)
    }

    /// Check the map against the kernel's rules for one write to a map file.
    pub fn validate(&self) -> Result<(), MapError> {
        if self.entries.is_empty() {
            return Err(MapError::Empty);
        }
        for (i, e) in self.entries.iter().enumerate() {
            if e.count == 0 {
                return Err(MapError::ZeroCount { line: i + 1 });
            }
            if e.inside_end() > ID_LIMIT + 1 || e.outside_end() > ID_LIMIT + 1 {
                return Err(MapError::PastLimit { line: i + 1 });
            }
        }
        if self.entries.len() > MAX_LINES {
            return Err(MapError::TooManyLines {
                lines: self.entries.len(),
            });
        }
        for (i, a) in self.entries.iter().enumerate() {
            for (j, b) in self.entries.iter().enumerate().skip(i + 1) {
                if (a.inside as u64) < b.inside_end() && (b.inside as u64) < a.inside_end() {
                    return Err(MapError::OverlapInside { a: i + 1, b: j + 1 });
                }
                if (a.outside as u64) < b.outside_end() && (b.outside as u64) < a.outside_end() {
                    return Err(MapError::OverlapOutside { a: i + 1, b: j + 1 });
                }
            }
        }
        let bytes = self.to_proc_text().len();
        if bytes > MAX_BYTES {
            return Err(MapError::TooLong { bytes });
        }
        Ok(())
    }

    /// The text written to /proc/PID/uid_map.
    pub fn to_proc_text(&self) -> String {
        let mut s = String::new();
        for e in &self.entries {
            s.push_str(&format!("{} {} {}\n", e.inside, e.outside, e.count));
        }
        s
    }

    /// The arguments newuidmap takes after the pid: `inside outside count` triples.
    pub fn to_helper_args(&self) -> Vec<String> {
        self.entries
            .iter()
            .flat_map(|e| [e.inside, e.outside, e.count].map(|n| n.to_string()))
            .collect()
    }

    /// Short form for tables: `0:1000:1,1:100000:65536`.
    pub fn to_short(&self) -> String {
        if self.is_identity() {
            return "identity".into();
        }
        self.entries
            .iter()
            .map(|e| format!("{}:{}:{}", e.inside, e.outside, e.count))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The id outside for an id inside, if mapped.
    pub fn to_host(&self, id: u32) -> Option<u32> {
        self.entries.iter().find_map(|e| e.to_host(id))
    }

    /// The id inside for an id outside, if mapped.
    pub fn to_ns(&self, id: u32) -> Option<u32> {
        self.entries.iter().find_map(|e| e.to_ns(id))
    }

    /// Total number of ids mapped.
    pub(crate) fn total(&self) -> u64 {
        self.entries.iter().map(|e| e.count as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(entries: &[(u32, u32, u32)]) -> IdMap {
        IdMap::uids(entries)
    }

    #[test]
    fn validates_kernel_rules() {
        assert_eq!(m(&[]).validate(), Err(MapError::Empty));
        assert_eq!(
            m(&[(0, 1000, 0)]).validate(),
            Err(MapError::ZeroCount { line: 1 })
        );
        assert_eq!(
            m(&[(0, 1000, 1), (0, 2000, 1)]).validate(),
            Err(MapError::OverlapInside { a: 1, b: 2 })
        );
        assert_eq!(
            m(&[(0, 1000, 1), (1, 1000, 1)]).validate(),
            Err(MapError::OverlapOutside { a: 1, b: 2 })
        );
        assert!(m(&[(0, 1000, 1), (1, 100000, 65536)]).validate().is_ok());
        assert!(IdMap::identity(IdKind::Uid).validate().is_ok());
        let many: Vec<(u32, u32, u32)> = (0..341).map(|i| (i, i + 10000, 1)).collect();
        assert_eq!(
            m(&many).validate(),
            Err(MapError::TooManyLines { lines: 341 })
        );
    }

    #[test]
    fn translates_both_ways() {
        let map = m(&[(0, 1000, 1), (1, 100000, 65536)]);
        assert_eq!(map.to_host(0), Some(1000));
        assert_eq!(map.to_host(1000), Some(100999));
        assert_eq!(map.to_host(65537), None);
        assert_eq!(map.to_ns(100999), Some(1000));
        assert_eq!(map.to_ns(5), None);
        assert_eq!(
            map.to_helper_args(),
            ["0", "1000", "1", "1", "100000", "65536"]
        );
        assert_eq!(map.to_short(), "0:1000:1,1:100000:65536");
    }
}
