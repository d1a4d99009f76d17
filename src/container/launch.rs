//! `userns run` with a record: `-d` (a monitor of its own, see `monitor`) or `--name` in
//! the foreground (userns itself is then the monitor: it records the start and the end).
//!
//! A foreground run without `--name` keeps no record: its writable layer ends with it
//! (the default `--rm`), there is nothing for `ps -a` to show afterwards but a line, and
//! `bench/run.sh` measures it against bubblewrap. With `--name` (so that `userns exec
//! NAME` finds it) it is recorded while it runs, and its end stays in `ps -a` until
//! `userns rm`, unless `--rm` was given, as podman does.
//!
//! Names: a container's name must not be the name of a kept namespace (`userns unshare
//! --name`, `containers` for the shared one) either, so that `userns stop NAME` means one
//! thing; see `cli::cmd::stop`.

use super::monitor;
use super::record::{self, ContainerRecord, ProcessRef, RestartPolicy, Status};
use super::store::Store;
use crate::error::{Error, Result};
use crate::run::{Lifecycle, RunSpec, Started};
use crate::users::Account;

/// What `userns run` adds for a recorded container.
#[derive(Debug, Clone, Default)]
pub struct LaunchSpec {
    pub name: Option<String>,
    /// `-d`: detached, with a monitor; prints the id.
    pub detach: bool,
    /// `--rm`: remove the record when the container ends.
    pub remove: bool,
    pub restart: RestartPolicy,
    /// The log's size limit in bytes (0: unlimited).
    pub log_size_max: u64,
}

/// How a recorded run ended for its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launched {
    /// Detached and started: the container's id.
    Detached(String),
    /// A foreground run ended with this exit code.
    Exited(u8),
}

/// Whether this run needs a record (the others go straight to `run::run`).
pub fn wants_record(launch: &LaunchSpec) -> bool {
    launch.detach || launch.name.is_some()
}

/// Run a recorded container.
pub fn launch(spec: &RunSpec, launch: &LaunchSpec) -> Result<Launched> {
    if launch.detach && (spec.tty || spec.interactive) {
        return Err(Error::usage("-d cannot be combined with -t or -i")
            .because("userns has no attach: a detached container's stdin is /dev/null and its output goes to its log")
            .fix("drop -t and -i, and read the output with `userns logs NAME`"));
    }
    if !launch.detach && launch.restart != RestartPolicy::No {
        return Err(Error::usage("--restart needs -d")
            .because("the monitor that restarts a container is the one of a detached container"));
    }
    if let Some(name) = &launch.name {
        record::check_name(name)?;
        refuse_kept_namespace_name(name)?;
    }
    let account = Account::current();
    // Before the record: a bad option or source fails the run without leaving one.
    crate::run::check(spec)?;
    let store = Store::open(&account, true)?;
    let rec = store.create(new_record(spec, launch, &account)?)?;
    if launch.detach {
        match monitor::spawn(&store, &rec.id, spec, launch) {
            Ok(()) => Ok(Launched::Detached(rec.id)),
            Err(e) => Err(e),
        }
    } else {
        foreground(&store, rec, spec, launch).map(Launched::Exited)
    }
}

fn new_record(spec: &RunSpec, launch: &LaunchSpec, account: &Account) -> Result<ContainerRecord> {
    Ok(ContainerRecord {
        id: record::new_id()?,
        name: launch.name.clone().unwrap_or_default(),
        created: record::now(),
        source: spec.source.display().to_string(),
        // For ps: the words as text (the program itself gets the bytes).
        command: spec
            .command
            .iter()
            .map(|w| w.to_string_lossy().into_owned())
            .collect(),
        status: Status::Created,
        exit_code: None,
        started_at: None,
        finished_at: None,
        // The creator, until the monitor puts itself here: a creator killed before its
        // monitor starts leaves a record that `refresh` turns to "gone".
        monitor: ProcessRef::of(std::process::id() as i32).ok(),
        pid1: None,
        boot_id: record::boot_id(),
        restart: launch.restart,
        restart_count: 0,
        remove_on_exit: launch.remove,
        detached: launch.detach,
        stop_signal: libc::SIGTERM,
        stop_requested: false,
        error: None,
        exec: None,
        owner_uid: account.uid,
    })
}

/// A container's name may not be a kept namespace's: `userns stop NAME` would then have
/// two meanings.
fn refuse_kept_namespace_name(name: &str) -> Result<()> {
    let taken = name == crate::run::namespaces::SHARED_NAME
        || crate::keep::record::registry_dir(false)
            .ok()
            .and_then(|dir| crate::keep::record::read(&dir, name).ok().flatten())
            .is_some();
    if taken {
        return Err(Error::usage(format!(
            "the name {name:?} is a kept namespace's (see `userns ls`)"
        ))
        .because("`userns stop NAME` ends kept namespaces too, and must mean one thing")
        .fix("choose another container name"));
    }
    Ok(())
}

/// `run --name` in the foreground: userns records the start and the end itself.
fn foreground(
    store: &Store,
    rec: ContainerRecord,
    spec: &RunSpec,
    launch: &LaunchSpec,
) -> Result<u8> {
    let id = rec.id.clone();
    let mut started = |s: Started| -> Result<()> {
        let pid1 = ProcessRef::of(s.pid1).ok();
        store.update(&id, |r| {
            r.status = Status::Running;
            r.pid1 = pid1;
            r.started_at = Some(record::now());
            r.command = s.command.clone();
            r.exec = Some(monitor::exec_config(&s));
            r.stop_signal = s.stop_signal;
            true
        })?;
        Ok(())
    };
    let mut life = Lifecycle {
        id: rec.id.clone(),
        output: None,
        started: &mut started,
    };
    let outcome = crate::run::run_with(spec, Some(&mut life));
    let code = match &outcome {
        Ok(code) => *code,
        Err(e) => crate::exit::for_error(e, crate::exit::Convention::Program),
    };
    if launch.remove {
        store.remove(&rec.id)?;
    } else {
        store.update(&rec.id, |r| {
            r.status = Status::Exited;
            r.exit_code = Some(code);
            r.finished_at = Some(record::now());
            r.pid1 = None;
            r.error = outcome.as_ref().err().map(|e| e.to_string());
            true
        })?;
    }
    outcome
}
