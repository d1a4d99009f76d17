//! Paths inside the container's root, resolved by the kernel as if that root were `/`
//! (openat2 RESOLVE_IN_ROOT): an image's absolute symlink (`/etc/resolv.conf ->
//! /run/...`) or `..` can never lead a mount outside the root. Mounts then go onto
//! `/proc/self/fd/N` of the resolved descriptor, as runc does with its securejoin.

use crate::error::{Error, Result};
use crate::sys::resolve;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// Open `path` (relative to `root`, leading slashes ignored) with `flags`, resolved inside
/// root (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS).
pub fn open(root: BorrowedFd<'_>, path: &str, flags: i32) -> io::Result<OwnedFd> {
    resolve::open_in_root(root, path, flags)
}

/// An O_PATH descriptor of `path` inside root.
pub fn open_path(root: BorrowedFd<'_>, path: &str) -> io::Result<OwnedFd> {
    open(root, path, libc::O_PATH)
}

/// What to create when a mount target is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// An O_PATH descriptor of `path` inside root, creating it (and missing parents, mode
/// 0755) when absent: a directory or an empty file (mode 0644), as podman creates the
/// targets of volumes and of its /etc files.
pub fn ensure(root: BorrowedFd<'_>, path: &str, kind: Kind) -> Result<OwnedFd> {
    let fail = |e: io::Error| {
        Error::failure(format!("cannot create {path} inside the container"))
            .because(e)
            .fix("check that the image does not have a file where a directory is needed (or the reverse)")
    };
    match open_path(root, path) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => return Err(fail(e)),
    }
    let trimmed = path.trim_end_matches('/');
    let (parent, name) = match trimmed.rsplit_once('/') {
        Some((p, n)) => (p, n),
        None => ("", trimmed),
    };
    if name.is_empty() || name == "." || name == ".." {
        return Err(fail(io::Error::from_raw_os_error(libc::EINVAL)));
    }
    ensure(root, parent, Kind::Dir)?;
    let dir = open(root, parent, libc::O_DIRECTORY | libc::O_RDONLY).map_err(fail)?;
    let cname = CString::new(name).map_err(|_| fail(io::Error::from_raw_os_error(libc::EINVAL)))?;
    // O_EXCL refuses to follow a symlink planted in the meantime (open(2)); mkdirat never
    // follows one in the last component.
    let made = match kind {
        Kind::Dir => rustix::fs::mkdirat(&dir, &cname, rustix::fs::Mode::from_raw_mode(0o755)),
        Kind::File => rustix::fs::openat(
            &dir,
            &cname,
            rustix::fs::OFlags::CREATE
                | rustix::fs::OFlags::EXCL
                | rustix::fs::OFlags::WRONLY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::from_raw_mode(0o644),
        )
        .map(drop),
    };
    if let Err(e) = made {
        if e != rustix::io::Errno::EXIST {
            return Err(fail(e.into()));
        }
    }
    open_path(root, path).map_err(fail)
}
/// The path through which a mount reaches the file behind `fd`.
pub fn proc_fd(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Whether the O_PATH `fd` is a directory.
pub fn is_dir(fd: &OwnedFd) -> bool {
    nix::sys::stat::fstat(fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// Make the mount at `fd` (an O_PATH descriptor of its root) read-only, with its
/// submounts when `recursive` (mount_setattr: the other flags are left alone).
pub fn set_read_only(fd: &OwnedFd, recursive: bool, shown: &str) -> Result<()> {
    crate::sys::mount::set_read_only(fd.as_fd(), recursive).map_err(|e| {
        Error::failure(format!("cannot make {shown} read-only"))
            .because(e)
            .fix("mount_setattr needs Linux 5.12 or later")
    })
}
