//! Looking where the user cannot look on the host: a container's directory of mode 0700
//! owned by a subordinate id is closed to its user, but open to root in the user's own
//! namespace (CAP_DAC_READ_SEARCH there covers every inode whose owner and group it maps:
//! capable_wrt_inode_uidgid). So `whose` enters that namespace, mapped as `clean` maps it
//! (the plan with a hole at 65534, `clean::owners`), and translates each id it sees back
//! to the host's. An id the namespace does not map reads as 65534 there; for those, a
//! stat server left on the host (`sys::host_stat`) is handed the very inode's descriptor
//! and answers with its real ids.
//!
//! Nothing is crossed that the user could not cross: the namespace is the user's own,
//! made with their own newuidmap grant, and root in it may do to those files what the
//! user may do with `userns unshare` anyway. Inodes of ids outside the user's ranges stay
//! closed (the kernel gives no capability over them), so whose learns no more about
//! another user's files than the host lets it learn.

use crate::clean::fs::{self, FileStat};
use crate::clean::owners::{Owner, OwnerIds};
use crate::error::{Error, Result};
use crate::subid::SubIdPaths;
use crate::sys::host_stat::HostStat;
use crate::unshare::{MapRequest, NsSpec};
use crate::users::Account;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// The namespace `whose` runs in, and the way back to host ids.
pub struct Inside {
    uid: OwnerIds,
    gid: OwnerIds,
    host: HostStat,
}

/// Why the namespace is not entered: the user has no subordinate ranges (or they cannot
/// be used); said once, after the answers.
#[derive(Debug)]
pub struct NotEntered(pub Error);

impl Inside {
    /// Enter the user's namespace. The caller must be single-threaded (a user namespace
    /// cannot be entered by a multithreaded process, and the stat server is forked).
    /// `Ok(Err(..))`: the user's ranges give no namespace to enter (planning failed before
    /// anything changed); the caller goes on with the host's view.
    pub fn enter(account: &Account) -> Result<std::result::Result<Inside, NotEntered>> {
        let plan = match crate::unshare::plan_mapping(
            &MapRequest::default(),
            account,
            &SubIdPaths::default(),
        ) {
            Ok(p) => p,
            Err(e) => return Ok(Err(NotEntered(e))),
        };
        let uid = OwnerIds::new(&plan.uid);
        let gid = OwnerIds::new(&plan.gid);
        let host = HostStat::start().map_err(|e| {
            Error::failure("cannot start the host-side stat of whose")
                .because(e)
                .fix("check the process limit (ulimit -u)")
        })?;
        let spec = NsSpec {
            map: MapRequest {
                explicit_uid: uid.walk_map().entries.clone(),
                explicit_gid: gid.walk_map().entries.clone(),
                ..MapRequest::default()
            },
            ..NsSpec::default()
        };
        crate::unshare::enter(&spec, account)?;
        Ok(Ok(Inside { uid, gid, host }))
    }

    /// The host's ids, when the namespace maps both of `st`'s (no question to ask).
    fn mapped(&self, st: &FileStat) -> (Option<u32>, Option<u32>) {
        let host = |ids: &OwnerIds, id| match ids.owner(id) {
            Owner::Id { host, .. } => Some(host),
            Owner::Unmapped => None,
        };
        (host(&self.uid, st.uid), host(&self.gid, st.gid))
    }

    /// Whether `st` (taken in the namespace) has an id the namespace does not map, which
    /// only the host can tell.
    pub fn needs_host(&self, st: &FileStat) -> bool {
        !matches!(self.mapped(st), (Some(_), Some(_)))
    }

    /// `host_view` of entries of the directory `dir`, with one question to the host for
    /// all of them (see `HostStat::stat_names`); an entry the host may not stat by name
    /// (its directory is closed to the user there) is asked about through its own handle.
    pub fn host_views(
        &self,
        dir: BorrowedFd,
        entries: &[(&std::ffi::CStr, FileStat)],
    ) -> Vec<io::Result<FileStat>> {
        let mut out = Vec::with_capacity(entries.len());
        for chunk in entries.chunks(crate::sys::host_stat::BATCH) {
            let names: Vec<&std::ffi::CStr> = chunk.iter().map(|(n, _)| *n).collect();
            let answers = match self.host.stat_names(dir, &names) {
                Ok(a) => a,
                Err(e) => {
                    out.extend(
                        chunk
                            .iter()
                            .map(|_| Err(io::Error::new(e.kind(), e.to_string()))),
                    );
                    continue;
                }
            };
            for ((name, st), answer) in chunk.iter().zip(answers) {
                let view = match answer {
                    Ok(host) if host.same_file(st) => Ok(self.merge(st, &host)),
                    // Closed on the host, or replaced since the walk's stat: the inode
                    // the walk saw, by its handle.
                    _ => self.host_view(st, || Handle::open(dir, name)),
                };
                out.push(view);
            }
        }
        out
    }

    fn merge(&self, st: &FileStat, host: &FileStat) -> FileStat {
        let (uid, gid) = self.mapped(st);
        FileStat {
            uid: uid.unwrap_or(host.uid),
            gid: gid.unwrap_or(host.gid),
            ..*st
        }
    }

    /// `st` (taken in the namespace) with the host's owner and group. `handle` gives a
    /// descriptor of the same inode, asked for only when an id is not mapped here.
    pub fn host_view<'h>(
        &self,
        st: &FileStat,
        handle: impl FnOnce() -> io::Result<Handle<'h>>,
    ) -> io::Result<FileStat> {
        if let (Some(uid), Some(gid)) = self.mapped(st) {
            return Ok(FileStat { uid, gid, ..*st });
        }
        let h = handle()?;
        let host = self.host.stat(h.as_fd())?;
        if !host.same_file(st) {
            return Err(io::Error::other("replaced while being looked at; left out"));
        }
        Ok(self.merge(st, &host))
    }
}

/// A descriptor of the inode asked about: one the walk holds, or one opened for it.
pub enum Handle<'a> {
    Borrowed(BorrowedFd<'a>),
    Owned(OwnedFd),
}

impl Handle<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Handle::Borrowed(fd) => *fd,
            Handle::Owned(fd) => fd.as_fd(),
        }
    }

    /// The entry `name` of `dir`, without following a symlink (O_PATH|O_NOFOLLOW: a
    /// symlink is described itself).
    pub fn open(dir: BorrowedFd, name: &std::ffi::CStr) -> io::Result<Handle<'static>> {
        fs::open_path_at(dir, name).map(Handle::Owned)
    }
}
