//! `userns whose`: for a file, who its owner and group are (the user, a subordinate
//! range and whose, root, an account, or no one), what they are inside the user's
//! namespace, and which container or image it came from; for a tree, counts per owner.

pub mod inside;
pub mod origin;
pub mod owner;
pub mod tree;

use crate::clean::fs::FileStat;
use crate::idmap::IdMap;
use crate::ids::IdKind;
pub use inside::{Inside, NotEntered};
pub use origin::{Origin, Origins};
pub use owner::{Attribution, Belongs};
use serde::Serialize;

/// One id of a file, explained.
#[derive(Debug, Clone, Serialize)]
pub struct IdReport {
    pub host: u32,
    /// The id inside the user's namespace (default map); None where it is not mapped
    /// (the namespace shows it as 65534).
    pub inside: Option<u32>,
    pub belongs: Belongs,
    pub who: String,
    pub meaning: &'static str,
}

/// The user's default maps, as `userns unshare` would write them.
#[derive(Debug, Clone)]
pub struct UserMaps {
    pub uid: IdMap,
    pub gid: IdMap,
}

impl UserMaps {
    /// The maps planned from the user's ranges (NSS or the files), as `userns unshare`
    /// plans them; without usable ranges, only the user's own id (mapped to 0).
    pub fn plan(account: &crate::users::Account, paths: &crate::subid::SubIdPaths) -> UserMaps {
        let one = |kind: IdKind| {
            let own = account.own_id(kind);
            match crate::subid::UserSubIds::read(paths, kind, account) {
                Ok(subids) => {
                    crate::idmap::plan_for_user(kind, own, 0, &subids, &account.display_name())
                        .map(|p| p.map)
                        .unwrap_or_else(|_| crate::idmap::plan_map(kind, own, 0, &subids).map)
                }
                Err(_) => IdMap::new(kind, vec![crate::idmap::IdMapEntry::new(0, own, 1)]),
            }
        };
        UserMaps {
            uid: one(IdKind::Uid),
            gid: one(IdKind::Gid),
        }
    }
}

/// Everything `whose` consults, read once.
pub struct Context {
    pub attribution: Attribution,
    pub maps: UserMaps,
    pub origins: Origins,
}

impl Context {
    pub fn explain(&self, kind: IdKind, host: u32) -> IdReport {
        let belongs = self.attribution.belongs(kind, host);
        let map = match kind {
            IdKind::Uid => &self.maps.uid,
            IdKind::Gid => &self.maps.gid,
        };
        IdReport {
            host,
            inside: map.to_ns(host),
            who: belongs.describe(kind),
            meaning: belongs.meaning(),
            belongs,
        }
    }
}

/// One file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    #[serde(rename = "type")]
    pub file_type: &'static str,
    /// Permission bits in octal, e.g. "4755".
    pub mode: String,
    pub size: u64,
    pub links: u64,
    pub owner: IdReport,
    pub group: IdReport,
    pub origin: Option<Origin>,
}

/// Describe a file from its stat (taken without following a symlink) and canonical path.
pub fn describe(ctx: &Context, path: &std::path::Path, st: &FileStat) -> FileReport {
    FileReport {
        path: crate::clean::fs::display_bytes(path.as_os_str().as_encoded_bytes()),
        file_type: st.type_name(),
        mode: format!("{:04o}", st.mode & 0o7777),
        size: st.size,
        links: st.nlink,
        owner: ctx.explain(IdKind::Uid, st.uid),
        group: ctx.explain(IdKind::Gid, st.gid),
        origin: ctx.origins.origin_of(path),
    }
}
