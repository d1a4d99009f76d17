//! The container process's last steps before exec, run in pid 1 after pivot_root: stdin,
//! environment, user, capabilities, no_new_privs.

use super::user::ExecUser;
use crate::error::{Error, Result};

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

/// The bit mask of `caps` (as /proc/PID/status shows CapEff).
pub(crate) fn cap_mask(caps: &[u32]) -> u64 {
    caps.iter().fold(0, |m, c| m | (1u64 << c))
}

fn errno_fail(what: &str) -> Error {
    Error::failure(what.to_string()).because(std::io::Error::last_os_error())
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
    use std::os::fd::AsRawFd;
    // SAFETY: dup2 onto fd 0; the File closes its own descriptor afterwards.
    if unsafe { libc::dup2(null.as_raw_fd(), 0) } < 0 {
        return Err(errno_fail("cannot make /dev/null the container's stdin"));
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
    let keep = cap_mask(&DEFAULT_CAPS);
    for cap in 0..=last_cap() {
        if keep & (1u64 << cap) == 0 {
            // SAFETY: prctl with integer arguments.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
                return Err(errno_fail(&format!(
                    "cannot drop capability {cap} from the bounding set"
                )));
            }
        }
    }
    // SAFETY: setgroups with an empty list; setresgid/setresuid with plain ids.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) < 0 {
            return Err(errno_fail("cannot clear the supplementary groups"));
        }
        if libc::setresgid(user.gid, user.gid, user.gid) < 0 {
            return Err(errno_fail(&format!("cannot switch to gid {}", user.gid))
                .fix("the gid must be mapped: 0..65536 are, with the full subid plan"));
        }
        if libc::setresuid(user.uid, user.uid, user.uid) < 0 {
            return Err(errno_fail(&format!("cannot switch to uid {}", user.uid))
                .fix("the uid must be mapped: 0..65536 are, with the full subid plan"));
        }
    }
    let sets = if user.uid == 0 { keep } else { 0 };
    set_caps(sets, sets, 0)?;
    // SAFETY: prctl with integer arguments.
    unsafe {
        if libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        ) < 0
        {
            return Err(errno_fail("cannot clear the ambient capabilities"));
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 {
            return Err(errno_fail("cannot set no_new_privs"));
        }
        // A credential change clears the parent-death signal (prctl(2)); set it again so
        // that pid 1 still dies with userns.
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
    }
    Ok(())
}

/// capset(2) with the version-3 ABI (two 32-bit words per set).
fn set_caps(effective: u64, permitted: u64, inheritable: u64) -> Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let word = |set: u64, i: u32| (set >> (32 * i)) as u32;
    let data = [0, 1].map(|i| Data {
        effective: word(effective, i),
        permitted: word(permitted, i),
        inheritable: word(inheritable, i),
    });
    // SAFETY: capset reads a valid header and two data structs.
    if unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) } < 0 {
        return Err(errno_fail("cannot set the capabilities (capset)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_caps_are_podmans_mask() {
        // What `podman run` shows as CapEff with containers.conf's default_capabilities.
        assert_eq!(cap_mask(&DEFAULT_CAPS), 0x0000_0000_8004_05fb);
    }
}
