//! `userns doctor`: a checklist of everything rootless user namespaces need here, for
//! the caller (or --user); run by root for no one in particular, for the whole machine.

use crate::cli::args::DoctorArgs;
use serde::Serialize;
use std::path::Path;
use userns::doctor::{checks, kept, live, machine, nested, render, storage, Check, Status};
use userns::error::Result;
use userns::exit;
use userns::ids::IdKind;
use userns::storage::StoragePaths;
use userns::subid::lint::SystemPasswd;
use userns::subid::{SubIdPaths, UserSubIds};
use userns::unshare::nested::Enclosing;
use userns::unshare::{diagnose::sysctl, helper};
use userns::users::Account;

#[derive(Serialize)]
struct Report<'a> {
    /// "user": the checks for `user`; "machine": root's run for no one in particular.
    scope: &'static str,
    /// None for the machine.
    user: Option<&'a Account>,
    ok: bool,
    checks: &'a [Check],
}

pub fn run(args: DoctorArgs) -> Result<u8> {
    let me = Account::current();
    if me.uid == 0 && args.user.is_none() {
        if let Ok(Some(enclosing)) = Enclosing::here() {
            return for_nested_root(&args, &me, &enclosing);
        }
        return for_machine(&args);
    }
    let account = match &args.user {
        Some(u) => Account::resolve(u)?,
        None => me.clone(),
    };
    let for_me = account.uid == me.uid;
    let mut list = system_checks();
    if for_me {
        list.push(checks::no_new_privs(helper::no_new_privs()));
    }
    let paths = SubIdPaths::default();
    let mut plans = Vec::new();
    let mut sources = Vec::new();
    // One for both files: past a few owners it holds the whole passwd database.
    let passwd = SystemPasswd::default();
    for kind in IdKind::BOTH {
        // One read of the file serves the user's lines and the lint of them.
        match userns::subid::SubIdFile::read(paths.path(kind)) {
            Ok(file) => {
                let ids = UserSubIds::read_with(&paths, kind, &account, &file);
                list.extend(checks::subids(kind, &ids, &file, &account, &passwd));
                plans.push(checks::plan(kind, &account, &ids));
                sources.push(ids);
            }
            Err(e) => {
                list.push(
                    Check::new(
                        kind.subid_name(),
                        Status::Fail,
                        e.to_string().lines().next().unwrap_or("").to_string(),
                    )
                    .with_fix(e.fix.clone().unwrap_or_else(|| {
                        "check the file's mode: it must be readable by everyone (0644)".into()
                    })),
                );
                plans.push(None);
            }
        }
    }
    if let [uid, gid] = sources.as_slice() {
        list.push(checks::source(uid, gid));
    }
    if let Ok((uid_here, gid_here)) = userns::idmap::proc::self_maps() {
        list.push(checks::parent_map(&uid_here, plans[0].as_ref()));
        list.push(checks::parent_map(&gid_here, plans[1].as_ref()));
    }
    if for_me {
        list.push(checks::runtime_dir(
            std::env::var("XDG_RUNTIME_DIR").ok().as_deref(),
            account.uid,
        ));
        list.push(kept::judge(&kept_namespaces(&account)));
        let graphroot = StoragePaths::discover(&account).graphroot;
        let owners = storage::sample_owners(&graphroot);
        list.push(storage::judge(
            &graphroot,
            &owners,
            account.uid,
            plans[0].as_ref(),
        ));
        list.push(if args.no_live {
            Check::new("live test", Status::Skip, "skipped (--no-live)")
        } else {
            live::run(plans[0].as_ref(), plans[1].as_ref())
        });
    }
    report(&args, Some(&account), &list)
}

/// Root's run without --user: the machine-wide checks, the subid files, and every user
/// who has ranges with the maps they would get. No live test: root's own namespace would
/// prove nothing about users'.
fn for_machine(args: &DoctorArgs) -> Result<u8> {
    let mut list = system_checks();
    if let Ok((uid_here, gid_here)) = userns::idmap::proc::self_maps() {
        list.push(checks::parent_map(&uid_here, None));
        list.push(checks::parent_map(&gid_here, None));
    }
    list.extend(machine::checks(
        &SubIdPaths::default(),
        &SystemPasswd::default(),
    ));
    list.push(Check::new(
        "live test",
        Status::Skip,
        "run by root for no user; `userns doctor` run by a user tests their namespace",
    ));
    report(args, None, &list)
}

/// Root inside a user namespace: nesting needs the enclosing namespace's ids and root's
/// capabilities over them, not subid files or setuid helpers; the live test makes a
/// nested namespace and compares its maps with the nested plan.
fn for_nested_root(args: &DoctorArgs, me: &Account, enclosing: &Enclosing) -> Result<u8> {
    let mut list: Vec<Check> = system_checks()
        .into_iter()
        .filter(|c| c.name != "newuidmap" && c.name != "newgidmap")
        .collect();
    list.push(nested::helper_not_needed(IdKind::Uid));
    list.push(nested::helper_not_needed(IdKind::Gid));
    list.push(nested::nesting(enclosing));
    list.push(nested::capabilities(nested::effective_caps()));
    let (uid, gid) = nested::plans(enclosing);
    list.push(if args.no_live {
        Check::new("live test", Status::Skip, "skipped (--no-live)")
    } else {
        live::run(Some(&uid), Some(&gid))
    });
    report(args, Some(me), &list)
}

/// What every run checks: the kernel, its switches, and the setuid helpers.
fn system_checks() -> Vec<Check> {
    vec![
        checks::kernel_support(Path::new("/proc")),
        checks::max_user_namespaces(sysctl("user/max_user_namespaces")),
        checks::unprivileged_userns_clone(sysctl("kernel/unprivileged_userns_clone")),
        checks::apparmor_restriction(sysctl("kernel/apparmor_restrict_unprivileged_userns")),
        checks::helper_check(IdKind::Uid),
        checks::helper_check(IdKind::Gid),
    ]
}

/// Print the checklist (or JSON); exit 1 when a check failed.
fn report(args: &DoctorArgs, user: Option<&Account>, list: &[Check]) -> Result<u8> {
    let ok = !list.iter().any(|c| c.status == Status::Fail);
    if args.json {
        crate::cli::render::json::print_json(&Report {
            scope: if user.is_some() { "user" } else { "machine" },
            user,
            ok,
            checks: list,
        })?;
    } else {
        crate::cli::render::out::print(render(list))?;
    }
    Ok(if ok { exit::OK } else { exit::PROBLEMS })
}

/// The live namespaces the caller keeps, with why each map is stale, if it is.
fn kept_namespaces(account: &Account) -> Vec<kept::Kept> {
    let Ok(dir) = userns::keep::record::registry_dir(false) else {
        return Vec::new();
    };
    userns::keep::record::list(&dir)
        .into_iter()
        .flatten()
        .filter(|rec| {
            matches!(
                userns::keep::liveness(rec),
                userns::keep::Liveness::Alive(_)
            )
        })
        .map(|rec| kept::Kept {
            stale: userns::keep::map_change(&rec, account),
            name: rec.name,
        })
        .collect()
}
