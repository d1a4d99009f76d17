//! Read a process's uid_map, gid_map, setgroups and user-namespace inode from /proc.
//!
//! All reads go through a `ProcRoot`, which is "/proc" on a running system and a
//! directory of samples (fixtures/proc/<case>) in tests, as youki's
//! `UserNamespaceIDMapper { base_path }` does. The text parser (`parse_map`) is pure and
//! never panics: like `subid::parse`, it keeps every line it cannot use, with its number
//! and the reason, so that one odd line does not hide the others.
//!
//! Outside ids are shown relative to the reader (user_namespaces(7)): a reader in another
//! namespace sees them as ids of its own namespace, so from the initial namespace they
//! are host ids; a process reading its own map sees ids of its parent namespace.

use super::map::{IdMap, IdMapEntry};
use crate::error::{Error, Result};
use crate::ids::{IdKind, ID_LIMIT};
use crate::subid::Skipped;
use crate::users::Account;
use serde::Serialize;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Which process a read is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcTarget {
    /// The calling process, through /proc/self.
    Current,
    Pid(i32),
}

impl ProcTarget {
    fn component(self) -> String {
        match self {
            ProcTarget::Current => "self".into(),
            ProcTarget::Pid(pid) => pid.to_string(),
        }
    }

    /// "process 1234" or "this process", for messages.
    pub(crate) fn describe(self) -> String {
        match self {
            ProcTarget::Current => "this process".into(),
            ProcTarget::Pid(pid) => format!("process {pid}"),
        }
    }
}

impl From<i32> for ProcTarget {
    fn from(pid: i32) -> Self {
        ProcTarget::Pid(pid)
    }
}

/// Parse a pid given on a command line: a positive decimal number. Used as a clap
/// value parser, so a bad pid is a usage error that says what was expected.
pub fn parse_pid(text: &str) -> std::result::Result<i32, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "pid {text:?} is not a number; give a process id such as 1234 (see ps or pgrep)"
        ));
    }
    match text.parse::<i32>() {
        Ok(0) => Err("pid 0 is not a process; give a process id such as 1234".into()),
        Ok(pid) => Ok(pid),
        Err(_) => Err(format!(
            "pid {text} is too large; Linux pids stop at 4194304"
        )),
    }
}

/// The content of /proc/PID/setgroups (Linux 3.19+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SetGroups {
    /// setgroups(2) is permitted inside (once gid_map is written).
    Allow,
    /// setgroups(2) is refused inside: written before an unprivileged gid_map write.
    Deny,
}

impl std::fmt::Display for SetGroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SetGroups::Allow => "allow",
            SetGroups::Deny => "deny",
        })
    }
}

/// What a map file shows, in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MapState {
    /// `0 0 4294967295`: the initial namespace (or a copy of it).
    Identity,
    /// Nothing written yet: every id reads as 65534 and no id can be used inside.
    Unmapped,
    Mapped,
}

/// A parsed map file: the lines that make the map, and every line that could not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParsedMap {
    pub map: IdMap,
    pub skipped: Vec<Skipped>,
}

/// Whether a map is the identity, unmapped (empty), or something else.
pub fn map_state(map: &IdMap) -> MapState {
    if map.entries.is_empty() {
        MapState::Unmapped
    } else if map.is_identity() {
        MapState::Identity
    } else {
        MapState::Mapped
    }
}

/// Parse the text of a uid_map or gid_map as the kernel prints it
/// (`"%10u %10u %10u\n"` per line, so fields carry leading spaces). Lines the kernel
/// would never print (wrong field count, non-decimal numbers, count 0, a range past
/// 4294967295, overlap with an earlier line) are skipped with the reason. An empty text
/// is an unmapped namespace, not an error.
pub fn parse_map(kind: IdKind, bytes: &[u8]) -> ParsedMap {
    let mut entries: Vec<(usize, IdMapEntry)> = Vec::new();
    let mut skipped = Vec::new();
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        let skip = |reason: String| Skipped {
            line,
            text: String::from_utf8_lossy(raw).into_owned(),
            reason,
            shadow: None,
        };
        let Ok(text) = std::str::from_utf8(raw) else {
            skipped.push(skip("not valid UTF-8".into()));
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        match parse_map_line(text).and_then(|e| check_overlap(&entries, e)) {
            Ok(entry) => entries.push((line, entry)),
            Err(reason) => skipped.push(skip(reason)),
        }
    }
    ParsedMap {
        map: IdMap::new(kind, entries.into_iter().map(|(_, e)| e).collect()),
        skipped,
    }
}

/// One line of a map file, or why it was skipped: the reason is data (kept with the
/// skipped line and shown beside it), not an error that ends anything.
fn parse_map_line(text: &str) -> std::result::Result<IdMapEntry, String> {
    let fields: Vec<&str> = text.split_ascii_whitespace().collect();
    if fields.len() != 3 {
        return Err(format!(
            "expected 3 fields INSIDE OUTSIDE COUNT, found {}",
            fields.len()
        ));
    }
    let number = |field: &str, name: &str| -> std::result::Result<u32, String> {
        if !field.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{name} {field:?} is not a decimal number"));
        }
        field
            .parse::<u32>()
            .map_err(|_| format!("{name} {field} is larger than 4294967295"))
    };
    let entry = IdMapEntry::new(
        number(fields[0], "INSIDE")?,
        number(fields[1], "OUTSIDE")?,
        number(fields[2], "COUNT")?,
    );
    if entry.count == 0 {
        return Err("count is 0; the kernel never maps an empty range".into());
    }
    // The kernel rejects an extent whose first+count wraps 32 bits (map_write in
    // kernel/user_namespace.c), so no line of a real map ends past 4294967295.
    if entry.inside_end() > ID_LIMIT || entry.outside_end() > ID_LIMIT {
        return Err("the range passes 4294967295, the largest id".into());
    }
    Ok(entry)
}

fn check_overlap(
    earlier: &[(usize, IdMapEntry)],
    e: IdMapEntry,
) -> std::result::Result<IdMapEntry, String> {
    for (line, o) in earlier {
        if (e.inside as u64) < o.inside_end() && (o.inside as u64) < e.inside_end() {
            return Err(format!("overlaps line {line} inside the namespace"));
        }
        if (e.outside as u64) < o.outside_end() && (o.outside as u64) < e.outside_end() {
            return Err(format!("overlaps line {line} outside the namespace"));
        }
    }
    Ok(e)
}

/// Parse /proc/PID/setgroups.
pub(crate) fn parse_setgroups(text: &str) -> Option<SetGroups> {
    match text.trim() {
        "allow" => Some(SetGroups::Allow),
        "deny" => Some(SetGroups::Deny),
        _ => None,
    }
}

/// A map file read from a process, with the path it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcMap {
    pub path: PathBuf,
    #[serde(flatten)]
    pub parsed: ParsedMap,
}

/// Where /proc is: "/proc" on a running system, a fixture tree in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcRoot {
    base: PathBuf,
}

impl Default for ProcRoot {
    fn default() -> Self {
        ProcRoot::system()
    }
}

impl ProcRoot {
    pub fn new(base: impl Into<PathBuf>) -> Self {
        ProcRoot { base: base.into() }
    }

    /// The real /proc.
    pub fn system() -> Self {
        ProcRoot::new("/proc")
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    /// /proc/PID (or /proc/self).
    pub fn dir(&self, target: ProcTarget) -> PathBuf {
        self.base.join(target.component())
    }

    /// Read and parse one map file of `target`.
    pub fn read_map(&self, target: ProcTarget, kind: IdKind) -> Result<ProcMap> {
        let path = self.dir(target).join(kind.map_file());
        let bytes = std::fs::read(&path).map_err(|e| self.error(target, "read", &path, &e))?;
        Ok(ProcMap {
            path,
            parsed: parse_map(kind, &bytes),
        })
    }

    /// Both map files of `target`, with their skipped lines.
    pub fn read_proc_maps(&self, target: ProcTarget) -> Result<(ProcMap, ProcMap)> {
        Ok((
            self.read_map(target, IdKind::Uid)?,
            self.read_map(target, IdKind::Gid)?,
        ))
    }

    /// The uid map and gid map of `pid` (lines the parser skipped are dropped; use
    /// `read_proc_maps` to report them).
    pub(crate) fn read_maps(&self, pid: i32) -> Result<(IdMap, IdMap)> {
        let (u, g) = self.read_proc_maps(ProcTarget::Pid(pid))?;
        Ok((u.parsed.map, g.parsed.map))
    }

    /// The maps of the calling process.
    pub(crate) fn self_maps(&self) -> Result<(IdMap, IdMap)> {
        let (u, g) = self.read_proc_maps(ProcTarget::Current)?;
        Ok((u.parsed.map, g.parsed.map))
    }

    /// The inode of `target`'s user namespace: stat(2) follows /proc/PID/ns/user to the
    /// nsfs inode, the number `lsns` and `readlink` (user:[N]) show. Reading another
    /// user's process needs ptrace access, so this fails with EACCES where the map
    /// files (mode 0444) still read.
    pub fn userns_inode_of(&self, target: ProcTarget) -> Result<u64> {
        let path = self.dir(target).join("ns").join("user");
        std::fs::metadata(&path).map(|m| m.ino()).map_err(|e| {
            let err = self.error(target, "stat", &path, &e);
            if e.kind() == std::io::ErrorKind::NotFound && self.dir(target).exists() {
                // The kernel hides a zombie's namespace links (ENOENT) while /proc/PID stays.
                err.fix(format!(
                    "{} has no namespace links: it has exited and not been reaped yet, \
                     or the kernel lacks user namespaces (CONFIG_USER_NS)",
                    target.describe()
                ))
            } else {
                err
            }
        })
    }

    /// The uid owning `target`: the owner of /proc/PID, which is what newuidmap compares
    /// with its caller (shadow `src/newuidmap.c`, fstat of the /proc/PID directory).
    pub fn owner_uid_of(&self, target: ProcTarget) -> Result<u32> {
        let path = self.dir(target);
        std::fs::metadata(&path)
            .map(|m| m.uid())
            .map_err(|e| self.error(target, "stat", &path, &e))
    }

    /// /proc/PID/setgroups: whether setgroups(2) is allowed inside the namespace.
    pub fn setgroups_of(&self, target: ProcTarget) -> Result<SetGroups> {
        let path = self.dir(target).join("setgroups");
        let text =
            std::fs::read_to_string(&path).map_err(|e| self.error(target, "read", &path, &e))?;
        parse_setgroups(&text).ok_or_else(|| {
            Error::failure(format!("cannot read {}", path.display()))
                .because(format!(
                    "it says {:?}; the kernel writes \"allow\" or \"deny\"",
                    text.trim()
                ))
                .fix("check that the proc root is a real /proc")
        })
    }

    /// An error about `path` of `target`, with the cause and fix chosen by the errno.
    fn error(&self, target: ProcTarget, action: &str, path: &Path, err: &std::io::Error) -> Error {
        let errno = err.raw_os_error();
        let gone = err.kind() == std::io::ErrorKind::NotFound || errno == Some(libc::ESRCH);
        if gone {
            return match target {
                ProcTarget::Pid(pid) if !self.dir(target).exists() => {
                    Error::failure(format!("no process {pid}"))
                        .because(format!("{} does not exist", self.dir(target).display()))
                        .fix(format!(
                            "check the pid (ps -p {pid}); the process may have exited"
                        ))
                }
                _ => Error::failure(format!("cannot {action} {}", path.display()))
                    .because(err)
                    .fix(format!(
                        "{} has no such file: the kernel lacks user namespaces (CONFIG_USER_NS), \
                         or {} is not a proc file system",
                        target.describe(),
                        self.base.display()
                    )),
            };
        }
        let denied = err.kind() == std::io::ErrorKind::PermissionDenied
            || errno == Some(libc::EPERM)
            || errno == Some(libc::EACCES);
        if denied {
            let owner = self.owner_uid_of(target).ok();
            let name = owner.map(|uid| {
                Account::by_uid(uid)
                    .map(|a| a.display_name())
                    .unwrap_or_else(|| uid.to_string())
            });
            let owned_by = match (&name, owner) {
                (Some(name), Some(uid)) => format!(", owned by {name} (uid {uid})"),
                _ => String::new(),
            };
            // ptrace_may_access (kernel/ptrace.c) guards the ns links: the owner (with
            // the process dumpable) or CAP_SYS_PTRACE, which root has.
            let who = match (name, owner) {
                (Some(_), Some(0)) | (None, _) => "root".to_string(),
                (Some(name), _) => format!("{name} or as root"),
            };
            return Error::failure(format!(
                "cannot {action} {} of {}{owned_by}",
                path.display(),
                target.describe()
            ))
            .because(err)
            .fix(format!(
                "run as {who}; reading another user's namespace needs ptrace access"
            ));
        }
        Error::io(action, path, err)
    }
}

/// `ProcRoot::system().read_maps(pid)`.
pub(crate) fn read_maps(pid: i32) -> Result<(IdMap, IdMap)> {
    ProcRoot::system().read_maps(pid)
}

/// `ProcRoot::system().self_maps()`.
pub fn self_maps() -> Result<(IdMap, IdMap)> {
    ProcRoot::system().self_maps()
}

#[cfg(test)]
#[path = "proc_tests.rs"]
mod tests;
