//! The steps around the walk: which trees, checked as `clean` checks them, and what is
//! refreshed after the move (podman's pause process, stale kept namespaces).

use super::Translation;
use crate::clean::guard;
use crate::clean::target::{self, Resolved};
use crate::error::{Error, Result};
use crate::podman::PauseProcess;
use crate::storage::StoragePaths;
use crate::users::Account;
use std::path::{Path, PathBuf};

/// The default trees: podman's graphroot and userns's data dir, those that exist.
pub fn default_paths(account: &Account, as_root: bool) -> Vec<PathBuf> {
    let (graphroot, data) = if as_root {
        // Root's environment says nothing about the user's: their home's defaults.
        let home = account.home.clone().unwrap_or_default();
        (
            home.join(".local/share/containers/storage"),
            home.join(".local/share/userns"),
        )
    } else {
        let data = crate::image::cache::ImageCache::for_user(account)
            .root
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        (StoragePaths::discover(account).graphroot, data)
    };
    [graphroot, data]
        .into_iter()
        .filter(|p| !p.as_os_str().is_empty() && p.symlink_metadata().is_ok())
        .collect()
}

/// The kept namespaces of the user whose map the new subid files make stale.
pub fn stale_kept(account: &Account) -> Vec<crate::keep::PendingStop> {
    let Ok(dir) = crate::keep::record::registry_dir(false) else {
        return Vec::new();
    };
    crate::keep::record::list(&dir)
        .into_iter()
        .flatten()
        .filter(|rec| crate::keep::map_change(rec, account).is_some())
        .filter_map(crate::keep::PendingStop::check)
        .collect()
}

/// What a root run refreshes for the user, found before the move: their runtime dirs
/// and their podman pause process, proven theirs and held by a pidfd until it is stopped
/// (see `for_user`).
pub struct UserRefresh {
    runtimes: Vec<PathBuf>,
    pub pause: std::result::Result<Option<super::for_user::Proven>, String>,
}

impl UserRefresh {
    pub fn find(account: &Account) -> UserRefresh {
        let runtimes = super::for_user::runtime_dirs(account);
        let pause = match runtimes.first() {
            Some(dir) => super::for_user::podman_pause(dir, account.uid),
            None => Ok(None),
        };
        UserRefresh { runtimes, pause }
    }
}

/// After the move: podman's pause process holds the old map (podman system migrate
/// restarts it the same way), kept namespaces with the old map are stale. A root run
/// (`for_user`) stops the user's, each proven theirs first.
pub fn refresh(
    account: &Account,
    pause: Option<&PauseProcess>,
    stale_kept: Vec<crate::keep::PendingStop>,
    for_user: Option<UserRefresh>,
) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(found) = for_user {
        return refresh_for_user(account, found);
    }
    if let Some(p) = pause {
        match p.stop() {
            Ok(()) => notes.push(format!(
                "stopped podman's pause process {} (it held the old map; podman starts a new one, as after podman system migrate)",
                p.pid
            )),
            Err(e) => notes.push(format!("podman's pause process {} is still running: {e}", p.pid)),
        }
    }
    if let Ok(dir) = crate::keep::record::registry_dir(false) {
        for kept in stale_kept {
            let name = kept.name().to_string();
            match kept.stop(&dir) {
                Ok(what) => notes.push(format!(
                    "{what}: it had the old map (userns unshare --name {name} makes it again)"
                )),
                Err(e) => notes.push(format!("kept namespace {name}: {e}")),
            }
        }
    }
    notes
}

fn refresh_for_user(account: &Account, found: UserRefresh) -> Vec<String> {
    let user = account.display_name();
    let mut notes = Vec::new();
    if found.runtimes.is_empty() {
        notes.push(format!(
            "no runtime directory of {user} found ($XDG_RUNTIME_DIR of {user}'s, /run/user/{uid}, /tmp/storage-run-{uid}): if {user} has a podman pause process or kept namespaces, {user} should run `podman system migrate` and `userns stop` them (or run this again with XDG_RUNTIME_DIR set to {user}'s)",
            uid = account.uid
        ));
        return notes;
    }
    match found.pause {
        Ok(Some(p)) => match p.stop() {
            Ok(_) => notes.push(format!(
                "stopped podman's pause process {} of {user} (it held the old map; podman starts a new one, as after podman system migrate)",
                p.pid
            )),
            Err(e) => notes.push(format!(
                "podman's pause process {} of {user} is still running: {e}; {user} should run `podman system migrate`",
                p.pid
            )),
        },
        Ok(None) => {}
        Err(why) => notes.push(format!(
            "left the process named by {user}'s podman pause pid file alone: {why}"
        )),
    }
    for (name, proven) in super::for_user::stale_kept(account, &found.runtimes) {
        match proven.and_then(|p| p.stop().map(|_| p.pid)) {
            Ok(pid) => notes.push(format!(
                "stopped {user}'s kept namespace {name} (pid {pid}): it had the old map (`userns unshare --name {name}` makes it again)"
            )),
            Err(why) => notes.push(format!(
                "left {user}'s kept namespace {name} alone: {why}"
            )),
        }
    }
    notes
}

/// What `refresh` would stop, for a dry run: the same processes, found the same way
/// (a root run's proven theirs first), nothing signalled.
pub fn would_refresh(
    account: &Account,
    pause: Option<&PauseProcess>,
    stale_kept: &[crate::keep::PendingStop],
    for_user: Option<&UserRefresh>,
) -> Vec<String> {
    let user = account.display_name();
    let mut notes = Vec::new();
    if let Some(found) = for_user {
        match &found.pause {
            Ok(Some(p)) => notes.push(format!(
                "would stop podman's pause process {} of {user} (it holds the old map)",
                p.pid
            )),
            Ok(None) => {}
            Err(why) => notes.push(format!(
                "would leave the process named by {user}'s podman pause pid file alone: {why}"
            )),
        }
        for (name, proven) in super::for_user::stale_kept(account, &found.runtimes) {
            notes.push(match proven {
                Ok(p) => format!(
                    "would stop {user}'s kept namespace {name} (pid {}): it has the old map",
                    p.pid
                ),
                Err(why) => format!("would leave {user}'s kept namespace {name} alone: {why}"),
            });
        }
        return notes;
    }
    if let Some(p) = pause {
        notes.push(format!(
            "would stop podman's pause process {} (it holds the old map; podman starts a new one)",
            p.pid
        ));
    }
    for kept in stale_kept {
        notes.push(format!(
            "would stop kept namespace {}: it has the old map",
            kept.name()
        ));
    }
    notes
}

/// Each PATH resolved once to descriptors and checked, as `clean` does: not / nor the
/// home, owned by the user or an old or new subordinate id, no mount in use below.
pub fn resolve_all(
    trees: &[PathBuf],
    account: &Account,
    t: &Translation,
    as_root: bool,
) -> Result<Vec<Resolved>> {
    let homes = if as_root {
        account
            .home
            .iter()
            .filter_map(|h| std::fs::canonicalize(h).ok())
            .collect()
    } else {
        guard::protected_homes()
    };
    let mounts = guard::own_mounts()?;
    let owners = super::owner_map(t);
    let mut out: Vec<Resolved> = Vec::new();
    for path in trees {
        let r = target::resolve(path, false, account.uid)?;
        guard::check_path(&r.target, &homes, &owners)?;
        target::check_identity(&r, &homes)?;
        guard::check_mounts(&r.target, &mounts, false)?;
        if as_root {
            // Only the user's trees: below their home.
            let inside = homes.iter().any(|h| r.target.path.starts_with(h));
            if !inside {
                return Err(
                    Error::failure(format!("refusing to touch {}", path.display()))
                        .because(format!(
                            "a root run moves only trees in the home of {}",
                            account.display_name()
                        ))
                        .fix("give paths below the user's home directory"),
                );
            }
        }
        out.push(r);
    }
    let all: Vec<PathBuf> = out.iter().map(|r| r.target.path.clone()).collect();
    out.retain(|r| {
        !all.iter()
            .any(|o| *o != r.target.path && r.target.path.starts_with(o))
    });
    Ok(out)
}
