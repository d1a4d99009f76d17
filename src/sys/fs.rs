//! The *at(2) calls the tree walkers (clean, chown) and the image unpacker make. Every
//! name is resolved relative to a directory descriptor and never through a symlink (the
//! one exception, `chmod_at`, says so), so a walk that starts inside a tree stays inside
//! it whatever another process renames meanwhile. All through rustix, which wraps each
//! of them safely.

use rustix::fs::{AtFlags, Mode, OFlags};
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

pub(crate) use super::dir::read_names;
pub(crate) use rustix::fs::{flock, FlockOperation};

/// What the walkers need of a stat(2) result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// Hard links to the inode: above 1, a walk meets it under several names.
    pub nlink: u64,
}

impl FileStat {
    fn from_stat(st: &rustix::fs::Stat) -> FileStat {
        FileStat {
            dev: st.st_dev,
            ino: st.st_ino,
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
            size: st.st_size as u64,
            // u64 here; the cast keeps targets where st_nlink is narrower.
            #[allow(clippy::unnecessary_cast)]
            nlink: st.st_nlink as u64,
        }
    }

    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    pub(crate) fn is_symlink(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFLNK
    }

    /// The same inode (the identity a reopened directory must still have).
    pub(crate) fn same_file(&self, other: &FileStat) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }

    /// `ls -l`'s file type word.
    pub fn type_name(&self) -> &'static str {
        match self.mode & libc::S_IFMT {
            libc::S_IFDIR => "directory",
            libc::S_IFREG => "file",
            libc::S_IFLNK => "symlink",
            libc::S_IFCHR => "char-device",
            libc::S_IFBLK => "block-device",
            libc::S_IFIFO => "fifo",
            libc::S_IFSOCK => "socket",
            _ => "unknown",
        }
    }
}

/// Open the directory `name` in `dir` for reading, never through a symlink: with
/// O_NOFOLLOW|O_DIRECTORY a symlink fails with ELOOP and anything else with ENOTDIR.
pub(crate) fn open_dir_at(dir: BorrowedFd, name: &CStr) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY
        | OFlags::DIRECTORY
        | OFlags::NOFOLLOW
        | OFlags::CLOEXEC
        | OFlags::NONBLOCK
        | OFlags::NOCTTY;
    Ok(rustix::fs::openat(dir, name, flags, Mode::empty())?)
}

/// Open `name` in `dir` as an O_PATH descriptor without following a symlink: a handle on
/// the inode that needs no permission on it (used to fix a mode-000 directory).
pub(crate) fn open_path_at(dir: BorrowedFd, name: &CStr) -> io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(dir, name, flags, Mode::empty())?)
}

/// `/` as an O_PATH descriptor, where resolving an absolute path starts.
pub(crate) fn open_root() -> io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    Ok(rustix::fs::open("/", flags, Mode::empty())?)
}

/// The text of the symlink an O_PATH|O_NOFOLLOW descriptor holds: readlinkat with an
/// empty name reads the link the descriptor itself is (open(2), O_PATH), so the link read
/// is the one whose owner was checked, not whatever the name holds by now.
pub(crate) fn read_link_fd(link: BorrowedFd) -> io::Result<Vec<u8>> {
    // rustix grows its buffer until the text fits (readlink(2) cuts it short silently).
    Ok(rustix::fs::readlinkat(link, c"", Vec::with_capacity(256))?.into_bytes())
}

/// Change the owner of the very inode an O_PATH descriptor holds (a symlink itself when
/// it was opened with O_NOFOLLOW): fchownat with AT_EMPTY_PATH resolves no name.
pub(crate) fn chown_handle(fd: BorrowedFd, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let (u, g) = ids(uid, gid);
    let flags = AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW;
    Ok(rustix::fs::chownat(fd, c"", u, g, flags)?)
}

pub(crate) fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// fstatat(dir, name, AT_SYMLINK_NOFOLLOW): the entry itself, a symlink as a symlink.
pub(crate) fn stat_at(dir: BorrowedFd, name: &CStr) -> io::Result<FileStat> {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(FileStat::from_stat(&st))
}

pub(crate) fn stat_fd(fd: BorrowedFd) -> io::Result<FileStat> {
    Ok(FileStat::from_stat(&rustix::fs::fstat(fd)?))
}

/// unlinkat(2), which never follows a symlink in the last component.
pub(crate) fn unlink_at(dir: BorrowedFd, name: &CStr, remove_dir: bool) -> io::Result<()> {
    let flags = if remove_dir {
        AtFlags::REMOVEDIR
    } else {
        AtFlags::empty()
    };
    Ok(rustix::fs::unlinkat(dir, name, flags)?)
}

pub(crate) fn chmod_fd(fd: BorrowedFd, mode: u32) -> io::Result<()> {
    Ok(rustix::fs::fchmod(fd, Mode::from_raw_mode(mode & 0o7777))?)
}

/// chmod through an O_PATH descriptor: fchmod refuses O_PATH (EBADF), but the
/// /proc/self/fd magic link names exactly the inode the descriptor holds, never a path
/// that could have been swapped (glibc's fchmodat(AT_SYMLINK_NOFOLLOW) does the same).
pub(crate) fn chmod_path_fd(fd: BorrowedFd, mode: u32) -> io::Result<()> {
    let link = cstring(format!("/proc/self/fd/{}", fd.as_raw_fd()).as_bytes())?;
    Ok(rustix::fs::chmod(
        link.as_c_str(),
        Mode::from_raw_mode(mode & 0o7777),
    )?)
}

pub(crate) fn chown_fd(fd: BorrowedFd, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let (u, g) = ids(uid, gid);
    Ok(rustix::fs::fchown(fd, u, g)?)
}

/// fchownat(AT_SYMLINK_NOFOLLOW): a symlink's own owner changes, never its target's.
pub(crate) fn chown_at(
    dir: BorrowedFd,
    name: &CStr,
    uid: Option<u32>,
    gid: Option<u32>,
) -> io::Result<()> {
    let (u, g) = ids(uid, gid);
    Ok(rustix::fs::chownat(
        dir,
        name,
        u,
        g,
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

/// chown(2)'s "leave unchanged" is rustix's None.
fn ids(uid: Option<u32>, gid: Option<u32>) -> (Option<rustix::fs::Uid>, Option<rustix::fs::Gid>) {
    (
        uid.map(rustix::fs::Uid::from_raw),
        gid.map(rustix::fs::Gid::from_raw),
    )
}

/// RLIMIT_NOFILE's soft limit (u64::MAX when unlimited).
pub(crate) fn fd_limit() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
}

/// Raise RLIMIT_NOFILE's soft limit to the hard limit (deep trees hold one descriptor per
/// level) and return the soft limit now in force.
pub(crate) fn raise_fd_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    let Some(current) = lim.current else {
        return u64::MAX; // RLIM_INFINITY
    };
    match lim.maximum {
        Some(max) if current >= max => current,
        max => {
            let raised = Rlimit {
                current: max,
                maximum: max,
            };
            // Raising soft up to hard needs no privilege (getrlimit(2)).
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => max.unwrap_or(u64::MAX),
                Err(_) => current,
            }
        }
    }
}

/// Create a new regular file `name` in `dir` for writing, with the permission bits `mode`
/// (before the umask or the directory's default ACL): O_CREAT|O_EXCL|O_NOFOLLOW fails if
/// anything is there, even a dangling symlink.
pub(crate) fn create_file_at(dir: BorrowedFd, name: &CStr, mode: u32) -> io::Result<OwnedFd> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(
        dir,
        name,
        flags,
        Mode::from_raw_mode(mode & 0o777),
    )?)
}

/// Open `name` in `dir` with open(2)'s `flags` (libc's O_* bits), adding O_NOFOLLOW and
/// O_CLOEXEC: a symlink in the last component fails with ELOOP, never followed.
pub(crate) fn open_nofollow_at(dir: BorrowedFd, name: &CStr, flags: i32) -> io::Result<OwnedFd> {
    let flags = OFlags::from_bits_retain((flags | libc::O_NOFOLLOW | libc::O_CLOEXEC) as u32);
    Ok(rustix::fs::openat(dir, name, flags, Mode::empty())?)
}

/// mkdirat(2): a new directory, mode `mode` before the umask.
pub(crate) fn mkdir_at(dir: BorrowedFd, name: &CStr, mode: u32) -> io::Result<()> {
    Ok(rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(mode))?)
}

/// symlinkat(2): `name` in `dir` becomes a symlink holding `target` (never resolved here).
pub(crate) fn symlink_at(target: &CStr, dir: BorrowedFd, name: &CStr) -> io::Result<()> {
    Ok(rustix::fs::symlinkat(target, dir, name)?)
}

/// linkat(2) with no flags: a symlink at the source is linked itself, never followed.
pub(crate) fn link_at(
    src_dir: BorrowedFd,
    src: &CStr,
    dir: BorrowedFd,
    name: &CStr,
) -> io::Result<()> {
    Ok(rustix::fs::linkat(
        src_dir,
        src,
        dir,
        name,
        AtFlags::empty(),
    )?)
}

/// mknodat(2) of a FIFO, mode `mode` before the umask.
pub(crate) fn mkfifo_at(dir: BorrowedFd, name: &CStr, mode: u32) -> io::Result<()> {
    Ok(rustix::fs::mknodat(
        dir,
        name,
        rustix::fs::FileType::Fifo,
        Mode::from_raw_mode(mode),
        0,
    )?)
}

/// fchmodat(2) without flags: it follows a symlink in the last component (the kernel has
/// no working AT_SYMLINK_NOFOLLOW for it), so only for a name known not to be one.
pub(crate) fn chmod_at(dir: BorrowedFd, name: &CStr, mode: u32) -> io::Result<()> {
    Ok(rustix::fs::chmodat(
        dir,
        name,
        Mode::from_raw_mode(mode & 0o7777),
        AtFlags::empty(),
    )?)
}

/// Access and modification time both `secs` (whole seconds).
fn timestamps(secs: i64) -> rustix::fs::Timestamps {
    let t = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    rustix::fs::Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// utimensat(AT_SYMLINK_NOFOLLOW): the times of the name itself, a symlink's own.
pub(crate) fn set_times_at(dir: BorrowedFd, name: &CStr, secs: i64) -> io::Result<()> {
    Ok(rustix::fs::utimensat(
        dir,
        name,
        &timestamps(secs),
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

/// futimens(2): access and modification time of an open file.
pub(crate) fn set_times_fd(fd: BorrowedFd, secs: i64) -> io::Result<()> {
    Ok(rustix::fs::futimens(fd, &timestamps(secs))?)
}

/// fsetxattr(2) with no flags (create or replace).
pub(crate) fn set_xattr_fd(fd: BorrowedFd, name: &CStr, value: &[u8]) -> io::Result<()> {
    Ok(rustix::fs::fsetxattr(
        fd,
        name,
        value,
        rustix::fs::XattrFlags::empty(),
    )?)
}

/// fcntl(F_SETFL): replace the file status flags (O_NONBLOCK, O_APPEND, ...).
pub(crate) fn set_status_flags(fd: BorrowedFd, flags: i32) -> io::Result<()> {
    Ok(rustix::fs::fcntl_setfl(
        fd,
        OFlags::from_bits_retain(flags as u32),
    )?)
}

/// The bytes an unprivileged writer may still use on the file system holding `fd`
/// (fstatvfs(2): available blocks times the fragment size).
pub(crate) fn free_bytes(fd: BorrowedFd) -> io::Result<u64> {
    let st = rustix::fs::fstatvfs(fd)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Where the extended attributes of one inode are reached: an open descriptor (f*xattr),
/// or a path, never followed in its last component (l*xattr) unless it is a
/// /proc/self/fd magic link, which leads to the very inode an O_PATH handle holds
/// (`follow`; f*xattr refuses O_PATH descriptors with EBADF).
#[derive(Debug, Clone, Copy)]
pub(crate) enum XattrAt<'a> {
    Fd(BorrowedFd<'a>),
    Path { path: &'a CStr, follow: bool },
}

/// Call `f` with a buffer, growing it once to the size the kernel asks for on ERANGE.
fn with_buffer(
    mut f: impl FnMut(&mut [u8]) -> rustix::io::Result<usize>,
    query: impl FnOnce() -> rustix::io::Result<usize>,
) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 1024];
    match f(&mut buf) {
        Ok(n) => {
            buf.truncate(n);
            Ok(buf)
        }
        Err(rustix::io::Errno::RANGE) => {
            let size = query()?;
            let mut buf = vec![0u8; size + 64];
            let n = f(&mut buf)?;
            buf.truncate(n);
            Ok(buf)
        }
        Err(e) => Err(e.into()),
    }
}

/// The names of an inode's extended attributes, NUL-separated.
pub(crate) fn list_xattrs(at: XattrAt) -> io::Result<Vec<u8>> {
    match at {
        XattrAt::Fd(fd) => with_buffer(
            |b| rustix::fs::flistxattr(fd, b),
            || rustix::fs::flistxattr(fd, &mut [0u8; 0][..]),
        ),
        XattrAt::Path { path, follow: true } => with_buffer(
            |b| rustix::fs::listxattr(path, b),
            || rustix::fs::listxattr(path, &mut [0u8; 0][..]),
        ),
        XattrAt::Path {
            path,
            follow: false,
        } => with_buffer(
            |b| rustix::fs::llistxattr(path, b),
            || rustix::fs::llistxattr(path, &mut [0u8; 0][..]),
        ),
    }
}

/// One attribute's value; None when the inode has no such attribute.
pub(crate) fn get_xattr(at: XattrAt, name: &CStr) -> io::Result<Option<Vec<u8>>> {
    let r = match at {
        XattrAt::Fd(fd) => with_buffer(
            |b| rustix::fs::fgetxattr(fd, name, b),
            || rustix::fs::fgetxattr_query(fd, name),
        ),
        XattrAt::Path { path, follow: true } => with_buffer(
            |b| rustix::fs::getxattr(path, name, b),
            || rustix::fs::getxattr_query(path, name),
        ),
        XattrAt::Path {
            path,
            follow: false,
        } => with_buffer(
            |b| rustix::fs::lgetxattr(path, name, b),
            || rustix::fs::lgetxattr_query(path, name),
        ),
    };
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.raw_os_error() == Some(libc::ENODATA) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Set one attribute (create or replace).
pub(crate) fn set_xattr(at: XattrAt, name: &CStr, value: &[u8]) -> io::Result<()> {
    let flags = rustix::fs::XattrFlags::empty();
    Ok(match at {
        XattrAt::Fd(fd) => rustix::fs::fsetxattr(fd, name, value, flags),
        XattrAt::Path { path, follow: true } => rustix::fs::setxattr(path, name, value, flags),
        XattrAt::Path {
            path,
            follow: false,
        } => rustix::fs::lsetxattr(path, name, value, flags),
    }?)
}

/// The /proc/self/fd path of a descriptor, or of `name` in the directory it holds:
/// through it, calls that take a path reach the inode without resolving any name that
/// another process could swap (the magic link is the descriptor's own inode).
pub(crate) fn fd_path(fd: BorrowedFd, name: Option<&CStr>) -> CString {
    let mut p = format!("/proc/self/fd/{}", fd.as_raw_fd()).into_bytes();
    if let Some(name) = name {
        p.push(b'/');
        p.extend_from_slice(name.to_bytes());
    }
    // Neither part holds a NUL: a number, and a name that came from a CStr.
    CString::new(p).unwrap_or_default()
}

/// Give the calling thread a working directory of its own (unshare(CLONE_FS)), so that
/// `chdir_fd` in one walker thread does not move the others'. Sharing descriptors and
/// memory is unaffected; only cwd, root and umask are copied.
pub(crate) fn own_cwd() -> io::Result<()> {
    Ok(nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS)?)
}

/// fchdir(2): a name looked up relative to the working directory is then looked up in
/// the very directory `fd` holds, as with the *at calls.
pub(crate) fn chdir_fd(fd: BorrowedFd) -> io::Result<()> {
    Ok(rustix::process::fchdir(fd)?)
}
