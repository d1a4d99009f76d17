//! The container process's last steps before exec, run in pid 1 after pivot_root: stdin,
//! environment, user, capabilities, no_new_privs.

use super::user::ExecUser;
use crate::error::{Error, Result};
use crate::idmap::IdMap;
use crate::ids::IdKind;

/// The capabilities podman grants by default (containers.conf `default_capabilities`
/// since containers-common 0.47: NET_RAW, MKNOD and AUDIT_WRITE were dropped then).
/// Numbers from linux/capability.h.
pub(crate) const DEFAULT_CAPS: [u32; 11] = [
    0,  // CAP_CHOWN
    1,  // CAP_DAC_OVERRIDE
    3,  // CAP_FOWNER
    4,  // CAP_FSETID
    5,  // CAP_KILL
    10, // CAP_NET_BIND_SERVICE
    31, // CAP_SETFCAP
    6,  // CAP_SETGID
    8,  // CAP_SETPCAP
    7,  // CAP_SETUID
    18, // CAP_SYS_CHROOT
];

/// The names of `caps` (CAP_CHOWN, ...), in the order given.
pub(crate) fn cap_names(caps: &[u32]) -> Vec<String> {
    caps.iter()
        .map(|&c| crate::seccomp::select::cap_name(c))
        .collect()
}

/// The bit mask of `caps` (as /proc/PID/status shows CapEff).
pub(crate) fn cap_mask(caps: &[u32]) -> u64 {
    // Numbers past 63 do not exist (cap_last_cap is 40 in 6.x); a record naming one
    // must not overflow the shift.
    caps.iter()
        .filter(|c| **c < 64)
        .fold(0, |m, c| m | (1u64 << c))
}

/// Replace the process environment with `env` (K=V entries), so that execvp's PATH
/// search and the program both see the container's.
pub(crate) fn set_environment(env: &[String]) {
    let old: Vec<_> = std::env::vars_os().map(|(k, _)| k).collect();
    for key in old {
        std::env::remove_var(key);
    }
    for entry in env {
        if let Some((k, v)) = entry.split_once('=') {
            std::env::set_var(k, v);
        }
    }
}

/// stdin from the container's /dev/null, as podman does without -i.
pub(crate) fn stdin_null() -> Result<()> {
    let null = std::fs::File::open("/dev/null")
        .map_err(|e| Error::failure("cannot open the container's /dev/null").because(e))?;
    // dup2 onto fd 0; the File closes its own descriptor afterwards.
    if let Err(e) = rustix::stdio::dup2_stdin(&null) {
        return Err(
            Error::failure("cannot make /dev/null the container's stdin")
                .because(std::io::Error::from(e)),
        );
    }
    Ok(())
}

/// The highest capability number this kernel knows.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// Become `user` with podman's capabilities: drop the others from the bounding set
/// (needs CAP_SETPCAP, so first), clear supplementary groups, switch gid then uid (a
/// non-zero uid empties the permitted and effective sets: the kernel's rule without
/// SECBIT_KEEP_CAPS), set the three sets, clear ambient, set no_new_privs.
///
/// Inheritable stays empty: podman stopped granting it after CVE-2022-27652.
pub(crate) fn become_user(user: &ExecUser) -> Result<()> {
    become_user_with(user, &DEFAULT_CAPS, &[])
}

/// [`become_user`] with the capabilities `caps` and the supplementary groups `groups`
/// (`userns exec` gives a process the ones its container has).
pub(crate) fn become_user_with(user: &ExecUser, caps: &[u32], groups: &[u32]) -> Result<()> {
    let keep = cap_mask(caps);
    for cap in 0..=last_cap() {
        if keep & (1u64 << cap) == 0 {
            // prctl(PR_CAPBSET_DROP); EINVAL: a capability this kernel does not have.
            let set = rustix::thread::CapabilitySet::from_bits_retain(1u64 << cap);
            match rustix::thread::remove_capability_from_bounding_set(set) {
                Ok(()) | Err(rustix::io::Errno::INVAL) => {}
                Err(e) => {
                    return Err(Error::failure(format!(
                        "cannot drop capability {cap} from the bounding set"
                    ))
                    .because(std::io::Error::from(e)))
                }
            }
        }
    }
    use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
    let failed = |what: &str, e: nix::errno::Errno| {
        Error::failure(what.to_string()).because(std::io::Error::from(e))
    };
    // glibc's setgroups/setresgid/setresuid (through nix): all threads, as before.
    let groups: Vec<Gid> = groups.iter().map(|g| Gid::from_raw(*g)).collect();
    setgroups(&groups).map_err(|e| failed("cannot set the supplementary groups", e))?;
    let gid = Gid::from_raw(user.gid);
    setresgid(gid, gid, gid).map_err(|e| {
        failed(&format!("cannot switch to gid {}", user.gid), e).fix(must_be_mapped(IdKind::Gid))
    })?;
    let uid = Uid::from_raw(user.uid);
    setresuid(uid, uid, uid).map_err(|e| {
        failed(&format!("cannot switch to uid {}", user.uid), e).fix(must_be_mapped(IdKind::Uid))
    })?;
    let sets = if user.uid == 0 { keep } else { 0 };
    set_caps(sets, sets, 0)?;
    let failed = |what: &str, e: rustix::io::Errno| {
        Error::failure(what.to_string()).because(std::io::Error::from(e))
    };
    rustix::thread::clear_ambient_capability_set()
        .map_err(|e| failed("cannot clear the ambient capabilities", e))?;
    rustix::thread::set_no_new_privs(true).map_err(|e| failed("cannot set no_new_privs", e))?;
    // A credential change clears the parent-death signal (prctl(2)); set it again so
    // that pid 1 still dies with userns.
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    Ok(())
}

/// The fix for an id the container cannot switch to: the ids its map really holds
/// (the user's ranges may give far more, or fewer, than 0..65535).
fn must_be_mapped(kind: IdKind) -> String {
    let name = kind.name();
    match crate::idmap::proc::self_maps() {
        Ok((uid_map, gid_map)) => {
            let map = if kind == IdKind::Uid {
                uid_map
            } else {
                gid_map
            };
            format!(
                "the {name} must be mapped; this container maps {name}s {}",
                inside_extent(&map)
            )
        }
        Err(_) => format!("the {name} must be mapped (see /proc/self/{name}_map)"),
    }
}

/// The ids inside a map, as runs: `0-165536`, or `0-65535, 70000`.
fn inside_extent(map: &IdMap) -> String {
    let runs = crate::ids::union(
        map.entries
            .iter()
            .map(|e| (e.inside as u64, e.inside as u64 + e.count as u64))
            .collect(),
    );
    if runs.is_empty() {
        return "none".into();
    }
    runs.iter()
        .map(|&(first, end)| match end - first {
            1 => first.to_string(),
            _ => format!("{first}-{}", end - 1),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// capset(2) with the version-3 ABI (two 32-bit words per set).
fn set_caps(effective: u64, permitted: u64, inheritable: u64) -> Result<()> {
    use rustix::thread::{set_capabilities, CapabilitySet, CapabilitySets};
    // capset(2) with _LINUX_CAPABILITY_VERSION_3 on this thread (pid 0).
    let sets = CapabilitySets {
        effective: CapabilitySet::from_bits_retain(effective),
        permitted: CapabilitySet::from_bits_retain(permitted),
        inheritable: CapabilitySet::from_bits_retain(inheritable),
    };
    set_capabilities(None, sets).map_err(|e| {
        Error::failure("cannot set the capabilities (capset)".to_string())
            .because(std::io::Error::from(e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_caps_are_podmans_mask() {
        // What `podman run` shows as CapEff with containers.conf's default_capabilities.
        assert_eq!(cap_mask(&DEFAULT_CAPS), 0x0000_0000_8004_05fb);
    }

    #[test]
    fn the_extent_is_what_the_map_holds() {
        let plan = IdMap::uids(&[(0, 2000, 1), (1, 200000, 65536), (65537, 300000, 100000)]);
        assert_eq!(inside_extent(&plan), "0-165536");
        let gappy = IdMap::uids(&[(0, 2000, 1), (70000, 200000, 1)]);
        assert_eq!(inside_extent(&gappy), "0, 70000");
        assert_eq!(inside_extent(&IdMap::uids(&[])), "none");
    }
}
