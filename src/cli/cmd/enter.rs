//! `userns enter TARGET [--mount] [--all] [-w DIR] [COMMAND...]`: run a command in the
//! namespaces of a kept NAME, a PID, or podman's rootless pause process.

use crate::cli::args::EnterArgs;
use nix::sched::CloneFlags;
use userns::error::{Error, Result};
use userns::keep::{self, process, record, Joinable};
use userns::podman::PauseProcess;
use userns::unshare::{env, Program};
use userns::users::Account;

/// What TARGET named.
enum Target {
    Kept(Box<record::KeptRecord>),
    Pid,
    Podman,
}

pub fn run(args: EnterArgs) -> Result<u8> {
    let program = Program::new(&args.command, args.wd.as_deref())?;
    // Only the ids and home matter for the environment; the passwd lookup is left for
    // when the subid files changed and a fresh plan is needed.
    let container_env =
        env::container_env(&Account::current_ids_and_home().unwrap_or_else(Account::current));
    let (target, joinable) = resolve(&args.target)?;
    let start_time = match &target {
        Target::Kept(rec) => {
            if keep::subid_files_changed(rec) {
                if let Some(warning) = keep::stale_map(rec, &Account::current()) {
                    userns::warn(warning);
                }
            }
            Some(rec.start_time)
        }
        _ => None,
    };
    let flags = if args.all {
        joinable.all_differing()?
    } else {
        // `podman unshare` joins the pause process's user and mount namespaces
        // (rootless_linux.c: join_namespace_or_die "user", then "mnt"), and so does
        // `enter NAME` when NAME holds a mount namespace (every one `userns unshare`
        // makes does): the environment set below tells podman it is there.
        let mount = args.mount
            || match &target {
                Target::Podman => true,
                Target::Kept(rec) => rec.namespaces.iter().any(|k| k == "mnt"),
                Target::Pid => false,
            };
        // A kept namespace made with --mount-proc has a /proc of its pid namespace: in
        // its mount namespace but not its pid namespace, /proc/self would name nothing.
        let own_proc = matches!(&target, Target::Kept(rec) if rec.options.mount_proc);
        let kinds: &[&str] = match (mount, own_proc) {
            (true, true) => &["user", "mnt", "pid"],
            (true, false) => &["user", "mnt"],
            (false, _) => &["user"],
        };
        joinable.differing(kinds)?
    };
    if !flags.contains(CloneFlags::CLONE_NEWUSER) && !args.all {
        return Err(
            Error::failure(format!("{} is in your own user namespace", joinable.shown))
                .fix("there is nothing to enter; run the command directly"),
        );
    }
    joinable
        .enter(flags, start_time)?
        .run(&program, &container_env)
}

/// TARGET: `podman`, a PID (all digits), else a kept NAME.
fn resolve(target: &str) -> Result<(Target, Joinable)> {
    if target == "podman" {
        let pid = PauseProcess::locate(nix::unistd::getuid().as_raw())?.pid;
        let joinable = Joinable::open(pid, None, format!("podman's pause process (pid {pid})"))?;
        process::ns_inode(pid, "user")?;
        return Ok((Target::Podman, joinable));
    }
    if !target.is_empty() && target.bytes().all(|b| b.is_ascii_digit()) {
        // As `map PID` and `translate --pid` read a pid: 0 is no process.
        let pid = userns::idmap::proc::parse_pid(target)
            .map_err(|why| Error::usage(why).fix("give a pid from ps or userns ls"))?;
        let joinable = Joinable::open(pid, None, format!("process {pid}"))?;
        // Opening the namespace link checks ptrace access: another user's process fails
        // here with a message naming its owner, before any setns.
        process::ns_inode(pid, "user")?;
        return Ok((Target::Pid, joinable));
    }
    record::check_name(target)?;
    let dir = record::registry_dir(false)?;
    let (rec, joinable) = keep::find_kept(&dir, target)?;
    Ok((Target::Kept(Box::new(rec)), joinable))
}
