//! Which parts of a profile apply to this container on this host: the architectures the
//! filter covers, and the rules whose `includes`/`excludes` match the native architecture,
//! the container's capabilities and the running kernel. This follows containers/common
//! (`pkg/seccomp`, `setupSeccomp`), which podman runs before handing the result to the
//! OCI runtime.

use super::profile::{Conditions, Profile, Rule};
use super::syscalls::Arch;

/// What the rules are matched against.
#[derive(Debug, Clone)]
pub(crate) struct Host<'a> {
    pub(crate) arch: Arch,
    /// The container's capabilities, by name (CAP_SYS_ADMIN). containers/common matches
    /// the bounding set, which is podman's default capabilities whatever the user.
    pub(crate) caps: &'a [&'a str],
    /// MAJOR.MINOR of the running kernel.
    pub(crate) kernel: (u32, u32),
    /// Whether the kernel runs x32 system calls ([`kernel_runs_x32`]).
    pub(crate) x32_abi: bool,
}

/// The name of capability `n`, or `CAP_n` for one this table does not know.
pub(crate) fn cap_name(n: u32) -> String {
    CAP_NAMES
        .get(n as usize)
        .map_or_else(|| format!("CAP_{n}"), |s| s.to_string())
}

/// capability(7) names by number (linux/capability.h).
const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The names of capabilities given by number.
pub(crate) fn cap_names(caps: &[u32]) -> Vec<&'static str> {
    caps.iter()
        .filter_map(|&c| CAP_NAMES.get(c as usize).copied())
        .collect()
}

/// The number of capability `name` (CAP_CHOWN is 0), as linux/capability.h numbers it.
pub(crate) fn cap_number(name: &str) -> Option<u32> {
    CAP_NAMES.iter().position(|n| *n == name).map(|i| i as u32)
}

/// The architectures the filter decides for; system calls of any other end the process.
/// The `archMap` entry of the native architecture gives it and its companions (x86 and
/// x32 for x86_64); without one, the flat `architectures` list; the native architecture
/// is always in (libseccomp starts every filter with it).
pub(crate) fn arches(profile: &Profile, native: Arch) -> Result<Vec<Arch>, String> {
    let known = |name: &String| {
        if Arch::is_scmp_name(name) {
            Ok(())
        } else {
            Err(format!(
                "unknown architecture {name:?} (libseccomp names, e.g. SCMP_ARCH_X86_64)"
            ))
        }
    };
    let mut names: Vec<&String> = Vec::new();
    for (arch, subs) in &profile.arch_map {
        known(arch).map_err(|e| format!("archMap: {e}"))?;
        for sub in subs {
            known(sub).map_err(|e| format!("archMap: {e}"))?;
        }
    }
    for name in &profile.architectures {
        known(name).map_err(|e| format!("architectures: {e}"))?;
    }
    if profile.arch_map.is_empty() {
        names.extend(&profile.architectures);
    } else if let Some((arch, subs)) = profile
        .arch_map
        .iter()
        .find(|(arch, _)| arch == native.scmp_name())
    {
        names.push(arch);
        names.extend(subs);
    }
    let mut out = vec![native];
    for arch in names.into_iter().filter_map(|n| Arch::from_scmp(n)) {
        if !out.contains(&arch) {
            out.push(arch);
        }
    }
    Ok(out)
}

/// The rules that apply on `host`, in profile order.
pub(crate) fn rules<'p>(profile: &'p Profile, host: &Host) -> Vec<&'p Rule> {
    profile
        .rules
        .iter()
        .filter(|rule| applies(rule, host))
        .collect()
}

/// containers/common's order: any exclusion that matches drops the rule (the native
/// architecture listed, any one of the capabilities held, a kernel at least minKernel);
/// then every inclusion must hold (the native architecture listed, all the capabilities
/// held, a kernel at least minKernel).
fn applies(rule: &Rule, host: &Host) -> bool {
    let arch = host.arch.go_name();
    let has = |cap: &String| host.caps.contains(&cap.as_str());
    let Conditions {
        arches,
        caps,
        min_kernel,
    } = &rule.excludes;
    if arches.iter().any(|a| a == arch)
        || caps.iter().any(has)
        || min_kernel.is_some_and(|min| host.kernel >= min)
    {
        return false;
    }
    let Conditions {
        arches,
        caps,
        min_kernel,
    } = &rule.includes;
    (arches.is_empty() || arches.iter().any(|a| a == arch))
        && caps.iter().all(has)
        && min_kernel.is_none_or(|min| host.kernel >= min)
}

/// Whether this kernel executes x32 system calls: most distributions build it without
/// them (CONFIG_X86_X32_ABI) or turn them off (Debian: syscall.x32=n), and then every
/// x32 number fails with ENOSYS in the kernel itself, filter or not. Asked with the x32
/// getpid (number 39 with __X32_SYSCALL_BIT), which does nothing else.
pub fn kernel_runs_x32() -> bool {
    if Arch::native() != Some(Arch::X86_64) {
        return false;
    }
    let getpid = libc::c_long::from(super::syscalls::X32_SYSCALL_BIT | 39);
    // SAFETY: a system call without arguments or memory: getpid, or ENOSYS.
    unsafe { libc::syscall(getpid) >= 0 }
}

/// MAJOR.MINOR of the running kernel, from uname(2); (0, 0) if it cannot be read, so
/// that no minKernel rule is taken for granted.
pub(crate) fn running_kernel() -> (u32, u32) {
    // SAFETY: uname fills the zeroed struct it is given; release is NUL-terminated.
    let release = unsafe {
        let mut uts: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut uts) != 0 {
            return (0, 0);
        }
        std::ffi::CStr::from_ptr(uts.release.as_ptr())
            .to_string_lossy()
            .into_owned()
    };
    super::profile::parse_kernel_version(&release).unwrap_or((0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::profile::parse;

    fn profile(text: &str) -> Profile {
        parse(text).unwrap().unwrap()
    }

    fn names(rules: &[&Rule]) -> Vec<String> {
        rules.iter().map(|r| r.names.join(",")).collect()
    }

    #[test]
    fn includes_and_excludes_follow_caps_arch_and_kernel() {
        let p = profile(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
              {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
              {"names": ["bpf"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
              {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT", "CAP_CHOWN"]}},
              {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
              {"names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm"]}},
              {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
              {"names": ["newer"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.1"}},
              {"names": ["old"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "4.8"}},
              {"names": ["not64"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}}
            ]}"#,
        );
        let podman = cap_names(&crate::run::process::DEFAULT_CAPS);
        let host = Host {
            arch: Arch::X86_64,
            caps: &podman,
            kernel: (6, 1),
            x32_abi: true,
        };
        assert_eq!(
            names(&rules(&p, &host)),
            ["bpf", "chroot", "arch_prctl", "ptrace"]
        );
        assert_eq!(
            rules(&p, &host)[0].action,
            super::super::profile::Action::Errno(1)
        );
        let admin = ["CAP_SYS_ADMIN"];
        let host = Host {
            caps: &admin,
            kernel: (4, 4),
            ..host
        };
        assert_eq!(names(&rules(&p, &host)), ["bpf", "arch_prctl", "old"]);
        assert_eq!(
            rules(&p, &host)[0].action,
            super::super::profile::Action::Allow
        );
    }

    #[test]
    fn arches_come_from_the_native_arch_map_entry() {
        let p = profile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [
              {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
              {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}]}"#,
        );
        assert_eq!(
            arches(&p, Arch::X86_64).unwrap(),
            [Arch::X86_64, Arch::X86, Arch::X32]
        );
        let p = profile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_ARM"]}"#,
        );
        assert_eq!(arches(&p, Arch::X86_64).unwrap(), [Arch::X86_64, Arch::X86]);
        let p = profile(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#);
        assert_eq!(arches(&p, Arch::X86_64).unwrap(), [Arch::X86_64]);
        let p =
            profile(r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_I386"]}"#);
        assert!(arches(&p, Arch::X86_64)
            .unwrap_err()
            .contains("SCMP_ARCH_I386"));
    }

    #[test]
    fn cap_names_are_the_kernels() {
        assert_eq!(
            cap_names(&[0, 21, 40, 99]),
            ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_CHECKPOINT_RESTORE"]
        );
        assert_eq!(cap_number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(cap_number("CAP_NOPE"), None);
    }
}
