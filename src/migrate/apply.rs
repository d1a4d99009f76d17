//! The walk that moves ids: each inode once (hard links share one), owner and group
//! translated, setuid/setgid bits that chown(2) clears set again, ACL entries and a
//! capability's root id translated. Times need nothing: chown, chmod and setxattr change
//! only the inode's ctime, never its atime or mtime.
//!
//! It runs where every id involved reads as its host id: in a namespace whose lines are
//! identities over the old and the new ranges (see `IdTranslation::identity_lines`), or
//! as root in the initial namespace. An id that namespace does not map reads as 65534
//! (the overflow id) and is left alone.

use super::journal::{Inode, Intent, Journal};
use super::translate::{Move, Translation};
use super::xattr::{self, ACL_ACCESS, ACL_DEFAULT, CAPABILITY};
use crate::clean::fs::{self, FileStat, XattrAt};
use crate::clean::report::Failure;
use crate::clean::walk::{Place, Visitor};
use crate::ids::IdKind;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// What every worker shares.
pub struct Shared<'a> {
    pub translation: &'a Translation,
    pub dry_run: bool,
    pub journal: Option<&'a Journal>,
    /// Journal every inode (the translation is ambiguous), not only multi-step ones.
    pub journal_all: bool,
    /// What an interrupted run intended, by inode.
    pub resumed: &'a HashMap<Inode, Intent>,
    /// Inodes with more than one link already seen.
    pub linked: Mutex<HashSet<Inode>>,
    /// Whether ids read through a namespace that shows unmapped ids as 65534.
    pub overflow_unmapped: bool,
    /// Inodes changed so far (all workers), for the progress bar and the test hook.
    pub changed: AtomicU64,
    /// Test hook (USERNS_MIGRATE_KILL_AFTER): SIGKILL this process after that many
    /// changes, to prove that a re-run finishes an interrupted migration.
    pub kill_after: Option<u64>,
    /// Entries visited, shown on a terminal (hidden otherwise).
    pub progress: indicatif::ProgressBar,
}

/// What one worker counted and did.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub entries: u64,
    pub changed: u64,
    pub from_journal: u64,
    pub acls: u64,
    pub caps: u64,
    pub setid_restored: u64,
    /// (kind, old host id) → (new host id, entries).
    pub moves: BTreeMap<(IdKind, u32), (u32, u64)>,
    /// (kind, old host id) → (namespace id, entries) the new map cannot hold.
    pub unholdable: BTreeMap<(IdKind, u32), (u32, u64)>,
    pub failures: Vec<Failure>,
}

impl Tally {
    pub fn merge(&mut self, o: Tally) {
        self.entries += o.entries;
        self.changed += o.changed;
        self.from_journal += o.from_journal;
        self.acls += o.acls;
        self.caps += o.caps;
        self.setid_restored += o.setid_restored;
        for (k, (to, n)) in o.moves {
            self.moves.entry(k).or_insert((to, 0)).1 += n;
        }
        for (k, (inside, n)) in o.unholdable {
            self.unholdable.entry(k).or_insert((inside, 0)).1 += n;
        }
        self.failures.extend(o.failures);
    }
}

pub struct Migrator<'a> {
    shared: &'a Shared<'a>,
    pub tally: Tally,
    /// Entries visited and not yet added to the progress bar.
    unreported: u64,
    /// The thread has a working directory of its own, and which directory it is in
    /// (st_dev, st_ino): the attributes of `name` are then read through `name` relative
    /// to it, a one-component lookup, instead of /proc/self/fd/N/name (five, procfs's
    /// among them), which is most of the cost of reading them.
    own_cwd: bool,
    /// The descriptor number of the directory the thread is in. Trusted without a
    /// stat(2) only between two of the walk's events that can close or swap the
    /// directory descriptor it passes (enter, leave, failed, walk_done; see
    /// `forget_cwd`): in between, every entry comes with the same open descriptor.
    cwd: Option<RawFd>,
}

impl<'a> Migrator<'a> {
    /// A worker's migrator; called in the worker thread.
    pub fn new(shared: &'a Shared<'a>) -> Migrator<'a> {
        Migrator {
            shared,
            tally: Tally::default(),
            unreported: 0,
            own_cwd: fs::own_cwd().is_ok(),
            cwd: None,
        }
    }

    /// Make the working directory `dir`, unless it is already. The number alone says so,
    /// since `forget_cwd` runs at every event after which the same number could stand for
    /// another directory (a stat of the directory per entry was a quarter of the calls).
    fn cd(&mut self, dir: BorrowedFd) -> bool {
        if !self.own_cwd {
            return false;
        }
        if self.cwd == Some(dir.as_raw_fd()) {
            return true;
        }
        if fs::chdir_fd(dir).is_err() {
            self.cwd = None;
            return false;
        }
        self.cwd = Some(dir.as_raw_fd());
        true
    }

    /// The walk entered or left a directory, reopened one, or ended: the descriptor
    /// passed with the next entry may be a new one under an old number.
    fn forget_cwd(&mut self) {
        self.cwd = None;
    }
}

impl Drop for Migrator<'_> {
    fn drop(&mut self) {
        self.shared.progress.inc(self.unreported);
    }
}

/// How the inode is reached.
#[derive(Clone, Copy)]
enum Reach<'a> {
    /// A directory the walk opened.
    Dir(BorrowedFd<'a>),
    /// `name` in the directory `dir`.
    At(BorrowedFd<'a>, &'a CStr),
}

const SETID: u32 = 0o6000;

/// Attribute name and new value.
type XattrChange = (String, Vec<u8>);
/// The capability attribute to set again after chown, and whether its root id moved.
type CapsAfter = Option<(Vec<u8>, bool)>;

fn is_reg(st: &FileStat) -> bool {
    st.mode & libc::S_IFMT == libc::S_IFREG
}

fn has_name(list: &[u8], name: &str) -> bool {
    list.split(|&b| b == 0).any(|n| n == name.as_bytes())
}

fn cname(name: &str) -> CString {
    CString::new(name).unwrap_or_default()
}

impl Migrator<'_> {
    fn fail(&mut self, path: Vec<u8>, reason: impl Into<String>) {
        self.tally.failures.push(Failure {
            path,
            reason: reason.into(),
        });
    }

    fn translate(&mut self, kind: IdKind, id: u32) -> u32 {
        let t = match kind {
            IdKind::Uid => &self.shared.translation.uid,
            IdKind::Gid => &self.shared.translation.gid,
        };
        if self.shared.overflow_unmapped
            && id == crate::ids::OVERFLOW_ID
            && t.old.to_ns(id).is_none()
        {
            return id;
        }
        match t.translate(id) {
            Move::Keep => id,
            Move::To(new) => {
                self.tally.moves.entry((kind, id)).or_insert((new, 0)).1 += 1;
                new
            }
            Move::Unholdable { inside } => {
                self.tally
                    .unholdable
                    .entry((kind, id))
                    .or_insert((inside, 0))
                    .1 += 1;
                id
            }
        }
    }

    /// The attribute changes an inode needs; the capability is returned apart, since
    /// chown removes it and it must be set again whenever the owner changes.
    fn xattr_plan(
        &mut self,
        at: XattrAt,
        st: &FileStat,
        path: &dyn Fn() -> Vec<u8>,
    ) -> (Vec<XattrChange>, CapsAfter) {
        let mut changes = Vec::new();
        let mut caps = None;
        if !(is_reg(st) || st.is_dir()) {
            return (changes, caps);
        }
        let list = match fs::list_xattrs(at) {
            Ok(l) => l,
            // A file system without extended attributes holds no ACL and no capability.
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return (changes, caps),
            Err(e) => {
                self.fail(
                    path(),
                    format!("cannot list its attributes: {}", fs::reason(&e)),
                );
                return (changes, caps);
            }
        };
        if list.is_empty() {
            return (changes, caps);
        }
        let t = self.shared.translation;
        for name in [ACL_ACCESS, ACL_DEFAULT] {
            if !has_name(&list, name) {
                continue;
            }
            match fs::get_xattr(at, &cname(name)) {
                Ok(Some(value)) => {
                    if self.shared.overflow_unmapped
                        && xattr::acl_ids(&value)
                            .iter()
                            .any(|(_, id)| *id == crate::ids::OVERFLOW_ID)
                    {
                        self.fail(
                            path(),
                            format!(
                                "{name} names ids not mapped here (shown as 65534); left as it is"
                            ),
                        );
                        continue;
                    }
                    let mut lost = Vec::new();
                    match xattr::translate_acl(&value, &t.uid, &t.gid, &mut lost) {
                        Ok(Some(new)) => changes.push((name.to_string(), new)),
                        Ok(None) => {}
                        Err(xattr::Malformed(why)) => {
                            self.fail(path(), format!("{name}: {why}; left as it is"))
                        }
                    }
                    for (is_gid, id) in lost {
                        let kind = if is_gid { IdKind::Gid } else { IdKind::Uid };
                        self.translate(kind, id);
                    }
                }
                Ok(None) => {}
                Err(e) => self.fail(path(), format!("cannot read {name}: {}", fs::reason(&e))),
            }
        }
        if is_reg(st) && has_name(&list, CAPABILITY) {
            match fs::get_xattr(at, &cname(CAPABILITY)) {
                Ok(Some(value)) => {
                    caps = Some(match xattr::translate_caps(&value, &t.uid) {
                        Some(new) => (new, true),
                        None => (value, false),
                    })
                }
                Ok(None) => {}
                // EOVERFLOW: the root id belongs to a namespace not mapped here.
                Err(e) => self.fail(
                    path(),
                    format!(
                        "cannot read {CAPABILITY}: {}; left as it is",
                        fs::reason(&e)
                    ),
                ),
            }
        }
        (changes, caps)
    }

    fn visit(&mut self, reach: Reach, st: &FileStat, path: &dyn Fn() -> Vec<u8>) {
        self.tally.entries += 1;
        self.unreported += 1;
        if self.unreported >= 256 {
            self.shared.progress.inc(self.unreported);
            self.unreported = 0;
        }
        let inode = (st.dev, st.ino);
        if let Some(intent) = self.shared.resumed.get(&inode) {
            if !self.shared.dry_run {
                self.apply(reach, st, intent, true, path);
            }
            self.tally.from_journal += 1;
            return;
        }
        let uid = self.translate(IdKind::Uid, st.uid);
        let gid = self.translate(IdKind::Gid, st.gid);
        // Only regular files and directories hold ACLs or capabilities.
        let (mut xattrs, caps) = if is_reg(st) || st.is_dir() {
            let name_path;
            let at = match reach {
                Reach::Dir(fd) => XattrAt::Fd(fd),
                Reach::At(dir, name) if self.cd(dir) => XattrAt::Path {
                    path: name,
                    follow: false,
                },
                Reach::At(dir, name) => {
                    name_path = fs::fd_path(dir, Some(name));
                    XattrAt::Path {
                        path: &name_path,
                        follow: false,
                    }
                }
            };
            self.xattr_plan(at, st, path)
        } else {
            (Vec::new(), None)
        };
        let owner_changes = uid != st.uid || gid != st.gid;
        let caps_moved = caps.as_ref().is_some_and(|(_, moved)| *moved);
        if !owner_changes && xattrs.is_empty() && !caps_moved {
            return;
        }
        self.tally.acls += xattrs.len() as u64;
        let has_caps = caps.is_some();
        if let Some((value, moved)) = caps {
            self.tally.caps += u64::from(moved);
            // chown removes it: it is set again after, moved or not.
            if owner_changes || moved {
                xattrs.push((CAPABILITY.to_string(), value));
            }
        }
        let setid = !st.is_dir() && st.mode & SETID != 0 && owner_changes;
        self.tally.setid_restored += u64::from(setid);
        self.tally.changed += 1;
        if self.shared.dry_run {
            return;
        }
        let intent = Intent {
            uid,
            gid,
            mode: st.mode & 0o7777,
            xattrs,
        };
        if let Some(journal) = self.shared.journal {
            if self.shared.journal_all || setid || has_caps {
                if let Err(e) = journal.intend(inode, &intent) {
                    return self.fail(
                        path(),
                        format!(
                            "cannot write the journal, left as it is: {}",
                            fs::reason(&e)
                        ),
                    );
                }
            }
        }
        self.apply(reach, st, &intent, false, path);
        let n = self.shared.changed.fetch_add(1, Ordering::Relaxed) + 1;
        if self.shared.kill_after.is_some_and(|k| n >= k) {
            // The test hook: an interruption at the worst moment, right after a change.
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
    }

    /// Give the inode the state `intent` says: owner, then mode (chown cleared the setid
    /// bits), then the attributes (chown removed the capability).
    fn apply(
        &mut self,
        reach: Reach,
        st: &FileStat,
        intent: &Intent,
        resumed: bool,
        path: &dyn Fn() -> Vec<u8>,
    ) {
        let setid = intent.mode & SETID != 0 && !st.is_dir();
        let special = setid || !intent.xattrs.is_empty() || resumed;
        let result = match reach {
            Reach::Dir(fd) => (|| -> std::io::Result<()> {
                fs::chown_fd(fd, Some(intent.uid), Some(intent.gid))?;
                if fs::stat_fd(fd)?.mode & 0o7777 != intent.mode {
                    fs::chmod_fd(fd, intent.mode)?;
                }
                for (name, value) in &intent.xattrs {
                    fs::set_xattr(XattrAt::Fd(fd), &cname(name), value)?;
                }
                Ok(())
            })(),
            Reach::At(dir, name) if !special => {
                fs::chown_at(dir, name, Some(intent.uid), Some(intent.gid))
            }
            Reach::At(dir, name) => (|| -> std::io::Result<()> {
                // Through a handle on the very inode that was looked at: the mode and the
                // attributes must not land on whatever the name holds by now.
                let handle = fs::open_path_at(dir, name)?;
                let now = fs::stat_fd(handle.as_fd())?;
                if !now.same_file(st) {
                    return Err(std::io::Error::other(
                        "replaced while being migrated; left as it is",
                    ));
                }
                fs::chown_handle(handle.as_fd(), Some(intent.uid), Some(intent.gid))?;
                if now.is_symlink() {
                    return Ok(());
                }
                if setid {
                    fs::chmod_path_fd(handle.as_fd(), intent.mode)?;
                }
                let magic = fs::fd_path(handle.as_fd(), None);
                for (name, value) in &intent.xattrs {
                    let at = XattrAt::Path {
                        path: &magic,
                        follow: true,
                    };
                    fs::set_xattr(at, &cname(name), value)?;
                }
                Ok(())
            })(),
        };
        if let Err(e) = result {
            self.fail(path(), fs::reason(&e));
        }
    }
}

impl Visitor for Migrator<'_> {
    fn enter(&mut self, fd: BorrowedFd, st: &FileStat, path: &[u8]) -> bool {
        self.forget_cwd();
        self.visit(Reach::Dir(fd), st, &|| path.to_vec());
        true
    }

    fn entry(&mut self, dir: BorrowedFd, at: Place, st: &FileStat) {
        if st.nlink > 1 {
            let mut seen = self.shared.linked.lock().unwrap_or_else(|p| p.into_inner());
            if !seen.insert((st.dev, st.ino)) {
                return;
            }
        }
        self.visit(Reach::At(dir, at.name), st, &|| at.path());
    }

    fn leave(&mut self, _parent: BorrowedFd, _at: Place, _st: &FileStat) {
        self.forget_cwd();
    }

    fn failed(&mut self, path: &[u8], reason: String) {
        // A directory that could not be reopened drops frames without a `leave`.
        self.forget_cwd();
        self.fail(path.to_vec(), reason);
    }

    fn walk_done(&mut self) {
        self.forget_cwd();
    }

    fn may_fix_modes(&self) -> bool {
        false
    }
}
