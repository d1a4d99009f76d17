//! podman's rootless pause process: it keeps podman's user and mount namespaces alive
//! between commands (podman `pkg/rootless/rootless_linux.c`, the pid in
//! `$XDG_RUNTIME_DIR/libpod/tmp/pause.pid`). A pause process started before a clean
//! keeps state about the old storage; `podman system reset` stops it, and so does
//! `userns clean` of the default storage. Containers still running are a reason to stop
//! instead: their overlay mounts live in the pause process's mount namespace, invisible
//! in ours.

use crate::clean::guard::{mounts_within, parse_mountinfo};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The pause process of `uid`, if its pid file names a live process of that user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseProcess {
    pub pid: i32,
    pub pid_file: PathBuf,
}

/// podman's runtime dir (`util.GetRuntimeDir`): $XDG_RUNTIME_DIR, else /run/user/UID.
pub fn runtime_dir(uid: u32) -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/run/user/{uid}")))
}

impl PauseProcess {
    pub fn find(uid: u32) -> Option<PauseProcess> {
        let pid_file = runtime_dir(uid).join("libpod/tmp/pause.pid");
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        (pid > 1 && alive_as(pid, uid)).then_some(PauseProcess { pid, pid_file })
    }

    /// Refuse when containers are mounted on `trees` in the pause process's namespace.
    pub fn check_no_containers(&self, trees: &[&Path]) -> Result<()> {
        let path = PathBuf::from(format!("/proc/{}/mountinfo", self.pid));
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
                    self.pid
                ))
                .fix("stop the containers first: podman stop --all"));
            }
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL if it is still there after a second.
    pub fn stop(&self) -> Result<()> {
        use nix::sys::signal::{kill, Signal};
        let pid = nix::unistd::Pid::from_raw(self.pid);
        let send = |sig| {
            kill(pid, sig).or_else(|e| {
                if e == nix::errno::Errno::ESRCH {
                    Ok(())
                } else {
                    Err(Error::failure(format!(
                        "cannot stop podman's pause process {} ({})",
                        self.pid,
                        self.pid_file.display()
                    ))
                    .because(e)
                    .fix("stop it yourself (podman system migrate), then try again"))
                }
            })
        };
        send(Signal::SIGTERM)?;
        if wait_gone(self.pid, Duration::from_secs(1)) {
            return Ok(());
        }
        send(Signal::SIGKILL)?;
        if wait_gone(self.pid, Duration::from_secs(2)) {
            Ok(())
        } else {
            Err(
                Error::failure(format!("podman's pause process {} did not stop", self.pid))
                    .fix("kill it yourself, then try again"),
            )
        }
    }
}

/// Whether `pid` is running (not a zombie) with real uid `uid`.
fn alive_as(pid: i32, uid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
            .map(str::to_string)
    };
    let zombie = field("State:").is_some_and(|s| s.starts_with('Z') || s.starts_with('X'));
    let real_uid = field("Uid:").and_then(|u| u.split_whitespace().next()?.parse::<u32>().ok());
    !zombie && real_uid == Some(uid)
}

fn wait_gone(pid: i32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        // Gone, or a zombie waiting for its parent: either way it holds nothing.
        let gone = state.is_none_or(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
        });
        if gone {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}
