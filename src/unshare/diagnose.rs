//! Name the cause of a failure to create or map a user namespace, and its fix.
//!
//! The kernel says only EPERM or ENOSPC; the cause is in sysctls, AppArmor, the helpers and
//! the parent namespace's own map. Each check here reads one of those (the questions users
//! keep asking in podman, shadow and rootlesskit threads).

use crate::error::Error;
use crate::ids::IdKind;
use nix::errno::Errno;
use nix::sys::wait::WaitStatus;

/// Read a sysctl under /proc/sys as a number; None when it does not exist on this kernel.
pub fn sysctl(path: &str) -> Option<i64> {
    std::fs::read_to_string(format!("/proc/sys/{path}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The path of the running binary, for fixes that must name it (AppArmor profiles).
pub(crate) fn own_binary() -> String {
    std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "/usr/local/bin/userns".into())
}

/// An AppArmor profile that lets `binary` create user namespaces under Ubuntu's
/// kernel.apparmor_restrict_unprivileged_userns=1 (the form rootlesskit and Ubuntu's own
/// profiles for bwrap use: unconfined, with the `userns` rule).
pub(crate) fn apparmor_profile(binary: &str) -> String {
    format!(
        "abi <abi/4.0>,\ninclude <tunables/global>\n\nprofile userns {binary} flags=(unconfined) {{\n  userns,\n\n  include if exists <local/userns>\n}}\n"
    )
}

/// The fix for AppArmor's restriction, ready to paste.
pub(crate) fn apparmor_fix() -> String {
    let bin = own_binary();
    format!(
        "as root, allow userns by an AppArmor profile:\n    cat > /etc/apparmor.d/userns <<'EOF'\n{}EOF\n    apparmor_parser -r /etc/apparmor.d/userns\n  (or, for the whole machine: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)",
        apparmor_profile(&bin)
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    )
}

/// Why `unshare(CLONE_NEWUSER)` failed.
pub(crate) fn unshare_failed(errno: Errno) -> Error {
    unshare_failed_given(errno, sysctl)
}

/// `unshare_failed` with the sysctls read through `sysctl` (a seam for unit tests: the
/// Debian and Ubuntu knobs do not exist on every kernel the tests run on).
pub(crate) fn unshare_failed_given(errno: Errno, sysctl: impl Fn(&str) -> Option<i64>) -> Error {
    let base = Error::failure("cannot create a user namespace").because(errno.desc());
    match errno {
        Errno::ENOSPC => match sysctl("user/max_user_namespaces") {
            Some(0) => base
                .because("user namespaces are disabled: user.max_user_namespaces = 0")
                .fix("as root: sysctl -w user.max_user_namespaces=28633 (and set it in /etc/sysctl.d/ to keep it)"),
            Some(n) => base
                .because(format!("the limit user.max_user_namespaces = {n} is reached (or the nesting depth of 32)"))
                .fix("end namespaces you no longer need (userns ls; userns stop NAME), or as root raise user.max_user_namespaces"),
            None => base,
        },
        Errno::EPERM => {
            if sysctl("kernel/unprivileged_userns_clone") == Some(0) {
                base.because("unprivileged user namespaces are disabled: kernel.unprivileged_userns_clone = 0")
                    .fix("as root: sysctl -w kernel.unprivileged_userns_clone=1 (and set it in /etc/sysctl.d/ to keep it)")
            } else if sysctl("kernel/apparmor_restrict_unprivileged_userns") == Some(1) {
                base.because("AppArmor restricts unprivileged user namespaces: kernel.apparmor_restrict_unprivileged_userns = 1")
                    .fix(apparmor_fix())
            } else {
                base.because("Operation not permitted: a seccomp filter or the container or chroot userns runs in forbids unshare(CLONE_NEWUSER)")
                    .fix("run userns outside that sandbox, or allow the unshare syscall in its seccomp profile")
            }
        }
        Errno::EUSERS => base
            .because("the nesting limit of 32 user namespaces is reached")
            .fix("run userns from a less deeply nested namespace"),
        Errno::EINVAL => base
            .because("the process has more than one thread (the kernel refuses CLONE_NEWUSER then)")
            .fix("this is a bug in userns; please report it"),
        _ => base,
    }
}

/// The fix line for a failed map write when nothing more specific is known.
pub(crate) fn map_write_fix() -> String {
    if sysctl("kernel/apparmor_restrict_unprivileged_userns") == Some(1) {
        apparmor_fix()
    } else {
        "run `userns doctor`; see user_namespaces(7) for the rules of map files".into()
    }
}

/// Why a map writer (newuidmap/newgidmap or a direct write) failed; quotes its own words
/// and the exact command line.
pub(crate) fn writer_failed(
    kind: IdKind,
    shown: &str,
    direct: bool,
    status: WaitStatus,
    stderr: &str,
) -> Error {
    let how = match status {
        WaitStatus::Exited(_, code) => format!("exit status {code}"),
        WaitStatus::Signaled(_, sig, _) => format!("killed by {sig}"),
        other => format!("{other:?}"),
    };
    let said = decode_errno(stderr);
    if direct {
        return Error::failure(format!("cannot write the {}", kind.map_file()))
            .because(format!("{shown}: {said}"))
            .fix(map_write_fix());
    }
    let helper = kind.helper_name();
    let said = if said.is_empty() {
        "(it printed nothing)".to_string()
    } else {
        said
    };
    let fix = if sysctl("kernel/apparmor_restrict_unprivileged_userns") == Some(1) {
        apparmor_fix()
    } else if said.contains("exec failed") || stderr.starts_with("errno:") {
        format!(
            "check that {helper} is an executable setuid binary (ls -l; reinstall package uidmap)"
        )
    } else {
        format!(
            "read {helper}'s words above; check your lines in /etc/sub{}  (userns subid check) and run `userns doctor`",
            kind.name()
        )
    };
    Error::failure(format!("{helper} failed ({how})"))
        .because(format!("{helper} said: {said}\n  command: {shown}"))
        .fix(fix)
}

/// The writer reports errno as `errno:N` (no allocation after fork); turn it into text.
fn decode_errno(stderr: &str) -> String {
    match stderr
        .strip_prefix("errno:")
        .and_then(|n| n.trim().parse::<i32>().ok())
    {
        Some(n) => format!("exec failed: {}", Errno::from_raw(n).desc()),
        None => stderr.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &'static [(&'static str, i64)]) -> impl Fn(&str) -> Option<i64> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
    }

    #[test]
    fn names_the_sysctl_that_disables_user_namespaces() {
        let e = unshare_failed_given(Errno::ENOSPC, with(&[("user/max_user_namespaces", 0)]));
        assert!(
            e.to_string().contains("user.max_user_namespaces = 0"),
            "{e}"
        );
        assert!(e
            .fix
            .unwrap()
            .contains("sysctl -w user.max_user_namespaces="));
        let e = unshare_failed_given(
            Errno::EPERM,
            with(&[("kernel/unprivileged_userns_clone", 0)]),
        );
        assert!(
            e.to_string()
                .contains("kernel.unprivileged_userns_clone = 0"),
            "{e}"
        );
        let e = unshare_failed_given(
            Errno::EPERM,
            with(&[("kernel/apparmor_restrict_unprivileged_userns", 1)]),
        );
        assert!(
            e.to_string()
                .contains("apparmor_restrict_unprivileged_userns = 1"),
            "{e}"
        );
        let fix = e.fix.unwrap();
        assert!(
            fix.contains("profile userns") && fix.contains("userns,"),
            "{fix}"
        );
        let e = unshare_failed_given(Errno::EPERM, with(&[]));
        assert!(e.to_string().contains("seccomp"), "{e}");
    }

    #[test]
    fn apparmor_profile_names_the_binary() {
        let p = apparmor_profile("/opt/userns/bin/userns");
        assert!(p.contains("profile userns /opt/userns/bin/userns flags=(unconfined)"));
        assert!(p.contains("  userns,"));
    }

    #[test]
    fn writer_failure_quotes_helper_and_command() {
        let status = WaitStatus::Exited(nix::unistd::Pid::from_raw(5), 1);
        let e = writer_failed(
            IdKind::Uid,
            "/usr/bin/newuidmap 42 0 2000 1",
            false,
            status,
            "newuidmap: Cannot determine your user name.",
        );
        let text = e.to_string();
        assert!(text.contains("newuidmap failed (exit status 1)"), "{text}");
        assert!(
            text.contains("said: newuidmap: Cannot determine your user name."),
            "{text}"
        );
        assert!(
            text.contains("command: /usr/bin/newuidmap 42 0 2000 1"),
            "{text}"
        );
        let e = writer_failed(
            IdKind::Gid,
            "/usr/bin/newgidmap 1",
            false,
            status,
            "errno:13",
        );
        assert!(
            e.to_string().contains("exec failed: Permission denied"),
            "{e}"
        );
    }
}
