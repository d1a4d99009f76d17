//! Change ownership of a tree from inside the mapped namespace, where the ids given are
//! the container's. Same walk as removal: no symlink is followed (fchownat with
//! AT_SYMLINK_NOFOLLOW changes the link itself), one filesystem unless asked.

use super::fs::{self, FileStat};
use super::report::Failure;
use super::target::Resolved;
use super::walk::{walk, Place, Visitor, WalkOptions};
use std::os::fd::{AsFd, BorrowedFd};

/// The new owner: None leaves that id as it is (chown(2)'s -1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewOwner {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

#[derive(Debug, Default)]
pub struct ChownOutcome {
    pub changed: u64,
    pub failures: Vec<Failure>,
}

struct Chowner {
    owner: NewOwner,
    out: ChownOutcome,
}

impl Chowner {
    fn record(&mut self, result: std::io::Result<()>, path: impl FnOnce() -> Vec<u8>) {
        match result {
            Ok(()) => self.out.changed += 1,
            Err(e) => self.out.failures.push(Failure {
                path: path(),
                reason: fs::reason(&e),
            }),
        }
    }
}

impl Visitor for Chowner {
    fn enter(&mut self, fd: BorrowedFd, _st: &FileStat, path: &[u8]) -> bool {
        // Through the descriptor that the walk opened: the very directory, not a name.
        let r = fs::chown_fd(fd, self.owner.uid, self.owner.gid);
        self.record(r, || path.to_vec());
        true
    }

    fn entry(&mut self, dir: BorrowedFd, at: Place, _st: &FileStat) {
        let r = fs::chown_at(dir, at.name, self.owner.uid, self.owner.gid);
        self.record(r, || at.path());
    }

    fn leave(&mut self, _parent: BorrowedFd, _at: Place, _st: &FileStat) {}

    fn failed(&mut self, path: &[u8], reason: String) {
        self.out.failures.push(Failure {
            path: path.to_vec(),
            reason,
        });
    }
}

/// Change the owner of the resolved target and, when it is a directory and `recursive`,
/// of everything below it.
pub fn chown_tree(
    target: &Resolved,
    owner: NewOwner,
    recursive: bool,
    options: WalkOptions,
) -> ChownOutcome {
    let mut chowner = Chowner {
        owner,
        out: ChownOutcome::default(),
    };
    let path = target.target.path.as_os_str().as_encoded_bytes();
    if recursive && target.st.is_dir() {
        walk(
            target.parent.as_fd(),
            &target.target.name,
            path,
            &target.st,
            options,
            &mut chowner,
        );
    } else {
        // The inode that was checked, through its handle: no name is looked up again.
        let r = fs::chown_handle(target.handle.as_fd(), owner.uid, owner.gid);
        chowner.record(r, || path.to_vec());
    }
    chowner.out
}
