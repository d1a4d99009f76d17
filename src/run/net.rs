//! `--net pasta` and `--net slirp4netns`: user-mode networking for the container's network
//! namespace. The helper must run in the host's network namespace (its sockets are the
//! container's way out) and join ours only for the tap device, so, like the map writers,
//! it is forked before userns unshares, waits on a pipe, and is started with userns's pid
//! (whose namespaces are the container's).

use super::ports::PortMapping;
use super::spec::NetMode;
use crate::error::{Error, Result};
use crate::sys::{child, pidfd};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

/// How the helper says the network is up.
#[derive(Debug)]
enum Ready {
    /// slirp4netns writes to its --ready-fd.
    Fd(OwnedFd),
    /// pasta, in the foreground, writes its pid file once the namespace is configured
    /// (passt.c writes it where it would otherwise fork to the background).
    PidFile(PathBuf),
}

/// A pre-forked network helper, or nothing to do.
#[derive(Debug)]
pub(crate) struct Network {
    helper: Option<Helper>,
}

#[derive(Debug)]
struct Helper {
    name: &'static str,
    /// Where its stdout and stderr go.
    log: PathBuf,
    pid: Pid,
    go: OwnedFd,
    ready: Ready,
    /// slirp4netns ends when this (its --exit-fd) closes: when userns ends.
    exit_fd: Option<OwnedFd>,
}

/// Keeps the helper running while held; dropping it ends the helper.
#[derive(Debug)]
pub(crate) struct Running {
    _exit_fd: Option<OwnedFd>,
    /// pasta, userns's child, held by a pidfd so that a reused pid is never signalled.
    /// pasta attached to a PID does not notice that the namespace is gone (its own
    /// quit-on-netns-loss watches only a namespace given as a path), so it would run on,
    /// holding the container's network namespace and its published host ports, without
    /// this; and should userns be killed, pasta's parent-death signal ends it.
    daemon: Option<(Pid, OwnedFd)>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some((pid, pidfd)) = &self.daemon {
            let _ = pidfd::send_signal(pidfd, libc::SIGTERM);
            // Reaped, so that a monitor restarting the container collects no zombies;
            // pasta leaves at once on SIGTERM.
            if pidfd::wait_exit(pidfd, std::time::Duration::from_secs(2)) {
                let _ = waitpid(*pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
            }
        }
    }
}

/// A helper's end in words: "exit status 1", "signal SIGKILL".
fn describe_status(status: nix::Result<WaitStatus>) -> String {
    match status {
        Ok(WaitStatus::Exited(_, code)) => format!("exit status {code}"),
        Ok(WaitStatus::Signaled(_, sig, _)) => format!("signal {sig}"),
        Ok(other) => format!("{other:?}"),
        Err(e) => format!("cannot wait for it: {e}"),
    }
}

/// How long pasta may take to configure the namespace.
const PASTA_READY: std::time::Duration = std::time::Duration::from_secs(30);

/// Whether pasta has written its pid file.
fn pid_file_written(pid_file: &std::path::Path) -> bool {
    std::fs::read_to_string(pid_file).is_ok_and(|t| t.trim().parse::<i32>().is_ok_and(|p| p > 0))
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn cstrings(words: &[String]) -> Result<Vec<CString>> {
    words
        .iter()
        .map(|w| CString::new(w.as_str()).map_err(|_| Error::failure("an argument holds a NUL")))
        .collect()
}

fn cloexec_pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::failure("cannot create a pipe").because(e))
}

/// How a helper is started: its command line, how it says the network is up, and the
/// descriptors it is given (the child's ends) or that tie it to us.
struct Launch {
    words: Vec<String>,
    ready: Ready,
    exit_fd: Option<OwnedFd>,
    /// Passed to the helper as 3, 4, ...
    child_fds: Vec<OwnedFd>,
}

impl Launch {
    /// slirp4netns says it is up on a pipe (3) and ends when another (4) closes; it
    /// joins userns's user namespace and the network namespace of pid `me`.
    fn slirp4netns(path: &std::path::Path, me: i32) -> Result<Launch> {
        let (ready_read, ready_write) = cloexec_pipe()?;
        let (exit_read, exit_write) = cloexec_pipe()?;
        let words = vec![
            path.display().to_string(),
            "--configure".into(),
            "--mtu=65520".into(),
            "--disable-host-loopback".into(),
            "--ready-fd=3".into(),
            "--exit-fd=4".into(),
            format!("--userns-path=/proc/{me}/ns/user"),
            me.to_string(),
            "tap0".into(),
        ];
        Ok(Launch {
            words,
            ready: Ready::Fd(ready_read),
            exit_fd: Some(exit_write),
            child_fds: vec![ready_write, exit_read],
        })
    }

    /// pasta configures the network of pid `me`, writes `pid_file` once it has, and
    /// goes on in the foreground as userns's child (`--foreground`), so that the
    /// parent-death signal ends it with userns (podman's conmon outlives the container's
    /// runtime; userns is its own monitor).
    fn pasta(
        path: &std::path::Path,
        me: i32,
        pid_file: &std::path::Path,
        ports: &[PortMapping],
    ) -> Launch {
        let mut words = vec![
            path.display().to_string(),
            "--config-net".into(),
            "--quiet".into(),
            "--foreground".into(),
        ];
        words.extend(super::ports::pasta_args(ports));
        words.extend(["--pid".into(), pid_file.display().to_string()]);
        words.push(me.to_string());
        Launch {
            words,
            ready: Ready::PidFile(pid_file.to_path_buf()),
            exit_fd: None,
            child_fds: vec![],
        }
    }

    /// Fork the helper, waiting for the go-ahead before it execs, its output to `log`.
    fn fork(&self, name: &str, log: &std::path::Path) -> Result<child::Forked> {
        let log_file = std::fs::File::create(log).map_err(|e| Error::io("create", log, &e))?;
        let argv = cstrings(&self.words)?;
        let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        let raw_child_fds: Vec<i32> = self.child_fds.iter().map(|f| f.as_raw_fd()).collect();
        let waiting = child::Waiting {
            action: child::Action::Exec {
                path: &argv[0],
                argv: &ptrs,
            },
            close: &[],
            // Its own descriptors only, as 3 and 4: what --preserve-fds passes is the
            // container's (userns made every other one of the caller's close-on-exec at
            // its start). On failure it would merely hold them; it runs outside the
            // container.
            pass: &raw_child_fds,
            stdout: Some(log_file.as_raw_fd()),
            stderr: Some(log_file.as_raw_fd()),
            // slirp4netns outlives nothing: the exit fd ends it; without the death
            // signal it can shut down cleanly when that fd closes. pasta has no such fd:
            // the death signal ends it when userns is killed.
            die_with_parent: matches!(self.ready, Ready::PidFile(_)),
            report_errno: false,
        };
        child::fork_waiting(&waiting)
            .map_err(|e| Error::failure(format!("cannot fork {name}")).because(e))
    }
}

impl Network {
    /// Check the helper is installed and fork it, waiting, its output going to `log`
    /// (slirp4netns is chatty; its words matter only when it fails). Call before entering.
    /// `ports`: what pasta publishes (`-p`).
    pub(crate) fn prepare(
        mode: NetMode,
        log: &std::path::Path,
        ports: &[PortMapping],
    ) -> Result<Network> {
        let (name, package) = match mode {
            NetMode::None | NetMode::Host => return Ok(Network { helper: None }),
            NetMode::Pasta => ("pasta", "passt"),
            NetMode::Slirp4netns => ("slirp4netns", "slirp4netns"),
        };
        let path = find_program(name).ok_or_else(|| {
            Error::failure(format!("--net {name}: {name} is not installed"))
                .fix(format!("install the {package} package (apt-get install {package}), or use --net none or --net host"))
        })?;
        let me = nix::unistd::getpid().as_raw();
        let launch = match mode {
            NetMode::Slirp4netns => Launch::slirp4netns(&path, me)?,
            _ => Launch::pasta(&path, me, &log.with_file_name("pasta.pid"), ports),
        };
        // The child's ends in `launch` are held until it is forked, then closed here.
        let forked = launch.fork(name, log)?;
        Ok(Network {
            helper: Some(Helper {
                name,
                log: log.to_path_buf(),
                pid: forked.pid,
                go: forked.go,
                ready: launch.ready,
                exit_fd: launch.exit_fd,
            }),
        })
    }

    /// Start the helper (userns is now in the container's namespaces) and wait until the
    /// network is configured.
    pub(crate) fn start(self) -> Result<Running> {
        let Some(h) = self.helper else {
            return Ok(Running {
                _exit_fd: None,
                daemon: None,
            });
        };
        nix::unistd::write(&h.go, b"g")
            .map_err(|e| Error::failure(format!("cannot start {}", h.name)).because(e))?;
        drop(h.go);
        let log = h.log.clone();
        let failed = |why: String| {
            // Read once it has ended: its last words, without the usual warnings.
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let said: Vec<&str> = text.lines().filter(|l| !l.starts_with("WARNING")).collect();
            let said = said[said.len().saturating_sub(4)..].join("; ");
            Error::failure(format!(
                "{} could not set up the container's network",
                h.name
            ))
            .because(format!("{why}; it said: {said}"))
            // slirp4netns names /dev/net/tun; pasta says "Failed to open tun socket".
            .fix(
                if text.contains("/dev/net/tun") || text.contains("tun socket") {
                    "it needs /dev/net/tun readable and writable by you (mode 0666, as most \
                     distributions ship it), or use --net none or --net host"
                } else {
                    "use --net none or --net host"
                },
            )
        };
        match h.ready {
            Ready::Fd(fd) => {
                let mut byte = [0u8; 1];
                match nix::unistd::read(&fd, &mut byte) {
                    Ok(1) => {}
                    _ => {
                        let status = waitpid(h.pid, None);
                        return Err(failed(format!(
                            "it ended before it was ready ({})",
                            describe_status(status)
                        )));
                    }
                }
            }
            Ready::PidFile(file) => {
                // Held before the wait, so that the pid cannot be reused meanwhile.
                let pidfd = pidfd::open(h.pid.as_raw())
                    .map_err(|e| Error::failure(format!("cannot hold {}", h.name)).because(e))?;
                let deadline = std::time::Instant::now() + PASTA_READY;
                while !pid_file_written(&file) {
                    if pidfd::wait_exit(&pidfd, std::time::Duration::from_millis(2)) {
                        let status = waitpid(h.pid, None);
                        return Err(failed(format!("it ended with {}", describe_status(status))));
                    }
                    if std::time::Instant::now() > deadline {
                        let _ = pidfd::send_signal(&pidfd, libc::SIGKILL);
                        let _ = waitpid(h.pid, None);
                        return Err(failed(format!(
                            "it did not finish within {} s",
                            PASTA_READY.as_secs()
                        )));
                    }
                }
                return Ok(Running {
                    _exit_fd: h.exit_fd,
                    daemon: Some((h.pid, pidfd)),
                });
            }
        }
        Ok(Running {
            _exit_fd: h.exit_fd,
            daemon: None,
        })
    }
}
