//! `whose -R`: a tree summarised by owner, counted by the parallel walkers of
//! `clean::pool` (no symlink followed, one file system unless asked). An inode with
//! several hard links is counted once, as `du` does. Walked inside the user's namespace
//! (`inside.rs`), each id is counted as the host's.

use super::inside::{Handle, Inside};
use crate::clean::fs::FileStat;
use crate::clean::pool::walk_parallel;
use crate::clean::report::Failure;
use crate::clean::target::Resolved;
use crate::clean::walk::{Place, Visitor, WalkOptions};
use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Mutex;

/// Entries and bytes of one owner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    pub files: u64,
    pub directories: u64,
    pub bytes: u64,
}

impl Count {
    fn add(&mut self, st: &FileStat) {
        if st.is_dir() {
            self.directories += 1;
        } else {
            self.files += 1;
        }
        self.bytes += st.size;
    }

    fn merge(&mut self, other: &Count) {
        self.files += other.files;
        self.directories += other.directories;
        self.bytes += other.bytes;
    }
}

/// A tree's counts, per host uid and per host gid.
#[derive(Debug, Clone, Default)]
pub struct OwnerSummary {
    pub total: Count,
    pub by_uid: HashMap<u32, Count>,
    pub by_gid: HashMap<u32, Count>,
    pub failures: Vec<Failure>,
}

impl OwnerSummary {
    /// Count one entry under its owner and group.
    pub fn add(&mut self, st: &FileStat) {
        self.total.add(st);
        self.by_uid.entry(st.uid).or_default().add(st);
        self.by_gid.entry(st.gid).or_default().add(st);
    }

    fn merge(&mut self, other: OwnerSummary) {
        self.total.merge(&other.total);
        for (id, c) in other.by_uid {
            self.by_uid.entry(id).or_default().merge(&c);
        }
        for (id, c) in other.by_gid {
            self.by_gid.entry(id).or_default().merge(&c);
        }
        self.failures.extend(other.failures);
    }
}

struct Summarizer<'a> {
    out: OwnerSummary,
    /// Inodes with more than one link already counted, shared by the workers.
    linked: &'a Mutex<HashSet<(u64, u64)>>,
    inside: Option<&'a Inside>,
    waiting: Option<Waiting>,
}

impl Summarizer<'_> {
    /// Count `st`, with the host's ids when the walk runs in the namespace.
    fn count<'h>(
        &mut self,
        st: &FileStat,
        path: impl FnOnce() -> Vec<u8>,
        handle: impl FnOnce() -> std::io::Result<Handle<'h>>,
    ) {
        match self.inside.map(|i| i.host_view(st, handle)) {
            None => self.out.add(st),
            Some(Ok(host)) => self.out.add(&host),
            Some(Err(e)) => self.failed(&path(), crate::clean::fs::reason(&e)),
        }
    }
}

impl Summarizer<'_> {
    /// Ask the host about the entries waiting, all of one directory, in one question.
    fn flush(&mut self) {
        let (Some(inside), Some(batch)) = (self.inside, self.waiting.take()) else {
            return;
        };
        let entries: Vec<(&std::ffi::CStr, FileStat)> = batch
            .entries
            .iter()
            .map(|(n, st, _)| (n.as_c_str(), *st))
            .collect();
        let views = inside.host_views(batch.dir.as_fd(), &entries);
        for ((_, _, path), view) in batch.entries.iter().zip(views) {
            match view {
                Ok(host) => self.out.add(&host),
                Err(e) => self.failed(path, crate::clean::fs::reason(&e)),
            }
        }
    }
}

/// Entries of one directory whose ids only the host can tell, asked about together
/// (one question to the host a directory instead of one an entry: a tree of root's has
/// nothing but such entries).
struct Waiting {
    dir: std::os::fd::OwnedFd,
    entries: Vec<(std::ffi::CString, FileStat, Vec<u8>)>,
}

impl Visitor for Summarizer<'_> {
    fn enter(&mut self, fd: BorrowedFd, st: &FileStat, path: &[u8]) -> bool {
        // Entries waiting belong to the directory above, which a new one now interrupts.
        self.flush();
        self.count(st, || path.to_vec(), || Ok(Handle::Borrowed(fd)));
        true
    }
    fn entry(&mut self, dir: BorrowedFd, at: Place, st: &FileStat) {
        if st.nlink > 1 {
            let mut seen = self.linked.lock().unwrap_or_else(|p| p.into_inner());
            if !seen.insert((st.dev, st.ino)) {
                return;
            }
        }
        match self.inside {
            Some(inside) if inside.needs_host(st) => {
                if self.waiting.is_none() {
                    match dir.try_clone_to_owned() {
                        Ok(dir) => {
                            self.waiting = Some(Waiting {
                                dir,
                                entries: Vec::new(),
                            })
                        }
                        Err(e) => return self.failed(&at.path(), crate::clean::fs::reason(&e)),
                    }
                }
                let full = self.waiting.as_mut().is_some_and(|w| {
                    w.entries.push((at.name.to_owned(), *st, at.path()));
                    w.entries.len() >= crate::sys::host_stat::BATCH
                });
                if full {
                    self.flush();
                }
            }
            _ => self.count(st, || at.path(), || Handle::open(dir, at.name)),
        }
    }
    fn leave(&mut self, _parent: BorrowedFd, _at: Place, _st: &FileStat) {
        self.flush();
    }
    fn walk_done(&mut self) {
        self.flush();
    }
    fn failed(&mut self, path: &[u8], reason: String) {
        self.out.failures.push(Failure {
            path: path.to_vec(),
            reason,
        });
    }
}

/// Count the resolved tree by owner with `workers` threads; `inside` when this process
/// is in the user's namespace (see `inside.rs`).
pub fn summarize(
    target: &Resolved,
    options: WalkOptions,
    workers: usize,
    inside: Option<&Inside>,
) -> OwnerSummary {
    let linked = Mutex::new(HashSet::new());
    let path = target.target.path.as_os_str().as_encoded_bytes();
    let (parts, crashed) = walk_parallel(
        &target.parent,
        &target.target.name,
        path,
        &target.st,
        options,
        workers,
        || Summarizer {
            out: OwnerSummary::default(),
            linked: &linked,
            inside,
            waiting: None,
        },
    );
    let mut total = OwnerSummary::default();
    for p in parts {
        total.merge(p.out);
    }
    total.failures.extend(crashed);
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_links_count_once_and_symlinks_are_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("tree");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/f"), b"12345").unwrap();
        std::fs::hard_link(root.join("a/f"), root.join("a/b/g")).unwrap();
        std::fs::create_dir(t.path().join("outside")).unwrap();
        std::fs::write(t.path().join("outside/big"), vec![0u8; 1000]).unwrap();
        std::os::unix::fs::symlink(t.path().join("outside"), root.join("out")).unwrap();
        let uid = nix::unistd::geteuid().as_raw();
        let r = crate::clean::target::resolve(&root, false, uid).unwrap();
        let s = summarize(
            &r,
            WalkOptions {
                one_filesystem: true,
                budget: 8,
            },
            2,
            None,
        );
        assert!(s.failures.is_empty(), "{:?}", s.failures);
        // tree, a, b; f (once), the symlink.
        assert_eq!(s.total.directories, 3);
        assert_eq!(s.total.files, 2);
        assert_eq!(s.by_uid[&uid].files, 2);
        let size = |p: &str| std::fs::symlink_metadata(root.join(p)).unwrap().len();
        let expected = size("") + size("a") + size("a/b") + size("a/f") + size("out");
        assert_eq!(
            s.total.bytes, expected,
            "f once, the link itself, not its target"
        );
    }
}
