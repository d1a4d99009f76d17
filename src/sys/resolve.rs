//! Path resolution the kernel confines: openat2(2) (Linux 5.6) with RESOLVE_* flags, for
//! paths that must stay inside a directory whatever its symlinks and `..` say (a
//! container's root, an image being unpacked). One `open_how`, one retry rule.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

pub(crate) use rustix::fs::ResolveFlags as Resolve;

/// openat2(dir, path, flags | O_CLOEXEC, mode 0, resolve). `flags` are open(2)'s O_*
/// bits as libc spells them. A relative `path` is taken below `dir`; with
/// `Resolve::IN_ROOT`, an absolute one or a `..` too.
///
/// EAGAIN is retried: with RESOLVE_IN_ROOT or RESOLVE_BENEATH the kernel returns it when
/// a rename elsewhere raced the lookup (openat2(2), ERRORS), and a new lookup is the
/// documented answer.
pub(crate) fn open(
    dir: BorrowedFd<'_>,
    path: impl AsRef<OsStr>,
    flags: i32,
    resolve: Resolve,
) -> io::Result<OwnedFd> {
    let path = path.as_ref().as_bytes();
    let flags = rustix::fs::OFlags::from_bits_retain((flags | libc::O_CLOEXEC) as u32);
    loop {
        match rustix::fs::openat2(dir, path, flags, rustix::fs::Mode::empty(), resolve) {
            Err(rustix::io::Errno::AGAIN) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

/// [`open`] for a path inside `root` as if it were `/` (RESOLVE_IN_ROOT), never through
/// a magic link such as /proc/self/root (RESOLVE_NO_MAGICLINKS). Leading slashes are
/// ignored and an empty path is the root itself.
pub(crate) fn open_in_root(root: BorrowedFd<'_>, path: &str, flags: i32) -> io::Result<OwnedFd> {
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    open(root, rel, flags, Resolve::IN_ROOT | Resolve::NO_MAGICLINKS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn no_symlinks_refuses_a_symlink_and_in_root_stays_inside() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::fs::write(t.path().join("d/f"), b"x").unwrap();
        std::os::unix::fs::symlink("d", t.path().join("l")).unwrap();
        std::os::unix::fs::symlink("/d/f", t.path().join("abs")).unwrap();
        let root = OwnedFd::from(std::fs::File::open(t.path()).unwrap());
        let err = open(root.as_fd(), "l/f", libc::O_RDONLY, Resolve::NO_SYMLINKS).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err}");
        assert!(open(root.as_fd(), "d/f", libc::O_RDONLY, Resolve::NO_SYMLINKS).is_ok());
        // An absolute symlink resolves against the root, not the host's /.
        let f = open_in_root(root.as_fd(), "/abs", libc::O_RDONLY).unwrap();
        assert_eq!(
            std::fs::read_to_string(format!("/proc/self/fd/{}", {
                use std::os::fd::AsRawFd;
                f.as_raw_fd()
            }))
            .unwrap(),
            "x"
        );
        // `..` at the root stays at the root.
        assert!(open_in_root(root.as_fd(), "../../d/f", libc::O_RDONLY).is_ok());
        // The descriptor is close-on-exec.
        let fl = rustix::io::fcntl_getfd(&f).unwrap();
        assert!(fl.contains(rustix::io::FdFlags::CLOEXEC));
    }
}
