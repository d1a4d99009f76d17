//! Extended attributes from a layer: the PAX records `SCHILY.xattr.NAME` that GNU tar
//! (`--xattrs`), podman and docker write for file capabilities (`security.capability`),
//! ACLs (`system.posix_acl_*`) and `user.*` attributes.
//!
//! They are set after the owner (chown clears `security.capability`, chown(2)). Inside
//! the mapped namespace the kernel stores a capability with the namespace's root as its
//! owner (a v3 capability, Linux 4.14), so it works in the container and nowhere else.
//! As containers/storage does, an attribute the file system or the namespace refuses
//! (EPERM, EOPNOTSUPP: `trusted.*`, a file system without user xattrs) is skipped and
//! counted, not fatal. The overlay's own attributes are never taken from an image: the
//! unpacked tree is the lower layer of the container's overlay, which reads them.

use std::ffi::CString;
use std::io;
use std::os::fd::BorrowedFd;

const PAX_PREFIX: &[u8] = b"SCHILY.xattr.";

/// Names overlayfs reads from its layers (`userxattr` mounts use user.overlay.*).
const OVERLAY_PREFIXES: &[&[u8]] = &[b"user.overlay.", b"trusted.overlay."];

/// One attribute of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Xattr {
    pub(crate) name: CString,
    pub(crate) value: Vec<u8>,
}

/// The attributes in an entry's PAX records, in archive order. Overlay attributes and
/// names with a NUL are left out (counted in `refused`).
pub(crate) fn of_pax(records: &[(Vec<u8>, Vec<u8>)], refused: &mut u64) -> Vec<Xattr> {
    let mut out = Vec::new();
    for (key, value) in records {
        let Some(name) = key.strip_prefix(PAX_PREFIX) else {
            continue;
        };
        if OVERLAY_PREFIXES.iter().any(|p| name.starts_with(p)) {
            *refused += 1;
            continue;
        }
        match CString::new(name) {
            Ok(name) => out.push(Xattr {
                name,
                value: value.clone(),
            }),
            Err(_) => *refused += 1,
        }
    }
    out
}

/// Set `xattrs` on the open file or directory `fd`. Refusals of the kind described in
/// the module comment are counted in `refused`; other errors are returned.
pub(crate) fn apply(fd: BorrowedFd<'_>, xattrs: &[Xattr], refused: &mut u64) -> io::Result<()> {
    for x in xattrs {
        if let Err(e) = crate::sys::fs::set_xattr_fd(fd, &x.name, &x.value) {
            match e.raw_os_error() {
                Some(libc::EPERM | libc::EOPNOTSUPP | libc::EACCES) => *refused += 1,
                _ => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("set the attribute {}: {e}", x.name.to_string_lossy()),
                    ))
                }
            }
        }
    }
    Ok(())
}
