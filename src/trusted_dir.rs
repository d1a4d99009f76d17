//! The one check of every directory userns trusts: the runtime dir ($XDG_RUNTIME_DIR, or
//! podman's fallbacks /run/user/UID and /tmp/storage-run-UID), podman's storage that
//! `clean` removes, and what userns keeps itself (the data dir with the image cache and
//! kept layers, the run dirs, the registry of kept namespaces).
//!
//! A trusted directory is a directory itself, not a symbolic link (lstat, or fstat of a
//! descriptor opened with O_NOFOLLOW), owned by the caller and writable by no one else.
//! podman holds its runtime dir to the same rule (owned by the user, mode 0700): a
//! directory that another user owns or may write to lets that user plant a link that
//! steers what userns removes, joins or runs. userns's own directories are private as
//! well (0700, as podman keeps its storage): an image's setuid file, owned by the user
//! outside, must not be reachable by a path from another user.
//!
//! "The caller" is the effective uid: outside, the user; inside the user's namespace
//! (where the image cache is filled), uid 0, which is how the user's inodes show there
//! (another user's show as the overflow uid 65534).

use crate::error::{Error, Result};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;

/// What a directory is to userns: the words of a refusal and what is fixed in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// $XDG_RUNTIME_DIR or a fallback of podman's: the user's, never changed by userns.
    Runtime,
    /// podman's graphroot or runroot, which `clean` removes.
    Storage,
    /// A directory userns keeps itself: made 0700, and made so when found open.
    Private,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Runtime => "runtime directory",
            Kind::Storage => "container storage",
            Kind::Private => "userns directory",
        }
    }
}

/// Why a directory is not trusted, from its lstat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    Symlink {
        owner: u32,
    },
    NotDirectory,
    Owner {
        owner: u32,
        me: u32,
    },
    /// Group or others may write to it.
    Writable {
        mode: u32,
    },
    /// Group or others may read or search it (but not write): enough to reach a setuid
    /// file inside. Fixed in place for `Kind::Private`, reported by `doctor` otherwise.
    Open {
        mode: u32,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Symlink { owner } => write!(
                f,
                "it is a symbolic link, owned by uid {owner}; userns never follows a link here, \
                 since whoever made it chooses where it leads"
            ),
            Problem::NotDirectory => write!(f, "it is not a directory"),
            Problem::Owner { owner, me } => write!(
                f,
                "it is owned by uid {owner}, not by you (uid {me}); its owner could plant files \
                 or links in it"
            ),
            Problem::Writable { mode } => write!(
                f,
                "it is writable by others (mode {mode:o}): another user could plant files or \
                 links in it"
            ),
            Problem::Open { mode } => write!(f, "others may read it (mode {mode:o})"),
        }
    }
}

/// The judgement itself, pure: `st_mode` and `st_uid` of an lstat, and the caller's uid.
pub(crate) fn judge(st_mode: u32, owner: u32, me: u32) -> Option<Problem> {
    let mode = st_mode & 0o7777;
    match st_mode & libc::S_IFMT {
        libc::S_IFLNK => Some(Problem::Symlink { owner }),
        libc::S_IFDIR if owner != me => Some(Problem::Owner { owner, me }),
        libc::S_IFDIR if mode & 0o022 != 0 => Some(Problem::Writable { mode }),
        libc::S_IFDIR if mode & 0o077 != 0 => Some(Problem::Open { mode }),
        libc::S_IFDIR => None,
        _ => Some(Problem::NotDirectory),
    }
}

/// What is wrong with `path` now: None when it is trusted; Err when lstat fails (NotFound
/// when it does not exist).
pub(crate) fn inspect(path: &Path) -> std::io::Result<Option<Problem>> {
    let meta = std::fs::symlink_metadata(path)?;
    Ok(judge(meta.mode(), meta.uid(), euid()))
}

/// Check a directory userns is about to trust: Ok(true) when it is trusted, Ok(false) when
/// it does not exist, else the refusal with the reason and the fix. A private directory of
/// userns found open to others, but the caller's, is closed (chmod 700) instead: older
/// versions of userns made them 0755. One lstat when all is well.
pub fn check(path: &Path, kind: Kind) -> Result<bool> {
    let problem = match inspect(path) {
        Ok(problem) => problem,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(&format!("inspect the {}", kind.name()), path, &e)),
    };
    match problem {
        None => Ok(true),
        Some(Problem::Open { .. }) if kind != Kind::Private => Ok(true),
        Some(Problem::Open { mode }) => close_to_others(path, mode).map(|()| true),
        Some(problem) => Err(refusal(path, kind, &problem)),
    }
}

/// The directories on the way to `path` (its ancestors, as written, each lstat'ed): each
/// must be the caller's or root's, and writable by no one else unless sticky (as /tmp,
/// where others cannot rename or remove what is not theirs). A link on the way must be
/// the caller's or root's too: one made by another user, or in a directory another user
/// controls, would choose what `path` is. For paths set in configuration (podman's
/// storage.conf, XDG_DATA_HOME), where a per-directory check sees only the end.
pub(crate) fn check_ancestors(path: &Path, kind: Kind) -> Result<()> {
    let me = euid();
    for dir in path.ancestors().skip(1) {
        if dir.as_os_str().is_empty() {
            break;
        }
        let meta = std::fs::symlink_metadata(dir)
            .map_err(|e| Error::io(&format!("inspect the way to the {}", kind.name()), dir, &e))?;
        let (owner, mode) = (meta.uid(), meta.mode());
        let problem = if owner != me && owner != 0 {
            Some(match mode & libc::S_IFMT {
                libc::S_IFLNK => Problem::Symlink { owner },
                _ => Problem::Owner { owner, me },
            })
        } else if meta.is_dir() && mode & 0o022 != 0 && mode & libc::S_ISVTX == 0 {
            Some(Problem::Writable {
                mode: mode & 0o7777,
            })
        } else {
            None
        };
        if let Some(problem) = problem {
            let e = refusal(dir, kind, &problem);
            return Err(Error {
                what: format!("refusing to use the {} {}", kind.name(), path.display()),
                cause: Some(crate::error::Cause::text(format!(
                    "{} on the way to it: {problem}",
                    dir.display()
                ))),
                ..e
            });
        }
    }
    Ok(())
}

/// `check`, creating the directory (mode 0700) when it does not exist; its parent must
/// exist. Whoever created it first, the check that follows decides.
pub(crate) fn ensure(path: &Path, kind: Kind) -> Result<()> {
    ensure_with(path, kind, false)
}

/// `ensure`, creating missing parents too, with mode 0700 as the XDG Base Directory
/// specification asks of directories made under $XDG_DATA_HOME.
pub(crate) fn ensure_all(path: &Path, kind: Kind) -> Result<()> {
    ensure_with(path, kind, true)
}

fn ensure_with(path: &Path, kind: Kind, parents: bool) -> Result<()> {
    if check(path, kind)? {
        return Ok(());
    }
    match std::fs::DirBuilder::new()
        .recursive(parents)
        .mode(0o700)
        .create(path)
    {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(
                Error::io(&format!("create the {}", kind.name()), path, &e).fix(format!(
                    "create it yourself (mkdir -m 700 {}), or {}",
                    path.display(),
                    elsewhere(kind)
                )),
            )
        }
    }
    if check(path, kind)? {
        Ok(())
    } else {
        Err(Error::failure(format!(
            "the {} {} vanished as it was made",
            kind.name(),
            path.display()
        ))
        .fix("try again; if it keeps vanishing, something else removes it"))
    }
}

/// chmod 700 through a descriptor opened with O_NOFOLLOW|O_DIRECTORY, judged again by its
/// fstat: a directory swapped for a link (or another one) after the lstat is never changed.
fn close_to_others(path: &Path, old_mode: u32) -> Result<()> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let what = || format!("make the userns directory {} private", path.display());
    let fd = nix::fcntl::open(path, flags, Mode::empty()).map_err(|e| {
        Error::failure(format!("cannot {}", what()))
            .because(e)
            .fix(format!("chmod 700 {}", path.display()))
    })?;
    let st = nix::sys::stat::fstat(&fd)
        .map_err(|e| Error::failure(format!("cannot {}", what())).because(e))?;
    match judge(st.st_mode, st.st_uid, euid()) {
        None => return Ok(()),
        Some(Problem::Open { .. }) => {}
        Some(problem) => return Err(refusal(path, Kind::Private, &problem)),
    }
    nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(0o700)).map_err(|e| {
        Error::failure(format!("cannot {}", what()))
            .because(e)
            .fix(format!("chmod 700 {}", path.display()))
    })?;
    crate::warn(format!(
        "{} was open to other users (mode {old_mode:o}), who could reach what it holds; \
         made it private (mode 700)",
        path.display()
    ));
    Ok(())
}

fn refusal(path: &Path, kind: Kind, problem: &Problem) -> Error {
    let shown = path.display();
    let me = euid();
    let fix = match problem {
        Problem::Writable { .. } => format!("chmod 700 {shown}"),
        Problem::Symlink { owner } if *owner == me => format!(
            "put the directory itself there (mv it in place of the link), or {}",
            elsewhere(kind)
        ),
        Problem::Symlink { .. } | Problem::Owner { .. } => format!(
            "{}; or have it removed (as root: rm -r {shown}) if you did not expect it there",
            elsewhere(kind)
        ),
        Problem::NotDirectory | Problem::Open { .. } => {
            format!("move {shown} out of the way, or {}", elsewhere(kind))
        }
    };
    Error::failure(format!("refusing to use the {} {shown}", kind.name()))
        .because(problem.to_string())
        .fix(fix)
}

/// Where else the directory can be, by kind.
fn elsewhere(kind: Kind) -> &'static str {
    match kind {
        Kind::Runtime => {
            "set XDG_RUNTIME_DIR to a directory of yours with mode 700 (systemd-logind makes \
             /run/user/UID at login)"
        }
        Kind::Storage => "check graphroot and runroot in your containers storage.conf",
        Kind::Private => {
            "set XDG_DATA_HOME (the image cache, kept layers) or XDG_RUNTIME_DIR (the run \
             directories) to a directory of yours"
        }
    }
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judgement_follows_podmans_rule() {
        let dir = libc::S_IFDIR;
        assert_eq!(judge(dir | 0o700, 5, 5), None);
        assert_eq!(
            judge(dir | 0o755, 5, 5),
            Some(Problem::Open { mode: 0o755 })
        );
        assert_eq!(
            judge(dir | 0o1777, 5, 5),
            Some(Problem::Writable { mode: 0o1777 })
        );
        assert_eq!(
            judge(dir | 0o770, 5, 5),
            Some(Problem::Writable { mode: 0o770 })
        );
        assert_eq!(
            judge(dir | 0o700, 6, 5),
            Some(Problem::Owner { owner: 6, me: 5 })
        );
        assert_eq!(
            judge(libc::S_IFLNK | 0o777, 5, 5),
            Some(Problem::Symlink { owner: 5 })
        );
        assert_eq!(
            judge(libc::S_IFREG | 0o600, 5, 5),
            Some(Problem::NotDirectory)
        );
    }

    #[test]
    fn private_dirs_are_made_and_closed() {
        let base = std::env::temp_dir().join(format!("userns-trusted-{}", std::process::id()));
        let dir = base.join("a/b");
        ensure_all(&dir, Kind::Private).unwrap();
        let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&base.join("a")), 0o700);
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        assert!(check(&dir, Kind::Private).unwrap());
        assert_eq!(mode(&dir), 0o700);
        // Runtime and storage dirs are the user's: judged, never changed.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        assert!(check(&dir, Kind::Runtime).unwrap());
        assert_eq!(mode(&dir), 0o755);
        let link = base.join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let e = check(&link, Kind::Runtime).unwrap_err().to_string();
        assert!(e.contains("symbolic link") && e.contains("fix:"), "{e}");
        assert!(!check(&base.join("none"), Kind::Runtime).unwrap());
        // The way there: the link is ours, so fine; an open directory on the way is not.
        assert!(check_ancestors(&link.join("x"), Kind::Storage).is_ok());
        std::fs::set_permissions(
            base.join("a"),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        let e = check_ancestors(&dir.join("x"), Kind::Storage)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("on the way to it") && e.contains("writable"),
            "{e}"
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
