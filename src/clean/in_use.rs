//! Whether a running container lays an overlay over a tree `clean` is asked to remove.
//!
//! A container's overlay lives in the container's own mount namespace, invisible in
//! ours: `userns run --keep NAME` mounts `kept/NAME/upper` there, podman's native overlay
//! mounts its layers in its pause process's namespace. Removing the upper or work
//! directory under a running overlay corrupts the container's view (overlayfs(5): changing
//! the underlying trees of a mounted overlay is undefined). The overlay's super options
//! in /proc/PID/mountinfo carry the host paths it was mounted with, as given at mount
//! time, whatever root the container pivoted to; every mount namespace of the user's
//! processes is read once.

use super::guard::{self, Target};
use crate::error::Result;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A running overlay over a tree: who holds it and which of its directories it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayUse {
    pub pid: i32,
    /// The process's command line, for the message.
    pub command: String,
    /// `upperdir`, `workdir` or `lowerdir`.
    pub option: String,
    pub dir: PathBuf,
}

/// The overlay directories named in an overlay mount's super options, as mountinfo
/// shows them: options separated by ',', in which the kernel writes a ',', '=', space,
/// tab, newline or backslash of a path as an octal escape (seq_show_option); `lowerdir`
/// may list several directories separated by ':' (a ':' of a path written "\:").
pub(crate) fn overlay_dirs(super_options: &[u8]) -> Vec<(String, PathBuf)> {
    let mut dirs = Vec::new();
    for option in super_options.split(|&b| b == b',') {
        let Some(eq) = option.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (key, value) = (&option[..eq], &option[eq + 1..]);
        let key = String::from_utf8_lossy(key).into_owned();
        if !matches!(key.as_str(), "upperdir" | "workdir" | "lowerdir") {
            continue;
        }
        for path in split_lower(value) {
            let path = guard::unescape(&path);
            if path.first() == Some(&b'/') {
                dirs.push((key.clone(), PathBuf::from(OsStr::from_bytes(&path))));
            }
        }
    }
    dirs
}

/// Split a `lowerdir` value at each ':' not written as "\:", dropping that escape.
fn split_lower(text: &[u8]) -> Vec<Vec<u8>> {
    let mut parts = vec![Vec::new()];
    let mut i = 0;
    while i < text.len() {
        let part = parts.last_mut().expect("one part");
        match (text[i], text.get(i + 1)) {
            (b'\\', Some(b':')) => {
                part.push(b':');
                i += 2;
                continue;
            }
            (b':', _) => parts.push(Vec::new()),
            (b, _) => part.push(b),
        }
        i += 1;
    }
    parts
}

/// The overlays of one mountinfo text: (option, directory) of each overlay mount.
pub(crate) fn overlays_of(mountinfo: &[u8]) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    for line in mountinfo.split(|&b| b == b'\n') {
        let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == b"-") else {
            continue;
        };
        if fields.get(sep + 1) != Some(&&b"overlay"[..]) {
            continue;
        }
        if let Some(options) = fields.get(sep + 3) {
            found.extend(overlay_dirs(options));
        }
    }
    found
}

/// Whether `a` and `b` are the same tree or one holds the other.
fn nested(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// The first running overlay (in a mount namespace other than ours, of a process this
/// user may inspect) whose directories meet one of `trees`.
pub fn find(trees: &[&Path]) -> Option<(PathBuf, OverlayUse)> {
    let own = std::fs::read_link("/proc/self/ns/mnt").ok();
    let mut seen: HashSet<PathBuf> = own.into_iter().collect();
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    for pid in pids {
        // readlink needs ptrace access: other users' processes are skipped here.
        let Ok(ns) = std::fs::read_link(format!("/proc/{pid}/ns/mnt")) else {
            continue;
        };
        if !seen.insert(ns) {
            continue;
        }
        let Ok(text) = std::fs::read(format!("/proc/{pid}/mountinfo")) else {
            continue;
        };
        for (option, dir) in overlays_of(&text) {
            let dir = dir.canonicalize().unwrap_or(dir);
            if let Some(tree) = trees.iter().find(|t| nested(t, &dir)) {
                let mut command = command_line(pid);
                // The container's first process is the child of its supervisor (`userns
                // run`, conmon): name that too, it is what the user started.
                if let Some(parent) = parent_of(pid).filter(|&p| p > 1) {
                    command = format!("{command}; parent {parent}: {}", command_line(parent));
                }
                return Some((
                    tree.to_path_buf(),
                    OverlayUse {
                        pid,
                        command,
                        option,
                        dir,
                    },
                ));
            }
        }
    }
    None
}

/// A process's command line, words joined by spaces.
fn command_line(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            c.split(|&b| b == 0)
                .filter(|w| !w.is_empty())
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn parent_of(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))?
        .trim()
        .parse()
        .ok()
}

/// Refuse targets a running container's overlay uses, naming the process and the fix.
pub fn check(targets: &[Target]) -> Result<()> {
    let trees: Vec<&Path> = targets.iter().map(|t| t.path.as_path()).collect();
    let Some((tree, used)) = find(&trees) else {
        return Ok(());
    };
    let given = targets
        .iter()
        .find(|t| t.path == tree)
        .map(|t| t.given.clone())
        .unwrap_or(tree);
    Err(guard::refusal(
        &given,
        format!(
            "a running container uses it: process {} ({}) has an overlay with {}={}",
            used.pid,
            used.command,
            used.option,
            used.dir.display()
        ),
    )
    .fix(format!(
        "end that container first (let its program finish, or kill -KILL {}; podman stop \
         for a podman container), then clean again",
        used.pid
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_options_give_every_directory() {
        let line = b"160 136 0:50 / / rw,relatime - overlay overlay rw,lowerdir=/img/a\\054b\\:c:/img/d,upperdir=/k/dev/upper,workdir=/k/dev/work,redirect_dir=nofollow,userxattr\n\
            22 1 0:21 / /proc rw - proc proc rw\n";
        let found = overlays_of(line);
        let dirs: Vec<(&str, &str)> = found
            .iter()
            .map(|(k, p)| (k.as_str(), p.to_str().unwrap()))
            .collect();
        assert_eq!(
            dirs,
            [
                ("lowerdir", "/img/a,b:c"),
                ("lowerdir", "/img/d"),
                ("upperdir", "/k/dev/upper"),
                ("workdir", "/k/dev/work"),
            ]
        );
    }

    #[test]
    fn a_tree_above_or_below_an_overlay_directory_meets_it() {
        assert!(nested(Path::new("/k/dev"), Path::new("/k/dev/upper")));
        assert!(nested(
            Path::new("/k/dev/upper/etc"),
            Path::new("/k/dev/upper")
        ));
        assert!(!nested(Path::new("/k/devx"), Path::new("/k/dev/upper")));
    }
}
