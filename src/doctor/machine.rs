//! `userns doctor` run by root for no one in particular: the state of the machine rather
//! than of one user. Root needs no subordinate ids (it may write any map itself), so
//! root's own missing ranges are no problem; what matters is whether the files are sound
//! and which users can run rootless namespaces, with the map each would get.
//!
//! Only what is wrong with the machine fails (a malformed or overlapping line, a broken
//! helper, a sysctl that forbids namespaces); a user's own shortfall, such as a missing
//! subgid line, is a warning, since the machine works for everyone else.

use super::{Check, Status};
use crate::idmap::plan_map;
use crate::ids::IdKind;
use crate::subid::lint::{self, Finding, Passwd, Severity, MIN_USABLE_TOTAL};
use crate::subid::{nss, Owner, SubIdFile, SubIdPaths, UserSubIds};
use crate::users::Account;
use std::path::Path;

/// The checks of the subid files and of every user who has ranges in them, after the
/// kernel and helper checks every doctor run makes.
pub fn checks(paths: &SubIdPaths, passwd: &dyn Passwd) -> Vec<Check> {
    let mut list = Vec::new();
    let (subuid, subgid) = match (
        SubIdFile::read(&paths.subuid),
        SubIdFile::read(&paths.subgid),
    ) {
        (Ok(u), Ok(g)) => (u, g),
        (Err(e), _) | (_, Err(e)) => {
            list.push(
                Check::new("subid files", Status::Fail, e.to_string())
                    .with_fix("make them readable: chmod 644 /etc/subuid /etc/subgid"),
            );
            return list;
        }
    };
    let findings = lint::lint(&subuid, &subgid, &super::checks::login_defs(), passwd);
    for (kind, file) in [(IdKind::Uid, &subuid), (IdKind::Gid, &subgid)] {
        list.push(file_check(kind, file, file.path.exists(), &findings));
    }
    let other: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.file != subuid.path && f.file != subgid.path)
        .collect();
    if !other.is_empty() {
        list.push(findings_check("login.defs", &other));
    }
    if let Some(module) = nss::configured(Path::new(nss::NSSWITCH)) {
        list.push(nss_source(&module, nss::module_available(&module)));
    }
    let users = owners(&subuid, &subgid, passwd);
    if users.is_empty() {
        list.push(no_users(paths));
    }
    for account in &users {
        let uids = UserSubIds::from_file(IdKind::Uid, &subuid, account);
        let gids = UserSubIds::from_file(IdKind::Gid, &subgid, account);
        list.push(user_check(account, &uids, &gids));
    }
    list
}

/// The lint of one file: errors fail (newuidmap may refuse or misread the line), warnings
/// warn; the lines themselves and their fixes are `userns subid check`'s to show.
pub(crate) fn file_check(
    kind: IdKind,
    file: &SubIdFile,
    exists: bool,
    findings: &[Finding],
) -> Check {
    let name = format!("{} lint", kind.subid_name());
    if !exists {
        return Check::new(
            name,
            Status::Warn,
            format!(
                "{} does not exist: no user has subordinate {}s",
                file.path.display(),
                kind.name()
            ),
        )
        .with_fix(
            "as root: userns subid add USER (creates it), for each user of rootless containers",
        );
    }
    let mine: Vec<&Finding> = findings.iter().filter(|f| f.file == file.path).collect();
    if mine.is_empty() {
        let ranges = file.entries.len();
        return Check::pass(
            name,
            format!(
                "{}: {ranges} range{}, no problems",
                file.path.display(),
                if ranges == 1 { "" } else { "s" }
            ),
        );
    }
    findings_check(&name, &mine)
}

fn findings_check(name: &str, findings: &[&Finding]) -> Check {
    let errors = findings.iter().any(|f| f.severity == Severity::Error);
    let lines: Vec<String> = findings.iter().map(|f| f.headline()).collect();
    Check::new(
        name,
        if errors { Status::Fail } else { Status::Warn },
        lines.join("\n"),
    )
    .with_fix("`userns subid check` shows the fix of each; edit the file as root")
}

/// `subid:` in nsswitch.conf names a service: newuidmap asks it, not the files, so the
/// users listed from the files may not be the whole story.
pub(crate) fn nss_source(module: &str, available: Result<(), String>) -> Check {
    let name = "subid source";
    match available {
        Ok(()) => Check::pass(
            name,
            format!(
                "{} names `subid: {module}`: newuidmap asks it; the users below are those of the files",
                nss::NSSWITCH
            ),
        ),
        Err(why) => Check::new(
            name,
            Status::Warn,
            format!(
                "{} names `subid: {module}`, but {why}; libsubid falls back to the files",
                nss::NSSWITCH
            ),
        )
        .with_fix(format!(
            "install the libsubid_{module}.so module, or remove the subid: line"
        )),
    }
}

/// The accounts that own lines of either file, once each (a user listed by name and by
/// uid is one user), in the order first met. Owners passwd does not know are left to the
/// lint, which names them.
pub(crate) fn owners(subuid: &SubIdFile, subgid: &SubIdFile, passwd: &dyn Passwd) -> Vec<Account> {
    let mut seen: Vec<&Owner> = Vec::new();
    let mut accounts: Vec<Account> = Vec::new();
    for entry in subuid.entries.iter().chain(&subgid.entries) {
        if seen.contains(&&entry.owner) {
            continue;
        }
        seen.push(&entry.owner);
        let account = match &entry.owner {
            Owner::Name(n) => passwd.by_name(n),
            Owner::Uid(u) => passwd.by_uid(*u),
        };
        if let Some(account) = account {
            if !accounts.iter().any(|a| a.uid == account.uid) {
                accounts.push(account);
            }
        }
    }
    accounts
}

/// One user: the maps `userns unshare` would ask for, and what keeps them short of a
/// full 65536 ids of each kind.
pub(crate) fn user_check(account: &Account, uids: &UserSubIds, gids: &UserSubIds) -> Check {
    let user = account.display_name();
    let mut maps = Vec::new();
    let mut planned = Vec::new();
    let mut problems = Vec::new();
    let mut missing = Vec::new();
    for ids in [uids, gids] {
        let kind = ids.kind;
        if ids.entries.is_empty() {
            problems.push(format!("no {} range in {}", kind.subid_name(), ids.source));
            missing.push(kind);
            continue;
        }
        let plan = plan_map(kind, account.own_id(kind), 0, ids);
        maps.push(format!("{} {}", kind.map_file(), plan.map.to_short()));
        planned.push(plan.map.clone());
        problems.extend(plan.left_out.iter().map(|l| l.to_string()));
        // The map holds the user's own id besides the subordinate ones.
        let subordinate = plan.map.total() - 1;
        if subordinate < MIN_USABLE_TOTAL {
            problems.push(format!(
                "{subordinate} usable subordinate {}s; images use ids up to 65535",
                kind.name()
            ));
        }
    }
    let name = format!("user {user}");
    let evidence = maps.into_iter().chain(problems.iter().cloned());
    let evidence = evidence.collect::<Vec<_>>().join("\n");
    if problems.is_empty() {
        return Check::pass(name, evidence).with_maps(planned);
    }
    let fix = match missing.as_slice() {
        [IdKind::Uid] => format!("as root: userns subid add {user} --uids-only"),
        [IdKind::Gid] => format!("as root: userns subid add {user} --gids-only"),
        _ => format!(
            "`userns doctor --user {user}` and `userns subid check` show each problem and its fix"
        ),
    };
    Check::new(name, Status::Warn, evidence)
        .with_fix(fix)
        .with_maps(planned)
}

/// Nobody has ranges: rootless containers work for no one yet, but nothing is broken.
pub(crate) fn no_users(paths: &SubIdPaths) -> Check {
    Check::new(
        "users",
        Status::Warn,
        format!(
            "no user has ranges in {} and {}",
            paths.subuid.display(),
            paths.subgid.display()
        ),
    )
    .with_fix("as root: userns subid add USER, for each user of rootless containers")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subid::parse::parse;

    use crate::subid::lint::tests::Table;

    fn bob() -> Account {
        Account {
            name: Some("bob".into()),
            uid: 2001,
            gid: 2001,
            home: None,
        }
    }

    fn files(subuid: &str, subgid: &str) -> (SubIdFile, SubIdFile) {
        (
            parse(Path::new("/etc/subuid"), subuid.as_bytes()),
            parse(Path::new("/etc/subgid"), subgid.as_bytes()),
        )
    }

    #[test]
    fn owners_are_resolved_once_each_and_strangers_left_out() {
        let passwd = Table(vec![Account::ivy(), bob()]);
        let (u, g) = files(
            "ivy:100000:65536\n2000:300000:10\nghost:400000:10\n",
            "2001:100000:65536\n",
        );
        let names: Vec<String> = owners(&u, &g, &passwd)
            .iter()
            .map(Account::display_name)
            .collect();
        assert_eq!(names, ["ivy", "bob"]);
    }

    #[test]
    fn a_user_with_both_kinds_passes_with_the_maps() {
        let (u, g) = files("ivy:100000:65536\n", "ivy:100000:65536\n");
        let ivy = Account::ivy();
        let check = user_check(
            &ivy,
            &UserSubIds::from_file(IdKind::Uid, &u, &ivy),
            &UserSubIds::from_file(IdKind::Gid, &g, &ivy),
        );
        assert_eq!(check.status, Status::Pass, "{check:?}");
        assert_eq!(check.name, "user ivy");
        assert_eq!(
            check.evidence,
            "uid_map 0:2000:1,1:100000:65536\ngid_map 0:2000:1,1:100000:65536"
        );
    }

    #[test]
    fn a_user_short_of_ids_warns_and_never_fails() {
        let (u, g) = files("ivy:100000:1000\n", "");
        let ivy = Account::ivy();
        let check = user_check(
            &ivy,
            &UserSubIds::from_file(IdKind::Uid, &u, &ivy),
            &UserSubIds::from_file(IdKind::Gid, &g, &ivy),
        );
        assert_eq!(check.status, Status::Warn, "{check:?}");
        assert!(
            check.evidence.contains("1000 usable subordinate uids"),
            "{check:?}"
        );
        assert!(
            check.evidence.contains("no subgid range in /etc/subgid"),
            "{check:?}"
        );
        assert_eq!(
            check.fix.as_deref(),
            Some("as root: userns subid add ivy --gids-only")
        );
    }

    #[test]
    fn file_lint_fails_on_errors_only() {
        let passwd = Table(vec![Account::ivy()]);
        let (u, g) = files("ivy:100000:65536\nivy:1x10:5\n", "ivy:100000:65536\n");
        let findings = lint::lint(
            &u,
            &g,
            &crate::subid::login_defs::LoginDefs::parse(""),
            &passwd,
        );
        let check = file_check(IdKind::Uid, &u, true, &findings);
        assert_eq!(check.status, Status::Fail, "{check:?}");
        assert!(
            check.evidence.starts_with("/etc/subuid:2: error:"),
            "{check:?}"
        );
        let check = file_check(IdKind::Gid, &g, true, &findings);
        assert_eq!(check.status, Status::Pass, "{check:?}");
        assert_eq!(check.evidence, "/etc/subgid: 1 range, no problems");
        assert_eq!(
            file_check(IdKind::Gid, &SubIdFile::default(), false, &[]).status,
            Status::Warn
        );
    }
}
