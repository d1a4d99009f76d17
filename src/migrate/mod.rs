//! `userns migrate`: after the subordinate ranges changed, move the ownership of the
//! user's trees from the old maps to the new ones, each id through its namespace id
//! (old host id → inside id → new host id), so that containers see the same ids inside.
//!
//! Where the old map comes from (`old.rs`), the translation (`translate.rs`), the walk
//! (`apply.rs`), the attributes that hold ids (`xattr.rs`), the journal that makes a
//! second run finish an interrupted one (`journal.rs`); the plan record is
//! `idmap::record`, written by `unshare::enter`.

pub mod apply;
pub mod for_user;
pub mod journal;
pub mod old;
pub mod steps;
pub mod translate;
pub mod xattr;

use crate::clean::pool::walk_parallel;
use crate::clean::target::Resolved;
use crate::clean::walk::WalkOptions;
use crate::idmap::IdMap;
use crate::ids::IdKind;
use crate::unshare::MapRequest;
pub use apply::{Shared, Tally};
pub use translate::{Maps, Translation};

/// Walk each tree with `workers` threads; one tally per tree.
pub fn migrate_trees(
    trees: &[Resolved],
    shared: &Shared,
    options: WalkOptions,
    workers: usize,
) -> Vec<Tally> {
    trees
        .iter()
        .map(|r| {
            let path = r.target.path.as_os_str().as_encoded_bytes();
            let (parts, crashed) = walk_parallel(
                &r.parent,
                &r.target.name,
                path,
                &r.st,
                options,
                workers,
                || apply::Migrator::new(shared),
            );
            let mut tally = Tally::default();
            for mut p in parts {
                tally.merge(std::mem::take(&mut p.tally));
            }
            tally.failures.extend(crashed);
            tally
        })
        .collect()
}

/// The request of the namespace a migration runs in: identity lines over the old and new
/// ranges (and the user's own id, which both hold), so that inside it every id involved
/// reads and is written as its host id.
pub fn namespace_request(t: &Translation) -> MapRequest {
    MapRequest {
        explicit_uid: t.uid.identity_lines(),
        explicit_gid: t.gid.identity_lines(),
        ..MapRequest::default()
    }
}

/// One map holding both kinds' identity lines of uids, for the guard's owner rule (a
/// tree's top must belong to the user, or to an old or new subordinate id).
pub fn owner_map(t: &Translation) -> IdMap {
    IdMap::new(IdKind::Uid, t.uid.identity_lines())
}

/// The fix for ids the new map cannot hold: how many more ids, and the command.
pub fn unholdable_fix(user: &str, kind: IdKind, new: &IdMap, insides: &[u32]) -> String {
    let held: u64 = new.entries.iter().map(|e| e.count as u64).sum();
    let highest = insides.iter().copied().max().unwrap_or(0) as u64;
    let more = (highest + 1).saturating_sub(held).max(1);
    format!(
        "{} namespace {}s up to {highest} are used here, and the new map holds {held}: ask an administrator for {more} more subordinate {}s (as root: `userns subid add {user} --count {more}`, or usermod --add-sub{}s), then run `userns migrate` again",
        insides.len(),
        kind.name(),
        kind.name(),
        kind.name()
    )
}
