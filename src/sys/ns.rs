//! The ioctls of a namespace descriptor (ioctl_ns(2)), which neither nix nor rustix
//! wraps, and whether this process is in the initial user namespace.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// NS_GET_OWNER_UID: the uid (in the caller's user namespace) that owns the user
/// namespace `fd` refers to.
pub(crate) fn owner_uid(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut uid: libc::uid_t = 0;
    // SAFETY: NS_GET_OWNER_UID writes one uid_t through the pointer, which points to a
    // live local of that type (ioctl_ns(2)).
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::NS_GET_OWNER_UID, &mut uid) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(uid)
}

/// NS_GET_PARENT: a new descriptor of the parent user namespace; EPERM when that is
/// outside the caller's view (ioctl_ns(2)).
pub(crate) fn parent(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: NS_GET_PARENT takes no argument and returns a new descriptor or -1; a
    // descriptor it returns is ours alone, so OwnedFd may close it.
    unsafe {
        let parent = libc::ioctl(fd.as_raw_fd(), libc::NS_GET_PARENT);
        if parent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(parent))
    }
}

/// Whether this process is in the initial user namespace, whose uid_map is the identity
/// map of every id (user_namespaces(7)); taken as so when the map cannot be read.
pub(crate) fn in_initial_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map").map_or(true, |map| {
        map.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"]
    })
}
