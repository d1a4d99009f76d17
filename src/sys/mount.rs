//! mount_setattr(2) (Linux 5.12): change one mount's attributes in place. Neither nix
//! 0.32 nor rustix 1.1 wraps it, so it is the raw system call.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// MOUNT_ATTR_RDONLY of linux/mount.h.
const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// struct mount_attr of mount_setattr(2) (MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Make the mount whose root `fd` holds (an O_PATH descriptor) read-only, with its
/// submounts when `recursive`. Unlike a MS_REMOUNT this leaves the other flags alone, so
/// the nodev/nosuid locked on mounts inherited from the host do not make it fail.
pub(crate) fn set_read_only(fd: BorrowedFd<'_>, recursive: bool) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: the path is an empty NUL-terminated literal (AT_EMPTY_PATH: the mount of
    // fd itself), and attr is a live, initialised struct whose exact size is passed, as
    // mount_setattr(2) requires; the kernel only reads both.
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
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
