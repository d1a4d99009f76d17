//! Paths inside the container's root, resolved by the kernel as if that root were `/`
//! (openat2 RESOLVE_IN_ROOT): an image's absolute symlink (`/etc/resolv.conf ->
//! /run/...`) or `..` can never lead a mount outside the root. Mounts then go onto
//! `/proc/self/fd/N` of the resolved descriptor, as runc does with its securejoin.

use crate::error::{Error, Result};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// Open `path` (relative to `root`, leading slashes ignored) with `flags`, resolved inside root.
pub(crate) fn open(root: RawFd, path: &str, flags: i32) -> io::Result<OwnedFd> {
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let c = CString::new(rel).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    /// struct open_how of openat2(2).
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: openat2 with a valid path and a open_how of the size given.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root,
            c.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// An O_PATH descriptor of `path` inside root.
pub(crate) fn open_path(root: RawFd, path: &str) -> io::Result<OwnedFd> {
    open(root, path, libc::O_PATH)
}

/// What to create when a mount target is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    File,
}

/// An O_PATH descriptor of `path` inside root, creating it (and missing parents, mode
/// 0755) when absent: a directory or an empty file (mode 0644), as podman creates the
/// targets of volumes and of its /etc files.
pub(crate) fn ensure(root: RawFd, path: &str, kind: Kind) -> Result<OwnedFd> {
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
    // SAFETY: mkdirat/openat relative to a directory descriptor we own; O_EXCL refuses
    // to follow a symlink planted in the meantime.
    let r = unsafe {
        match kind {
            Kind::Dir => libc::mkdirat(dir.as_raw_fd(), cname.as_ptr(), 0o755),
            Kind::File => {
                let fd = libc::openat(
                    dir.as_raw_fd(),
                    cname.as_ptr(),
                    libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o644,
                );
                if fd >= 0 {
                    libc::close(fd);
                }
                fd
            }
        }
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(fail(e));
        }
    }
    open_path(root, path).map_err(fail)
}

/// The path through which a mount reaches the file behind `fd`.
pub(crate) fn proc_fd(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Whether the O_PATH `fd` is a directory.
pub(crate) fn is_dir(fd: &OwnedFd) -> bool {
    nix::sys::stat::fstat(fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// MOUNT_ATTR_* of mount_setattr(2) (Linux 5.12).
const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// Make the mount at `fd` (an O_PATH descriptor of its root) read-only, with its
/// submounts when `recursive`. Unlike a MS_REMOUNT, this leaves the other flags alone,
/// so the nodev/nosuid locked on mounts inherited from the host do not make it fail.
pub(crate) fn set_read_only(fd: &OwnedFd, recursive: bool, shown: &str) -> Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: mount_setattr with an empty path on our descriptor and a valid struct.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(Error::failure(format!("cannot make {shown} read-only"))
            .because(io::Error::last_os_error())
            .fix("mount_setattr needs Linux 5.12 or later"));
    }
    Ok(())
}
