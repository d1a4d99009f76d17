//! File-system writes that cannot leave a root directory, whatever a layer says.
//!
//! Every parent directory is looked up with openat2(2) and
//! `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` on a descriptor of the root: `..` at the root
//! stays at the root and an absolute symlink is resolved as if the root were `/` (the
//! kernel does it, so no check-then-use race is possible). The last component is then
//! created relative to that parent descriptor with `mkdirat`, `openat(O_CREAT|O_EXCL|
//! O_NOFOLLOW)`, `symlinkat`, `linkat` or `mknodat`, which never follow a symlink there.
//! Entry names are first cleaned lexically, as containerd's `fs.RootPath` does, so that
//! `a/../../etc/x` means `/etc/x` beneath the root.

use crate::sys::fs::{self as sysfs, FileStat};
use crate::sys::resolve::{self, Resolve};
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// How deep a tree may be before removing it is refused (a hostile layer could nest
/// directories deep enough to exhaust the stack of a recursive remove).
const MAX_REMOVE_DEPTH: usize = 512;

/// A path inside the root, cleaned: no empty, `.` or `..` components, never the root itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct InnerPath {
    components: Vec<OsString>,
}

impl InnerPath {
    /// Clean `raw` as a rooted path; None when it names the root itself (`/`, `.`, `a/..`).
    pub(crate) fn clean(raw: &[u8]) -> Option<InnerPath> {
        let mut components: Vec<OsString> = Vec::new();
        for part in raw.split(|b| *b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    components.pop();
                }
                name => components.push(OsStr::from_bytes(name).to_os_string()),
            }
        }
        (!components.is_empty()).then_some(InnerPath { components })
    }

    pub(crate) fn name(&self) -> &OsStr {
        self.components.last().expect("never empty")
    }

    /// The parent's components (empty for an entry directly under the root).
    pub(crate) fn parent(&self) -> &[OsString] {
        &self.components[..self.components.len() - 1]
    }

    /// The parent as a path; None for the root.
    pub(crate) fn parent_path(&self) -> Option<InnerPath> {
        (self.components.len() > 1).then(|| InnerPath {
            components: self.parent().to_vec(),
        })
    }

    pub(crate) fn join(&self, name: &OsStr) -> InnerPath {
        let mut components = self.components.clone();
        components.push(name.to_os_string());
        InnerPath { components }
    }

    /// `/a/b` form, for messages.
    pub(crate) fn display(&self) -> String {
        let mut p = PathBuf::from("/");
        p.extend(&self.components);
        p.display().to_string()
    }
}

/// A root directory that writes are confined to.
#[derive(Debug)]
pub(crate) struct Root {
    fd: OwnedFd,
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// A name as the sys layer takes it (a NUL inside is EINVAL, as the kernel would say).
fn c_name(name: &OsStr) -> io::Result<CString> {
    cstring(name.as_bytes())
}

/// openat(dirfd, name) of one component, never following a symlink there.
fn open_at(dir: BorrowedFd<'_>, name: &OsStr, flags: i32) -> io::Result<OwnedFd> {
    sysfs::open_nofollow_at(dir, &c_name(name)?, flags)
}

/// What is at a name in a directory, without following a symlink.
pub(crate) fn lstat_at(dirfd: &OwnedFd, name: &OsStr) -> io::Result<FileStat> {
    sysfs::stat_at(dirfd.as_fd(), &c_name(name)?)
}

/// What an open file is (its owner and mode as made).
pub(crate) fn stat_fd(fd: BorrowedFd<'_>) -> io::Result<FileStat> {
    sysfs::stat_fd(fd)
}

pub(crate) fn is_dir(st: &FileStat) -> bool {
    st.is_dir()
}

/// A file type in words, for messages.
pub(crate) fn kind_of(mode: u32) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFREG => "a regular file",
        libc::S_IFDIR => "a directory",
        libc::S_IFLNK => "a symlink",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFSOCK => "a socket",
        _ => "of an unknown type",
    }
}

impl Root {
    /// Open an existing directory as the root.
    pub(crate) fn open(path: &Path) -> io::Result<Root> {
        let fd = resolve::open(
            rustix::fs::CWD,
            path.as_os_str(),
            libc::O_PATH | libc::O_DIRECTORY,
            Resolve::empty(),
        )?;
        Ok(Root { fd })
    }

    /// Resolve a directory beneath the root (`components` empty: the root itself).
    fn resolve_dir(&self, components: &[OsString]) -> io::Result<OwnedFd> {
        let mut rel = OsString::from(".");
        for c in components {
            rel.push("/");
            rel.push(c);
        }
        resolve::open(
            self.fd.as_fd(),
            &rel,
            libc::O_PATH | libc::O_DIRECTORY,
            Resolve::IN_ROOT | Resolve::NO_MAGICLINKS,
        )
    }

    /// The parent directory of `path`, resolved beneath the root. With `create`, missing
    /// directories are made (mode 0755, owner: the caller), as tar does for entries whose
    /// directory came without its own header.
    pub(crate) fn parent_of(&self, path: &InnerPath, create: bool) -> io::Result<OwnedFd> {
        match self.resolve_dir(path.parent()) {
            Err(e) if create && e.raw_os_error() == Some(libc::ENOENT) => {}
            other => return other,
        }
        let parent = path.parent();
        let mut dir = self.resolve_dir(&[])?;
        for i in 0..parent.len() {
            dir = match self.resolve_dir(&parent[..=i]) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    match mkdir_at(&dir, &parent[i], 0o755) {
                        // Something is there yet did not resolve: a symlink whose target
                        // is not beneath the root. Following it out is what must not happen.
                        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                            let link = InnerPath {
                                components: parent[..=i].to_vec(),
                            };
                            return Err(io::Error::other(format!(
                                "{} is a symlink to a directory that is not in the image",
                                link.display()
                            )));
                        }
                        other => other?,
                    }
                    self.resolve_dir(&parent[..=i])?
                }
                Err(e) => return Err(e),
            };
        }
        Ok(dir)
    }

    /// Open `rel` beneath the root for reading, only if it is a regular file, following no
    /// symlink on the way (`RESOLVE_NO_SYMLINKS`: ELOOP when one is met) and never leaving
    /// the root (`RESOLVE_BENEATH`: EXDEV). It is looked up with O_PATH first, which opens
    /// nothing: a FIFO cannot block the open waiting for a writer, no device driver runs.
    /// Returns the file and its size.
    pub(crate) fn open_regular(&self, rel: &[u8]) -> io::Result<(std::fs::File, u64)> {
        let how = Resolve::BENEATH | Resolve::NO_SYMLINKS | Resolve::NO_MAGICLINKS;
        let rel = OsStr::from_bytes(rel);
        let path = resolve::open(self.fd.as_fd(), rel, libc::O_PATH, how)?;
        let st = sysfs::stat_fd(path.as_fd())?;
        if st.mode & libc::S_IFMT != libc::S_IFREG {
            return Err(io::Error::other(format!(
                "not a regular file but {}",
                kind_of(st.mode)
            )));
        }
        // O_NONBLOCK: should it have become a FIFO since the lookup, the open still returns.
        let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY;
        let fd = resolve::open(self.fd.as_fd(), rel, flags, how)?;
        let again = sysfs::stat_fd(fd.as_fd())?;
        if !again.same_file(&st) {
            return Err(io::Error::other(
                "it was replaced while it was being opened",
            ));
        }
        sysfs::set_status_flags(fd.as_fd(), 0)?;
        Ok((std::fs::File::from(fd), again.size))
    }

    /// The directory `path` itself, resolved beneath the root (symlinks followed inside it).
    pub(crate) fn dir(&self, path: Option<&InnerPath>) -> io::Result<OwnedFd> {
        match path {
            Some(p) => self.resolve_dir(&p.components),
            None => self.resolve_dir(&[]),
        }
    }
}

/// The root's descriptor (O_PATH), for fstatvfs of its file system.
impl std::os::fd::AsFd for Root {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

pub(crate) fn mkdir_at(dir: &OwnedFd, name: &OsStr, mode: u32) -> io::Result<()> {
    sysfs::mkdir_at(dir.as_fd(), &c_name(name)?, mode)
}

/// Create a new regular file with the permission bits `mode` (the umask applies); fails
/// if anything (even a dangling symlink) is there.
pub(crate) fn create_file_at(dir: &OwnedFd, name: &OsStr, mode: u32) -> io::Result<std::fs::File> {
    let fd = sysfs::create_file_at(dir.as_fd(), &c_name(name)?, mode)?;
    Ok(std::fs::File::from(fd))
}

/// Open an existing directory (not a symlink to one) for fchown/fchmod.
pub(crate) fn open_dir_at(dir: &OwnedFd, name: &OsStr) -> io::Result<OwnedFd> {
    open_at(dir.as_fd(), name, libc::O_RDONLY | libc::O_DIRECTORY)
}

pub(crate) fn symlink_at(target: &[u8], dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    let t = cstring(target)?;
    sysfs::symlink_at(&t, dir.as_fd(), &c_name(name)?)
}

/// A hard link; a symlink at the source is linked itself, never followed.
pub(crate) fn link_at(
    src_dir: &OwnedFd,
    src_name: &OsStr,
    dir: &OwnedFd,
    name: &OsStr,
) -> io::Result<()> {
    let s = c_name(src_name)?;
    sysfs::link_at(src_dir.as_fd(), &s, dir.as_fd(), &c_name(name)?)
}

pub(crate) fn mkfifo_at(dir: &OwnedFd, name: &OsStr, mode: u32) -> io::Result<()> {
    sysfs::mkfifo_at(dir.as_fd(), &c_name(name)?, mode)
}

/// chmod of a FIFO by name. fchmodat has no working AT_SYMLINK_NOFOLLOW, so this is only
/// for a name the caller has just created as a FIFO in `dir` (so not a symlink).
pub(crate) fn chmod_fifo_at(dir: &OwnedFd, name: &OsStr, mode: u32) -> io::Result<()> {
    let st = lstat_at(dir, name)?;
    if st.mode & libc::S_IFMT != libc::S_IFIFO {
        return Err(io::Error::other("expected the FIFO just made"));
    }
    sysfs::chmod_at(dir.as_fd(), &c_name(name)?, mode)
}

/// chown of the name itself (AT_SYMLINK_NOFOLLOW: a symlink gets the owner, not its target).
pub(crate) fn chown_at(dir: &OwnedFd, name: &OsStr, uid: u32, gid: u32) -> io::Result<()> {
    sysfs::chown_at(dir.as_fd(), &c_name(name)?, Some(uid), Some(gid))
}

pub(crate) fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    sysfs::chown_fd(fd, Some(uid), Some(gid))
}

pub(crate) fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    sysfs::chmod_fd(fd, mode)
}

/// Set atime and mtime of the name itself (a symlink's own times, never its target's).
pub(crate) fn set_times_at(dir: &OwnedFd, name: &OsStr, mtime: i64) -> io::Result<()> {
    sysfs::set_times_at(dir.as_fd(), &c_name(name)?, mtime)
}

pub(crate) fn set_times(fd: BorrowedFd<'_>, mtime: i64) -> io::Result<()> {
    sysfs::set_times_fd(fd, mtime)
}

/// Remove a name and, when it is a directory, everything beneath it. Entries are opened
/// with O_NOFOLLOW relative to their directory's descriptor, so a symlink inside is
/// removed, never followed out of the root. A missing name is not an error. The name must
/// be one entry of `dir`: `.`, `..`, empty names and paths are refused, since opening them
/// would reach the directory itself or the one above it.
pub(crate) fn remove_all_at(dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    let n = name.as_bytes();
    if matches!(n, b"" | b"." | b"..") || n.contains(&b'/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not a name in a directory"),
        ));
    }
    remove_all_depth(dir, name, 0)
}

fn unlink_at(dir: &OwnedFd, name: &OsStr, remove_dir: bool) -> io::Result<()> {
    sysfs::unlink_at(dir.as_fd(), &c_name(name)?, remove_dir)
}

fn remove_all_depth(dir: &OwnedFd, name: &OsStr, depth: usize) -> io::Result<()> {
    match unlink_at(dir, name, false) {
        Ok(()) => return Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EISDIR) => {}
        Err(e) => return Err(e),
    }
    if depth >= MAX_REMOVE_DEPTH {
        return Err(io::Error::other(format!(
            "directory tree deeper than {MAX_REMOVE_DEPTH} levels"
        )));
    }
    let sub = open_dir_at(dir, name)?;
    for child in list_dir(&sub)? {
        remove_all_depth(&sub, &child, depth + 1)?;
    }
    unlink_at(dir, name, true)
}

/// The names in a directory (without `.` and `..`).
pub(crate) fn list_dir(dir: &OwnedFd) -> io::Result<Vec<OsString>> {
    // Read through a fresh descriptor of the same directory: an O_PATH descriptor (what
    // the root's lookups return) cannot be read.
    let fd = open_at(
        dir.as_fd(),
        OsStr::new("."),
        libc::O_RDONLY | libc::O_DIRECTORY,
    )?;
    let names = sysfs::read_names(fd.as_fd())?;
    Ok(names
        .into_iter()
        .map(|n| OsString::from_vec(n.into_bytes()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::{remove_all_at, InnerPath, Root};
    use std::ffi::OsStr;

    #[test]
    fn remove_all_takes_only_a_name_in_the_directory() {
        let top = std::env::temp_dir().join(format!("userns-rm-names-{}", std::process::id()));
        std::fs::create_dir_all(top.join("dir/sub")).unwrap();
        std::fs::write(top.join("dir/sub/f"), "x").unwrap();
        let root = Root::open(&top.join("dir/sub")).unwrap();
        let fd = root.dir(None).unwrap();
        for name in ["", ".", "..", "../sub", "a/b"] {
            let err = remove_all_at(&fd, OsStr::new(name)).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{name:?}");
        }
        assert!(top.join("dir/sub/f").exists());
        remove_all_at(&fd, OsStr::new("f")).unwrap();
        assert!(!top.join("dir/sub/f").exists());
        std::fs::remove_dir_all(&top).unwrap();
    }

    fn shown(raw: &str) -> Option<String> {
        InnerPath::clean(raw.as_bytes()).map(|p| p.display())
    }

    #[test]
    fn cleaning_is_rooted_like_containerd() {
        assert_eq!(shown("./etc/passwd").as_deref(), Some("/etc/passwd"));
        assert_eq!(shown("/etc//x/").as_deref(), Some("/etc/x"));
        assert_eq!(shown("../../etc/x").as_deref(), Some("/etc/x"));
        assert_eq!(shown("a/../../b").as_deref(), Some("/b"));
        assert_eq!(shown("a/.."), None);
        assert_eq!(shown("/"), None);
        assert_eq!(shown("."), None);
    }
}
