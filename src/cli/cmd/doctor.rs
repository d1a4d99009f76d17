//! `userns doctor`: a checklist of everything rootless user namespaces need here.

use crate::cli::args::DoctorArgs;
use serde::Serialize;
use std::path::Path;
use userns::doctor::{checks, kept, live, render, storage, Check, Status};
use userns::error::Result;
use userns::exit;
use userns::ids::IdKind;
use userns::storage::StoragePaths;
use userns::subid::{SubIdPaths, UserSubIds};
use userns::unshare::{diagnose::sysctl, helper};
use userns::users::Account;

#[derive(Serialize)]
struct Report<'a> {
    user: &'a Account,
    ok: bool,
    checks: &'a [Check],
}

pub fn run(args: DoctorArgs) -> Result<u8> {
    let me = Account::current();
    let account = match &args.user {
        Some(u) => Account::resolve(u)?,
        None => me.clone(),
    };
    let for_me = account.uid == me.uid;
    let mut list = vec![
        checks::kernel_support(Path::new("/proc")),
        checks::max_user_namespaces(sysctl("user/max_user_namespaces")),
        checks::unprivileged_userns_clone(sysctl("kernel/unprivileged_userns_clone")),
        checks::apparmor_restriction(sysctl("kernel/apparmor_restrict_unprivileged_userns")),
        checks::helper_check(IdKind::Uid),
        checks::helper_check(IdKind::Gid),
    ];
    if for_me {
        list.push(checks::no_new_privs(helper::no_new_privs()));
    }
    let paths = SubIdPaths::default();
    let mut plans = Vec::new();
    let mut sources = Vec::new();
    for kind in IdKind::BOTH {
        match (
            userns::subid::SubIdFile::read(paths.path(kind)),
            UserSubIds::read(&paths, kind, &account),
        ) {
            (Ok(file), Ok(ids)) => {
                list.extend(checks::subids(kind, &ids, &file, &account));
                plans.push(checks::plan(kind, &account, &ids));
                sources.push(ids);
            }
            (Err(e), _) | (_, Err(e)) => {
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
    let ok = !list.iter().any(|c| c.status == Status::Fail);
    if args.json {
        crate::cli::render::json::print_json(&Report {
            user: &account,
            ok,
            checks: &list,
        })?;
    } else {
        print!("{}", render(&list));
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
