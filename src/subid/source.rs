//! Where a user's subordinate ids come from: the files (default /etc/subuid and
//! /etc/subgid, or files given on the command line), or an NSS module through libsubid.

use super::lookup::{entries_for, usability, Usability};
use super::parse::{SubIdEntry, SubIdFile};
use crate::error::Result;
use crate::ids::IdKind;
use crate::users::Account;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The two subid files to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubIdPaths {
    pub subuid: PathBuf,
    pub subgid: PathBuf,
}

impl Default for SubIdPaths {
    fn default() -> Self {
        SubIdPaths {
            subuid: PathBuf::from(IdKind::Uid.subid_path()),
            subgid: PathBuf::from(IdKind::Gid.subid_path()),
        }
    }
}

impl SubIdPaths {
    pub fn new(subuid: Option<PathBuf>, subgid: Option<PathBuf>) -> Self {
        let d = Self::default();
        SubIdPaths {
            subuid: subuid.unwrap_or(d.subuid),
            subgid: subgid.unwrap_or(d.subgid),
        }
    }

    pub fn path(&self, kind: IdKind) -> &Path {
        match kind {
            IdKind::Uid => &self.subuid,
            IdKind::Gid => &self.subgid,
        }
    }
}

/// A user's entries of one kind, with the judgement of each and where they came from.
#[derive(Debug, Clone, Serialize)]
pub struct UserSubIds {
    pub kind: IdKind,
    /// The file path, or "nss:MODULE" for ranges served by libsubid.
    pub source: String,
    pub entries: Vec<(SubIdEntry, Usability)>,
}

impl UserSubIds {
    /// The entries of `account` in a parsed file.
    pub fn from_file(kind: IdKind, file: &SubIdFile, account: &Account) -> UserSubIds {
        let own = account.own_id(kind);
        UserSubIds {
            kind,
            source: file.path.display().to_string(),
            entries: entries_for(file, account)
                .into_iter()
                .map(|e| (e.clone(), usability(e, Some(own))))
                .collect(),
        }
    }

    /// Read `kind`'s file from `paths` and take the entries of `account`.
    pub fn read(paths: &SubIdPaths, kind: IdKind, account: &Account) -> Result<UserSubIds> {
        let file = SubIdFile::read(paths.path(kind))?;
        Ok(Self::from_file(kind, &file, account))
    }

    pub fn usable(&self) -> impl Iterator<Item = &SubIdEntry> {
        self.entries
            .iter()
            .filter(|(_, u)| u.is_usable())
            .map(|(e, _)| e)
    }
}
