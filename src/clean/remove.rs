//! Count a tree, or remove it with several workers.
//!
//! Removal runs in two passes. The parallel pass: the workers of `pool.rs` share the
//! tree, so both cores unlink at once whatever the tree's shape. A directory whose child was
//! handed away may still be non-empty when its own walk ends; its rmdir then fails with
//! ENOTEMPTY, which is expected. The sweep pass: one walker goes over whatever is left
//! (those directories, and anything that failed), so every failure is reported once, by
//! the pass that saw the final state.

use super::fs::{self, FileStat};
use super::pool::walk_parallel;
use super::report::{Failure, Tally};
use super::walk::{walk, Place, Visitor, WalkOptions, REPLACED};
use indicatif::ProgressBar;
use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

/// What a walk counted or did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub tally: Tally,
    pub failures: Vec<Failure>,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.tally.merge(&other.tally);
        self.failures.extend(other.failures);
    }
}

/// Counts every entry; changes nothing (a dry run, and the report before a removal).
#[derive(Default)]
struct Counter {
    out: Outcome,
}

impl Visitor for Counter {
    fn enter(&mut self, _fd: BorrowedFd, st: &FileStat, _path: &[u8]) -> bool {
        self.out.tally.add(st);
        true
    }
    fn entry(&mut self, _dir: BorrowedFd, _at: Place, st: &FileStat) {
        self.out.tally.add(st);
    }
    fn leave(&mut self, _parent: BorrowedFd, _at: Place, _st: &FileStat) {}
    fn failed(&mut self, path: &[u8], reason: String) {
        self.out.failures.push(Failure {
            path: path.to_vec(),
            reason,
        });
    }
}

/// Count the tree `name` of `parent` (the inode `expect`) without changing it.
pub fn count_tree(
    parent: BorrowedFd,
    name: &CStr,
    path: &[u8],
    expect: &FileStat,
    options: WalkOptions,
) -> Outcome {
    let mut counter = Counter::default();
    walk(parent, name, path, expect, options, &mut counter);
    counter.out
}

/// Removes what it visits, depth first.
struct Remover<'p> {
    out: Outcome,
    progress: &'p ProgressBar,
    unreported: u64,
}

impl Remover<'_> {
    fn removed(&mut self, st: &FileStat) {
        self.out.tally.add(st);
        self.unreported += 1;
        if self.unreported >= 256 {
            self.progress.inc(self.unreported);
            self.unreported = 0;
        }
    }

    fn fail(&mut self, at: &Place, err: &std::io::Error) {
        self.out.failures.push(Failure {
            path: at.path(),
            reason: fs::reason(err),
        });
    }
}

impl Drop for Remover<'_> {
    fn drop(&mut self) {
        self.progress.inc(self.unreported);
    }
}

impl Visitor for Remover<'_> {
    fn enter(&mut self, fd: BorrowedFd, st: &FileStat, _path: &[u8]) -> bool {
        // unlinkat needs w and x on the directory; overlay's work/ dirs are mode 000.
        if st.mode & 0o300 != 0o300 {
            let _ = fs::chmod_fd(fd, st.mode | 0o700);
        }
        true
    }

    fn entry(&mut self, dir: BorrowedFd, at: Place, st: &FileStat) {
        match fs::unlink_at(dir, at.name, false) {
            Ok(()) => self.removed(st),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => self.fail(&at, &e),
        }
    }

    fn leave(&mut self, parent: BorrowedFd, at: Place, st: &FileStat) {
        // rmdir takes a name, not a descriptor: the name must still hold the directory
        // that was emptied. What is left between this check and the rmdir cannot reach
        // out: the name is looked up in `parent` (the checked parent of the root, or a
        // directory of the tree), and rmdir only takes an empty directory, which whoever
        // could rename it there could remove as well.
        match fs::stat_at(parent, at.name) {
            Ok(now) if now.same_file(st) => {}
            Ok(_) => {
                return self.out.failures.push(Failure {
                    path: at.path(),
                    reason: REPLACED.into(),
                })
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return,
            Err(e) => return self.fail(&at, &e),
        }
        match fs::unlink_at(parent, at.name, true) {
            Ok(()) => self.removed(st),
            // Not empty: something inside failed (reported there), or was handed to
            // another worker, or appeared meanwhile; the sweep pass decides.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => self.fail(&at, &e),
        }
    }

    fn failed(&mut self, path: &[u8], reason: String) {
        self.out.failures.push(Failure {
            path: path.to_vec(),
            reason,
        });
    }

    fn may_fix_modes(&self) -> bool {
        true
    }
}

/// Remove the tree `name` of `parent` (the tree's own directory included, which must be
/// the inode `expect`) with `workers` threads; the caller must already be allowed to
/// (inside the mapped namespace).
pub fn remove_tree(
    parent: &Arc<OwnedFd>,
    name: &CStr,
    path: &[u8],
    expect: &FileStat,
    options: WalkOptions,
    workers: usize,
    progress: &ProgressBar,
) -> Outcome {
    let (removers, crashed) =
        walk_parallel(parent, name, path, expect, options, workers, || Remover {
            out: Outcome::default(),
            progress,
            unreported: 0,
        });
    let mut first = Outcome::default();
    for mut r in removers {
        first.merge(std::mem::take(&mut r.out));
    }
    first.failures.extend(crashed);
    if !exists(parent.as_fd(), name) {
        return first;
    }
    // The sweep: whatever is left, by one walker; its failures are the final ones.
    let mut sweeper = Remover {
        out: Outcome::default(),
        progress,
        unreported: 0,
    };
    walk(parent.as_fd(), name, path, expect, options, &mut sweeper);
    let mut last = std::mem::take(&mut sweeper.out);
    last.tally.merge(&first.tally);
    if last.failures.is_empty() && exists(parent.as_fd(), name) {
        last.failures.push(Failure {
            path: path.to_vec(),
            reason: "still not empty: entries were added while it was being removed".into(),
        });
    }
    last
}

fn exists(parent: BorrowedFd, name: &CStr) -> bool {
    fs::stat_at(parent, name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::fs::PermissionsExt;

    /// A chain `depth` deep with a file at each level, a mode-000 directory and a
    /// symlink to a directory outside; the walk holds at most 8 descriptors.
    fn build(root: &std::path::Path, depth: usize) {
        let mut p = root.join("tree");
        for i in 0..depth {
            std::fs::create_dir_all(&p).unwrap();
            std::fs::write(p.join(format!("f{i}")), b"abc").unwrap();
            p.push("d");
        }
        std::fs::create_dir_all(root.join("tree/locked/inner")).unwrap();
        std::fs::write(root.join("tree/locked/inner/x"), b"").unwrap();
        for d in ["tree/locked/inner", "tree/locked"] {
            std::fs::set_permissions(root.join(d), std::fs::Permissions::from_mode(0o000)).unwrap();
        }
        std::fs::create_dir(root.join("outside")).unwrap();
        std::fs::write(root.join("outside/keep"), b"").unwrap();
        std::os::unix::fs::symlink(root.join("outside"), root.join("tree/out")).unwrap();
    }

    const SMALL: WalkOptions = WalkOptions {
        one_filesystem: true,
        budget: 8,
    };

    #[test]
    fn deep_tree_with_few_descriptors_is_counted_and_removed() {
        // Root reads mode-000 directories (CAP_DAC_OVERRIDE); others cannot in a dry run.
        let root = nix::unistd::geteuid().is_root();
        let t = tempfile::tempdir().unwrap();
        build(t.path(), 300);
        let anchor = Arc::new(OwnedFd::from(std::fs::File::open(t.path()).unwrap()));
        let name = CString::new("tree").unwrap();
        let path = t.path().join("tree");
        let bytes = path.as_os_str().as_encoded_bytes();
        let st = fs::stat_at(anchor.as_fd(), &name).unwrap();
        let scan = count_tree(anchor.as_fd(), &name, bytes, &st, SMALL);
        assert_eq!(
            scan.failures.len(),
            usize::from(!root),
            "{:?}",
            scan.failures
        );
        assert_eq!(scan.tally.files, 300 + 1 + u64::from(root));
        let out = remove_tree(&anchor, &name, bytes, &st, SMALL, 2, &ProgressBar::hidden());
        assert!(out.failures.is_empty(), "{:?}", out.failures);
        assert_eq!(out.tally.files, 300 + 1 + 1);
        assert_eq!(out.tally.directories, 300 + 2);
        assert!(!path.exists());
        assert!(t.path().join("outside/keep").exists());
    }
}
