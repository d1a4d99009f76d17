//! The passwd database, through NSS (so LDAP/SSSD users resolve like `id` resolves them),
//! and passwd files read as text (`passwd`).

pub mod passwd;

use crate::error::{Error, Result};
use serde::Serialize;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// A user as the subid files and the helpers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// None when the uid has no passwd entry (then only numeric subid lines can match).
    pub name: Option<String>,
    pub uid: u32,
    /// Primary gid: the id a subgid range must not contain.
    pub gid: u32,
    pub home: Option<PathBuf>,
}

impl Account {
    /// The invoking user (real uid), as newuidmap identifies its caller.
    pub fn current() -> Account {
        let uid = nix::unistd::getuid().as_raw();
        Self::by_uid(uid).unwrap_or(Account {
            name: None,
            uid,
            gid: nix::unistd::getgid().as_raw(),
            home: std::env::var_os("HOME").map(PathBuf::from),
        })
    }

    /// The invoking user's uid, gid and $HOME without a passwd lookup, where nothing
    /// else is needed (podman's environment and storage paths): NSS is the costliest
    /// step of `userns enter`. Its `name` is None, so it cannot match subid lines by
    /// name: use `current` for anything that plans a map.
    pub fn current_ids_and_home() -> Option<Account> {
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
        Some(Account {
            name: None,
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            home: Some(PathBuf::from(home)),
        })
    }

    /// The fixture user of the unit tests: ivy, uid and gid 2000, no home.
    #[cfg(test)]
    pub(crate) fn ivy() -> Account {
        Account {
            name: Some("ivy".into()),
            uid: 2000,
            gid: 2000,
            home: None,
        }
    }

    pub fn by_uid(uid: u32) -> Option<Account> {
        uzers::get_user_by_uid(uid).map(|u| from_user(&u))
    }

    pub fn by_name(name: &str) -> Option<Account> {
        uzers::get_user_by_name(name).map(|u| from_user(&u))
    }

    /// Resolve USER as given on a command line: a name first (as shadow does), then a
    /// numeric uid, which need not exist in passwd (numeric subid lines still match it).
    pub fn resolve(spec: &str) -> Result<Account> {
        if let Some(a) = Self::by_name(spec) {
            return Ok(a);
        }
        if let Ok(uid) = spec.parse::<u32>() {
            return Ok(Self::by_uid(uid).unwrap_or(Account {
                name: None,
                uid,
                gid: uid,
                home: None,
            }));
        }
        Err(Error::failure(format!("no such user: {spec}"))
            .because("the passwd database (getent passwd) has no entry of that name")
            .fix("check the spelling, or give a numeric uid"))
    }

    /// The user's name, or the uid as text when there is none.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.uid.to_string())
    }

    /// The id a subid range of `kind` must not contain.
    pub fn own_id(&self, kind: crate::ids::IdKind) -> u32 {
        match kind {
            crate::ids::IdKind::Uid => self.uid,
            crate::ids::IdKind::Gid => self.gid,
        }
    }
}

impl From<passwd::PasswdEntry<'_>> for Account {
    fn from(e: passwd::PasswdEntry<'_>) -> Account {
        Account {
            name: Some(e.name.to_string()),
            uid: e.uid,
            gid: e.gid,
            home: Some(PathBuf::from(e.home)),
        }
    }
}

fn from_user(u: &uzers::User) -> Account {
    use uzers::os::unix::UserExt;
    Account {
        name: Some(String::from_utf8_lossy(u.name().as_bytes()).into_owned()),
        uid: u.uid(),
        gid: u.primary_group_id(),
        home: Some(PathBuf::from(OsStr::new(u.home_dir()))),
    }
}
