//! Enter the new namespaces an `NsSpec` describes and run a program there: the work of
//! `userns unshare`, and the first half of what `unshare --name`, `run`, `clean` and
//! `chown` do.

use super::spec::NsSpec;
use super::{env, exec, setup, supervise, Mapping, Program};
use crate::error::Result;
use crate::subid::SubIdPaths;
use crate::users::Account;

/// Create the namespaces, map them, and set up what the extra namespaces need, leaving
/// this process inside, mapped.
pub fn enter(spec: &NsSpec, account: &Account) -> Result<Mapping> {
    let mapping = super::plan_mapping(&spec.map, account, &SubIdPaths::default())?;
    tell_plan(&spec.map, &mapping, account);
    let flags = spec.extra_flags();
    super::enter_new_userns(&mapping, flags)?;
    if spec.private_mounts() {
        setup::make_mounts_private()?;
    }
    if let Some(name) = &spec.hostname {
        setup::set_hostname(name)?;
    }
    if spec.namespaces.net {
        setup::loopback_up()?;
    }
    Ok(mapping)
}

/// What entering a namespace does with its plan before making it (and a namespace made
/// ahead, `super::ahead`, when it is joined): the default plan noted for `migrate`, and
/// a warning for each range the plan left out.
pub(crate) fn tell_plan(req: &super::MapRequest, mapping: &Mapping, account: &Account) {
    // Root has no rootless storage to migrate (`migrate --as` reads the user's record).
    if *req == super::MapRequest::default() && !nix::unistd::geteuid().is_root() {
        // The default plan, remembered for `migrate` (a read of one small file; written
        // only when the plan changed). A failure here (no home, a read-only one) must
        // neither stop the namespace nor add a warning to every run.
        let maps = crate::idmap::record::Maps {
            uid: mapping.uid.clone(),
            gid: mapping.gid.clone(),
        };
        let _ = crate::idmap::record::note_plan(account, &maps);
    }
    for left in &mapping.left_out {
        crate::warn(left);
    }
}

/// `userns unshare` without a name: new namespaces, then the program in them.
pub fn run(spec: &NsSpec, program: &Program, account: &Account) -> Result<u8> {
    let container_env = env::container_env(account);
    enter(spec, account)?;
    env::apply(&container_env);
    run_program(program, spec)
}

/// Run the program in the namespace this process is in: exec'd in place, or under the
/// pid-1 reaper when a pid namespace was asked for (then with a fresh /proc if asked).
pub fn run_program(program: &Program, spec: &NsSpec) -> Result<u8> {
    if spec.new_pid_namespace() {
        let mount_proc = spec.mount_proc;
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
