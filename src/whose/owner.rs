//! Who a host id belongs to: the user, root, a subordinate range (whose, from which line
//! of /etc/subuid or from which NSS module), an account of the passwd or group database,
//! or no one. A number like 300499 means nothing to a person; its owner does.

use crate::ids::IdKind;
use crate::subid::{SubIdFile, SubIdPaths, UserSubIds};
use crate::users::Account;
use serde::Serialize;

/// What an id is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Belongs {
    /// The user's own uid (or primary gid).
    Own {
        user: String,
    },
    Root,
    /// Inside a subordinate range; `mine` when it is the user's.
    SubId {
        user: String,
        mine: bool,
        /// The file (or `nss:MODULE`) and its line (or the position in the NSS answer).
        source: String,
        line: usize,
        start: u64,
        count: u64,
    },
    /// An entry of the passwd (group) database: a system account below UID_MIN
    /// (GID_MIN), else another user's own id (group).
    Account {
        name: String,
        system: bool,
    },
    /// No account, no subordinate range.
    NoOne,
}

impl Belongs {
    /// One line for people: who it is.
    pub fn describe(&self, kind: IdKind) -> String {
        match self {
            Belongs::Own { user } => format!("you ({user})"),
            Belongs::Root => "root".into(),
            Belongs::SubId {
                user,
                mine,
                source,
                line,
                start,
                count,
            } => format!(
                "{} {} of {user}{} ({source}:{line}, {start}-{})",
                if *mine { "your" } else { "a" },
                kind.subid_name(),
                if *mine { "" } else { ", not yours" },
                start + count - 1
            ),
            Belongs::Account { name, system } => match (kind, system) {
                (IdKind::Uid, true) => format!("system account {name}"),
                (IdKind::Uid, false) => format!("user {name}"),
                (IdKind::Gid, true) => format!("system group {name}"),
                (IdKind::Gid, false) => format!("group {name}"),
            },
            Belongs::NoOne => "no one (no account, no subordinate range)".into(),
        }
    }

    /// What that means for the user: who can change it.
    pub fn meaning(&self) -> &'static str {
        match self {
            Belongs::Own { .. } => "yours",
            Belongs::Root => "only root can change it",
            Belongs::SubId { mine: true, .. } => {
                "yours through your namespace (userns chown, userns clean, podman unshare)"
            }
            Belongs::SubId { mine: false, .. } => {
                "only that user (in a namespace) or root can change it"
            }
            Belongs::Account { .. } => "only that account or root can change it",
            Belongs::NoOne => "no one can chown it back without root",
        }
    }
}

/// What is needed to attribute ids: the user, their ranges (as newuidmap would read
/// them: NSS or the files), the whole subid files for everyone else's ranges, and where
/// system accounts end.
#[derive(Debug, Clone)]
pub struct Attribution {
    pub account: Account,
    mine: [UserSubIds; 2],
    everyone: [SubIdFile; 2],
    /// UID_MIN and GID_MIN of login.defs.
    first_user_id: [u32; 2],
}

fn slot(kind: IdKind) -> usize {
    match kind {
        IdKind::Uid => 0,
        IdKind::Gid => 1,
    }
}

impl Attribution {
    /// Read the subid sources and login.defs; what cannot be read attributes nothing.
    pub fn load(account: &Account, paths: &SubIdPaths) -> Attribution {
        let read_all = |kind| {
            SubIdFile::read(paths.path(kind)).unwrap_or_else(|_| SubIdFile {
                path: paths.path(kind).to_path_buf(),
                ..Default::default()
            })
        };
        let everyone = [read_all(IdKind::Uid), read_all(IdKind::Gid)];
        let mine = [IdKind::Uid, IdKind::Gid]
            .map(|kind| UserSubIds::read_with(paths, kind, account, &everyone[slot(kind)]));
        let defs =
            crate::subid::login_defs::LoginDefs::read(std::path::Path::new("/etc/login.defs")).ok();
        let min = |key| {
            defs.as_ref()
                .and_then(|d| d.get_u64(key))
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(1000)
        };
        Attribution {
            account: account.clone(),
            mine,
            everyone,
            first_user_id: [min("UID_MIN"), min("GID_MIN")],
        }
    }

    /// From parts, for tests.
    #[cfg(test)]
    pub(crate) fn from_parts(account: Account, subuid: &str, subgid: &str) -> Attribution {
        let parse =
            |p: &str, t: &str| crate::subid::parse::parse(std::path::Path::new(p), t.as_bytes());
        let everyone = [parse("/etc/subuid", subuid), parse("/etc/subgid", subgid)];
        let mine = [IdKind::Uid, IdKind::Gid]
            .map(|k| UserSubIds::from_file(k, &everyone[slot(k)], &account));
        Attribution {
            account,
            mine,
            everyone,
            first_user_id: [1000, 1000],
        }
    }

    /// Who `id` of `kind` belongs to. The user's own ranges come first (they may be
    /// served by NSS, which the files do not list), then everyone's lines, then the
    /// account databases.
    pub fn belongs(&self, kind: IdKind, id: u32) -> Belongs {
        let user = self.account.display_name();
        if id == self.account.own_id(kind) {
            return Belongs::Own { user };
        }
        if id == 0 {
            return Belongs::Root;
        }
        let mine = &self.mine[slot(kind)];
        let contains = |start: u64, count: u64| (id as u64) >= start && (id as u64) - start < count;
        if let Some((e, _)) = mine
            .entries
            .iter()
            .find(|(e, _)| contains(e.start, e.count))
        {
            return Belongs::SubId {
                user,
                mine: true,
                source: mine.source.clone(),
                line: e.line,
                start: e.start,
                count: e.count,
            };
        }
        let file = &self.everyone[slot(kind)];
        if let Some(e) = file.entries.iter().find(|e| contains(e.start, e.count)) {
            return Belongs::SubId {
                user: e.owner_text.clone(),
                mine: false,
                source: file.path.display().to_string(),
                line: e.line,
                start: e.start,
                count: e.count,
            };
        }
        let name = match kind {
            IdKind::Uid => {
                uzers::get_user_by_uid(id).map(|u| u.name().to_string_lossy().into_owned())
            }
            IdKind::Gid => {
                uzers::get_group_by_gid(id).map(|g| g.name().to_string_lossy().into_owned())
            }
        };
        match name {
            Some(name) => Belongs::Account {
                name,
                system: id < self.first_user_id[slot(kind)],
            },
            None => Belongs::NoOne,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_id_is_named() {
        let a = Attribution::from_parts(
            Account::ivy(),
            "ivy:200000:65536\nbob:300000:65536\n",
            "ivy:200000:65536\n",
        );
        assert_eq!(
            a.belongs(IdKind::Uid, 2000),
            Belongs::Own { user: "ivy".into() }
        );
        assert_eq!(a.belongs(IdKind::Uid, 0), Belongs::Root);
        let b = a.belongs(IdKind::Uid, 200999);
        assert_eq!(
            b.describe(IdKind::Uid),
            "your subuid of ivy (/etc/subuid:1, 200000-265535)"
        );
        let b = a.belongs(IdKind::Uid, 300000);
        assert_eq!(
            b.describe(IdKind::Uid),
            "a subuid of bob, not yours (/etc/subuid:2, 300000-365535)"
        );
        assert!(matches!(
            a.belongs(IdKind::Gid, 300000),
            Belongs::NoOne | Belongs::Account { .. }
        ));
        // 4000000000: no range, and no account has it.
        let b = a.belongs(IdKind::Uid, 4_000_000_000);
        assert_eq!(b, Belongs::NoOne);
        assert_eq!(b.meaning(), "no one can chown it back without root");
    }
}
