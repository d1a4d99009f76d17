//! `userns unshare`: run a command in a new user namespace mapped with all your
//! subordinate ids (what `podman unshare` does, without podman).

use crate::cli::args::UnshareArgs;
use userns::error::Result;
use userns::keep::record;
use userns::unshare::{self, MapRequest, Namespaces, NsSpec, Program};
use userns::users::Account;

pub fn run(args: UnshareArgs) -> Result<u8> {
    // A bad NAME is reported before a bad COMMAND, whichever the line has both of.
    if let Some(name) = &args.name {
        record::check_name(name)?;
    }
    let program = Program::new(&args.command, args.wd.as_deref())?;
    let spec = ns_spec(&args)?;
    let account = Account::current();
    match &args.name {
        Some(name) => userns::keep::unshare_named(name, &spec, &program, &account),
        None => unshare::enter::run(&spec, &program, &account),
    }
}

/// The namespaces and maps the options ask for.
fn ns_spec(args: &UnshareArgs) -> Result<NsSpec> {
    Ok(NsSpec {
        namespaces: Namespaces {
            mount: args.mount,
            pid: args.pid,
            net: args.net,
            uts: args.uts,
            ipc: args.ipc,
            cgroup: args.cgroup,
        },
        hostname: args.hostname.clone(),
        mount_proc: args.mount_proc,
        map: MapRequest::from_options(
            &args.map_users,
            &args.map_groups,
            args.map_user,
            args.map_group,
            args.single,
        )?,
    })
}
