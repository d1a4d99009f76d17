//! The few *at(2) calls the tree walkers make, as safe wrappers over libc. Every name
//! is resolved relative to a directory descriptor and never through a symlink, so a walk
//! that starts inside a tree stays inside it whatever another process renames meanwhile.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// What the walkers need of a stat(2) result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
}

impl FileStat {
    fn from_libc(st: &libc::stat) -> FileStat {
        FileStat {
            dev: st.st_dev,
            ino: st.st_ino,
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
            size: st.st_size as u64,
        }
    }

    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    pub fn is_symlink(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFLNK
    }

    /// The same inode (the identity a reopened directory must still have).
    pub fn same_file(&self, other: &FileStat) -> bool {
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

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Open the directory `name` in `dir` for reading, never through a symlink: with
/// O_NOFOLLOW|O_DIRECTORY a symlink fails with ELOOP and anything else with ENOTDIR.
pub fn open_dir_at(dir: BorrowedFd, name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_RDONLY
        | libc::O_DIRECTORY
        | libc::O_NOFOLLOW
        | libc::O_CLOEXEC
        | libc::O_NONBLOCK
        | libc::O_NOCTTY;
    // SAFETY: name is a valid NUL-terminated string; the result is checked before use.
    let fd = check(unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) })?;
    // SAFETY: fd was just returned by openat and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Open `name` in `dir` as an O_PATH descriptor without following a symlink: a handle on
/// the inode that needs no permission on it (used to fix a mode-000 directory).
pub fn open_path_at(dir: BorrowedFd, name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: as in open_dir_at.
    let fd = check(unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) })?;
    // SAFETY: as in open_dir_at.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `/` as an O_PATH descriptor, where resolving an absolute path starts.
pub fn open_root() -> io::Result<OwnedFd> {
    // SAFETY: the path is a NUL-terminated literal; the result is checked before use.
    let fd = check(unsafe {
        libc::open(
            c"/".as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: as in open_dir_at.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The text of the symlink an O_PATH|O_NOFOLLOW descriptor holds: readlinkat with an
/// empty name reads the link the descriptor itself is (open(2), O_PATH), so the link read
/// is the one whose owner was checked, not whatever the name holds by now.
pub fn read_link_fd(link: BorrowedFd) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: buf is writable for buf.len() bytes; the name is an empty C string.
        let n = unsafe {
            libc::readlinkat(
                link.as_raw_fd(),
                c"".as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        // A result that fills the buffer may have been cut short (readlink(2)).
        if (n as usize) < buf.len() {
            buf.truncate(n as usize);
            return Ok(buf);
        }
        buf.resize(buf.len() * 2, 0);
    }
}

/// Change the owner of the very inode an O_PATH descriptor holds (a symlink itself when
/// it was opened with O_NOFOLLOW): fchownat with AT_EMPTY_PATH resolves no name.
pub fn chown_handle(fd: BorrowedFd, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let (u, g) = ids(uid, gid);
    // SAFETY: the name is an empty C string; fd is a valid descriptor.
    check(unsafe {
        libc::fchownat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            u,
            g,
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(|_| ())
}

pub fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// fstatat(dir, name, AT_SYMLINK_NOFOLLOW): the entry itself, a symlink as a symlink.
pub fn stat_at(dir: BorrowedFd, name: &CStr) -> io::Result<FileStat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: st points to writable memory of the right size; name is NUL-terminated.
    check(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    // SAFETY: fstatat succeeded, so it filled st.
    Ok(FileStat::from_libc(unsafe { &st.assume_init() }))
}

pub fn stat_fd(fd: BorrowedFd) -> io::Result<FileStat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: as in stat_at.
    check(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded.
    Ok(FileStat::from_libc(unsafe { &st.assume_init() }))
}

/// The names in a directory, without `.` and `..`. Reads through a duplicate descriptor
/// (closedir closes what fdopendir took), so `dir` stays usable for the *at calls.
pub fn read_names(dir: BorrowedFd) -> io::Result<Vec<CString>> {
    let dup = dir.try_clone_to_owned()?;
    // The duplicate shares the file offset; start from the beginning in case an earlier
    // read of the same open directory moved it.
    // SAFETY: lseek on a valid descriptor.
    unsafe { libc::lseek(dup.as_raw_fd(), 0, libc::SEEK_SET) };
    let raw = std::os::fd::IntoRawFd::into_raw_fd(dup);
    // SAFETY: raw is a valid directory descriptor whose ownership passes to the DIR.
    let stream = unsafe { libc::fdopendir(raw) };
    if stream.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so raw is still ours to close.
        unsafe { libc::close(raw) };
        return Err(e);
    }
    let mut names = Vec::new();
    let result = loop {
        // readdir signals errors only through errno, so clear it first.
        // SAFETY: __errno_location returns this thread's errno.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: stream is a valid open DIR.
        let entry = unsafe { libc::readdir64(stream) };
        if entry.is_null() {
            let errno = io::Error::last_os_error();
            break match errno.raw_os_error() {
                Some(0) | None => Ok(()),
                Some(_) => Err(errno),
            };
        }
        // SAFETY: d_name of a returned entry is a NUL-terminated name.
        let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
        let bytes = name.to_bytes();
        if bytes != b"." && bytes != b".." {
            names.push(name.to_owned());
        }
    };
    // SAFETY: stream is valid and closed once.
    unsafe { libc::closedir(stream) };
    result.map(|()| names)
}

pub fn unlink_at(dir: BorrowedFd, name: &CStr, remove_dir: bool) -> io::Result<()> {
    let flags = if remove_dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: name is NUL-terminated; unlinkat never follows a symlink in the last component.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) }).map(|_| ())
}

pub fn chmod_fd(fd: BorrowedFd, mode: u32) -> io::Result<()> {
    // SAFETY: plain fchmod on a valid descriptor.
    check(unsafe { libc::fchmod(fd.as_raw_fd(), mode & 0o7777) }).map(|_| ())
}

/// chmod through an O_PATH descriptor: fchmod refuses O_PATH (EBADF), but the
/// /proc/self/fd magic link names exactly the inode the descriptor holds, never a path
/// that could have been swapped (glibc's fchmodat(AT_SYMLINK_NOFOLLOW) does the same).
pub fn chmod_path_fd(fd: BorrowedFd, mode: u32) -> io::Result<()> {
    let link = cstring(format!("/proc/self/fd/{}", fd.as_raw_fd()).as_bytes())?;
    // SAFETY: link is NUL-terminated.
    check(unsafe { libc::chmod(link.as_ptr(), mode & 0o7777) }).map(|_| ())
}

pub fn chown_fd(fd: BorrowedFd, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let (u, g) = ids(uid, gid);
    // SAFETY: plain fchown on a valid descriptor.
    check(unsafe { libc::fchown(fd.as_raw_fd(), u, g) }).map(|_| ())
}

/// fchownat(AT_SYMLINK_NOFOLLOW): a symlink's own owner changes, never its target's.
pub fn chown_at(
    dir: BorrowedFd,
    name: &CStr,
    uid: Option<u32>,
    gid: Option<u32>,
) -> io::Result<()> {
    let (u, g) = ids(uid, gid);
    // SAFETY: name is NUL-terminated.
    check(unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            name.as_ptr(),
            u,
            g,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(|_| ())
}

/// chown(2) takes -1 for "leave unchanged".
fn ids(uid: Option<u32>, gid: Option<u32>) -> (libc::uid_t, libc::gid_t) {
    (uid.unwrap_or(u32::MAX), gid.unwrap_or(u32::MAX))
}

/// Raise RLIMIT_NOFILE's soft limit to the hard limit (deep trees hold one descriptor per
/// level) and return the soft limit now in force.
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is writable and of the right type.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: raised is a valid rlimit; raising soft up to hard needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    lim.rlim_cur
}

/// A reason for a failure report line: the OS message without "(os error N)".
pub fn reason(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Show a path's bytes on one line: newlines, control characters and bytes that are not
/// UTF-8 escaped as `\n`, `\xHH` (and `\\`), the rest as is.
pub fn display_bytes(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_escapes_what_breaks_a_line() {
        assert_eq!(
            display_bytes(b"a\nb\\c\xffd\x01 \xc3\xa9"),
            "a\\nb\\\\c\\xffd\\x01 é"
        );
    }

    #[test]
    fn symlinks_are_not_followed() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::os::unix::fs::symlink(t.path().join("d"), t.path().join("l")).unwrap();
        let anchor = OwnedFd::from(std::fs::File::open(t.path()).unwrap());
        let l = CString::new("l").unwrap();
        // O_NOFOLLOW|O_DIRECTORY on a symlink: ELOOP or ENOTDIR, depending on the kernel.
        let err = open_dir_at(anchor.as_fd(), &l).unwrap_err();
        assert!(
            matches!(err.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)),
            "{err}"
        );
        assert!(stat_at(anchor.as_fd(), &l).unwrap().is_symlink());
        let link = open_path_at(anchor.as_fd(), &l).unwrap();
        assert!(stat_fd(link.as_fd()).unwrap().is_symlink());
        assert_eq!(
            read_link_fd(link.as_fd()).unwrap(),
            t.path().join("d").as_os_str().as_encoded_bytes()
        );
        let names = read_names(anchor.as_fd()).unwrap();
        assert_eq!(names.len(), 2);
        // A second read of the same descriptor lists the names again.
        assert_eq!(read_names(anchor.as_fd()).unwrap().len(), 2);
    }

    use std::os::fd::AsFd;
}
