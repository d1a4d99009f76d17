//! A range of subordinate ids, written so that no arithmetic on it can overflow.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SubIdRange {
    pub start: u32,
    pub count: u32,
}

impl SubIdRange {
    pub fn new(start: u32, count: u32) -> Self {
        SubIdRange { start, count }
    }

    /// One past the last id, as u64 so that `start + count` cannot wrap.
    pub(crate) fn end(&self) -> u64 {
        self.start as u64 + self.count as u64
    }

    /// The last id of the range, when the range is not empty.
    pub(crate) fn last(&self) -> Option<u64> {
        (self.count > 0).then(|| self.end() - 1)
    }

    // contains and fits_kernel state plainly what lookup::usability computes: the
    // property tests' oracle, unused by the program itself.
    #[cfg(test)]
    pub(crate) fn contains(&self, id: u32) -> bool {
        id.wrapping_sub(self.start) < self.count
    }

    pub fn overlaps(&self, other: &SubIdRange) -> bool {
        self.count > 0
            && other.count > 0
            && (self.start as u64) < other.end()
            && (other.start as u64) < self.end()
    }

    /// Whether the kernel would accept this range in a map: a count above 0 and an end
    /// that neither wraps nor reaches the invalid id 4294967295.
    #[cfg(test)]
    pub(crate) fn fits_kernel(&self) -> bool {
        self.count > 0 && self.end() <= crate::ids::ID_LIMIT
    }
}

impl std::fmt::Display for SubIdRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.last() {
            Some(last) => write!(f, "{}-{} ({} ids)", self.start, last, self.count),
            None => write!(f, "{} (0 ids)", self.start),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_never_overflows() {
        let r = SubIdRange::new(u32::MAX - 1, 2);
        assert!(r.contains(u32::MAX));
        assert!(r.contains(u32::MAX - 1));
        assert!(!r.contains(0));
        assert!(!SubIdRange::new(5, 0).contains(5));
        assert_eq!(r.end(), 1u64 << 32);
        assert!(!r.fits_kernel());
    }

    #[test]
    fn overlap() {
        let a = SubIdRange::new(100, 10);
        assert!(a.overlaps(&SubIdRange::new(109, 5)));
        assert!(!a.overlaps(&SubIdRange::new(110, 5)));
        assert!(!a.overlaps(&SubIdRange::new(90, 10)));
        assert!(!a.overlaps(&SubIdRange::new(100, 0)));
    }

    #[test]
    fn kernel_limit_is_exclusive_of_the_invalid_id() {
        assert!(SubIdRange::new(u32::MAX - 10, 10).fits_kernel());
        assert!(!SubIdRange::new(u32::MAX - 10, 11).fits_kernel());
    }
}
