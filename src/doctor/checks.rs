//! The individual checks. Each reads one thing and judges it; the judging parts take
//! plain values so they are unit-tested without the machine state they describe.

use super::{Check, Status};
use crate::idmap::{plan_for_user, IdMap};
use crate::ids;
use crate::ids::IdKind;
use crate::subid::alloc;
use crate::subid::lint::{self, Severity, SystemPasswd};
use crate::subid::login_defs::{LoginDefs, LOGIN_DEFS};
use crate::subid::{SubIdEntry, SubIdFile, UserSubIds};
use crate::unshare::{diagnose, helper};
use crate::users::Account;
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Kernel support: a kernel without CONFIG_USER_NS has no /proc/self/ns/user.
pub fn kernel_support(proc_root: &Path) -> Check {
    let path = proc_root.join("self/ns/user");
    if path.exists() {
        Check::pass(
            "kernel",
            format!("user namespaces supported ({})", path.display()),
        )
    } else {
        Check::new(
            "kernel",
            Status::Fail,
            format!("{} does not exist", path.display()),
        )
        .with_fix("use a kernel built with CONFIG_USER_NS=y (every distribution kernel has it)")
    }
}

/// `user.max_user_namespaces`: 0 disables them for everyone below this namespace.
pub fn max_user_namespaces(value: Option<i64>) -> Check {
    let name = "user.max_user_namespaces";
    match value {
        None => Check::new(name, Status::Skip, "not present on this kernel"),
        Some(0) => Check::new(name, Status::Fail, "0: user namespaces are disabled").with_fix(
            "as root: sysctl -w user.max_user_namespaces=28633 (keep it in /etc/sysctl.d/)",
        ),
        Some(n) if n < 16 => Check::new(name, Status::Warn, format!("{n}: very low"))
            .with_fix("as root: sysctl -w user.max_user_namespaces=28633"),
        Some(n) => Check::pass(name, n.to_string()),
    }
}

/// Debian's and older Ubuntu's `kernel.unprivileged_userns_clone`.
pub fn unprivileged_userns_clone(value: Option<i64>) -> Check {
    let name = "kernel.unprivileged_userns_clone";
    match value {
        None => Check::new(
            name,
            Status::Skip,
            "not present on this kernel (no restriction)",
        ),
        Some(0) => Check::new(
            name,
            Status::Fail,
            "0: unprivileged users may not create user namespaces",
        )
        .with_fix(
            "as root: sysctl -w kernel.unprivileged_userns_clone=1 (keep it in /etc/sysctl.d/)",
        ),
        Some(n) => Check::pass(name, n.to_string()),
    }
}

/// Ubuntu 23.10+'s `kernel.apparmor_restrict_unprivileged_userns`.
pub fn apparmor_restriction(value: Option<i64>) -> Check {
    let name = "kernel.apparmor_restrict_unprivileged_userns";
    match value {
        None => Check::new(
            name,
            Status::Skip,
            "not present on this kernel (no restriction)",
        ),
        Some(1) => Check::new(
            name,
            Status::Fail,
            "1: AppArmor denies capabilities in new user namespaces to unconfined programs",
        )
        .with_fix(diagnose::apparmor_fix()),
        Some(n) => Check::pass(name, n.to_string()),
    }
}

/// newuidmap / newgidmap: present, privileged, not on a nosuid mount.
pub fn helper_check(kind: IdKind) -> Check {
    let name = kind.helper_name();
    match helper::find(kind) {
        Ok(h) => Check::pass(
            name,
            format!(
                "{} ({})",
                h.path.display(),
                match h.privilege {
                    helper::Privilege::SetuidRoot => "setuid root",
                    helper::Privilege::FileCaps => "file capabilities",
                }
            ),
        ),
        Err(e) => from_error(name, Status::Fail, &e),
    }
}

/// NoNewPrivs of this process.
pub fn no_new_privs(set: bool) -> Check {
    if set {
        from_error("NoNewPrivs", Status::Fail, &helper::no_new_privs_error())
    } else {
        Check::pass("NoNewPrivs", "0 (setuid helpers can gain privilege)")
    }
}

fn from_error(name: &str, status: Status, e: &crate::Error) -> Check {
    let evidence = match &e.cause {
        Some(c) => format!("{}: {c}", e.what),
        None => e.what.clone(),
    };
    let check = Check::new(name, status, evidence);
    match &e.fix {
        Some(f) => check.with_fix(f.clone()),
        None => check,
    }
}

/// The user's ranges of one kind: present, usable, enough, lint-clean; and their source.
pub fn subids(
    kind: IdKind,
    subids: &UserSubIds,
    file: &SubIdFile,
    account: &Account,
    passwd: &SystemPasswd,
) -> Vec<Check> {
    let name = kind.subid_name();
    let user = account.display_name();
    if subids.entries.is_empty() {
        return vec![Check::new(
            name,
            Status::Fail,
            format!("no {name} range for {user} in {}", subids.source),
        )
        .with_fix(match subids.source.strip_prefix("nss:") {
            Some(module) => format!(
                "ask the administrator of the subid source {module} (nsswitch.conf) for a range for {user}"
            ),
            // The range `subid add` would allocate now, not one that may be taken.
            None => format!(
                "as root: usermod --add-sub{}s {} {user}  (or: userns subid add {user})",
                kind.name(),
                alloc::usermod_range(file, &login_defs(), kind, account.own_id(kind))
            ),
        })];
    }
    vec![
        ranges_check(kind, subids, &user),
        lint_check(kind, subids, file, account, passwd),
    ]
}

/// The user's lines, each with why it is unusable; enough usable ids?
fn ranges_check(kind: IdKind, subids: &UserSubIds, user: &str) -> Check {
    let name = kind.subid_name();
    let usable: u64 = subids.usable().map(|(_, r)| r.count as u64).sum();
    let lines: Vec<String> = subids
        .entries
        .iter()
        .map(|(e, u)| {
            let verdict = u
                .reason(kind)
                .map(|r| format!(" (unusable: {r})"))
                .unwrap_or_default();
            format!(
                "{}:{}: {}:{}:{}{verdict}",
                subids.source, e.line, e.owner_text, e.start, e.count
            )
        })
        .collect();
    let unusable: Vec<&String> = lines.iter().filter(|l| l.contains("(unusable")).collect();
    let status = if usable == 0 {
        Status::Fail
    } else if !unusable.is_empty() || usable < lint::MIN_USABLE_TOTAL {
        Status::Warn
    } else {
        Status::Pass
    };
    let mut check = Check::new(
        name,
        status,
        format!("{usable} usable ids\n{}", lines.join("\n")),
    );
    if usable == 0 || !unusable.is_empty() {
        check = check.with_fix(format!(
            "fix the unusable lines (userns subid check --strict shows each); a range must not contain {user}'s own {}",
            kind.name()
        ));
    } else if usable < lint::MIN_USABLE_TOTAL {
        check = check.with_fix(format!(
            "images use ids up to 65535: as root, give {user} 65536 ids (usermod --add-sub{}s)",
            kind.name()
        ));
    }
    check
}

/// The lint of `subid check`, restricted to the user's own lines: its errors.
fn lint_check(
    kind: IdKind,
    subids: &UserSubIds,
    file: &SubIdFile,
    account: &Account,
    passwd: &SystemPasswd,
) -> Check {
    let (name, user) = (kind.subid_name(), account.display_name());
    let mine: HashSet<usize> = subids.entries.iter().map(|(e, _)| e.line).collect();
    let relevant = lines_that_meet(file, &mine);
    let (subuid, subgid) = match kind {
        IdKind::Uid => (relevant, SubIdFile::default()),
        IdKind::Gid => (SubIdFile::default(), relevant),
    };
    let passwd = AccountFirst(account, passwd);
    let findings: Vec<String> = lint::lint(&subuid, &subgid, &LoginDefs::parse(""), &passwd)
        .into_iter()
        .filter(|f| f.file == file.path && mine.contains(&f.line) && f.severity == Severity::Error)
        .map(|f| f.to_string())
        .collect();
    let lint_name = format!("{name} lint");
    if findings.is_empty() {
        Check::pass(lint_name, format!("no errors on {user}'s lines"))
    } else {
        Check::new(lint_name, Status::Fail, findings.join("\n")).with_fix(format!(
            "edit {} as root; `userns subid check` lists every problem",
            file.path.display()
        ))
    }
}

/// The entries of `file` that can carry an error on the lines `mine`: those lines, the
/// lines overlapping them (owners-overlap) and those with the same START:COUNT
/// (duplicate, also of an empty range). The other errors are about a line alone. The
/// lint of a site-sized file then resolves a few owners, not one per line (each a
/// passwd lookup, ~70 µs for an unknown name through nss-systemd).
fn lines_that_meet(file: &SubIdFile, mine: &HashSet<usize>) -> SubIdFile {
    let own: Vec<&SubIdEntry> = file
        .entries
        .iter()
        .filter(|e| mine.contains(&e.line))
        .collect();
    let same_numbers: HashSet<(u64, u64)> = own.iter().map(|e| (e.start, e.count)).collect();
    let covered = ids::union(
        own.iter()
            .filter(|e| e.count > 0)
            .map(|e| (e.start as u128, e.end()))
            .collect(),
    );
    let meets = |e: &SubIdEntry| {
        mine.contains(&e.line)
            || same_numbers.contains(&(e.start, e.count))
            || (e.count > 0 && ids::union_overlaps(&covered, e.start as u128, e.end()))
    };
    SubIdFile {
        path: file.path.clone(),
        entries: file.entries.iter().filter(|e| meets(e)).cloned().collect(),
        ..Default::default()
    }
}

/// The passwd database, answering for the checked account itself first (it may be given
/// as a numeric uid that passwd does not know).
struct AccountFirst<'a>(&'a Account, &'a SystemPasswd);

impl lint::Passwd for AccountFirst<'_> {
    fn by_name(&self, name: &str) -> Option<Account> {
        if self.0.name.as_deref() == Some(name) {
            return Some(self.0.clone());
        }
        self.1.by_name(name)
    }
    fn by_uid(&self, uid: u32) -> Option<Account> {
        if self.0.uid == uid {
            return Some(self.0.clone());
        }
        self.1.by_uid(uid)
    }
}

/// Where the ranges come from: files, or an NSS module through libsubid.
pub fn source(uid: &UserSubIds, gid: &UserSubIds) -> Check {
    Check::pass(
        "subid source",
        format!("subuid from {}, subgid from {}", uid.source, gid.source),
    )
}

/// Inside a user namespace: whether its map holds the ids the plan needs.
pub fn parent_map(here: &IdMap, planned: Option<&IdMap>) -> Check {
    parent_map_check(here, planned).with_maps(vec![here.clone()])
}

fn parent_map_check(here: &IdMap, planned: Option<&IdMap>) -> Check {
    let name = format!("enclosing {}", here.kind.map_file());
    if here.is_identity() {
        return Check::pass(name, "initial user namespace (identity map)");
    }
    match planned {
        None => Check::new(
            name,
            Status::Warn,
            format!("inside a user namespace: {}", here.to_short()),
        ),
        Some(plan) => match crate::unshare::nested::check_within_parent(here, plan) {
            Ok(()) => Check::pass(
                name,
                format!(
                    "inside a user namespace that maps every planned id: {}",
                    here.to_short()
                ),
            ),
            Err(e) => from_error(&name, Status::Fail, &e),
        },
    }
}

/// The plan `userns unshare` would ask for, when there is one.
pub fn plan(kind: IdKind, account: &Account, subids: &UserSubIds) -> Option<IdMap> {
    plan_for_user(
        kind,
        account.own_id(kind),
        0,
        subids,
        &account.display_name(),
    )
    .ok()
    .map(|p| p.map)
}

/// $XDG_RUNTIME_DIR: set, a directory of the user's, mode 0700 (podman and userns keep
/// their state there; podman refuses one that is not the user's). Judged by the rule of
/// `trusted_dir`, so that what fails here is what `run`, `enter` and `clean` refuse.
pub fn runtime_dir(value: Option<&str>, uid: u32) -> Check {
    use crate::trusted_dir::{judge, Problem};
    let name = "XDG_RUNTIME_DIR";
    let Some(dir) = value.filter(|v| !v.is_empty()) else {
        return Check::new(name, Status::Warn, "not set")
            .with_fix("log in through a PAM session (systemd-logind sets it), or: export XDG_RUNTIME_DIR=/run/user/$(id -u) after `loginctl enable-linger $USER` as root");
    };
    let m = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) => return Check::new(name, Status::Fail, format!("{dir}: {e}"))
            .with_fix(format!("create it: mkdir -m 700 {dir} (as its owner), or set XDG_RUNTIME_DIR to a directory of yours")),
    };
    match judge(m.mode(), m.uid(), uid) {
        None => Check::pass(name, format!("{dir} (yours, mode 700)")),
        Some(Problem::Open { mode }) => Check::new(
            name,
            Status::Warn,
            format!("{dir} has mode {mode:o}; others may read your runtime state"),
        )
        .with_fix(format!("chmod 700 {dir}")),
        Some(problem @ Problem::Writable { .. }) => {
            Check::new(name, Status::Fail, format!("{dir}: {problem}"))
                .with_fix(format!("chmod 700 {dir}"))
        }
        Some(problem) => Check::new(name, Status::Fail, format!("{dir}: {problem}")).with_fix(
            "point XDG_RUNTIME_DIR at a directory of yours with mode 0700 (/run/user/UID)",
        ),
    }
}

/// login.defs, for completeness of the lint; absent means shadow's defaults.
pub(crate) fn login_defs() -> LoginDefs {
    LoginDefs::read(Path::new(LOGIN_DEFS)).unwrap_or_else(|_| LoginDefs::defaults())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idmap::IdMapEntry;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn sysctl_judgements() {
        assert_eq!(max_user_namespaces(Some(0)).status, Status::Fail);
        assert_eq!(max_user_namespaces(Some(63000)).status, Status::Pass);
        assert_eq!(max_user_namespaces(None).status, Status::Skip);
        assert_eq!(unprivileged_userns_clone(Some(0)).status, Status::Fail);
        assert_eq!(unprivileged_userns_clone(None).status, Status::Skip);
        let aa = apparmor_restriction(Some(1));
        assert_eq!(aa.status, Status::Fail);
        assert!(aa.fix.unwrap().contains("apparmor_parser -r"));
        assert_eq!(apparmor_restriction(Some(0)).status, Status::Pass);
    }

    #[test]
    fn subid_judgements() {
        let ivy = Account::ivy();
        let file =
            crate::subid::parse::parse(Path::new("/etc/subuid"), b"ivy:100000:1000\nivy:1999:5\n");
        let ids = UserSubIds::from_file(IdKind::Uid, &file, &ivy);
        let checks = subids(IdKind::Uid, &ids, &file, &ivy, &SystemPasswd::default());
        assert_eq!(checks[0].status, Status::Warn, "{checks:?}");
        assert!(checks[0]
            .evidence
            .contains("/etc/subuid:2: ivy:1999:5 (unusable: range contains"));
        assert_eq!(
            checks[1].status,
            Status::Fail,
            "the lint flags line 2: {checks:?}"
        );
        let none = crate::subid::parse::parse(Path::new("/etc/subuid"), b"bob:100000:65536\n");
        let ids = UserSubIds::from_file(IdKind::Uid, &none, &ivy);
        let checks = subids(IdKind::Uid, &ids, &none, &ivy, &SystemPasswd::default());
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].status, Status::Fail);
        assert!(checks[0]
            .fix
            .as_ref()
            .unwrap()
            .contains("usermod --add-subuids"));
    }

    #[test]
    fn the_lines_that_can_carry_errors_on_the_users_lines() {
        let file = crate::subid::parse::parse(
            Path::new("/etc/subuid"),
            b"bob:100000:10\nann:500000:10\nivy:100005:10\n2000:7:0\nivy:7:0\nbob:100015:1\n",
        );
        let mine: HashSet<usize> = [3, 5].into();
        let kept: Vec<usize> = lines_that_meet(&file, &mine)
            .entries
            .iter()
            .map(|e| e.line)
            .collect();
        // Line 1 overlaps line 3, line 4 has line 5's numbers; 2 and 6 meet neither.
        assert_eq!(kept, [1, 3, 4, 5]);
    }

    #[test]
    fn parent_map_judgement() {
        let here = IdMap::new(
            IdKind::Uid,
            vec![
                IdMapEntry::new(0, 2000, 1),
                IdMapEntry::new(1, 200000, 1000),
            ],
        );
        let plan = IdMap::new(
            IdKind::Uid,
            vec![IdMapEntry::new(0, 0, 1), IdMapEntry::new(1, 1, 999)],
        );
        assert_eq!(parent_map(&here, Some(&plan)).status, Status::Pass);
        let plan = IdMap::new(
            IdKind::Uid,
            vec![IdMapEntry::new(0, 0, 1), IdMapEntry::new(1, 5000, 10)],
        );
        assert_eq!(parent_map(&here, Some(&plan)).status, Status::Fail);
        assert_eq!(
            parent_map(&IdMap::identity(IdKind::Uid), Some(&plan)).status,
            Status::Pass
        );
    }

    #[test]
    fn runtime_dir_judgement() {
        assert_eq!(runtime_dir(None, 1).status, Status::Warn);
        assert_eq!(runtime_dir(Some("/no/such/dir"), 1).status, Status::Fail);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap();
        let me = nix::unistd::getuid().as_raw();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(runtime_dir(Some(path), me).status, Status::Pass);
        assert_eq!(runtime_dir(Some(path), me + 1).status, Status::Fail);
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(runtime_dir(Some(path), me).status, Status::Warn);
        // Writable by others: refused by userns, so a failure here.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(runtime_dir(Some(path), me).status, Status::Fail);
    }
}
