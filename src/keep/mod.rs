//! Kept namespaces: `userns unshare --name NAME` makes a namespace that outlives its
//! command, held by a pause process and recorded in a registry; later calls, `userns
//! enter NAME` and `userns stop NAME` find it there.
//!
//! A record is trusted only while its pause process is the one recorded: same pid, same
//! start time (field 22 of /proc/PID/stat) and same user-namespace inode. Anything else
//! is a stale record, replaced by the next `unshare --name` and hidden from `ls`.

pub(crate) mod join;
pub(crate) mod options;
pub(crate) mod pause;
pub mod process;
pub mod record;

use crate::error::{Error, Result};
use crate::ids::IdKind;
use crate::subid::SubIdPaths;
use crate::unshare::{env, NsSpec, Program};
use crate::users::Account;
pub use join::{Joinable, Joined};
use record::{FileIdentity, KeptRecord, KeptRequest, NameLock};
use std::path::Path;

/// Whether a record's pause process is still the one recorded.
pub enum Liveness {
    Alive(Joinable),
    /// Why the record is stale: "pid 123 has exited", "pid 123 was reused".
    Stale(String),
}

/// Check a record against /proc: the pidfd is opened before the start time and the
/// namespace inode are compared, so the Joinable names the recorded process.
pub fn liveness(rec: &KeptRecord) -> Liveness {
    let shown = format!("kept namespace {} (pid {})", rec.name, rec.pid);
    let now = match process::stat_of(rec.pid) {
        Ok(stat) => stat,
        Err(_) => return Liveness::Stale(format!("its pause process {} has exited", rec.pid)),
    };
    if now.start_time != rec.start_time {
        return Liveness::Stale(format!("pid {} now belongs to another process", rec.pid));
    }
    if now.zombie {
        return Liveness::Stale(format!("its pause process {} has exited", rec.pid));
    }
    let joinable = match Joinable::open(rec.pid, Some(rec.start_time), shown) {
        Ok(j) => j,
        Err(e) => return Liveness::Stale(e.to_string()),
    };
    match process::ns_inode(rec.pid, "user") {
        Ok(ino) if ino == rec.userns_inode => Liveness::Alive(joinable),
        Ok(ino) => Liveness::Stale(format!(
            "pid {} is in user namespace {ino}, not {}",
            rec.pid, rec.userns_inode
        )),
        Err(e) => Liveness::Stale(e.to_string()),
    }
}

/// Whether the subid ranges (the files, or NSS's) changed since the namespace was made
/// so that its live map is no longer what a fresh plan gives, with the fix (`userns stop`).
pub fn stale_map(rec: &KeptRecord, account: &Account) -> Option<String> {
    map_change(rec, account).map(|change| stale_warning(&rec.name, &change))
}

/// The warning for NAME, whose map `map_change` found stale, with the fix.
pub(crate) fn stale_warning(name: &str, change: &str) -> String {
    format!(
        "kept namespace {name} has stale maps: {change}; run `userns stop {name}` and create it again"
    )
}

/// What changed, when NAME's live map is no longer what a fresh plan gives: which file,
/// and the map it has against the map it would get now. The cheap identity comparison
/// comes first; only a changed file costs a fresh plan and a read of the live map.
pub fn map_change(rec: &KeptRecord, account: &Account) -> Option<String> {
    let paths = SubIdPaths::default();
    let changed = changed_subid_sources(rec, &paths);
    if changed.is_empty() {
        return None;
    }
    let request = rec.request.map_request().ok()?;
    let (live_uid, live_gid) = crate::idmap::proc::read_maps(rec.pid).ok()?;
    let changed = changed.join(" and ");
    match crate::unshare::plan_mapping(&request, account, &paths) {
        Ok(fresh) => {
            let differences: Vec<String> = [
                ("uid_map", &live_uid, &fresh.uid),
                ("gid_map", &live_gid, &fresh.gid),
            ]
            .into_iter()
            .filter(|(_, live, fresh)| live != fresh)
            .map(|(which, live, fresh)| {
                format!(
                    "its {which} is {} but they now give {}",
                    live.to_short(),
                    fresh.to_short()
                )
            })
            .collect();
            (!differences.is_empty())
                .then(|| format!("{changed} changed: {}", differences.join("; ")))
        }
        Err(e) => Some(format!(
            "{changed} changed: its maps can no longer be planned: {}",
            e.what
        )),
    }
}

/// What may have changed the ranges since NAME was made: the subid files written since
/// (usually none: one stat each), or, when nsswitch.conf names a `subid:` module, the
/// ranges that module serves. newuidmap asks the module, not the files, and nothing
/// cheap tells whether its answer moved, so the fresh plan is compared every time.
fn changed_subid_sources(rec: &KeptRecord, paths: &SubIdPaths) -> Vec<String> {
    use crate::subid::nss;
    if let Some(module) = nss::configured(Path::new(nss::NSSWITCH)) {
        return vec![format!(
            "the ranges served by NSS ({} names `subid: {module}`)",
            nss::NSSWITCH
        )];
    }
    changed_subid_files(rec, paths)
}

/// The subid files written since NAME was made (usually none: one stat each).
fn changed_subid_files(rec: &KeptRecord, paths: &SubIdPaths) -> Vec<String> {
    [(IdKind::Uid, &rec.subuid), (IdKind::Gid, &rec.subgid)]
        .into_iter()
        .filter(|(kind, then)| !then.still_matches(paths.path(*kind)))
        .map(|(kind, _)| paths.path(kind).display().to_string())
        .collect()
}

/// Whether /etc/subuid or /etc/subgid was written since NAME was made, or NSS serves the
/// ranges (see `changed_subid_sources`): the cheap test before `stale_map`, for callers
/// that would otherwise look the user up for nothing.
pub fn subid_files_changed(rec: &KeptRecord) -> bool {
    !changed_subid_sources(rec, &SubIdPaths::default()).is_empty()
}

/// What `join_or_create` serves. Its two callers differ in what they join of a live
/// NAME and in how they treat one that went stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeptUse {
    /// `userns unshare --name`: the user's own namespaces. Every namespace NAME holds is
    /// joined; a stale map is the user's to fix (warned of), a dead record is replaced
    /// with a word.
    Unshare,
    /// A container's user namespace (`userns run`, `--userns shared`): only the user
    /// namespace is joined; one whose map went stale is replaced when that loses nothing
    /// (`replaceable`), and a dead record quietly.
    Container,
}

/// Where `join_or_create` left this process.
pub(crate) enum Entered {
    /// In the namespaces of a live NAME, credentials settled; the program is still to run.
    Joined(Joined),
    /// In namespaces just made from the spec, kept under NAME.
    Created,
}

/// Join NAME if its pause process is alive, else (when `create`) make the namespaces of
/// `spec`, keep them under NAME (pause process and record) and stay in them; without
/// `create`, a NAME that is not alive is an error. Under NAME's lock, so that two racing
/// callers end in one namespace, and a live NAME is not stopped while being joined.
pub(crate) fn join_or_create(
    name: &str,
    spec: &NsSpec,
    account: &Account,
    usage: KeptUse,
    create: bool,
) -> Result<Entered> {
    let dir = record::registry_dir(true)?;
    let lock = NameLock::acquire(&dir, name)?;
    if !create {
        // An unknown or dead NAME gets the answer `enter NAME` gives. A NAME the user made
        // is the user's to replace: joined, a stale map only warned of.
        let (rec, joinable) = find_kept(&dir, name)?;
        if let Some(change) = map_change(&rec, account) {
            crate::warn(stale_warning(name, &change));
        }
        let flags = joinable.differing(&joined_kinds(&rec, usage))?;
        let joined = joinable.enter(flags, Some(rec.start_time))?;
        lock.unlock();
        return Ok(Entered::Joined(joined));
    }
    if let Some(rec) = record::read(&dir, name)? {
        match liveness(&rec) {
            Liveness::Alive(joinable) => {
                if usage == KeptUse::Unshare {
                    options::check_rejoin(&rec, spec)?;
                }
                if let Some(joined) = join_live(&dir, &rec, &joinable, account, usage)? {
                    lock.unlock();
                    return Ok(Entered::Joined(joined));
                }
            }
            Liveness::Stale(why) => {
                if usage == KeptUse::Unshare {
                    crate::warn(format!("replacing the stale record of {name}: {why}"));
                }
                record::remove(&dir, name)?;
            }
        }
    }
    let mapping = crate::unshare::enter(spec, account)?;
    keep_here(&dir, name, spec, &mapping, account)?;
    lock.unlock();
    Ok(Entered::Created)
}

/// Join a live NAME as `usage` says; or, when its map went stale and it may be replaced,
/// stop it and return None. The caller holds NAME's lock.
fn join_live(
    dir: &Path,
    rec: &KeptRecord,
    joinable: &Joinable,
    account: &Account,
    usage: KeptUse,
) -> Result<Option<Joined>> {
    match map_change(rec, account) {
        Some(change) if usage == KeptUse::Container && replaceable(rec) => {
            crate::warn(format!(
                "kept namespace {} has stale maps: {change}; replacing it \
                 (containers still running in the old one keep it)",
                rec.name
            ));
            stop_locked(dir, rec)?;
            return Ok(None);
        }
        Some(change) => crate::warn(stale_warning(&rec.name, &change)),
        None => {}
    }
    let flags = joinable.differing(&joined_kinds(rec, usage))?;
    joinable.enter(flags, Some(rec.start_time)).map(Some)
}

/// The maps a container that joins NAME gets (`run --userns shared:NAME`): those of the
/// live namespace, unless `join_live` would replace it for a stale map (or it is not
/// alive), when None: the container then gets a namespace made afresh.
pub(crate) fn container_maps(
    name: &str,
    account: &Account,
) -> Result<Option<(crate::idmap::IdMap, crate::idmap::IdMap)>> {
    let dir = record::registry_dir(false)?;
    let Some(rec) = record::read(&dir, name)? else {
        return Ok(None);
    };
    let Liveness::Alive(_) = liveness(&rec) else {
        return Ok(None);
    };
    if replaceable(&rec) && map_change(&rec, account).is_some() {
        return Ok(None);
    }
    crate::idmap::proc::read_maps(rec.pid).map(Some)
}

/// What `usage` joins of NAME: every namespace it holds, or a container's user namespace.
fn joined_kinds(rec: &KeptRecord, usage: KeptUse) -> Vec<&str> {
    match usage {
        KeptUse::Unshare => rec.namespaces.iter().map(String::as_str).collect(),
        KeptUse::Container => vec!["user"],
    }
}

/// Whether a kept namespace whose map is stale may be replaced: only one that holds
/// nothing but the user namespace and its mount namespace (as podman's pause process),
/// mapped as userns maps by default, since ending it loses nothing (running containers
/// hold the old one). A namespace made by `userns unshare --name` with other namespaces
/// or maps is the user's to stop; it is joined, with the warning of `stale_warning`.
fn replaceable(rec: &KeptRecord) -> bool {
    rec.namespaces.iter().all(|k| k == "user" || k == "mnt")
        && rec.request == KeptRequest::default()
}

/// `userns unshare --name NAME`: join NAME if it is alive, else create it as `spec` says,
/// and run the program there.
pub fn unshare_named(
    name: &str,
    spec: &NsSpec,
    program: &Program,
    account: &Account,
) -> Result<u8> {
    record::check_name(name)?;
    let container_env = env::container_env(account);
    match join_or_create(name, spec, account, KeptUse::Unshare, true)? {
        Entered::Joined(joined) => joined.run(program, &container_env),
        Entered::Created => {
            env::apply(&container_env);
            crate::unshare::run_program(program, spec)
        }
    }
}

/// Keep the namespaces this process has just entered (made from `spec`, mapped as
/// `mapping`) under NAME: spawn their pause process and write the record. The caller
/// holds NAME's lock.
fn keep_here(
    dir: &Path,
    name: &str,
    spec: &NsSpec,
    mapping: &crate::unshare::Mapping,
    account: &Account,
) -> Result<()> {
    let flags = spec.extra_flags();
    let pid_ns = flags.contains(nix::sched::CloneFlags::CLONE_NEWPID);
    let pause = pause::spawn(pid_ns)?;
    let made = record_for(name, pause.as_raw(), spec, mapping, flags, account)
        .and_then(|rec| record::write(dir, &rec));
    if let Err(e) = made {
        let _ = nix::sys::signal::kill(pause, nix::sys::signal::Signal::SIGKILL);
        return Err(e);
    }
    Ok(())
}

fn record_for(
    name: &str,
    pid: i32,
    spec: &NsSpec,
    mapping: &crate::unshare::Mapping,
    flags: nix::sched::CloneFlags,
    account: &Account,
) -> Result<KeptRecord> {
    let paths = SubIdPaths::default();
    Ok(KeptRecord {
        name: name.to_string(),
        pid,
        start_time: process::start_time(pid)?,
        userns_inode: process::ns_inode(pid, "user")?,
        namespaces: process::kinds_of(flags | nix::sched::CloneFlags::CLONE_NEWUSER),
        uid_map: mapping.uid.to_lines(),
        gid_map: mapping.gid.to_lines(),
        request: KeptRequest::of(&spec.map),
        subuid: FileIdentity::of(paths.path(IdKind::Uid)),
        subgid: FileIdentity::of(paths.path(IdKind::Gid)),
        created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        owner_uid: account.uid,
        options: record::KeptOptions::of(spec),
    })
}

/// Find NAME's live record, or say which names are known.
pub fn find_kept(dir: &Path, name: &str) -> Result<(KeptRecord, Joinable)> {
    let unknown = || {
        let known = record::known_names(dir);
        Error::failure(format!("no kept namespace named {name:?}"))
            .because(if known.is_empty() {
                "none is kept".to_string()
            } else {
                format!("known: {}", known.join(", "))
            })
            .fix(format!("create it with `userns unshare --name {name}`"))
    };
    let rec = record::read(dir, name)?.ok_or_else(unknown)?;
    match liveness(&rec) {
        Liveness::Alive(j) => Ok((rec, j)),
        Liveness::Stale(why) => Err(Error::failure(format!("kept namespace {name} is gone"))
            .because(why)
            .fix(format!(
            "run `userns unshare --name {name}` to create it again (the stale record is replaced)"
        ))),
    }
}

/// End NAME's pause process (SIGTERM, then SIGKILL after ~2 s) and remove its record.
/// A stale record is just removed. Returns what happened, for the report.
pub fn stop(dir: &Path, rec: &KeptRecord) -> Result<String> {
    let _lock = NameLock::acquire(dir, &rec.name)?;
    stop_locked(dir, rec)
}

/// `stop`, for a caller that already holds NAME's lock (a second flock of the same file
/// from another descriptor would wait for ever).
pub(crate) fn stop_locked(dir: &Path, rec: &KeptRecord) -> Result<String> {
    let outcome = match liveness(rec) {
        Liveness::Stale(why) => format!("removed the stale record of {} ({why})", rec.name),
        Liveness::Alive(j) => end_pause(rec, &j)?,
    };
    record::remove(dir, &rec.name)?;
    Ok(outcome)
}

/// SIGTERM to a kept namespace's pause process, SIGKILL if it is still there after ~2 s.
fn end_pause(rec: &KeptRecord, j: &Joinable) -> Result<String> {
    use process::Ended;
    Ok(match process::terminate(j.pid, j.pidfd(), 2000, 2000)? {
        Ended::Already => format!("{} had already exited", rec.name),
        Ended::Terminated => format!("stopped {} (pid {})", rec.name, j.pid),
        Ended::Killed => format!(
            "killed {} (pid {}) after SIGTERM was ignored",
            rec.name, j.pid
        ),
        Ended::Survived => {
            return Err(Error::failure(format!(
                "pause process {} of {} did not exit after SIGKILL",
                j.pid, rec.name
            ))
            .fix("check it with ps; a process stuck in the kernel (state D) exits later"))
        }
    })
}

/// A kept namespace to stop later, checked now: its pidfd, opened while its
/// /proc/PID/ns can still be read, signals it from wherever this process is by then (a
/// process in a child user namespace may signal the user's own processes, but may not
/// inspect their namespaces). None when the record is stale already.
pub struct PendingStop {
    rec: KeptRecord,
    joinable: Joinable,
}

impl PendingStop {
    pub fn check(rec: KeptRecord) -> Option<PendingStop> {
        match liveness(&rec) {
            Liveness::Alive(joinable) => Some(PendingStop { rec, joinable }),
            Liveness::Stale(_) => None,
        }
    }

    pub fn name(&self) -> &str {
        &self.rec.name
    }

    /// End the pause process and remove the record, under NAME's lock.
    pub fn stop(self, dir: &Path) -> Result<String> {
        let _lock = NameLock::acquire(dir, &self.rec.name)?;
        let outcome = end_pause(&self.rec, &self.joinable)?;
        record::remove(dir, &self.rec.name)?;
        Ok(outcome)
    }
}
