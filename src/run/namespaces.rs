//! The container's namespaces, and `--userns MODE`: which user namespace it runs in.
//!
//! Making a user namespace for a rootless user costs two setuid helper runs (newuidmap,
//! newgidmap), each about as dear as a whole bubblewrap sandbox. podman pays that once per
//! user: its pause process (`pkg/rootless/rootless_linux.c`) keeps one user namespace
//! alive, and every container joins it. userns does the same with the namespaces it keeps
//! for `userns unshare --name` (crate::keep): the containers' user namespace is the kept
//! namespace `containers`, so `userns ls`, `userns enter containers` (like `podman
//! unshare`) and `userns stop containers` work on it as on any other.
//!
//! The other namespaces are the container's own, unshared after the user namespace is
//! joined: setns(2) into a user namespace grants every capability in it, and these
//! namespaces are then owned by it (user_namespaces(7)).

use crate::cli::UnshareArgs;
use crate::error::{Error, Result};
use crate::keep::record::{self, KeptRecord, KeptRequest, NameLock};
use crate::keep::{self, Joinable, Liveness};
use crate::unshare::setup;
use crate::users::Account;
use nix::sched::CloneFlags;

/// The name under which userns keeps the containers' user namespace.
pub const SHARED_NAME: &str = "containers";

/// The forms of `--userns`, for messages.
const FORMS: &str = "shared (the default), shared:NAME or private";

/// Where a container's user namespace comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsernsMode {
    /// Join the kept user namespace NAME, creating it when it is not alive.
    Shared(String),
    /// A new user namespace for this container alone.
    Private,
}

impl UsernsMode {
    /// Parse `--userns MODE` (clap's value parser: a bad MODE is a usage error).
    pub fn parse(text: &str) -> std::result::Result<UsernsMode, String> {
        match text {
            "shared" => Ok(UsernsMode::Shared(SHARED_NAME.to_string())),
            "private" => Ok(UsernsMode::Private),
            _ => match text.strip_prefix("shared:") {
                Some(name) => record::check_name(name)
                    .map(|()| UsernsMode::Shared(name.to_string()))
                    .map_err(|e| e.to_string()),
                None => Err(format!("MODE is {FORMS}")),
            },
        }
    }
}

/// Enter the container's namespaces: its user namespace as `mode` says, then new pid,
/// UTS, IPC, cgroup and (with `own_net`) network namespaces, named `hostname`, loopback up.
pub fn enter(mode: &UsernsMode, account: &Account, hostname: &str, own_net: bool) -> Result<()> {
    let name = match mode {
        UsernsMode::Private => {
            let namespaces = UnshareArgs {
                pid: true,
                uts: true,
                hostname: Some(hostname.to_string()),
                ipc: true,
                cgroup: true,
                net: own_net,
                ..UnshareArgs::default()
            };
            crate::cmd::unshare::enter(&namespaces, account)?;
            return Ok(());
        }
        UsernsMode::Shared(name) => name,
    };
    join_or_keep(name, account)?;
    let mut flags = CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWCGROUP;
    if own_net {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    nix::sched::unshare(flags).map_err(|e| {
        Error::failure(format!(
            "cannot create the container's namespaces in the kept user namespace {name}"
        ))
        .because(e)
        .fix(format!(
            "check `userns enter {name} id` shows uid 0; or use --userns private"
        ))
    })?;
    setup::set_hostname(hostname)?;
    if own_net {
        setup::loopback_up()?;
    }
    Ok(())
}

/// Join NAME's user namespace, or make it (mapped with all the user's subordinate ids, as
/// `userns unshare` maps) and keep it. Under NAME's lock, so that containers started
/// together end in one namespace.
fn join_or_keep(name: &str, account: &Account) -> Result<()> {
    let dir = record::registry_dir(true)?;
    let lock = NameLock::acquire(&dir, name)?;
    if let Some(rec) = record::read(&dir, name)? {
        match keep::liveness(&rec) {
            Liveness::Alive(joinable) => match keep::map_change(&rec, account) {
                Some(change) if replaceable(&rec) => {
                    crate::warn(format!(
                        "kept namespace {name} has stale maps: {change}; replacing it \
                         (containers still running in the old one keep it)"
                    ));
                    keep::stop_locked(&dir, &rec)?;
                }
                stale => {
                    if let Some(change) = stale {
                        crate::warn(keep::stale_warning(name, &change));
                    }
                    join_user(&rec, &joinable)?;
                    lock.unlock();
                    return Ok(());
                }
            },
            // Its pause process is gone (or its pid reused): nothing to join, make anew.
            Liveness::Stale(_) => record::remove(&dir, name)?,
        }
    }
    let args = UnshareArgs::default();
    let mapping = crate::cmd::unshare::enter(&args, account)?;
    keep::keep_here(&dir, name, &args, &mapping, account)?;
    lock.unlock();
    Ok(())
}

/// Whether a kept namespace whose map is stale may be replaced: only one that holds
/// nothing but the user namespace, mapped as userns maps by default, since ending it
/// loses nothing (running containers hold the old one). A namespace made by `userns
/// unshare --name` with other namespaces or maps is the user's to stop; it is joined,
/// with the warning of `keep::stale_warning`.
fn replaceable(rec: &KeptRecord) -> bool {
    rec.namespaces == ["user"] && rec.request == KeptRequest::default()
}

/// setns into the kept user namespace only (pidfd-checked against the record's start
/// time, as `userns enter` does), then settle the credentials there.
fn join_user(rec: &KeptRecord, joinable: &Joinable) -> Result<()> {
    let flags = joinable.differing(&["user"])?;
    joinable.join(flags, Some(rec.start_time))?;
    keep::join::settle_credentials()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_a_bad_one_names_the_forms() {
        assert_eq!(
            UsernsMode::parse("shared"),
            Ok(UsernsMode::Shared("containers".into()))
        );
        assert_eq!(
            UsernsMode::parse("shared:dev"),
            Ok(UsernsMode::Shared("dev".into()))
        );
        assert_eq!(UsernsMode::parse("private"), Ok(UsernsMode::Private));
        let bad = UsernsMode::parse("host").unwrap_err();
        for form in ["shared", "shared:NAME", "private"] {
            assert!(bad.contains(form), "{bad}");
        }
        let bad = UsernsMode::parse("shared:../x").unwrap_err();
        assert!(
            bad.contains("invalid namespace name") && bad.contains("fix:"),
            "{bad}"
        );
        assert!(UsernsMode::parse("shared:").is_err());
    }
}
