//! userns inside a user namespace (a `userns unshare` shell, a container with a full map).
//!
//! There the ids a new namespace may use are the ids of the enclosing namespace, not the
//! subordinate ranges of /etc/subuid: the kernel translates each line of a child's map
//! through the parent's map (kernel/user_namespace.c, map_write). And root there holds
//! CAP_SETUID and CAP_SETGID over the enclosing namespace, which is all the kernel asks of
//! a writer of a child's maps (new_idmap_permitted): no setuid helper is needed, nor is
//! `setgroups` denied. So, nested, root maps every id of the enclosing namespace itself.
//!
//! The kernel's rule for a nested map: each line's outside range must lie within ONE line
//! of the parent's map (map_id_range_down looks a range up in a single extent), so a
//! range that crosses from one parent line to the next is refused with EPERM even when
//! every id of it is mapped. Plans here keep to that rule, and explicit maps are checked
//! against it, naming the lines.

use crate::error::{Error, Result};
use crate::idmap::{IdMap, IdMapEntry, MapPlan};
use crate::ids::{IdKind, ID_LIMIT};

/// The maps of the user namespace this process runs in, when it is not the initial one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enclosing {
    pub uid: IdMap,
    pub gid: IdMap,
}

impl Enclosing {
    /// The enclosing namespace's maps (/proc/self/uid_map and gid_map), or None in the
    /// initial user namespace (whose maps are the identity).
    pub fn here() -> Result<Option<Enclosing>> {
        let (uid, gid) = crate::idmap::proc::self_maps()?;
        Ok(Enclosing::of(uid, gid))
    }

    /// None when `uid` is the identity map of the initial namespace.
    pub fn of(uid: IdMap, gid: IdMap) -> Option<Enclosing> {
        (!uid.is_identity()).then_some(Enclosing { uid, gid })
    }

    pub fn map(&self, kind: IdKind) -> &IdMap {
        match kind {
            IdKind::Uid => &self.uid,
            IdKind::Gid => &self.gid,
        }
    }

    /// How many ids of `kind` the enclosing namespace has.
    pub fn count(&self, kind: IdKind) -> u64 {
        self.map(kind).total()
    }

    /// One line for messages: "inside a user namespace (uid_map 0:2000:1,1:200000:65536)".
    pub fn describe(&self) -> String {
        format!(
            "inside a user namespace (uid_map {}; gid_map {})",
            self.uid.to_short(),
            self.gid.to_short()
        )
    }
}

/// The map of a namespace made inside `parent` by its root: `own_id` (an id of the
/// enclosing namespace) lands at `own_inside`, and every other id of the enclosing
/// namespace fills the inside ids from 0 upwards around it, in ascending order, one line
/// per piece of a parent line (never across two: the kernel's rule above). With the
/// defaults (root at 0) the map is the identity over the enclosing namespace's ids.
pub fn plan(parent: &IdMap, own_id: u32, own_inside: u32) -> MapPlan {
    let mut lines: Vec<(u64, u64)> = parent
        .entries
        .iter()
        .map(|e| (e.inside as u64, e.inside_end()))
        .collect();
    lines.sort();
    // The parent's lines without the own id, which gets its own line.
    let own = own_id as u64;
    let pieces = lines.into_iter().flat_map(|(start, end)| {
        if (start..end).contains(&own) {
            [(start, own), (own + 1, end)]
        } else {
            [(start, end), (end, end)]
        }
    });
    let mut entries = vec![IdMapEntry::new(own_inside, own_id, 1)];
    let mut next_inside: u64 = 0;
    for (mut outside, end) in pieces {
        while outside < end {
            if next_inside == own_inside as u64 {
                next_inside += 1;
            }
            let limit = if next_inside < own_inside as u64 {
                own_inside as u64
            } else {
                ID_LIMIT
            };
            let count = (end - outside).min(limit.saturating_sub(next_inside));
            if count == 0 {
                break;
            }
            entries.push(IdMapEntry::new(
                next_inside as u32,
                outside as u32,
                count as u32,
            ));
            next_inside += count;
            outside += count;
        }
    }
    entries.sort_by_key(|e| e.inside);
    MapPlan {
        needs_helper: false,
        map: IdMap::new(parent.kind, entries),
        left_out: vec![],
    }
}

/// Check a map for a child of the namespace whose own map is `parent` against the
/// kernel's rule: every line's outside range within one line of `parent` (inside side).
/// The initial namespace (identity) maps everything.
pub fn check_within_parent(parent: &IdMap, child: &IdMap) -> Result<()> {
    if parent.is_identity() {
        return Ok(());
    }
    for e in &child.entries {
        let (start, end) = (e.outside as u64, e.outside_end());
        if parent
            .entries
            .iter()
            .any(|p| p.inside as u64 <= start && end <= p.inside_end())
        {
            continue;
        }
        let file = parent.kind.map_file();
        let shown = format!("{}-{}", start, end - 1);
        let covering: Vec<&IdMapEntry> = {
            let mut touched: Vec<&IdMapEntry> = parent
                .entries
                .iter()
                .filter(|p| (p.inside as u64) < end && start < p.inside_end())
                .collect();
            touched.sort_by_key(|p| p.inside);
            touched
        };
        let all_mapped = crate::ids::intervals_cover(
            &parent
                .entries
                .iter()
                .map(|p| (p.inside as u64, p.inside_end()))
                .collect::<Vec<_>>(),
            start,
            end,
        );
        let this_map = format!("this namespace's {file}: {}", parent.to_short());
        if !all_mapped {
            return Err(Error::failure(format!(
                "this process runs inside a user namespace whose {file} lacks ids userns would map"
            ))
            .because(format!(
                "{shown} not mapped here ({this_map}); the kernel refuses to map ids its parent does not have"
            ))
            .fix("map only ids of this namespace (userns map --plan shows them); or give the enclosing container or namespace a map that includes your subordinate ids; or use --single"));
        }
        let lines: Vec<String> = covering
            .iter()
            .map(|p| format!("{}-{}", p.inside, p.inside_end() - 1))
            .collect();
        let split: Vec<String> = covering
            .iter()
            .map(|p| {
                let from = start.max(p.inside as u64);
                let to = end.min(p.inside_end());
                let inside = e.inside as u64 + (from - start);
                format!("{inside}:{from}:{}", to - from)
            })
            .collect();
        let option = match parent.kind {
            IdKind::Uid => "--map-users",
            IdKind::Gid => "--map-groups",
        };
        return Err(Error::usage(format!(
            "cannot map {} {}:{}:{}",
            parent.kind.name(),
            e.inside,
            e.outside,
            e.count
        ))
        .because(format!(
            "ids {shown} span {} lines of {this_map} ({}); the kernel maps each line of a \
             nested namespace's map through a single line of its parent's map, and refuses \
             one that crosses from one line to the next",
            covering.len(),
            lines.join(", ")
        ))
        .fix(format!(
            "split it at the line boundaries: {}",
            split
                .iter()
                .map(|s| format!("{option} {s}"))
                .collect::<Vec<_>>()
                .join(" ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triples(m: &IdMap) -> Vec<(u32, u32, u32)> {
        m.entries
            .iter()
            .map(|e| (e.inside, e.outside, e.count))
            .collect()
    }

    fn userns_unshare_map() -> IdMap {
        IdMap::uids(&[(0, 2000, 1), (1, 200000, 65536)])
    }

    #[test]
    fn root_maps_every_id_of_the_enclosing_namespace_line_by_line() {
        let p = plan(&userns_unshare_map(), 0, 0);
        assert_eq!(triples(&p.map), [(0, 0, 1), (1, 1, 65536)]);
        assert!(p.map.validate().is_ok());
        assert!(check_within_parent(&userns_unshare_map(), &p.map).is_ok());
        // Gaps in the enclosing namespace are skipped, lines never merged across.
        let parent = IdMap::uids(&[(0, 5, 10), (10, 50, 5), (100, 900, 3)]);
        let p = plan(&parent, 0, 0);
        assert_eq!(
            triples(&p.map),
            [(0, 0, 1), (1, 1, 9), (10, 10, 5), (15, 100, 3)]
        );
        assert!(check_within_parent(&parent, &p.map).is_ok());
    }

    #[test]
    fn own_id_elsewhere_inside() {
        let p = plan(&userns_unshare_map(), 0, 1000);
        assert_eq!(
            triples(&p.map),
            [(0, 1, 1000), (1000, 0, 1), (1001, 1001, 64536)]
        );
        assert!(p.map.validate().is_ok());
        assert!(check_within_parent(&userns_unshare_map(), &p.map).is_ok());
    }

    #[test]
    fn a_range_across_two_parent_lines_is_refused_with_the_split() {
        let e =
            check_within_parent(&userns_unshare_map(), &IdMap::uids(&[(0, 0, 65537)])).unwrap_err();
        let text = format!("{e}\nfix: {}", e.fix.clone().unwrap_or_default());
        assert!(text.contains("span 2 lines"), "{text}");
        assert!(text.contains("0-0, 1-65536"), "{text}");
        assert!(
            text.contains("--map-users 0:0:1 --map-users 1:1:65536"),
            "{text}"
        );
        let e =
            check_within_parent(&userns_unshare_map(), &IdMap::uids(&[(0, 70000, 5)])).unwrap_err();
        assert!(e.to_string().contains("70000-70004 not mapped here"), "{e}");
        assert!(
            check_within_parent(&IdMap::identity(IdKind::Uid), &IdMap::uids(&[(0, 0, 9)])).is_ok()
        );
    }
}
