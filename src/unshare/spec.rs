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
    /// --mount-proc imply. A mount namespace always: the environment set inside
    /// (`_CONTAINERS_USERNS_CONFIGURED=done`) tells podman it runs where its pause process
    /// would have put it, in a user namespace *and* a mount namespace of its own
    /// (rootless_linux.c clones with CLONE_NEWUSER|CLONE_NEWNS); without one, every mount
    /// podman makes (the container's shm, its rootfs) fails with EPERM, since the host's
    /// mount namespace belongs to the initial user namespace.
    pub(crate) fn extra_flags(&self) -> CloneFlags {
        let ns = &self.namespaces;
        let mut flags = CloneFlags::CLONE_NEWNS;
        let mut set = |on: bool, f: CloneFlags| {
            if on {
                flags |= f;
            }
        };
        set(ns.pid || self.mount_proc, CloneFlags::CLONE_NEWPID);
        set(ns.net, CloneFlags::CLONE_NEWNET);
        set(ns.uts || self.hostname.is_some(), CloneFlags::CLONE_NEWUTS);
        set(ns.ipc, CloneFlags::CLONE_NEWIPC);
        set(ns.cgroup, CloneFlags::CLONE_NEWCGROUP);
        flags
    }

    /// Whether mounts are made private (`--mount`, `--mount-proc`), as util-linux `unshare
    /// --mount` does. Otherwise the mount namespace keeps what the kernel gives a copy made
    /// with a new user namespace, as podman's has: the host's shared mounts become slaves
    /// (mount_namespaces(7)), so nothing mounted inside reaches the host, and mounts the
    /// host makes later still appear inside.
    pub(crate) fn private_mounts(&self) -> bool {
        self.namespaces.mount || self.mount_proc
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
        assert!(spec.private_mounts());
        assert_eq!(NsSpec::default().extra_flags(), CloneFlags::CLONE_NEWNS);
        assert!(!NsSpec::default().private_mounts());
    }
}
