//! `userns map`: a process's uid_map and gid_map with who owns each host range, or
//! (`--plan`) the maps `userns unshare` would ask for and the helper command lines.

use crate::cli::args::MapArgs;
use serde::Serialize;
use std::os::unix::fs::MetadataExt;
use userns::error::Result;
use userns::exit;
use userns::idmap::owners::{attribute, describe_owners, own_id_accounts, RangeOwner};
use userns::idmap::plan::{plan_for_user, MapPlan};
use userns::idmap::proc::{map_state, MapState, ProcMap, ProcRoot, ProcTarget, SetGroups};
use userns::idmap::{IdMap, LeftOut};
use userns::ids::{IdKind, OVERFLOW_ID};
use userns::subid::{Skipped, SubIdFile, SubIdPaths, UserSubIds};
use userns::unshare::nested::{self, Enclosing};
use userns::users::Account;

pub fn run(args: MapArgs) -> Result<u8> {
    let paths = SubIdPaths::new(args.files.subuid.clone(), args.files.subgid.clone());
    if args.plan {
        return plan(&args, &paths);
    }
    let root = args
        .proc_root
        .clone()
        .map(ProcRoot::new)
        .unwrap_or_default();
    let target = args.pid.map(ProcTarget::Pid).unwrap_or(ProcTarget::Current);
    let report = read_report(&root, target, &paths)?;
    for view in &report.maps {
        for s in &view.skipped {
            userns::warn(format!(
                "{}:{}: skipped {:?}: {}",
                view.path, s.line, s.text, s.reason
            ));
        }
    }
    if args.json {
        crate::cli::render::json::print_json(&report)?;
    } else {
        crate::cli::render::out::print(render_report(&report))?;
    }
    // A map shown without some of its lines is a problem found (exit 1), not a success.
    let incomplete = report.maps.iter().any(|v| !v.skipped.is_empty());
    Ok(if incomplete { exit::PROBLEMS } else { exit::OK })
}

/// Everything `userns map PID` shows.
#[derive(Debug, Clone, Serialize)]
pub struct MapReport {
    /// The pid, when known (a fixture tree's "self" has none).
    pub pid: Option<i32>,
    pub owner_uid: u32,
    pub owner_name: Option<String>,
    pub userns_inode: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userns_inode_error: Option<String>,
    pub setgroups: Option<SetGroups>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setgroups_error: Option<String>,
    /// uid_map, then gid_map.
    pub maps: Vec<MapView>,
}

/// One map file with the owners of each line.
#[derive(Debug, Clone, Serialize)]
pub struct MapView {
    pub kind: IdKind,
    pub path: String,
    pub state: MapState,
    pub entries: Vec<LineView>,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LineView {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
    pub owners: Vec<RangeOwner>,
    /// The OWNER column, in words.
    pub owner: String,
}

/// Attribute every line of a map (pure: the subid file and accounts are given).
pub fn map_view(
    path: String,
    map: &IdMap,
    skipped: &[Skipped],
    subids: &SubIdFile,
    accounts: &[Account],
) -> MapView {
    MapView {
        kind: map.kind,
        path,
        state: map_state(map),
        entries: map
            .entries
            .iter()
            .map(|e| {
                let owners = attribute(map.kind, e, subids, accounts);
                LineView {
                    inside: e.inside,
                    outside: e.outside,
                    count: e.count,
                    owner: describe_owners(map.kind, &owners),
                    owners,
                }
            })
            .collect(),
        skipped: skipped.to_vec(),
    }
}

fn read_report(root: &ProcRoot, target: ProcTarget, paths: &SubIdPaths) -> Result<MapReport> {
    let (uid_map, gid_map) = root.read_proc_maps(target)?;
    let owner_uid = root.owner_uid_of(target)?;
    let known = Account::by_uid(owner_uid);
    let known_user = known.is_some();
    let owner = known.unwrap_or_else(|| Account {
        name: None,
        uid: owner_uid,
        // Without a passwd entry the primary gid is unknown; the group of /proc/PID
        // (the process's effective gid) is the best stand-in.
        gid: std::fs::metadata(root.dir(target))
            .map(|m| m.gid())
            .unwrap_or(owner_uid),
        home: None,
    });
    let (inode, inode_error) = split(root.userns_inode_of(target));
    // Attribution without a subid file is still worth showing; say why it is missing.
    let files: Vec<SubIdFile> = IdKind::BOTH
        .iter()
        .map(|&kind| {
            SubIdFile::read(paths.path(kind)).unwrap_or_else(|e| {
                userns::warn(format!("owners of {} ranges unknown: {e}", kind.name()));
                SubIdFile::default()
            })
        })
        .collect();
    let mut accounts = own_id_accounts(owner.clone(), known_user, &files[0], |name| {
        Account::resolve(name).ok()
    });
    accounts.push(Account::current());
    // A process in our own namespace shows outside ids of the parent namespace
    // (user_namespaces(7)), while its owner and we are known by inside ids: see the
    // owners as the parent does, so that `0 2000 1` read inside reads "own uid of ivy".
    let ours = root.userns_inode_of(ProcTarget::Current).ok();
    if inode.is_some() && inode == ours {
        accounts = accounts_outside(&accounts, &uid_map.parsed.map, &gid_map.parsed.map, |uid| {
            Account::by_uid(uid).and_then(|a| a.name)
        });
    }
    let (setgroups, setgroups_error) = split(root.setgroups_of(target));
    let mut maps = Vec::new();
    for (pm, subids) in [&uid_map, &gid_map].into_iter().zip(&files) {
        maps.push(proc_map_view(pm, subids, &accounts));
    }
    let pid = match target {
        ProcTarget::Pid(pid) => Some(pid),
        ProcTarget::Current if root.base() == ProcRoot::system().base() => {
            Some(std::process::id() as i32)
        }
        ProcTarget::Current => None,
    };
    Ok(MapReport {
        pid,
        owner_uid,
        owner_name: owner.name,
        userns_inode: inode,
        userns_inode_error: inode_error,
        setgroups,
        setgroups_error,
        maps,
    })
}

/// `accounts` with their uid and gid translated to the parent namespace through the maps,
/// and named by `name_of` there; an account whose uid is unmapped is dropped, an
/// unmapped gid becomes 4294967295, which no map line contains.
pub fn accounts_outside(
    accounts: &[Account],
    uid_map: &IdMap,
    gid_map: &IdMap,
    name_of: impl Fn(u32) -> Option<String>,
) -> Vec<Account> {
    accounts
        .iter()
        .filter_map(|a| {
            let uid = uid_map.to_host(a.uid)?;
            Some(Account {
                name: name_of(uid),
                uid,
                gid: gid_map.to_host(a.gid).unwrap_or(u32::MAX),
                home: a.home.clone(),
            })
        })
        .collect()
}

fn proc_map_view(pm: &ProcMap, subids: &SubIdFile, accounts: &[Account]) -> MapView {
    map_view(
        pm.path.display().to_string(),
        &pm.parsed.map,
        &pm.parsed.skipped,
        subids,
        accounts,
    )
}

/// A value, or the reason it is missing: a field that cannot be read (the namespace
/// inode of another user's process needs ptrace access) must not hide the maps.
fn split<T>(r: Result<T>) -> (Option<T>, Option<String>) {
    match r {
        Ok(v) => (Some(v), None),
        Err(e) => (None, Some(e.to_string().replace("\n  fix: ", "; fix: "))),
    }
}

/// The table output of `userns map PID` (pure).
pub fn render_report(r: &MapReport) -> String {
    let mut out = String::new();
    let who = match &r.owner_name {
        Some(name) => format!("{name} (uid {})", r.owner_uid),
        None => format!("uid {}", r.owner_uid),
    };
    match r.pid {
        Some(pid) => out.push_str(&format!("process {pid}, owned by {who}\n")),
        None => out.push_str(&format!("this process, owned by {who}\n")),
    }
    match (r.userns_inode, &r.userns_inode_error) {
        (Some(ino), _) => out.push_str(&format!("user namespace: {ino}\n")),
        (None, Some(e)) => out.push_str(&format!("user namespace: unknown ({e})\n")),
        (None, None) => {}
    }
    match (r.setgroups, &r.setgroups_error) {
        (Some(s), _) => out.push_str(&format!("setgroups: {s}\n")),
        (None, Some(e)) => out.push_str(&format!("setgroups: unknown ({e})\n")),
        (None, None) => {}
    }
    out.push('\n');
    let mut rows = Vec::new();
    for view in &r.maps {
        if view.state == MapState::Unmapped {
            rows.push(vec![
                view.kind.name().to_string(),
                "-".into(),
                "-".into(),
                "-".into(),
                format!(
                    "unmapped: nothing written to {} yet; every {} reads as {OVERFLOW_ID}",
                    view.kind.map_file(),
                    view.kind.name()
                ),
            ]);
        }
        for line in &view.entries {
            rows.push(vec![
                view.kind.name().to_string(),
                line.inside.to_string(),
                line.outside.to_string(),
                line.count.to_string(),
                line.owner.clone(),
            ]);
        }
    }
    out.push_str(&crate::cli::render::table::render(
        &["KIND", "INSIDE", "OUTSIDE", "COUNT", "OWNER"],
        &rows,
    ));
    out
}

/// The plan of one kind, for output.
#[derive(Debug, Clone, Serialize)]
pub struct PlanView {
    pub kind: IdKind,
    pub entries: Vec<LineView>,
    pub left_out: Vec<LeftOut>,
    pub needs_helper: bool,
    /// What `userns unshare` runs (with the new process's pid for PID), or writes itself.
    pub command: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub user: Option<String>,
    pub uid: u32,
    pub gid: u32,
    pub plans: Vec<PlanView>,
    /// Set when userns runs as root inside a user namespace: then the plan maps every id
    /// of that namespace, not subordinate ids (see `unshare::nested`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nested: Option<String>,
}

/// The helper command line for a plan, or the direct write root makes of an identity map.
pub fn plan_command(plan: &MapPlan) -> String {
    let kind = plan.map.kind;
    if plan.map.is_identity() {
        format!(
            "as root, userns writes /proc/PID/{} itself: {}",
            kind.map_file(),
            plan.map.to_proc_text().trim_end()
        )
    } else if plan.needs_helper {
        format!(
            "{} PID {}",
            kind.helper_name(),
            plan.map.to_helper_args().join(" ")
        )
    } else {
        format!(
            "userns writes /proc/PID/{} itself: {}",
            kind.map_file(),
            plan.map.to_proc_text().trim_end()
        )
    }
}

/// A plan with each line's owner (pure).
pub fn plan_view(plan: &MapPlan, subids: &SubIdFile, account: &Account) -> PlanView {
    let view = map_view(
        String::new(),
        &plan.map,
        &[],
        subids,
        std::slice::from_ref(account),
    );
    PlanView {
        kind: plan.map.kind,
        entries: view.entries,
        left_out: plan.left_out.clone(),
        needs_helper: plan.needs_helper,
        command: plan_command(plan),
    }
}

fn plan(args: &MapArgs, paths: &SubIdPaths) -> Result<u8> {
    let account = match &args.user {
        Some(spec) => Account::resolve(spec)?,
        None => Account::current(),
    };
    let name = account.display_name();
    if let Some(report) = nested_plan(&account)? {
        return print_plan(args, &report);
    }
    let mut plans = Vec::new();
    for kind in IdKind::BOTH {
        let (subids, file) = match UserSubIds::nss_answer(paths, kind, &account) {
            // Ranges served by NSS have no file: attribute the map to libsubid's answer.
            Some(subids) => {
                let file = subids.to_file();
                (subids, file)
            }
            // One read of the file serves the user's lines and the owners of every range.
            None => {
                let file = SubIdFile::read(paths.path(kind))?;
                (UserSubIds::from_file(kind, &file, &account), file)
            }
        };
        let plan = plan_for_user(kind, account.own_id(kind), 0, &subids, &name)?;
        for left in &plan.left_out {
            userns::warn(left);
        }
        plans.push(plan_view(&plan, &file, &account));
    }
    let report = PlanReport {
        user: account.name.clone(),
        uid: account.uid,
        gid: account.gid,
        plans,
        nested: None,
    };
    print_plan(args, &report)
}

fn print_plan(args: &MapArgs, report: &PlanReport) -> Result<u8> {
    if args.json {
        crate::cli::render::json::print_json(report)?;
    } else {
        crate::cli::render::out::print(render_plan(report))?;
    }
    Ok(exit::OK)
}

/// The plan of root inside a user namespace, for the caller itself: every id of the
/// enclosing namespace, written by userns without helpers. None in the initial namespace,
/// or for another user (whose namespaces would be made with the helpers).
fn nested_plan(account: &Account) -> Result<Option<PlanReport>> {
    let me = nix::unistd::geteuid().as_raw();
    if me != 0 || account.uid != me {
        return Ok(None);
    }
    let Some(enclosing) = Enclosing::here()? else {
        return Ok(None);
    };
    let plans = IdKind::BOTH
        .into_iter()
        .map(|kind| {
            let own = match kind {
                IdKind::Uid => me,
                IdKind::Gid => nix::unistd::getegid().as_raw(),
            };
            let plan = nested::plan(enclosing.map(kind), own, 0);
            let entries = plan
                .map
                .entries
                .iter()
                .map(|e| LineView {
                    inside: e.inside,
                    outside: e.outside,
                    count: e.count,
                    owners: vec![],
                    owner: "enclosing namespace".into(),
                })
                .collect();
            PlanView {
                kind,
                entries,
                left_out: vec![],
                needs_helper: false,
                command: format!(
                    "as root here, userns writes /proc/PID/{} itself: {}",
                    kind.map_file(),
                    plan.map.to_proc_text().trim_end().replace('\n', "; ")
                ),
            }
        })
        .collect();
    Ok(Some(PlanReport {
        user: account.name.clone(),
        uid: account.uid,
        gid: account.gid,
        plans,
        nested: Some(format!(
            "nested: {}; userns maps all {} uids and {} gids of it, not subordinate ids",
            enclosing.describe(),
            enclosing.count(IdKind::Uid),
            enclosing.count(IdKind::Gid)
        )),
    }))
}

/// The table output of `userns map --plan` (pure).
pub fn render_plan(r: &PlanReport) -> String {
    let who = match &r.user {
        Some(n) => n.clone(),
        None => r.uid.to_string(),
    };
    let mut out = format!(
        "maps userns unshare would ask for {who} (uid {}, gid {}):\n\n",
        r.uid, r.gid
    );
    if let Some(nested) = &r.nested {
        out.push_str(nested);
        out.push_str("\n\n");
    }
    let rows: Vec<Vec<String>> = r
        .plans
        .iter()
        .flat_map(|p| {
            p.entries.iter().map(|l| {
                vec![
                    p.kind.name().to_string(),
                    l.inside.to_string(),
                    l.outside.to_string(),
                    l.count.to_string(),
                    l.owner.clone(),
                ]
            })
        })
        .collect();
    out.push_str(&crate::cli::render::table::render(
        &["KIND", "INSIDE", "OUTSIDE", "COUNT", "OWNER"],
        &rows,
    ));
    out.push('\n');
    for p in &r.plans {
        out.push_str(&p.command);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests;
