//! The user namespaces the caller can see, from /proc/*/ns/user, for `userns ls`.
//!
//! One pass over /proc: a stat of /proc/PID/ns/user per process (its inode is the
//! namespace id; no descriptor is opened), then one descriptor per namespace for the
//! ioctls NS_GET_OWNER_UID and NS_GET_PARENT (ioctl_ns(2)). Processes that are not
//! ours (EACCES: ptrace access is needed) or that exit meanwhile are skipped quietly,
//! as lsns skips them.
//!
//! A namespace can outlive all its processes while a child namespace holds it (the
//! kernel keeps a user namespace while any child refers to it as parent). Such an
//! ancestor has no /proc entry, so it is reached through NS_GET_PARENT from its child
//! and listed with no processes: without it `--tree` would show the child at top level
//! as if its parent were the caller's namespace or unknown.

use crate::idmap::IdMap;
use serde::Serialize;
use std::collections::HashMap;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

/// What the kernel says about a namespace's parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "id")]
pub enum Parent {
    /// The initial user namespace has none.
    None,
    Visible(u64),
    /// NS_GET_PARENT gave EPERM: the parent lies outside the caller's namespace.
    OutsideView,
    /// The namespace could not be opened (its processes exited meanwhile).
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserNamespace {
    /// The namespace's inode, as `lsns` and `readlink /proc/PID/ns/user` show it.
    pub id: u64,
    /// The initial user namespace (the host's, when userns runs there).
    pub init: bool,
    /// NS_GET_OWNER_UID, as a uid of the caller's namespace.
    pub owner_uid: Option<u32>,
    pub parent: Parent,
    pub processes: usize,
    /// The lowest pid in it, whose command line and maps are shown; None for an
    /// ancestor that no process is in any more.
    pub pid: Option<i32>,
    /// Its command line, whole (a table shortens it, JSON does not).
    pub command: String,
    /// Outside ids as the caller sees them; None when unreadable (or no process).
    pub uid_map: Option<IdMap>,
    pub gid_map: Option<IdMap>,
    /// The NAME userns keeps it under, if any.
    pub name: Option<String>,
    /// Why its map is stale (see `keep::stale_map`), if it is a kept namespace.
    pub stale_map: Option<String>,
}

/// Every user namespace visible in /proc, ordered by their lowest pid.
pub fn scan() -> Vec<UserNamespace> {
    let Ok(proc_dir) = std::fs::File::open("/proc") else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    pids.sort_unstable();
    let mut order: Vec<u64> = Vec::new();
    let mut seen: HashMap<u64, (i32, usize)> = HashMap::new();
    for pid in pids {
        let Some(ino) = stat_userns(&proc_dir, pid) else {
            continue;
        };
        seen.entry(ino)
            .and_modify(|(_, n)| *n += 1)
            .or_insert_with(|| {
                order.push(ino);
                (pid, 1)
            });
    }
    let mut listed = Vec::with_capacity(order.len());
    let mut known: std::collections::HashSet<u64> = order.iter().copied().collect();
    let mut orphans = Vec::new();
    for ino in order {
        let (pid, processes) = seen[&ino];
        let (ns, parent_fd) = describe(ino, pid, processes);
        listed.push(ns);
        orphans.extend(parent_fd);
    }
    // Ancestors without processes, each once, up to one that is listed or unreachable.
    while let Some(fd) = orphans.pop() {
        let Ok(id) = fd.metadata().map(|m| m.ino()) else {
            continue;
        };
        if !known.insert(id) {
            continue;
        }
        let (owner_uid, parent, grand) = ns_ioctls_fd(&fd);
        listed.push(UserNamespace {
            id,
            init: false,
            owner_uid,
            parent,
            processes: 0,
            pid: None,
            command: String::new(),
            uid_map: None,
            gid_map: None,
            name: None,
            stale_map: None,
        });
        orphans.extend(grand);
    }
    listed
}

/// fstatat(/proc, "PID/ns/user"): the namespace inode without opening a descriptor.
fn stat_userns(proc_dir: &std::fs::File, pid: i32) -> Option<u64> {
    let path = format!("{pid}/ns/user");
    rustix::fs::statat(proc_dir, path.as_str(), rustix::fs::AtFlags::empty())
        .ok()
        .map(|st| st.st_ino)
}

/// One namespace seen through its lowest pid, and a descriptor of its parent when the
/// parent may have no process of its own (the caller checks whether it is listed).
fn describe(id: u64, pid: i32, processes: usize) -> (UserNamespace, Option<std::fs::File>) {
    let (owner_uid, parent, parent_fd) = ns_ioctls(pid, id);
    let maps = crate::idmap::proc::read_maps(pid).ok();
    // The initial namespace maps every id to itself and has no parent (NS_GET_PARENT:
    // EPERM). A namespace root makes with an identity map (as `userns unshare` does for
    // root) has the first but not the second.
    let init = maps.as_ref().is_some_and(|(u, _)| u.is_identity()) && parent == Parent::OutsideView;
    let ns = UserNamespace {
        id,
        init,
        owner_uid,
        parent: if init { Parent::None } else { parent },
        processes,
        pid: Some(pid),
        command: command_line(pid),
        uid_map: maps.as_ref().map(|(u, _)| u.clone()),
        gid_map: maps.as_ref().map(|(_, g)| g.clone()),
        name: None,
        stale_map: None,
    };
    (ns, if init { None } else { parent_fd })
}

type Ioctls = (Option<u32>, Parent, Option<std::fs::File>);

/// NS_GET_OWNER_UID and NS_GET_PARENT on one descriptor of the namespace.
fn ns_ioctls(pid: i32, expected: u64) -> Ioctls {
    let Ok(file) = std::fs::File::open(format!("/proc/{pid}/ns/user")) else {
        return (None, Parent::Unknown, None);
    };
    // The pid may have exited and been reused between the stat and the open.
    if file.metadata().map(|m| m.ino()).ok() != Some(expected) {
        return (None, Parent::Unknown, None);
    }
    ns_ioctls_fd(&file)
}

/// The ioctls on an open namespace descriptor; the parent's descriptor is returned too.
fn ns_ioctls_fd(file: &std::fs::File) -> Ioctls {
    let owner = crate::sys::ns::owner_uid(file.as_fd()).ok();
    let parent = crate::sys::ns::parent(file.as_fd());
    if let Ok(parent) = parent {
        let parent = std::fs::File::from(parent);
        match parent.metadata() {
            Ok(m) => (owner, Parent::Visible(m.ino()), Some(parent)),
            Err(_) => (owner, Parent::Unknown, None),
        }
    } else if parent.is_err_and(|e| e.raw_os_error() == Some(libc::EPERM)) {
        (owner, Parent::OutsideView, None)
    } else {
        (owner, Parent::Unknown, None)
    }
}

/// /proc/PID/cmdline with NULs as spaces; `[comm]` for kernel threads.
fn command_line(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let mut text: String = String::from_utf8_lossy(&raw)
        .split('\0')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if text.is_empty() {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        text = format!("[{}]", comm.trim());
    }
    text
}

/// The namespaces in tree order: each followed by its children, with its depth.
pub fn tree_order(namespaces: &[UserNamespace]) -> Vec<(usize, &UserNamespace)> {
    let ids: std::collections::HashSet<u64> = namespaces.iter().map(|n| n.id).collect();
    let mut children: HashMap<u64, Vec<&UserNamespace>> = HashMap::new();
    let mut roots = Vec::new();
    for ns in namespaces {
        match ns.parent {
            Parent::Visible(p) if ids.contains(&p) && p != ns.id => {
                children.entry(p).or_default().push(ns)
            }
            _ => roots.push(ns),
        }
    }
    let mut out = Vec::new();
    let mut stack: Vec<(usize, &UserNamespace)> = roots.into_iter().rev().map(|n| (0, n)).collect();
    while let Some((depth, ns)) = stack.pop() {
        out.push((depth, ns));
        if let Some(kids) = children.get(&ns.id) {
            stack.extend(kids.iter().rev().map(|k| (depth + 1, *k)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(id: u64, parent: Parent) -> UserNamespace {
        UserNamespace {
            id,
            init: parent == Parent::None,
            owner_uid: Some(0),
            parent,
            processes: 1,
            pid: Some(id as i32),
            command: String::new(),
            uid_map: None,
            gid_map: None,
            name: None,
            stale_map: None,
        }
    }

    #[test]
    fn tree_puts_children_under_their_parents() {
        let list = vec![
            ns(1, Parent::None),
            ns(3, Parent::Visible(2)),
            ns(2, Parent::Visible(1)),
            ns(4, Parent::Visible(1)),
            ns(5, Parent::OutsideView),
        ];
        let order: Vec<(usize, u64)> = tree_order(&list).iter().map(|(d, n)| (*d, n.id)).collect();
        assert_eq!(order, vec![(0, 1), (1, 2), (2, 3), (1, 4), (0, 5)]);
    }

    #[test]
    fn scan_finds_our_own_namespace_with_us_in_it() {
        let mine = std::fs::metadata("/proc/self/ns/user").unwrap().ino();
        let all = scan();
        let own = all
            .iter()
            .find(|n| n.id == mine)
            .expect("own namespace listed");
        assert!(own.processes >= 1);
        assert_eq!(all.iter().filter(|n| n.id == mine).count(), 1);
    }
}
