//! A tree walk over directory descriptors that never leaves the tree it was given.
//!
//! - Every entry is looked up relative to its directory's descriptor with
//!   AT_SYMLINK_NOFOLLOW / O_NOFOLLOW, so a symlink is an entry (never a way out), and a
//!   directory swapped for a symlink while the walk runs is met as that symlink.
//! - The walk is iterative (an explicit stack of frames), so 5,000 levels cost 5,000
//!   small frames, not 5,000 native stack frames.
//! - At most `budget` directory descriptors are held. Past it, the shallowest ones are
//!   closed and reopened later by walking down again from the anchor with O_NOFOLLOW,
//!   each step checked against the (st_dev, st_ino) seen the first time. Reopening by
//!   `openat(child, "..")` is not done: a directory moved elsewhere meanwhile would lead
//!   out of the tree.
//! - With `one_filesystem`, a directory whose st_dev differs from the root's is not
//!   entered (the `rm --one-file-system` / `find -xdev` rule).
//! - The root is looked up by name in a directory outside the tree (its parent), so it
//!   must still be the inode the caller checked, (st_dev, st_ino) compared, before
//!   anything is done to it or below it: a swap in the parent is refused, not walked.

use super::fs::{self, FileStat};
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

/// Where an entry is: its directory's path and its name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place<'a> {
    pub dir: &'a [u8],
    pub name: &'a CStr,
}

impl Place<'_> {
    pub(crate) fn path(&self) -> Vec<u8> {
        join(self.dir, self.name)
    }
}

fn join(dir: &[u8], name: &CStr) -> Vec<u8> {
    let mut p = Vec::with_capacity(dir.len() + 1 + name.to_bytes().len());
    p.extend_from_slice(dir);
    if !dir.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name.to_bytes());
    p
}

/// What a walk does at each step.
pub(crate) trait Visitor {
    /// A directory was opened (the root included); `path` is its own path. Return false
    /// to leave its entries unread.
    fn enter(&mut self, fd: BorrowedFd, st: &FileStat, path: &[u8]) -> bool;
    /// A non-directory entry of `dir` (a symlink included).
    fn entry(&mut self, dir: BorrowedFd, at: Place, st: &FileStat);
    /// Every entry of a directory has been visited and its descriptor is closed.
    fn leave(&mut self, parent: BorrowedFd, at: Place, st: &FileStat);
    /// Something could not be visited; the walk goes on with the rest.
    fn failed(&mut self, path: &[u8], reason: String);
    /// A directory on another filesystem, not entered because of the one-filesystem rule.
    fn other_filesystem(&mut self, _parent: BorrowedFd, at: Place, _st: &FileStat) {
        self.failed(
            &at.path(),
            "another filesystem is mounted here; not entered (--cross-filesystems enters it)"
                .into(),
        );
    }
    /// Offer the subdirectory `at` of `parent` (as `st` says it is) to another worker; true
    /// when taken (the walk then skips it).
    fn delegate(
        &mut self,
        _parent: &Arc<OwnedFd>,
        _at: Place,
        _st: &FileStat,
        _depth: usize,
    ) -> bool {
        false
    }
    /// Whether a directory that cannot be opened for lack of permission may have its mode
    /// raised (u+rwx) so that it can be. A dry run must not change anything.
    fn may_fix_modes(&self) -> bool {
        false
    }
    /// The walk has ended: the descriptors it passed are closed, and their numbers may
    /// come back for other directories.
    fn walk_done(&mut self) {}
}

/// The walk's settings.
#[derive(Debug, Clone, Copy)]
pub struct WalkOptions {
    pub one_filesystem: bool,
    /// Directory descriptors a walk may hold at once (at least 2).
    pub budget: usize,
}

struct Frame {
    name: CString,
    fd: Option<Arc<OwnedFd>>,
    st: FileStat,
    names: Vec<CString>,
    /// Length of the shared path buffer holding this directory's path.
    path_len: usize,
}

enum Opened {
    Dir(OwnedFd, FileStat),
    /// Not a directory (any more): a symlink, a file, or something swapped in.
    NotDir,
    Vanished,
    /// Not the directory expected (only when one was).
    Replaced,
}

/// Walk the entry `name` of `anchor` (whose display path is `path`), which must still be
/// the inode `expect` describes.
pub(crate) fn walk<V: Visitor>(
    anchor: BorrowedFd,
    name: &CStr,
    path: &[u8],
    expect: &FileStat,
    options: WalkOptions,
    visitor: &mut V,
) {
    Walker {
        anchor,
        options,
        dev: None,
        frames: Vec::new(),
        first_open: 0,
        path: path.to_vec(),
        visitor,
    }
    .run(name, expect)
}

/// Why a root that is no longer the checked inode is left alone.
pub(crate) const REPLACED: &str =
    "replaced since it was checked (another process renamed it); left as it is";

struct Walker<'a, V> {
    anchor: BorrowedFd<'a>,
    options: WalkOptions,
    dev: Option<u64>,
    frames: Vec<Frame>,
    /// Frames below this index hold no descriptor.
    first_open: usize,
    path: Vec<u8>,
    visitor: &'a mut V,
}

impl<V: Visitor> Walker<'_, V> {
    fn run(mut self, root: &CStr, expect: &FileStat) {
        let root_path = std::mem::take(&mut self.path);
        let (dir, _) = split_last(&root_path);
        let at = Place { dir, name: root };
        match open_child(
            self.anchor,
            root,
            self.visitor.may_fix_modes(),
            Some(expect),
        ) {
            Ok(Opened::Dir(_, st)) if !st.same_file(expect) => {
                self.visitor.failed(&root_path, REPLACED.into())
            }
            Ok(Opened::Replaced) => self.visitor.failed(&root_path, REPLACED.into()),
            Ok(Opened::Dir(fd, st)) => {
                if self.options.one_filesystem {
                    self.dev = Some(st.dev);
                }
                self.path = root_path.clone();
                self.push(root.to_owned(), fd, st);
            }
            Ok(Opened::NotDir) => match fs::stat_at(self.anchor, root) {
                Ok(st) if st.same_file(expect) && !st.is_dir() => {
                    self.visitor.entry(self.anchor, at, &st)
                }
                Ok(_) => self.visitor.failed(&root_path, REPLACED.into()),
                Err(e) => self.visitor.failed(&root_path, fs::reason(&e)),
            },
            Ok(Opened::Vanished) => {}
            Err(e) => self.visitor.failed(&root_path, fs::reason(&e)),
        }
        while !self.frames.is_empty() {
            self.step();
        }
        self.visitor.walk_done();
    }

    /// Visit the next entry of the deepest directory, or leave it when it has none left.
    fn step(&mut self) {
        let depth = self.frames.len();
        let Some(name) = self.frames[depth - 1].names.pop() else {
            return self.pop();
        };
        let Some(dir) = self.top_fd() else { return };
        let at = Place {
            dir: &self.path,
            name: &name,
        };
        let st = match fs::stat_at(dir.as_fd(), &name) {
            Ok(st) => st,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return,
            Err(e) => return self.visitor.failed(&at.path(), fs::reason(&e)),
        };
        if !st.is_dir() {
            return self.visitor.entry(dir.as_fd(), at, &st);
        }
        if self.dev.is_some_and(|d| d != st.dev) {
            return self.visitor.other_filesystem(dir.as_fd(), at, &st);
        }
        if self.visitor.delegate(&dir, at, &st, depth) {
            return;
        }
        match open_child(dir.as_fd(), &name, self.visitor.may_fix_modes(), None) {
            Ok(Opened::Dir(fd, st)) => {
                if self.dev.is_some_and(|d| d != st.dev) {
                    // Became a mount point between the stat and the open.
                    return self.visitor.other_filesystem(dir.as_fd(), at, &st);
                }
                let child = join(&self.path, &name);
                self.path = child;
                self.push(name, fd, st);
            }
            Ok(Opened::NotDir) => match fs::stat_at(dir.as_fd(), &name) {
                // Swapped for a symlink or a file since the stat: visit what is there now.
                Ok(st) if !st.is_dir() => self.visitor.entry(dir.as_fd(), at, &st),
                Ok(_) => self.visitor.failed(
                    &at.path(),
                    "replaced repeatedly while being visited; left as it is".into(),
                ),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => self.visitor.failed(&at.path(), fs::reason(&e)),
            },
            Ok(Opened::Vanished | Opened::Replaced) => {}
            Err(e) => self.visitor.failed(&at.path(), fs::reason(&e)),
        }
    }

    fn push(&mut self, name: CString, fd: OwnedFd, st: FileStat) {
        let names = if self.visitor.enter(fd.as_fd(), &st, &self.path) {
            match fs::read_names(fd.as_fd()) {
                Ok(names) => names,
                Err(e) => {
                    self.visitor.failed(&self.path, fs::reason(&e));
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        self.frames.push(Frame {
            name,
            fd: Some(Arc::new(fd)),
            st,
            names,
            path_len: self.path.len(),
        });
        let budget = self.options.budget.max(2);
        while self.frames.len() - self.first_open > budget {
            self.frames[self.first_open].fd = None;
            self.first_open += 1;
        }
    }

    fn pop(&mut self) {
        let frame = self.frames.pop().expect("pop with frames left");
        drop(frame.fd);
        self.first_open = self.first_open.min(self.frames.len());
        if self.frames.is_empty() {
            let (dir, _) = split_last(&self.path);
            let at = Place {
                dir,
                name: &frame.name,
            };
            self.visitor.leave(self.anchor, at, &frame.st);
            self.path.clear();
            return;
        }
        // None: the parent could not be reopened as itself; that is reported, and the
        // frames and path are cut back already. Never `leave` through another directory.
        let Some(parent) = self.top_fd() else { return };
        let parent_len = self.frames[self.frames.len() - 1].path_len;
        let at = Place {
            dir: &self.path[..parent_len],
            name: &frame.name,
        };
        self.visitor.leave(parent.as_fd(), at, &frame.st);
        self.path.truncate(parent_len);
    }

    /// The deepest directory's descriptor, reopened if the budget closed it. None when it
    /// could not be reopened as the same directory (the frames concerned are then dropped
    /// and reported).
    fn top_fd(&mut self) -> Option<Arc<OwnedFd>> {
        if let Some(fd) = &self.frames.last()?.fd {
            return Some(fd.clone());
        }
        if self.reopen() {
            self.frames.last()?.fd.clone()
        } else {
            None
        }
    }

    /// Reopen frames 0..=top from the anchor, keeping the deepest half-budget open.
    fn reopen(&mut self) -> bool {
        let top = self.frames.len() - 1;
        let keep_from = (top + 1).saturating_sub((self.options.budget / 2).max(1));
        let mut current: Option<Arc<OwnedFd>> = None;
        for i in 0..=top {
            let opened = {
                let parent = match &current {
                    Some(fd) => fd.as_fd(),
                    None => self.anchor,
                };
                fs::open_dir_at(parent, &self.frames[i].name)
                    .and_then(|fd| fs::stat_fd(fd.as_fd()).map(|st| (fd, st)))
            };
            match opened {
                Ok((fd, st)) if st.same_file(&self.frames[i].st) => {
                    let fd = Arc::new(fd);
                    if i >= keep_from {
                        self.frames[i].fd = Some(fd.clone());
                    }
                    current = Some(fd);
                }
                other => {
                    let reason = match other {
                        Err(e) => fs::reason(&e),
                        Ok(_) => String::new(),
                    };
                    let path = self.path[..self.frames[i].path_len].to_vec();
                    self.visitor.failed(
                        &path,
                        format!(
                            "directory moved or replaced while being visited; left as it is{}",
                            if reason.is_empty() {
                                String::new()
                            } else {
                                format!(" ({reason})")
                            }
                        ),
                    );
                    let parent_len = if i == 0 {
                        0
                    } else {
                        self.frames[i - 1].path_len
                    };
                    self.frames.truncate(i);
                    self.path.truncate(parent_len);
                    // Frames 0..i were reopened but not kept below keep_from: mark the
                    // open suffix again so the next top_fd reopens what it needs.
                    self.first_open = (0..i)
                        .rev()
                        .take_while(|&j| self.frames[j].fd.is_some())
                        .last()
                        .unwrap_or(i);
                    return false;
                }
            }
        }
        self.first_open = keep_from;
        true
    }
}

/// Split a path into its directory part and last component (for display only).
fn split_last(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(0) => (&path[..1], &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&path[..0], path),
    }
}

/// Open the directory `name` of `dir` without following a symlink. With `fix_modes`, a
/// directory we may not read (mode 000, or no r/x for us) gets u+rwx through an O_PATH
/// handle on the very inode (never a re-resolved name) and is opened again. With
/// `expect`, that inode must be the one expected before its mode is touched (`dir` is
/// then outside the tree, and the name could hold anything by now).
fn open_child(
    dir: BorrowedFd,
    name: &CStr,
    fix_modes: bool,
    expect: Option<&FileStat>,
) -> io::Result<Opened> {
    let classify = |e: io::Error| -> io::Result<Opened> {
        match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) => Ok(Opened::NotDir),
            Some(libc::ENOENT) => Ok(Opened::Vanished),
            _ => Err(e),
        }
    };
    let first = match fs::open_dir_at(dir, name) {
        Ok(fd) => {
            let st = fs::stat_fd(fd.as_fd())?;
            return Ok(Opened::Dir(fd, st));
        }
        Err(e) => e,
    };
    if !(fix_modes && first.raw_os_error() == Some(libc::EACCES)) {
        return classify(first);
    }
    let handle = match fs::open_path_at(dir, name) {
        Ok(h) => h,
        Err(e) => return classify(e),
    };
    let st = fs::stat_fd(handle.as_fd())?;
    if !st.is_dir() {
        return Ok(Opened::NotDir);
    }
    if expect.is_some_and(|e| !e.same_file(&st)) {
        return Ok(Opened::Replaced);
    }
    fs::chmod_path_fd(handle.as_fd(), st.mode | 0o700).map_err(|_| first)?;
    let fd = match fs::open_dir_at(dir, name) {
        Ok(fd) => fd,
        Err(e) => return classify(e),
    };
    // If it was replaced between the two opens, what was opened is still a directory
    // reached without following a symlink, so still inside the tree.
    let now = fs::stat_fd(fd.as_fd())?;
    Ok(Opened::Dir(fd, now))
}
