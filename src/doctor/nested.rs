//! `userns doctor` run by root inside a user namespace: what nesting needs is not the
//! subid files and the setuid helpers of the initial namespace but the enclosing
//! namespace's ids and root's capabilities over them (see `unshare::nested`).

use super::{Check, Status};
use crate::idmap::IdMap;
use crate::ids::IdKind;
use crate::unshare::nested::{self, Enclosing};

/// Capability numbers of linux/capability.h.
const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;
const CAP_SYS_ADMIN: u32 = 21;

/// The nesting itself: which namespace, and the ids a nested namespace gets.
pub fn nesting(enclosing: &Enclosing) -> Check {
    Check::pass(
        "nested",
        format!(
            "{}; userns maps all {} uids and {} gids of it itself (no subordinate ids, no setuid helpers)",
            enclosing.describe(),
            enclosing.count(IdKind::Uid),
            enclosing.count(IdKind::Gid)
        ),
    )
}

/// The helpers are not used nested as root: a skip, not a failure, whatever their state.
pub fn helper_not_needed(kind: IdKind) -> Check {
    Check::new(
        kind.helper_name(),
        Status::Skip,
        "not needed: root here writes nested maps itself",
    )
}

/// Root here must hold CAP_SETUID and CAP_SETGID (the kernel's condition for writing a
/// child's maps) and CAP_SYS_ADMIN (setns into kept namespaces, mounts) in its effective
/// set; `effective` is CapEff of /proc/self/status.
pub fn capabilities(effective: Option<u64>) -> Check {
    let name = "capabilities";
    let Some(eff) = effective else {
        return Check::new(
            name,
            Status::Warn,
            "cannot read CapEff in /proc/self/status",
        );
    };
    let missing: Vec<&str> = [
        (CAP_SETUID, "cap_setuid"),
        (CAP_SETGID, "cap_setgid"),
        (CAP_SYS_ADMIN, "cap_sys_admin"),
    ]
    .into_iter()
    .filter(|(bit, _)| eff & (1u64 << bit) == 0)
    .map(|(_, n)| n)
    .collect();
    if missing.is_empty() {
        Check::pass(
            name,
            format!("CapEff {eff:016x}: cap_setuid, cap_setgid, cap_sys_admin"),
        )
    } else {
        Check::new(
            name,
            Status::Fail,
            format!("CapEff {eff:016x} lacks {}", missing.join(", ")),
        )
        .with_fix("run userns as this namespace's root with its capabilities (not under capsh --drop or setpriv --inh-caps=-all)")
    }
}

/// CapEff of this process.
pub fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// The maps `userns unshare` makes here (for the live test to compare).
pub fn plans(enclosing: &Enclosing) -> (IdMap, IdMap) {
    let own = |kind: IdKind| match kind {
        IdKind::Uid => nix::unistd::geteuid().as_raw(),
        IdKind::Gid => nix::unistd::getegid().as_raw(),
    };
    let plan = |kind: IdKind| nested::plan(enclosing.map(kind), own(kind), 0).map;
    (plan(IdKind::Uid), plan(IdKind::Gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_judgement() {
        assert_eq!(capabilities(Some(0x1ff_ffff_ffff)).status, Status::Pass);
        let c = capabilities(Some(1 << CAP_SETUID));
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.evidence.contains("cap_setgid, cap_sys_admin"),
            "{}",
            c.evidence
        );
        assert_eq!(capabilities(None).status, Status::Warn);
    }

    #[test]
    fn nesting_names_the_maps_and_counts() {
        let map = IdMap::uids(&[(0, 2000, 1), (1, 200000, 65536)]);
        let mut gid = map.clone();
        gid.kind = IdKind::Gid;
        let e = Enclosing::of(map, gid).unwrap();
        let c = nesting(&e);
        assert_eq!(c.status, Status::Pass);
        assert!(
            c.evidence.contains("0:2000:1,1:200000:65536"),
            "{}",
            c.evidence
        );
        assert!(c.evidence.contains("all 65537 uids"), "{}", c.evidence);
    }
}
