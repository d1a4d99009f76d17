//! Where a user's subordinate ids come from: the files (default /etc/subuid and
//! /etc/subgid, or files given on the command line), or an NSS module through libsubid.

use super::lookup::{entries_for, owner_text_matches, skipped_of, usability, Usability};
use super::nss;
use super::parse::{Owner, Skipped, SubIdEntry, SubIdFile};
use super::range::SubIdRange;
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
    /// Given on the command line (--subuid/--subgid): then NSS is not consulted, even
    /// for the default paths.
    pub explicit: bool,
}

impl Default for SubIdPaths {
    fn default() -> Self {
        SubIdPaths {
            subuid: PathBuf::from(IdKind::Uid.subid_path()),
            subgid: PathBuf::from(IdKind::Gid.subid_path()),
            explicit: false,
        }
    }
}

impl SubIdPaths {
    pub fn new(subuid: Option<PathBuf>, subgid: Option<PathBuf>) -> Self {
        let d = Self::default();
        SubIdPaths {
            explicit: subuid.is_some() || subgid.is_some(),
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
    /// Lines that may be the owner's but are no entry (see `lookup::skipped_of`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

impl UserSubIds {
    /// The /etc/subuid entries of the fixture user ivy (uid 2000) in `text`, for tests.
    #[cfg(test)]
    pub(crate) fn of_ivy(text: &str) -> UserSubIds {
        let file = crate::subid::parse::parse(std::path::Path::new("/etc/subuid"), text.as_bytes());
        UserSubIds::from_file(IdKind::Uid, &file, &Account::ivy())
    }

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
            skipped: skipped_of(file, account).into_iter().cloned().collect(),
        }
    }

    /// The entries of `account` of `kind`: from NSS through libsubid when `paths` are the
    /// defaults and /etc/nsswitch.conf names a `subid:` source other than files (as
    /// newuidmap decides), else from the file. Explicit files always bypass NSS. When
    /// libsubid or its module is missing, warn and read the file, as libsubid would.
    pub(crate) fn read(paths: &SubIdPaths, kind: IdKind, account: &Account) -> Result<UserSubIds> {
        Ok(Self::read_counting_malformed(paths, kind, account)?.0)
    }

    /// `read`, also returning how many lines of the file are malformed (0 when NSS
    /// answered): one pass over the file serves `subid show`'s note too.
    pub fn read_counting_malformed(
        paths: &SubIdPaths,
        kind: IdKind,
        account: &Account,
    ) -> Result<(UserSubIds, usize)> {
        if let Some(subids) = Self::nss_answer(paths, kind, account) {
            return Ok((subids, 0));
        }
        let file =
            SubIdFile::read_keeping(paths.path(kind), |owner| owner_text_matches(owner, account))?;
        Ok((Self::from_file(kind, &file, account), file.skipped.len()))
    }

    /// `read`, for a caller that has read the whole file of `kind` anyway: its lines are
    /// taken from `file` rather than from a second pass over a site-sized file.
    pub fn read_with(
        paths: &SubIdPaths,
        kind: IdKind,
        account: &Account,
        file: &SubIdFile,
    ) -> UserSubIds {
        Self::nss_answer(paths, kind, account)
            .unwrap_or_else(|| Self::from_file(kind, file, account))
    }

    /// The entries NSS serves, when nsswitch.conf names a module and `paths` are the
    /// defaults (as newuidmap decides); None means: read the file.
    pub fn nss_answer(paths: &SubIdPaths, kind: IdKind, account: &Account) -> Option<UserSubIds> {
        if paths.explicit || *paths != SubIdPaths::default() {
            return None;
        }
        let module = nss::configured(Path::new(nss::NSSWITCH))?;
        match Self::from_nss(kind, account, &module) {
            Ok(subids) => Some(subids),
            Err(why) => {
                warn_once(format!(
                    "{} names `subid: {module}`, but {why}; reading {} and {} instead",
                    nss::NSSWITCH,
                    paths.subuid.display(),
                    paths.subgid.display()
                ));
                None
            }
        }
    }

    /// Ask libsubid for the ranges of `account`; Err says why NSS cannot answer.
    pub(crate) fn from_nss(
        kind: IdKind,
        account: &Account,
        module: &str,
    ) -> Result<UserSubIds, String> {
        nss::module_available(module)?;
        let lib = nss::LibSubid::load()
            .map_err(|e| format!("libsubid cannot be loaded (install libsubid4): {e}"))?;
        let owner = account.display_name();
        let own = account.own_id(kind);
        let entries = lib
            .ranges(kind, &owner)?
            .into_iter()
            .enumerate()
            .map(|(i, (start, count))| {
                let e = SubIdEntry {
                    owner: Owner::from_field(&owner),
                    owner_text: owner.clone(),
                    start,
                    count,
                    // The position in libsubid's answer: there is no file line.
                    line: i + 1,
                };
                let verdict = usability(&e, Some(own));
                (e, verdict)
            })
            .collect();
        Ok(UserSubIds {
            kind,
            source: format!("nss:{module}"),
            entries,
            skipped: Vec::new(),
        })
    }

    /// The entries as a file named by the source, for code that attributes map lines
    /// to subid lines (`idmap::owners`).
    pub fn to_file(&self) -> SubIdFile {
        SubIdFile {
            path: PathBuf::from(&self.source),
            entries: self.entries.iter().map(|(e, _)| e.clone()).collect(),
            ..Default::default()
        }
    }

    /// The ids each entry gives a map (a range passing the largest id gives its part
    /// below it), with the entry.
    pub(crate) fn usable(&self) -> impl Iterator<Item = (&SubIdEntry, SubIdRange)> {
        self.entries
            .iter()
            .filter_map(|(e, u)| Some((e, u.usable_range(e)?)))
    }
}

/// Print a warning once per process: both kinds (and several commands' reads) hit the
/// same missing library.
fn warn_once(message: String) {
    use std::sync::Mutex;
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    if !seen.contains(&message) {
        crate::warn(&message);
        seen.push(message);
    }
}
