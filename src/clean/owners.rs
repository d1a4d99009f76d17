//! Owners as the report names them. Inside a user namespace the kernel shows every
//! unmapped id as the overflow id 65534 (/proc/sys/kernel/overflowuid), which a plain
//! map also gives to a real owner (inside 65534 is one of the user's subordinate ids,
//! the container's `nobody`). So the walk runs under the plan's map with a hole at 65534
//! (every id from there on one higher inside): an owner the walk sees as 65534 is then
//! an id outside the user's ranges, and the report says "unmapped". Every other owner is
//! shown as the plan's map (and a container) sees it.

use crate::idmap::{IdMap, IdMapEntry};
use crate::ids::OVERFLOW_ID;

/// What an owner id of the walk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    /// Mapped: the id inside the plan's map, and on the host.
    Id { inside: u32, host: u32 },
    /// Not in the map: the file belongs to an id outside the user's ranges.
    Unmapped,
}

/// The walk's map, and how its owner ids read in the report.
#[derive(Debug, Clone)]
pub struct OwnerIds {
    walk: IdMap,
    shown: IdMap,
}

impl OwnerIds {
    /// For the plan's uid map. When the hole cannot be made (a map that reaches the last
    /// id), the walk uses the plan's map itself, and 65534 is unmapped only if the plan
    /// leaves it out.
    pub fn new(plan: &IdMap) -> OwnerIds {
        OwnerIds {
            walk: with_hole_at_overflow(plan).unwrap_or_else(|| plan.clone()),
            shown: plan.clone(),
        }
    }

    /// The uid map to walk under.
    pub fn walk_map(&self) -> &IdMap {
        &self.walk
    }

    /// The owner of a file whose uid the walk saw as `uid`.
    pub fn owner(&self, uid: u32) -> Owner {
        match self.walk.to_host(uid) {
            Some(host) => match self.shown.to_ns(host) {
                Some(inside) => Owner::Id { inside, host },
                None => Owner::Unmapped,
            },
            None => Owner::Unmapped,
        }
    }
}

/// `plan` with inside id 65534 left out: extents below it kept, one across it split,
/// those above moved up by one. None when an extent would pass the last id (4294967294).
fn with_hole_at_overflow(plan: &IdMap) -> Option<IdMap> {
    let mut entries = Vec::new();
    for e in &plan.entries {
        let end = e.inside as u64 + e.count as u64;
        if end <= OVERFLOW_ID as u64 {
            entries.push(*e);
        } else if e.inside > OVERFLOW_ID {
            if end + 1 > u32::MAX as u64 {
                return None;
            }
            entries.push(IdMapEntry::new(e.inside + 1, e.outside, e.count));
        } else {
            if end + 1 > u32::MAX as u64 {
                return None;
            }
            let below = OVERFLOW_ID - e.inside;
            if below > 0 {
                entries.push(IdMapEntry::new(e.inside, e.outside, below));
            }
            entries.push(IdMapEntry::new(
                OVERFLOW_ID + 1,
                e.outside + below,
                e.count - below,
            ));
        }
    }
    Some(IdMap::new(plan.kind, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_map_leaves_out_the_overflow_id_and_owners_read_as_the_plan() {
        let plan = IdMap::uids(&[(0, 2000, 1), (1, 200000, 65536)]);
        let ids = OwnerIds::new(&plan);
        assert_eq!(
            ids.walk_map(),
            &IdMap::uids(&[(0, 2000, 1), (1, 200000, 65533), (65535, 265533, 3)])
        );
        assert!(ids.walk_map().validate().is_ok());
        assert_eq!(
            ids.owner(0),
            Owner::Id {
                inside: 0,
                host: 2000
            }
        );
        assert_eq!(
            ids.owner(1000),
            Owner::Id {
                inside: 1000,
                host: 200999
            }
        );
        // The plan's 65534 (host 265533) is 65535 to the walk.
        assert_eq!(
            ids.owner(65535),
            Owner::Id {
                inside: 65534,
                host: 265533
            }
        );
        assert_eq!(
            ids.owner(65537),
            Owner::Id {
                inside: 65536,
                host: 265535
            }
        );
        assert_eq!(ids.owner(OVERFLOW_ID), Owner::Unmapped);
    }

    #[test]
    fn a_map_to_the_last_id_is_walked_as_it_is() {
        let plan = IdMap::uids(&[(0, 0, u32::MAX)]);
        let ids = OwnerIds::new(&plan);
        assert_eq!(ids.walk_map(), &plan);
        assert_eq!(
            ids.owner(OVERFLOW_ID),
            Owner::Id {
                inside: 65534,
                host: 65534
            }
        );
        // A plan that leaves 65534 out needs no hole.
        let small = IdMap::uids(&[(0, 2000, 1), (1, 200000, 1000)]);
        let ids = OwnerIds::new(&small);
        assert_eq!(ids.walk_map(), &small);
        assert_eq!(ids.owner(OVERFLOW_ID), Owner::Unmapped);
    }
}
