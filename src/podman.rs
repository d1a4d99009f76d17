//! podman's rootless pause process: it keeps podman's user and mount namespaces alive
//! between commands (podman `pkg/rootless/rootless_linux.c`, the pid in
//! `$XDG_RUNTIME_DIR/libpod/tmp/pause.pid`). `userns enter podman` joins it. A pause
//! process started before a clean keeps state about the old storage; `podman system reset` stops it, and so does
//! `userns clean` of the default storage. Containers still running are a reason to stop
//! instead: their overlay mounts live in the pause process's mount namespace, invisible
//! in ours.

use crate::clean::guard::{mounts_within, parse_mountinfo};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The pause process of `uid`, if its pid file names a live process of that user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseProcess {
    pub pid: i32,
    pub pid_file: PathBuf,
    /// Its start time (/proc/PID/stat field 22) when it was found: `stop` checks the pid
    /// still names that process. (Not its owner: `clean` stops it from inside a user
    /// namespace, where /proc shows the owner as mapped there.)
    pub started: u64,
}

/// Refuse when containers are mounted on `trees` in the mount namespace of podman's pause
/// process `pid` (found by [`PauseProcess::find`], or proven the user's by a root run).
pub fn check_no_containers(pid: i32, trees: &[&Path]) -> Result<()> {
    let path = PathBuf::from(format!("/proc/{pid}/mountinfo"));
    let Ok(text) = std::fs::read(&path) else {
        return Ok(());
    };
    let mounts = parse_mountinfo(&text);
    for tree in trees {
        if let Some(m) = mounts_within(&mounts, tree).first() {
            return Err(Error::failure(format!(
                "refusing to clean {}: a container is using it",
                tree.display()
            ))
            .because(format!(
                "{} is mounted at {} in podman's mount namespace (pause process {})",
                m.fs_type,
                m.mount_point.display(),
                pid
            ))
            .fix("stop the containers first: podman stop --all"));
        }
    }
    Ok(())
}

/// podman's runtime dir (`util.GetRuntimeDir`): $XDG_RUNTIME_DIR, else /run/user/UID.
fn runtime_dir(uid: u32) -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/run/user/{uid}")))
}

/// podman's pause pid file (`pkg/rootless`: GetRootlessPauseProcessPidPath), in a
/// runtime dir that must be trusted: a planted pid file would name the process that
/// `clean` stops or that `enter podman` joins.
pub(crate) fn pause_pid_file(uid: u32) -> Result<PathBuf> {
    let dir = runtime_dir(uid);
    crate::trusted_dir::check(&dir, crate::trusted_dir::Kind::Runtime)?;
    Ok(dir.join("libpod/tmp/pause.pid"))
}

impl PauseProcess {
    /// The pause process of `uid`, if there is one; an error when the runtime dir holding
    /// the pid file is not to be trusted.
    pub fn find(uid: u32) -> Result<Option<PauseProcess>> {
        let pid_file = pause_pid_file(uid)?;
        Ok(Self::from_pid_file(pid_file, uid).ok())
    }

    /// The pause process of `uid`: the pid in its pid file (podman `pkg/rootless`:
    /// GetRootlessPauseProcessPidPath), alive as a process of that user; or why there is
    /// none, with the fix.
    pub fn locate(uid: u32) -> Result<PauseProcess> {
        Self::from_pid_file(pause_pid_file(uid)?, uid)
    }

    fn from_pid_file(pid_file: PathBuf, uid: u32) -> Result<PauseProcess> {
        let not_running = |why: String| {
            Error::failure("podman's rootless pause process is not running")
                .because(why)
                .fix("run `podman unshare true` to start it (or `podman system migrate` after changing /etc/subuid)")
        };
        // podman 4.3 does not get past a pid file it left behind: with the pid gone or
        // reused it fails ("cannot re-exec process to join the existing user namespace",
        // "cannot set user namespace") instead of starting a new pause process, until the
        // file is removed.
        let stale = |why: String| {
            Error::failure("podman's rootless pause process is not running")
                .because(format!("{why}: the pid file is stale"))
                .fix(format!(
                    "remove it, then let podman start a new pause process: rm {} && podman unshare true",
                    pid_file.display()
                ))
        };
        let text = match std::fs::read_to_string(&pid_file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(not_running(format!(
                    "{} does not exist",
                    pid_file.display()
                )))
            }
            Err(e) => return Err(Error::io("read", &pid_file, &e)),
        };
        let pid: i32 = text.trim().parse().map_err(|_| {
            stale(format!(
                "{} says {:?}, not a pid",
                pid_file.display(),
                text.trim()
            ))
        })?;
        let shown = pid_file.display();
        match owner_of_live(pid) {
            None => Err(stale(format!("{shown} names pid {pid}, which has exited"))),
            Some(owner) if owner != uid => Err(stale(format!(
                "{shown} names pid {pid}, a process of uid {owner}, not yours"
            ))),
            // Never init: `clean` would stop it.
            Some(_) if pid == 1 => Err(stale(format!(
                "{shown} names pid 1, which is init, not a pause process"
            ))),
            Some(_) => match pause_process_name(pid) {
                Ok(()) => match crate::keep::process::start_time(pid) {
                    Ok(started) => Ok(PauseProcess {
                        pid,
                        pid_file,
                        started,
                    }),
                    Err(_) => Err(stale(format!("{shown} names pid {pid}, which has exited"))),
                },
                Err(what) => Err(stale(format!(
                    "{shown} names pid {pid}, which is {what}, not podman's pause process \
                     (the pid was reused after it ended)"
                ))),
            },
        }
    }

    /// SIGTERM, then SIGKILL if it is still there after a second. The process is held by
    /// a pidfd before it is checked again (still the owner's, still podman's pause
    /// process), and signalled and awaited through it: between `find` and `stop` the
    /// pause process may have ended and its pid been given to another process, which
    /// must never be hit (pidfd_open(2), pidfd_send_signal(2)).
    pub fn stop(&self) -> Result<()> {
        use crate::keep::process::{pidfd_open, terminate, Ended};
        let cannot = |why: String| {
            Error::failure(format!(
                "cannot stop podman's pause process {} ({})",
                self.pid,
                self.pid_file.display()
            ))
            .because(why)
        };
        let pidfd = match pidfd_open(self.pid) {
            Ok(fd) => fd,
            Err(_) if crate::keep::process::stat_of(self.pid).is_err() => return Ok(()),
            Err(e) => return Err(e),
        };
        match crate::keep::process::stat_of(self.pid) {
            // Ended after the pidfd was opened: nothing to stop.
            Err(_) => return Ok(()),
            Ok(stat) if stat.zombie => return Ok(()),
            Ok(stat) if stat.start_time != self.started => {
                return Err(cannot(format!(
                    "pid {} is now another process, started at {} and not {} (the pause process ended and its pid was reused)",
                    self.pid, stat.start_time, self.started
                )))
            }
            Ok(_) => pause_process_name(self.pid).map_err(|what| {
                cannot(format!(
                    "pid {} is now {what}, not podman's pause process",
                    self.pid
                ))
            })?,
        }
        let fix = "stop it yourself (podman system migrate), then try again";
        match terminate(self.pid, pidfd.as_ref(), 1000, 2000).map_err(|e| e.fix(fix))? {
            Ended::Survived => Err(Error::failure(format!(
                "podman's pause process {} did not stop",
                self.pid
            ))
            .fix("kill it yourself, then try again")),
            _ => Ok(()),
        }
    }
}

/// Whether `pid` is podman's pause process, as podman itself tells (rootless_linux.c:
/// `do_pause` execs `catatonit -P`, else names itself "podman pause"; podman 5 also marks
/// its environment with _PODMAN_PAUSE=1). Err: what the process is instead, for the message.
pub(crate) fn pause_process_name(pid: i32) -> std::result::Result<(), String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let comm = comm.trim_end_matches('\n');
    if comm == "catatonit" || comm == "podman pause" {
        return Ok(());
    }
    let marked = std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == b"_PODMAN_PAUSE=1"));
    if marked {
        return Ok(());
    }
    Err(format!("{comm:?}"))
}

/// The real uid of `pid`, when it is running (not a zombie).
fn owner_of_live(pid: i32) -> Option<u32> {
    if pid <= 0 {
        return None;
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
            .map(str::to_string)
    };
    let zombie = field("State:").is_some_and(|s| s.starts_with('Z') || s.starts_with('X'));
    let real_uid = field("Uid:").and_then(|u| u.split_whitespace().next()?.parse::<u32>().ok());
    real_uid.filter(|_| !zombie)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process named as podman's pause process is (a copy of sleep named catatonit),
    /// its pid in `pid_file`.
    fn fake_pause(dir: &Path, pid_file: &Path) -> std::process::Child {
        let catatonit = dir.join("catatonit");
        std::fs::copy("/bin/sleep", &catatonit).unwrap();
        let pause = std::process::Command::new(&catatonit)
            .arg("30")
            .spawn()
            .unwrap();
        std::fs::write(pid_file, format!("{}\n", pause.id())).unwrap();
        pause
    }

    #[test]
    fn a_pid_file_is_trusted_only_for_a_live_process_of_the_user() {
        let dir = std::env::temp_dir().join(format!("userns-pause-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pause.pid");
        let me = nix::unistd::getuid().as_raw();
        let why = |text: &str, uid: u32| {
            std::fs::write(&file, text).unwrap();
            let e = PauseProcess::from_pid_file(file.clone(), uid).unwrap_err();
            format!("{e}")
        };
        let missing = PauseProcess::from_pid_file(dir.join("none"), me).unwrap_err();
        assert!(missing.to_string().contains("does not exist"), "{missing}");
        assert!(why("x1\n", me).contains("not a pid"));
        assert!(why("1\n", me + 1).contains("not yours"));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id().to_string();
        child.wait().unwrap();
        assert!(why(&gone, me).contains("which has exited"));
        // A live process of the user, but not a pause process: a stale file.
        std::fs::write(&file, format!("{}\n", std::process::id())).unwrap();
        let stale = PauseProcess::from_pid_file(file.clone(), me).unwrap_err();
        assert!(
            stale.to_string().contains("not podman's pause process"),
            "{stale}"
        );
        assert!(stale.fix.unwrap().contains("&& podman unshare true"));
        let mut pause = fake_pause(&dir, &file);
        let found = PauseProcess::from_pid_file(file.clone(), me);
        pause.kill().unwrap();
        pause.wait().unwrap();
        assert_eq!(found.unwrap().pid, pause.id() as i32);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stop_hits_only_the_pause_process_it_was_found_as() {
        let dir = std::env::temp_dir().join(format!("userns-pause-stop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pause.pid");
        let me = nix::unistd::getuid().as_raw();
        let mut pause = fake_pause(&dir, &file);
        let found = PauseProcess::from_pid_file(file.clone(), me).unwrap();
        // The pause process is found, then its pid names another process (as after it
        // ended and the pid was reused): stop refuses and the other process lives on.
        // (Start times count clock ticks: the other starts a tick later at least.)
        std::thread::sleep(std::time::Duration::from_millis(30));
        let mut other = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let reused = PauseProcess {
            pid: other.id() as i32,
            ..found.clone()
        };
        // (A pid is reused only by a process started later.)
        assert_ne!(
            crate::keep::process::start_time(reused.pid).unwrap(),
            found.started
        );
        let refused = reused.stop().unwrap_err();
        assert!(refused.to_string().contains("pid was reused"), "{refused}");
        assert!(
            other.try_wait().unwrap().is_none(),
            "the other process was hit"
        );
        other.kill().unwrap();
        other.wait().unwrap();
        // The real one is stopped (SIGTERM ends sleep).
        found.stop().unwrap();
        let status = pause.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
