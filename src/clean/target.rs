//! A PATH given to `clean` or `chown`, resolved once, to descriptors that every later
//! step uses.
//!
//! Resolving it three times (lstat for the checks, canonicalize for the path rules, open
//! of the parent for the walk) let a directory swapped for a symlink between two of them
//! make the command check one tree and act on another (issue 11). Here the path is walked
//! one component at a time from `/`, each opened with O_PATH|O_NOFOLLOW, so the kernel
//! follows no symlink: one met on the way is read through its own descriptor and spliced
//! into the rest of the path by us, once its owner is trusted. The result keeps a handle
//! on the target and a descriptor of the directory holding it; the checks run on their
//! fstat, and the walks start from that directory and compare (st_dev, st_ino) with the
//! checked target before they change anything.

use super::fs::{self, FileStat};
use super::guard::{self, Target};
use crate::error::{Error, Result};
use std::collections::VecDeque;
use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Symlinks one resolution may follow (the kernel's MAXSYMLINKS, path_resolution(7)).
const MAX_SYMLINKS: usize = 40;

/// A PATH from the command line, resolved to descriptors and checked against them.
#[derive(Debug)]
pub struct Resolved {
    /// Paths and owner for the guard's rules and for messages.
    pub target: Target,
    /// The directory holding the target (O_PATH): removal and the walks look the
    /// target's name up here and nowhere else.
    pub parent: Arc<OwnedFd>,
    /// The target itself (O_PATH|O_NOFOLLOW: a symlink kept as the target is the link).
    pub handle: OwnedFd,
    /// fstat of `handle`: what every later step must still find.
    pub st: FileStat,
}

/// One component resolved so far.
struct Step {
    name: CString,
    fd: OwnedFd,
    st: FileStat,
}

/// Resolve `given` (relative to the current directory unless absolute). Symlinks on the
/// way are followed, once, here; one as the last component is followed only with
/// `follow_last` (chown without -h), else it is the target itself (clean, chown -h). A
/// symlink owned by neither `own_uid` nor root is refused (see `trusted`).
pub fn resolve(given: &Path, follow_last: bool, own_uid: u32) -> Result<Resolved> {
    let start = absolute(given)?;
    let root = fs::open_root().map_err(|e| Error::io("open", Path::new("/"), &e))?;
    let mut pending = components(&start);
    let mut stack: Vec<Step> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        if part == b"." || part == b".." {
            // `x/.` and `x/..` need x to be a directory, as the kernel has it.
            if let Some(top) = stack.last().filter(|s| !s.st.is_dir()) {
                let at = path_of(&stack, None);
                return Err(not_a_directory(given, &at, &top.st));
            }
            if part == b".." {
                // The directory we came from (`..` of `/` is `/`).
                stack.pop();
            }
            continue;
        }
        let here = path_of(&stack, Some(&part));
        let name = CString::new(part)
            .map_err(|_| Error::usage(format!("{}: the path holds a NUL byte", given.display())))?;
        let dir = stack.last().map_or(root.as_fd(), |s| s.fd.as_fd());
        let fd = fs::open_path_at(dir, &name).map_err(|e| Error::io("resolve", &here, &e))?;
        let st = fs::stat_fd(fd.as_fd()).map_err(|e| Error::io("inspect", &here, &e))?;
        if st.is_symlink() && (follow_last || !pending.is_empty()) {
            trusted(&here, &st, own_uid)?;
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(
                    Error::failure(format!("cannot resolve {}", given.display())).because(format!(
                        "more than {MAX_SYMLINKS} symlinks on the way (a loop?), the last {}",
                        here.display()
                    )),
                );
            }
            let to = fs::read_link_fd(fd.as_fd())
                .map_err(|e| Error::io("read the symlink", &here, &e))?;
            if to.starts_with(b"/") {
                stack.clear();
            }
            let mut spliced = components(&to);
            spliced.extend(pending);
            pending = spliced;
            continue;
        }
        stack.push(Step { name, fd, st });
    }

    resolved(given, root, stack)
}

/// `given` as an absolute path (bytes), the current directory before a relative one.
fn absolute(given: &Path) -> Result<Vec<u8>> {
    let bytes = given.as_os_str().as_encoded_bytes();
    if bytes.is_empty() {
        return Err(
            Error::usage("an empty PATH names nothing").fix("give the path of a file or directory")
        );
    }
    let mut start = Vec::new();
    if !bytes.starts_with(b"/") {
        let cwd = std::env::current_dir().map_err(|e| {
            Error::failure(format!(
                "cannot resolve {}: the current directory is unknown",
                given.display()
            ))
            .because(e)
            .fix("give an absolute path, or cd to a directory that exists")
        })?;
        start.extend_from_slice(cwd.as_os_str().as_encoded_bytes());
        start.push(b'/');
    }
    start.extend_from_slice(bytes);
    Ok(start)
}

/// The walk's end: its last step is the target, the one before it (or `/`) its parent.
fn resolved(given: &Path, root: OwnedFd, mut stack: Vec<Step>) -> Result<Resolved> {
    let Some(last) = stack.pop() else {
        return Err(guard::refusal(given, "it is the root directory /"));
    };
    let parent_path = path_of(&stack, None);
    let path = parent_path.join(OsStr::from_bytes(last.name.to_bytes()));
    let parent = stack.pop().map_or(root, |s| s.fd);
    Ok(Resolved {
        target: Target {
            given: given.to_path_buf(),
            path,
            parent: parent_path,
            name: last.name,
            owner_uid: last.st.uid,
            is_dir: last.st.is_dir(),
        },
        parent: Arc::new(parent),
        handle: last.fd,
        st: last.st,
    })
}

/// The components of a path; a trailing `/` becomes a trailing `.`, which asks for a
/// directory and so has a symlink before it followed (path_resolution(7)).
fn components(path: &[u8]) -> VecDeque<Vec<u8>> {
    let mut parts: VecDeque<Vec<u8>> = path
        .split(|&b| b == b'/')
        .filter(|p| !p.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    if path.ends_with(b"/") {
        parts.push_back(b".".to_vec());
    }
    parts
}

fn path_of(stack: &[Step], next: Option<&[u8]>) -> PathBuf {
    let mut p = PathBuf::from("/");
    for s in stack {
        p.push(OsStr::from_bytes(s.name.to_bytes()));
    }
    if let Some(next) = next {
        p.push(OsStr::from_bytes(next));
    }
    p
}

fn not_a_directory(given: &Path, at: &Path, st: &FileStat) -> Error {
    Error::failure(format!("cannot resolve {}", given.display())).because(format!(
        "{} is a {}, not a directory",
        at.display(),
        st.type_name()
    ))
}

/// A symlink on the way is followed only when root or the user owns it. Anyone else who
/// owns one (another user, a container's user) decides where the path leads, and can
/// change it at any moment; the kernel's fs.protected_symlinks refuses such links in
/// sticky directories, and a command that removes and re-owns refuses them everywhere.
fn trusted(link: &Path, st: &FileStat, own_uid: u32) -> Result<()> {
    if st.uid == 0 || st.uid == own_uid {
        return Ok(());
    }
    Err(
        Error::failure(format!("refusing to follow the symlink {}", link.display()))
            .because(format!(
                "it is owned by uid {}, neither you nor root, who can point it anywhere at any moment",
                st.uid
            ))
            .fix("give the path it leads to instead, if you trust where it points (readlink -f)"),
    )
}

/// The guard's rules for `/` and the home directory, by identity: the resolved target
/// must be neither of them, nor a directory holding the home, whatever name reached it
/// (a bind mount of the home is another name for it).
pub fn check_identity(resolved: &Resolved, homes: &[PathBuf]) -> Result<()> {
    let st = &resolved.st;
    let is = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.dev() == st.dev && m.ino() == st.ino);
    let given = &resolved.target.given;
    if is(Path::new("/")) {
        return Err(guard::refusal(given, "it is the root directory /"));
    }
    for home in homes {
        if is(home) {
            return Err(guard::refusal(given, "it is your home directory")
                .fix("name the directories inside it that you mean"));
        }
        if let Some(dir) = home.ancestors().skip(1).find(|a| is(a)) {
            return Err(guard::refusal(
                given,
                format!(
                    "it is {}, which contains your home directory {}",
                    dir.display(),
                    home.display()
                ),
            )
            .fix("name the directories inside it that you mean"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn uid() -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    #[test]
    fn symlinks_on_the_way_are_followed_and_the_last_one_as_asked() {
        let t = tempfile::tempdir().unwrap();
        let t = std::fs::canonicalize(t.path()).unwrap();
        std::fs::create_dir_all(t.join("real/d")).unwrap();
        std::fs::write(t.join("real/d/f"), b"").unwrap();
        symlink(t.join("real"), t.join("abs")).unwrap();
        symlink("real/d", t.join("rel")).unwrap();
        symlink("../d/f", t.join("real/d/up")).unwrap();

        let r = resolve(&t.join("abs/d/../d/f"), false, uid()).unwrap();
        assert_eq!(r.target.path, t.join("real/d/f"));
        assert_eq!(r.target.parent, t.join("real/d"));
        assert_eq!(r.target.name.to_bytes(), b"f");
        assert!(!r.st.is_dir());
        let parent = fs::stat_fd(r.parent.as_fd()).unwrap();
        let real_d = std::fs::metadata(t.join("real/d")).unwrap();
        assert_eq!((parent.dev, parent.ino), (real_d.dev(), real_d.ino()));

        // The last component: kept as the link, or followed; a trailing / follows it.
        let kept = resolve(&t.join("rel/up"), false, uid()).unwrap();
        assert!(kept.st.is_symlink());
        assert_eq!(kept.target.path, t.join("real/d/up"));
        let followed = resolve(&t.join("rel/up"), true, uid()).unwrap();
        assert_eq!(followed.target.path, t.join("real/d/f"));
        let slash = resolve(Path::new(&format!("{}/rel/", t.display())), false, uid()).unwrap();
        assert_eq!(slash.target.path, t.join("real/d"));
        assert!(slash.st.is_dir());

        let e = resolve(&t.join("real/d/f/."), false, uid()).unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
        assert!(resolve(&t.join("missing/x"), false, uid()).is_err());
        let e = resolve(&t.join("abs/../../../../../../../../.."), false, uid()).unwrap_err();
        assert!(e.to_string().contains("root directory"), "{e}");
    }

    #[test]
    fn loops_end_and_foreign_symlinks_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let t = std::fs::canonicalize(t.path()).unwrap();
        symlink("b", t.join("a")).unwrap();
        symlink("a", t.join("b")).unwrap();
        let e = resolve(&t.join("a/x"), false, uid()).unwrap_err();
        assert!(e.to_string().contains("more than 40 symlinks"), "{e}");

        std::fs::create_dir(t.join("d")).unwrap();
        symlink(t.join("d"), t.join("theirs")).unwrap();
        // Owned by someone else: as root, give it away; otherwise pretend to be another.
        let me = if uid() == 0 {
            std::os::unix::fs::lchown(t.join("theirs"), Some(4242), None).unwrap();
            0
        } else {
            uid() + 1
        };
        let e = resolve(&t.join("theirs/x"), false, me).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(&t.join("theirs").display().to_string()) && text.contains("uid "),
            "{text}"
        );
        // As the last component of clean's PATH it is not followed, so not refused.
        assert!(resolve(&t.join("theirs"), false, me).is_ok());
        assert!(resolve(&t.join("theirs"), true, me).is_err());
    }
}
