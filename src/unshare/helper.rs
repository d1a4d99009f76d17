//! Find shadow's setuid helpers and check that they can do their job before asking them.
//!
//! The helpers are looked up in the system directories only, never through the caller's
//! PATH: a PATH entry could name a look-alike that lies about what it wrote.

use crate::error::{Error, Result};
use crate::ids::IdKind;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where distributions install newuidmap/newgidmap (uidmap on Debian, shadow-utils on Fedora).
pub(crate) const SYSTEM_DIRS: &[&str] = &["/usr/bin", "/usr/sbin", "/bin", "/sbin"];

/// How a helper gets its privilege.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Privilege {
    SetuidRoot,
    /// File capabilities (security.capability), as Fedora and Arch ship the helpers.
    FileCaps,
}

#[derive(Debug, Clone)]
pub struct Helper {
    pub kind: IdKind,
    pub path: PathBuf,
    pub privilege: Privilege,
}

/// Find and check the helper for `kind`.
pub(crate) fn find(kind: IdKind) -> Result<Helper> {
    let name = kind.helper_name();
    let path = SYSTEM_DIRS
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .ok_or_else(|| missing(kind))?;
    check(kind, &path)
}

fn missing(kind: IdKind) -> Error {
    let name = kind.helper_name();
    Error::failure(format!("{name} not found"))
        .because(format!(
            "mapping subordinate ids needs shadow's setuid helper {name}, and none is in {}",
            SYSTEM_DIRS.join(", ")
        ))
        .fix("install it: apt-get install uidmap (Debian/Ubuntu), dnf install shadow-utils (Fedora); or use --single to map only your own id")
}

/// Check that `path` will really run with privilege: setuid root or file capabilities,
/// on a filesystem mounted without nosuid, for a caller without NoNewPrivs.
pub(crate) fn check(kind: IdKind, path: &Path) -> Result<Helper> {
    let name = kind.helper_name();
    let meta = std::fs::metadata(path).map_err(|e| Error::io("inspect", path, &e))?;
    let setuid_root = meta.uid() == 0 && meta.mode() & libc::S_ISUID != 0;
    if meta.uid() == crate::ids::OVERFLOW_ID && !crate::sys::ns::in_initial_user_namespace() {
        return Err(Error::failure(format!(
            "{} is owned by an id this user namespace does not map (it shows as {})",
            path.display(),
            crate::ids::OVERFLOW_ID
        ))
        .because(format!(
            "userns runs inside a user namespace where host root is unmapped, so the setuid bit of {name} grants nothing"
        ))
        .fix("run userns in the initial user namespace (outside the container), or use --single"));
    }
    let privilege = if setuid_root {
        Privilege::SetuidRoot
    } else if has_file_cap(path, kind) {
        Privilege::FileCaps
    } else {
        let cap = match kind {
            IdKind::Uid => "cap_setuid",
            IdKind::Gid => "cap_setgid",
        };
        return Err(Error::failure(format!(
            "{} is neither setuid root nor has file capabilities",
            path.display()
        ))
        .because(format!(
            "its mode is {:o}, owner uid {}; without privilege {name} cannot write another process's map",
            meta.mode() & 0o7777,
            meta.uid()
        ))
        .fix(format!(
            "as root: chown root:root {p} && chmod u+s {p}   (or: setcap {cap}=ep {p}); reinstalling the package (apt-get install --reinstall uidmap) restores it",
            p = path.display()
        )));
    };
    if let Ok(vfs) = nix::sys::statvfs::statvfs(path) {
        if vfs.flags().contains(nix::sys::statvfs::FsFlags::ST_NOSUID) {
            return Err(Error::failure(format!(
                "{} is on a filesystem mounted nosuid",
                path.display()
            ))
            .because(format!(
                "the kernel ignores the setuid bit and file capabilities there, so {name} runs without privilege"
            ))
            .fix("remount that filesystem without nosuid (mount -o remount,suid MOUNTPOINT), or install the helpers on one that allows setuid"));
        }
    }
    Ok(Helper {
        kind,
        path: path.to_path_buf(),
        privilege,
    })
}

/// Capability numbers of linux/capability.h.
const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;

/// Whether the file carries a security.capability xattr that grants CAP_SETUID (uid)
/// or CAP_SETGID (gid) in its permitted set (struct vfs_cap_data, linux/capability.h).
fn has_file_cap(path: &Path, kind: IdKind) -> bool {
    let mut buf = [0u8; 24];
    match rustix::fs::getxattr(path, c"security.capability", &mut buf[..]) {
        Ok(n) if n >= 8 => {}
        _ => return false,
    }
    let permitted = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let bit = match kind {
        IdKind::Uid => CAP_SETUID,
        IdKind::Gid => CAP_SETGID,
    };
    permitted & (1 << bit) != 0
}

/// Whether the calling process has NoNewPrivs set: then execve never grants the setuid
/// bit or file capabilities, so the helpers run unprivileged and fail with EPERM.
pub fn no_new_privs() -> bool {
    rustix::thread::no_new_privs().unwrap_or(false)
}

/// The error for NoNewPrivs, named before any helper runs.
pub(crate) fn no_new_privs_error() -> Error {
    Error::failure("this process has NoNewPrivs set (grep NoNewPrivs /proc/self/status)")
        .because("the kernel then ignores the setuid bit of newuidmap/newgidmap, so they cannot write the maps")
        .fix("start userns from a context without no_new_privs (systemd: NoNewPrivileges=no; docker/podman: drop --security-opt no-new-privileges; setpriv: no --no-new-privs), or use --single")
}
