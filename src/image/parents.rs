//! The directory the last entry of a layer landed in, kept for the entries after it, and
//! what a new file made there gets without being asked.
//!
//! A tar lists a directory's files one after another. Resolving each one's parent afresh
//! (openat2 with `RESOLVE_IN_ROOT`, walking every component) was the dearest system call of
//! an unpack of small files, so the parent's descriptor is kept while entries land in the
//! directory with the same (cleaned) components.
//!
//! A kept descriptor cannot let a write out of the root: the kernel resolved it beneath the
//! root, it names a directory inode, and the unpacker never renames, so that inode stays
//! beneath the root or is deleted (creating in a deleted directory fails with ENOENT). What
//! the rule below guards is the *meaning* of a path: the kept descriptor must be the
//! directory a fresh resolution would give now. A resolution that succeeded looked up only
//! names that existed, so creating a name where nothing was cannot change it. Removing or
//! replacing something can: a directory swapped for a symlink, a whiteout, an opaque
//! marker, a directory on the way given another owner or mode, the target of a symlink on
//! the way removed. So an entry that finds anything at its name, and every whiteout, drops
//! the kept directory ([`Parents::forget`], or not handing it back with
//! [`Parents::keep`]). That is coarser than "a prefix of the kept path was touched", and
//! on purpose: through symlinks a path's meaning changes with names that are no prefix of
//! it (`l -> m/n`, then `m` replaced, changes `l/x`). It still hits the common case, a run
//! of new files in one directory. Nothing is kept from one layer to the next.

use super::beneath::{InnerPath, Root};
use crate::sys::fs::FileStat;
use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;

/// What a new file made in a directory gets without being asked, learned from the first
/// one made there: its owner (the process's fsuid, and its fsgid or the directory's group
/// when the directory is setgid or the file system is mounted `grpid`), and which of the
/// permission bits asked for survived the creation. The umask, or the directory's default
/// ACL in its place, takes bits away by one fixed mask per directory (posix_acl_create),
/// so a later file whose bits all survived before comes out with exactly its bits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewFile {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// Permission bits seen to survive the creation.
    kept: u32,
}

impl NewFile {
    /// From the stat of a file just made with the permission bits `asked`.
    pub(crate) fn seen(st: &FileStat, asked: u32) -> NewFile {
        NewFile {
            uid: st.uid,
            gid: st.gid,
            kept: st.mode & asked & 0o777,
        }
    }

    /// Whether a file made with the permission bits `asked` comes out with all of them.
    pub(crate) fn keeps(&self, asked: u32) -> bool {
        asked & 0o777 & !self.kept == 0
    }

    pub(crate) fn owned_by(&self, uid: u32, gid: u32) -> bool {
        (self.uid, self.gid) == (uid, gid)
    }
}

/// A parent directory of an entry, resolved beneath the root.
#[derive(Debug)]
pub(crate) struct Parent {
    components: Vec<OsString>,
    pub(crate) fd: OwnedFd,
    /// Learned from the first regular file made in it (None until then).
    pub(crate) new_file: Option<NewFile>,
}

/// The kept parent directory of one layer's unpack.
#[derive(Debug, Default)]
pub(crate) struct Parents {
    kept: Option<Parent>,
}

impl Parents {
    /// The parent directory of `path` (made if missing, as [`Root::parent_of`] makes it):
    /// the kept one when it has the same components, else resolved beneath the root. Hand
    /// it back with [`Parents::keep`] unless the entry removed or replaced anything.
    pub(crate) fn take(&mut self, root: &Root, path: &InnerPath) -> io::Result<Parent> {
        if let Some(kept) = self.kept.take() {
            if kept.components == path.parent() {
                return Ok(kept);
            }
        }
        Ok(Parent {
            components: path.parent().to_vec(),
            fd: root.parent_of(path, true)?,
            new_file: None,
        })
    }

    /// Keep `parent` for the next entry: the entry that used it made only new names.
    pub(crate) fn keep(&mut self, parent: Parent) {
        self.kept = Some(parent);
    }

    /// Drop the kept directory: an entry removed or replaced something.
    pub(crate) fn forget(&mut self) {
        self.kept = None;
    }
}

#[cfg(test)]
mod tests {
    use super::NewFile;
    use crate::sys::fs::FileStat;

    fn made(mode: u32) -> FileStat {
        FileStat {
            dev: 1,
            ino: 1,
            mode: libc::S_IFREG | mode,
            uid: 0,
            gid: 33,
            size: 0,
            nlink: 1,
        }
    }

    #[test]
    fn only_bits_seen_to_survive_are_trusted() {
        // Asked 0777 under umask 022: 0755 came out.
        let seen = NewFile::seen(&made(0o755), 0o777);
        assert!(!seen.keeps(0o777), "the umask took 022");
        assert!(seen.keeps(0o755) && seen.keeps(0o644) && seen.keeps(0o000));
        // Asked 0644: nothing is known of the execute bits.
        let seen = NewFile::seen(&made(0o644), 0o644);
        assert!(seen.keeps(0o600) && seen.keeps(0o644));
        assert!(!seen.keeps(0o755) && !seen.keeps(0o664));
        // A default ACL of user::rw-, group::r--, other::---: asked 0755, got 0640.
        let seen = NewFile::seen(&made(0o640), 0o755);
        assert!(!seen.keeps(0o755) && !seen.keeps(0o644));
        assert!(seen.keeps(0o600) && seen.keeps(0o640));
        assert!(seen.owned_by(0, 33) && !seen.owned_by(0, 0));
    }
}
