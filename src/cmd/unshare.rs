//! `userns unshare`: run a command in a new user namespace mapped with all your
//! subordinate ids (what `podman unshare` does, without podman).

use crate::cli::UnshareArgs;
use crate::error::Result;
use crate::idmap::IdMapEntry;
use crate::subid::SubIdPaths;
use crate::unshare::{self, env, exec, setup, supervise, MapRequest, Program};
use crate::users::Account;
use nix::sched::CloneFlags;

/// The namespaces asked for besides the user namespace.
pub fn extra_flags(args: &UnshareArgs) -> CloneFlags {
    let mut flags = CloneFlags::empty();
    let mut set = |on: bool, f: CloneFlags| {
        if on {
            flags |= f;
        }
    };
    set(args.mount || args.mount_proc, CloneFlags::CLONE_NEWNS);
    set(args.pid || args.mount_proc, CloneFlags::CLONE_NEWPID);
    set(args.net, CloneFlags::CLONE_NEWNET);
    set(
        args.uts || args.hostname.is_some(),
        CloneFlags::CLONE_NEWUTS,
    );
    set(args.ipc, CloneFlags::CLONE_NEWIPC);
    set(args.cgroup, CloneFlags::CLONE_NEWCGROUP);
    flags
}

/// The map request of the command line.
pub fn map_request(args: &UnshareArgs) -> Result<MapRequest> {
    let parse = |specs: &[String], option: &str| -> Result<Vec<IdMapEntry>> {
        specs
            .iter()
            .filter(|s| s.as_str() != "auto")
            .map(|s| unshare::mapping::parse_map_spec(s, option))
            .collect()
    };
    Ok(MapRequest {
        explicit_uid: parse(&args.map_users, "--map-users")?,
        explicit_gid: parse(&args.map_groups, "--map-groups")?,
        own_uid_inside: args.map_user,
        own_gid_inside: args.map_group,
        single: args.single,
    })
}

/// Create the namespaces, map them, and set up what the extra namespaces need, leaving
/// this process inside, mapped. Shared by `unshare`, `clean` and the keeper of `--name`.
pub fn enter(args: &UnshareArgs, account: &Account) -> Result<unshare::Mapping> {
    let mapping = unshare::plan_mapping(&map_request(args)?, account, &SubIdPaths::default())?;
    for left in &mapping.left_out {
        crate::warn(left);
    }
    let flags = extra_flags(args);
    unshare::enter_new_userns(&mapping, flags)?;
    if flags.contains(CloneFlags::CLONE_NEWNS) {
        setup::make_mounts_private()?;
    }
    if let Some(name) = &args.hostname {
        setup::set_hostname(name)?;
    }
    if args.net {
        setup::loopback_up()?;
    }
    Ok(mapping)
}

pub fn run(args: UnshareArgs) -> Result<u8> {
    if let Some(name) = &args.name {
        return crate::keep::unshare_named(name, &args, &Account::current());
    }
    crate::cli::check_command_words(&args.command)?;
    let account = Account::current();
    let program = Program::new(&args.command, args.wd.as_deref())?;
    let container_env = env::container_env(&account);
    enter(&args, &account)?;
    env::apply(&container_env);
    run_program(&program, &args)
}

/// Run the program in the namespace this process is in: exec'd in place, or under the
/// pid-1 reaper when a pid namespace was asked for (then with a fresh /proc if asked).
pub fn run_program(program: &Program, args: &UnshareArgs) -> Result<u8> {
    if args.pid || args.mount_proc {
        let mount_proc = args.mount_proc;
        supervise::run_as_init(program, move || {
            if mount_proc {
                setup::mount_proc()?;
            }
            Ok(())
        })
    } else {
        Err(exec::exec(program))
    }
}
