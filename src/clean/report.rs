//! What a clean found or removed: counts, bytes, owners as container ids, failures.

use super::fs::{display_bytes, FileStat};
use super::owners::{Owner, OwnerIds};
use crate::units::human_bytes;
use serde::Serialize;
use std::collections::BTreeMap;

/// Counts of one tree (or of one worker's share of it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub files: u64,
    pub directories: u64,
    pub bytes: u64,
    /// Owner uid as the walk saw it (inside the namespace) → (files, directories).
    pub owners: BTreeMap<u32, (u64, u64)>,
}

impl Tally {
    /// Count one entry; directories count their own size too (as du's apparent size).
    pub(crate) fn add(&mut self, st: &FileStat) {
        let slot = self.owners.entry(st.uid).or_default();
        if st.is_dir() {
            self.directories += 1;
            slot.1 += 1;
        } else {
            self.files += 1;
            slot.0 += 1;
        }
        self.bytes += st.size;
    }

    pub fn merge(&mut self, other: &Tally) {
        self.files += other.files;
        self.directories += other.directories;
        self.bytes += other.bytes;
        for (uid, (f, d)) in &other.owners {
            let slot = self.owners.entry(*uid).or_default();
            slot.0 += f;
            slot.1 += d;
        }
    }

    pub fn entries(&self) -> u64 {
        self.files + self.directories
    }

    /// Owners as the report names them, in order (ids inside the namespace, then the
    /// unmapped), with their (files, directories).
    fn by_owner(&self, ids: &OwnerIds) -> BTreeMap<Owner, (u64, u64)> {
        let mut owners = BTreeMap::<Owner, (u64, u64)>::new();
        for (uid, (f, d)) in &self.owners {
            let slot = owners.entry(ids.owner(*uid)).or_default();
            slot.0 += f;
            slot.1 += d;
        }
        owners
    }

    /// Owners as `0: 1,204 files, 1000: 98,113 files` with ids inside the namespace, and
    /// `unmapped (ids outside your ranges): 3 files` for the rest.
    pub(crate) fn owner_summary(&self, ids: &OwnerIds) -> String {
        self.by_owner(ids)
            .iter()
            .map(|(owner, (f, d))| {
                let mut parts = Vec::new();
                if *f > 0 || *d == 0 {
                    parts.push(counted(*f, "file"));
                }
                if *d > 0 {
                    parts.push(counted(*d, "directory"));
                }
                match owner {
                    Owner::Id { inside, .. } => format!("{inside}: {}", parts.join(" and ")),
                    Owner::Unmapped => format!(
                        "unmapped (ids outside your ranges): {}",
                        parts.join(" and ")
                    ),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(crate) fn owners_json(&self, ids: &OwnerIds) -> Vec<OwnerJson> {
        self.by_owner(ids)
            .iter()
            .map(|(owner, (f, d))| {
                let (uid, host_uid) = match owner {
                    Owner::Id { inside, host } => (Some(*inside), Some(*host)),
                    Owner::Unmapped => (None, None),
                };
                OwnerJson {
                    uid,
                    host_uid,
                    unmapped: *owner == Owner::Unmapped,
                    files: *f,
                    directories: *d,
                }
            })
            .collect()
    }
}

/// A thing that could not be removed or changed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub path: Vec<u8>,
    pub reason: String,
}

impl Failure {
    /// `path: reason`, one line whatever bytes the path holds.
    pub fn line(&self) -> String {
        format!("{}: {}", display_bytes(&self.path), self.reason)
    }
}

#[derive(Debug, Serialize)]
pub struct OwnerJson {
    /// The owner as seen inside the namespace (null when unmapped).
    pub uid: Option<u32>,
    /// The owner as the host sees it (null when unmapped).
    pub host_uid: Option<u32>,
    /// The owner is an id outside the user's ranges (the kernel shows it as 65534).
    pub unmapped: bool,
    pub files: u64,
    pub directories: u64,
}

#[derive(Debug, Serialize)]
pub struct TreeJson {
    pub path: String,
    pub files: u64,
    pub directories: u64,
    pub bytes: u64,
    pub owners: Vec<OwnerJson>,
}

#[derive(Debug, Serialize)]
pub struct FailureJson {
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct CleanJson {
    /// "dry-run" (nothing removed), "removed", or "refused" (not confirmed).
    pub action: &'static str,
    pub trees: Vec<TreeJson>,
    pub failures: Vec<FailureJson>,
    /// Other things done on the way (a podman pause process stopped).
    pub notes: Vec<String>,
}

impl TreeJson {
    pub fn new(path: &std::path::Path, tally: &Tally, ids: &OwnerIds) -> TreeJson {
        TreeJson {
            path: display_bytes(path.as_os_str().as_encoded_bytes()),
            files: tally.files,
            directories: tally.directories,
            bytes: tally.bytes,
            owners: tally.owners_json(ids),
        }
    }
}

impl FailureJson {
    pub fn new(f: &Failure) -> FailureJson {
        FailureJson {
            path: display_bytes(&f.path),
            reason: f.reason.clone(),
        }
    }
}

/// `1,204 files` / `1 file`.
pub fn counted(n: u64, noun: &str) -> String {
    let plural = if n == 1 {
        noun.to_string()
    } else if let Some(stem) = noun.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{noun}s")
    };
    format!("{} {plural}", thousands(n))
}

/// 98113 → "98,113".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One tree's report block, as text.
pub fn tree_text(path: &std::path::Path, tally: &Tally, ids: &OwnerIds) -> String {
    format!(
        "{}\n  {}, {}, {} ({} bytes)\n  owners (ids inside the namespace): {}\n",
        display_bytes(path.as_os_str().as_encoded_bytes()),
        counted(tally.files, "file"),
        counted(tally.directories, "directory"),
        human_bytes(tally.bytes),
        thousands(tally.bytes),
        if tally.owners.is_empty() {
            "none".to_string()
        } else {
            tally.owner_summary(ids)
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(uid: u32, dir: bool, size: u64) -> FileStat {
        FileStat {
            dev: 1,
            ino: 1,
            mode: if dir { libc::S_IFDIR } else { libc::S_IFREG } | 0o644,
            uid,
            gid: uid,
            size,
            nlink: 1,
        }
    }

    #[test]
    fn owner_summary_counts_per_container_id() {
        let mut a = Tally::default();
        for _ in 0..1204 {
            a.add(&st(0, false, 1));
        }
        a.add(&st(0, true, 4096));
        let mut b = Tally::default();
        for _ in 0..98113 {
            b.add(&st(1000, false, 0));
        }
        a.merge(&b);
        let mut c = Tally::default();
        c.add(&st(7, true, 0));
        a.merge(&c);
        let plan = crate::idmap::IdMap::uids(&[(0, 2000, 1), (1, 200000, 65536)]);
        let ids = OwnerIds::new(&plan);
        assert_eq!(
            a.owner_summary(&ids),
            "0: 1,204 files and 1 directory, 7: 1 directory, 1000: 98,113 files"
        );
        assert_eq!((a.files, a.directories, a.bytes), (99317, 2, 1204 + 4096));
        let owners = a.owners_json(&ids);
        assert_eq!(owners[2].host_uid, Some(200999));
        assert_eq!(owners[1].host_uid, Some(200006));
        assert_eq!(owners[0].host_uid, Some(2000));
        // Seen by the walk as 65534: an id outside the ranges, named so and listed last;
        // the walk's 65535 is the plan's 65534.
        a.add(&st(65534, false, 0));
        a.add(&st(65535, false, 0));
        assert_eq!(
            a.owner_summary(&ids),
            "0: 1,204 files and 1 directory, 7: 1 directory, 1000: 98,113 files, \
             65534: 1 file, unmapped (ids outside your ranges): 1 file"
        );
        let owners = a.owners_json(&ids);
        assert_eq!((owners[4].uid, owners[4].unmapped), (None, true));
        assert_eq!(owners[3].host_uid, Some(265533));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(counted(1, "directory"), "1 directory");
        assert_eq!(counted(2, "directory"), "2 directories");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(12), "12 B");
    }
}
