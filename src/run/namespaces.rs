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

use crate::error::{Error, Result};
use crate::image::idcheck::MapTarget;
use crate::keep::{self, record, KeptUse};
use crate::subid::SubIdPaths;
use crate::unshare::{setup, MapRequest, NsSpec};
use crate::users::Account;
use nix::sched::CloneFlags;

/// The name under which userns keeps the containers' user namespace.
pub(crate) const SHARED_NAME: &str = "containers";

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

impl Default for UsernsMode {
    /// `shared`: the kept namespace `containers`.
    fn default() -> UsernsMode {
        UsernsMode::Shared(SHARED_NAME.to_string())
    }
}

impl UsernsMode {
    /// Parse `--userns MODE` (the command line's value parser: a bad MODE is a usage error).
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

/// The maps an image must fit to run: those of `request` when given (`--map-users`,
/// `--map-groups`, as `userns unshare` takes them), else those a container of `mode`
/// gets: a live kept namespace's own (`shared`, unless it is to be made afresh for a
/// stale map), else the plan userns makes a new namespace with (all the user's
/// subordinate ids after their own id).
pub fn map_target(
    mode: &UsernsMode,
    request: Option<&MapRequest>,
    account: &Account,
) -> Result<MapTarget> {
    let paths = SubIdPaths::default();
    if let Some(request) = request {
        let (uid, gid, _) = crate::unshare::plan_maps(request, account, &paths)?;
        return Ok(MapTarget {
            uid,
            gid,
            origin: "the map given (--map-users, --map-groups)".into(),
            explicit: true,
        });
    }
    if let UsernsMode::Shared(name) = mode {
        if let Some((uid, gid)) = keep::container_maps(name, account)? {
            return Ok(MapTarget {
                uid,
                gid,
                origin: format!("the map of the kept namespace {name}"),
                explicit: false,
            });
        }
    }
    let (uid, gid, _) = crate::unshare::plan_maps(&MapRequest::default(), account, &paths)?;
    Ok(MapTarget {
        uid,
        gid,
        origin: "your map (all your subordinate ids)".into(),
        explicit: false,
    })
}

/// Enter the container's user namespace as `mode` says. The container's other
/// namespaces come after the image is ready ([`enter_rest`]): its unpack starts threads,
/// which the kernel refuses to a process once it unshared a pid namespace.
pub fn enter_user(mode: &UsernsMode, account: &Account) -> Result<()> {
    let name = match mode {
        UsernsMode::Private => {
            // The user namespace alone: `NsSpec::default()` asks for no other.
            crate::unshare::enter(&NsSpec::default(), account)?;
            return Ok(());
        }
        UsernsMode::Shared(name) => name,
    };
    // Joined or made under NAME's lock, so that containers started together end in one
    // user namespace, mapped with all the user's subordinate ids as `userns unshare` maps.
    // Only `containers` is made on first use, as podman makes its pause process; another
    // NAME must be kept already: like podman's `--userns ns:PATH` or `container:ID`, which
    // join a namespace that exists, a misspelt NAME must not start a new namespace that
    // shares nothing with the one meant.
    let create = name == SHARED_NAME;
    keep::join_or_create(name, &NsSpec::default(), account, KeptUse::Container, create)
        .map_err(|e| {
            if create {
                e
            } else {
                e.fix(format!(
                    "make it first (userns unshare --name {name} true), or use --userns shared                      (the kept namespace {SHARED_NAME}, made on first use) or --userns private"
                ))
            }
        })?;
    Ok(())
}

/// In the container's user namespace ([`enter_user`]): new pid, UTS, IPC, cgroup and
/// (with `own_net`) network namespaces, named `hostname`, loopback up.
pub fn enter_rest(mode: &UsernsMode, hostname: &str, own_net: bool) -> Result<()> {
    let mut flags = CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWCGROUP;
    if own_net {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    nix::sched::unshare(flags).map_err(|e| {
        let (within, fix) = match mode {
            UsernsMode::Shared(name) => (
                format!("the kept user namespace {name}"),
                format!("check `userns enter {name} id` shows uid 0; or use --userns private"),
            ),
            UsernsMode::Private => (
                "its user namespace".to_string(),
                "check `userns unshare id` shows uid 0".to_string(),
            ),
        };
        Error::failure(format!(
            "cannot create the container's namespaces in {within}"
        ))
        .because(e)
        .fix(fix)
    })?;
    setup::set_hostname(hostname)?;
    if own_net {
        setup::loopback_up()?;
    }
    Ok(())
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
