//! What a new namespace is to be: the namespaces made besides the user namespace, its
//! hostname, a fresh /proc, and the map request. The command line builds one from
//! `userns unshare`'s options; `run`, `clean` and `chown` build their own.

use super::mapping::MapRequest;
use nix::sched::CloneFlags;

/// The namespaces asked for besides the user namespace, which is always new.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Namespaces {
    pub mount: bool,
    pub pid: bool,
    pub net: bool,
    pub uts: bool,
    pub ipc: bool,
    pub cgroup: bool,
}

/// A user namespace to create, and what goes with it.
#[derive(Debug, Clone, Default)]
pub struct NsSpec {
    pub namespaces: Namespaces,
    /// Set in the new UTS namespace (which it implies).
    pub hostname: Option<String>,
    /// Mount a new /proc (implies a mount and a pid namespace).
    pub mount_proc: bool,
    pub map: MapRequest,
}

impl NsSpec {
    /// The namespaces to unshare besides the user namespace, with what the hostname and
    /// --mount-proc imply.
    pub(crate) fn extra_flags(&self) -> CloneFlags {
        let ns = &self.namespaces;
        let mut flags = CloneFlags::empty();
        let mut set = |on: bool, f: CloneFlags| {
            if on {
                flags |= f;
            }
        };
        set(ns.mount || self.mount_proc, CloneFlags::CLONE_NEWNS);
        set(ns.pid || self.mount_proc, CloneFlags::CLONE_NEWPID);
        set(ns.net, CloneFlags::CLONE_NEWNET);
        set(ns.uts || self.hostname.is_some(), CloneFlags::CLONE_NEWUTS);
        set(ns.ipc, CloneFlags::CLONE_NEWIPC);
        set(ns.cgroup, CloneFlags::CLONE_NEWCGROUP);
        flags
    }

    /// Whether the program runs as the child of a pid-1 reaper: a new pid namespace
    /// takes only the children of the process that unshared it.
    pub(crate) fn new_pid_namespace(&self) -> bool {
        self.extra_flags().contains(CloneFlags::CLONE_NEWPID)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostname_and_mount_proc_imply_their_namespaces() {
        let spec = NsSpec {
            hostname: Some("box".into()),
            mount_proc: true,
            ..NsSpec::default()
        };
        assert_eq!(
            spec.extra_flags(),
            CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID
        );
        assert!(spec.new_pid_namespace());
        assert!(NsSpec::default().extra_flags().is_empty());
    }
}
