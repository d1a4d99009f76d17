//! Ending and awaiting containers: `stop`, `kill`, `rm`, `wait`. Every signal goes through
//! a pidfd opened on the recorded pid and then checked against the recorded start time,
//! so that a pid reused by another process is never signalled.
//!
//! The user may signal pid 1 whatever its uid inside: a container's root is the user's
//! own uid outside, and for the others the user owns their user namespace, so holds
//! CAP_KILL over it (kill(2)'s permission rule, which pidfd_send_signal(2) shares).

use super::record::{ContainerRecord, ProcessRef, Status};
use super::store::Store;
use crate::error::{Error, Result};
use std::os::fd::OwnedFd;
use std::time::Duration;

/// A pidfd on `process`, if it is still the one recorded.
fn pidfd_of(process: &ProcessRef) -> Option<OwnedFd> {
    let fd = crate::sys::pidfd::open(process.pid).ok()?;
    // Opened first, checked second: a process that ended and whose pid was reused in
    // between fails the check, and the descriptor names the process checked from then on.
    process.alive().then_some(fd)
}

/// Signal pid 1 of a running container. Ok(false) when it is not running.
pub fn signal(rec: &ContainerRecord, signal: i32) -> Result<bool> {
    let Some(fd) = rec
        .pid1
        .as_ref()
        .filter(|_| rec.is_running())
        .and_then(pidfd_of)
    else {
        return Ok(false);
    };
    match crate::sys::pidfd::send_signal(&fd, signal) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
        Err(e) => Err(Error::failure(format!(
            "cannot send signal {signal} to container {} (pid {})",
            rec.name,
            rec.pid1.map_or(0, |p| p.pid)
        ))
        .because(e)),
    }
}

/// Say that the end is asked for, so that the monitor does not restart it.
fn ask_for_end(store: &Store, rec: &ContainerRecord) -> Result<()> {
    store.update(&rec.id, |r| {
        r.stop_requested = true;
        true
    })?;
    Ok(())
}

/// `kill -s SIGNAL`: the signal to pid 1, and no restart after.
pub fn kill(store: &Store, rec: &ContainerRecord, sig: i32) -> Result<()> {
    if !rec.is_running() {
        return Err(not_running(rec));
    }
    ask_for_end(store, rec)?;
    if !signal(rec, sig)? {
        return Err(not_running(rec));
    }
    Ok(())
}

fn not_running(rec: &ContainerRecord) -> Error {
    Error::failure(format!(
        "container {} ({}) is not running",
        rec.name,
        rec.short_id()
    ))
    .because(format!("its status is {}", rec.status.as_str()))
}

/// `stop -t SECONDS`: the stop signal, then SIGKILL after `timeout`; then wait until
/// the monitor has recorded the end. A container that is not running is left as it is,
/// but a monitor waiting to restart it is told not to.
pub fn stop(store: &Store, rec: &ContainerRecord, timeout: Duration) -> Result<ContainerRecord> {
    // A monitor alive after pid 1 ended is waiting to restart it (--restart): tell it not to.
    let restarting = rec.monitor.is_some_and(|m| m.alive());
    if rec.is_running() || restarting {
        ask_for_end(store, rec)?;
        let pid1 = rec.pid1.as_ref().and_then(pidfd_of);
        if let Some(fd) = &pid1 {
            let _ = crate::sys::pidfd::send_signal(fd, rec.stop_signal);
            if !crate::sys::pidfd::wait_exit(fd, timeout) {
                let _ = crate::sys::pidfd::send_signal(fd, libc::SIGKILL);
                crate::sys::pidfd::wait_exit(fd, Duration::from_secs(10));
            }
        }
        await_monitor(rec, Duration::from_secs(10));
    }
    let now = store.read(&rec.id)?.unwrap_or_else(|| rec.clone());
    Ok(store.refresh(now))
}

/// Wait (at most `timeout`) for the container's monitor to end, that is to have recorded
/// the end (and, with --rm, removed the record).
fn await_monitor(rec: &ContainerRecord, timeout: Duration) -> bool {
    match rec.monitor.as_ref().and_then(pidfd_of) {
        Some(fd) => crate::sys::pidfd::wait_exit(&fd, timeout),
        None => true,
    }
}

/// `rm [-f]`: remove a container that has ended (with `force`, end it first: SIGKILL to
/// its monitor, which takes the supervisor and pid 1 with it, and to pid 1), its record,
/// logs, and the run directory a killed supervisor left.
pub fn remove(store: &Store, rec: &ContainerRecord, force: bool) -> Result<()> {
    let rec = store.refresh(rec.clone());
    if rec.is_running() {
        if !force {
            return Err(Error::failure(format!(
                "container {} ({}) is running",
                rec.name,
                rec.short_id()
            ))
            .fix(format!(
                "stop it first (userns stop {}), or use rm -f",
                rec.name
            )));
        }
        ask_for_end(store, &rec)?;
        let monitor = rec.monitor.as_ref().and_then(pidfd_of);
        let pid1 = rec.pid1.as_ref().and_then(pidfd_of);
        // A detached container's monitor goes first (it would restart it). A foreground
        // one's monitor is the user's own `userns run`: only pid 1 is killed, and that
        // run ends as after any kill (137, its terminal restored).
        let targets = if rec.detached {
            [&monitor, &pid1]
        } else {
            [&None, &pid1]
        };
        for fd in targets.into_iter().flatten() {
            let _ = crate::sys::pidfd::send_signal(fd, libc::SIGKILL);
        }
        for fd in [&monitor, &pid1].into_iter().flatten() {
            crate::sys::pidfd::wait_exit(fd, Duration::from_secs(10));
        }
    }
    remove_run_dir(&rec);
    store.remove(&rec.id)
}

/// The run directory (`run::dirs`) of a supervisor that was killed before its clean-up:
/// only the user's files (the /etc files, empty mount points), removable as they are.
fn remove_run_dir(rec: &ContainerRecord) {
    let account = crate::users::Account::current();
    if let Ok(root) = crate::run::dirs::containers_root(&account) {
        let dir = root.join(rec.short_id());
        if dir.exists() {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                crate::warn(Error::io("remove the container's run directory", &dir, &e));
            }
        }
    }
}

/// `wait`: block until the container has ended for good (its monitor is done, restarts
/// included); its exit code. Err when the end was not recorded (the monitor was killed).
pub fn wait(store: &Store, rec: &ContainerRecord) -> Result<u8> {
    let mut rec = store.refresh(rec.clone());
    while !rec.ended_for_good() {
        if !await_monitor(&rec, Duration::from_secs(3600)) {
            continue;
        }
        // The monitor has ended; what it recorded, or what refresh finds.
        rec = match store.read(&rec.id)? {
            Some(now) => store.refresh(now),
            // Removed at its end (--rm): the exit code went with it.
            None => {
                return Err(Error::failure(format!(
                    "container {} was removed at its end (--rm)",
                    rec.name
                )))
            }
        };
        if !rec.ended_for_good() {
            // A monitor that ended without its record saying so: refresh says gone
            // unless pid 1 outlived it; poll that.
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    match (rec.status, rec.exit_code) {
        (Status::Exited, Some(code)) => Ok(code),
        _ => Err(Error::failure(format!(
            "the exit status of container {} is unknown",
            rec.name
        ))
        .because(
            rec.error
                .unwrap_or_else(|| "its monitor did not record it".to_string()),
        )),
    }
}

/// A signal as `kill -s` and podman take it: a number, or a name with or without SIG.
pub fn parse_signal(text: &str) -> Result<i32> {
    crate::run::lifecycle::signal_number(text).ok_or_else(|| {
        Error::usage(format!("unknown signal {text:?}"))
            .fix("give a number (9) or a name (KILL, SIGTERM, HUP)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_as_numbers_and_names() {
        assert_eq!(parse_signal("9").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("TERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("sigusr1").unwrap(), libc::SIGUSR1);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
    }
}
