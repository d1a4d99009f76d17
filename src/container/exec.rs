//! `userns exec`: run a program in a running container, as `podman exec` does: in all of
//! its namespaces, as its user, with its capabilities, no_new_privs, seccomp filter,
//! environment and working directory.
//!
//! How: userns opens a pidfd of the container's pid 1 and checks its start time (a reused
//! pid has another), so that the pidfd names that very process; then one
//! `setns(pidfd, flags)` (Linux 5.8) joins the user, mount, pid, network, UTS, IPC and
//! cgroup namespaces at once, or none. setns moves only a new child into the pid
//! namespace, so userns forks the program's process, which becomes the container's user
//! and execs, while userns stays outside the container's pid namespace, where nothing in
//! the container can see it, forwards signals, relays the terminal and returns the exit
//! code.
//!
//! The joining process is a host process until it execs: its memory is userns's, its
//! descriptors may be the caller's, its executable the host's userns. runc's
//! CVE-2019-5736 (/proc/PID/exe of the joining process opened for writing from inside)
//! and CVE-2024-21626 (a leaked descriptor of a host directory as the working directory)
//! came from there. So:
//! - userns makes itself non-dumpable before setns, and the child, which the container
//!   can see in its /proc, inherits that and sets it again after changing credentials
//!   (the kernel resets it then). A non-dumpable process's /proc/PID/{exe,cwd,root,fd,
//!   environ,mem} open only for a holder of CAP_SYS_PTRACE in the user namespace of its
//!   memory, the host's (ptrace(2), "Ptrace access mode checking").
//! - setns into the mount namespace sets the root and working directory to the
//!   container's root, so no host directory remains; the working directory is then opened
//!   below that root without magic links (openat2 RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS),
//!   so /proc/self/fd/N cannot lead out of it, and only then entered.
//! - the child closes every descriptor above 2 before exec (crate::unshare::supervise),
//!   and its stdin without -i is the host's /dev/null opened before setns, never a file
//!   the container could replace with a FIFO to hold the child before exec.
//! - the container's own files (/etc/passwd for -u) are read without blocking, only when
//!   regular, never through a magic link.

use super::record::{ContainerRecord, ProcessRef, Status};
use crate::error::{Error, Result};
use crate::keep::{process as proc_info, Joinable};
use crate::run::{process, spec, tty, user};
use crate::sys::resolve;
use crate::unshare::supervise::{self, Confinement, Pid1Mode};
use crate::unshare::Program;
use nix::sched::CloneFlags;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

/// What userns knows of a running container, from its record: how to find its pid 1,
/// and what its processes have.
struct ExecTarget {
    /// "container web", for messages.
    shown: String,
    /// pid 1 of the container, as the host sees it, and its start time (field 22 of
    /// /proc/PID/stat), which tells it from a later process with the same pid.
    pid1: ProcessRef,
    /// Whether pid 1 is userns's reaper (`run --init`), the program its child.
    reaper: bool,
    /// The namespace kinds to join ("user", "mnt", "pid"...; "net" is missing with
    /// `--net host`).
    namespaces: Vec<String>,
    uid: u32,
    gid: u32,
    additional_gids: Vec<u32>,
    /// K=V entries of pid 1's environment.
    env: Vec<String>,
    workdir: String,
    /// Capability numbers of the bounding set (and of the permitted and effective sets
    /// for uid 0).
    capabilities: Vec<u32>,
    seccomp: crate::seccomp::Choice,
}

impl ExecTarget {
    fn of(record: &ContainerRecord) -> Result<ExecTarget> {
        let shown = format!("container {}", record.name);
        let (Some(pid1), Some(config), Status::Running) =
            (record.pid1, &record.exec, record.status)
        else {
            return Err(Error::failure(format!(
                "{shown} is not running ({})",
                record.status.as_str()
            ))
            .fix("see userns ps -a; start a new one with userns run -d"));
        };
        let capabilities = config
            .bounding_caps
            .iter()
            .map(|name| {
                crate::seccomp::select::cap_number(name).ok_or_else(|| {
                    Error::failure(format!(
                        "the record of {shown} names an unknown capability {name:?}"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let seccomp = match config.seccomp.as_str() {
            "default" | "" => crate::seccomp::Choice::Default,
            "unconfined" => crate::seccomp::Choice::Unconfined,
            path => crate::seccomp::Choice::File(PathBuf::from(path)),
        };
        Ok(ExecTarget {
            shown,
            pid1,
            reaper: config.init,
            namespaces: config.namespaces.clone(),
            uid: config.uid,
            gid: config.gid,
            additional_gids: config.additional_gids.clone(),
            env: config.env.clone(),
            workdir: config.workdir.clone(),
            capabilities,
            seccomp,
        })
    }
}

/// What `userns exec` asks for, besides the container.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// Keep stdin open.
    pub interactive: bool,
    /// A pseudo-terminal in the container's devpts.
    pub tty: bool,
    /// `USER[:GROUP]`, names or ids of the container's /etc/passwd and /etc/group.
    pub user: Option<String>,
    /// `K=V` or `K` (the caller's value) each.
    pub env: Vec<String>,
    pub env_file: Vec<PathBuf>,
    /// Absolute, inside the container.
    pub workdir: Option<String>,
    pub command: Vec<std::ffi::OsString>,
}

/// Everything decided before any namespace is joined (files of the caller read, the
/// seccomp filter compiled).
struct Prepared {
    program: Program,
    env: Vec<String>,
    /// Set by -e or --env-file: -u then leaves it as it is.
    home_given: bool,
    seccomp: Option<crate::seccomp::Filter>,
}

fn prepare(target: &ExecTarget, options: &ExecOptions) -> Result<Prepared> {
    if options.command.is_empty() {
        return Err(Error::usage("no command to run").fix("write userns exec NAME COMMAND..."));
    }
    if let Some(w) = &options.workdir {
        if !w.starts_with('/') {
            return Err(Error::usage(format!("invalid --workdir {w:?}"))
                .fix("give an absolute path inside the container"));
        }
    }
    let lookup = |k: &str| std::env::var(k).ok();
    let mut added = Vec::new();
    for file in &options.env_file {
        let text =
            std::fs::read_to_string(file).map_err(|e| Error::io("read the env file", file, &e))?;
        added.extend(spec::parse_env_file(file, &text, &lookup)?);
    }
    for e in &options.env {
        added.extend(spec::parse_env(e, &lookup)?);
    }
    let mut env = target.env.clone();
    for entry in &added {
        spec::set_env(&mut env, entry);
    }
    let home_given = spec::has_env(&added, "HOME");
    let workdir = options
        .workdir
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| target.workdir.clone());
    let workdir = if workdir.is_empty() {
        "/".to_string()
    } else {
        workdir
    };
    let mut program = Program::new(&options.command, Some(std::path::Path::new(&workdir)))?;
    program.search_path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .map(str::to_string);
    let account = crate::users::Account::current_ids_and_home()
        .unwrap_or_else(crate::users::Account::current);
    let cache = crate::run::dirs::containers_root(&account)
        .ok()
        .and_then(|root| root.parent().map(|state| state.join("seccomp")));
    let seccomp = crate::seccomp::prepare(&target.seccomp, &target.capabilities, cache.as_deref())?;
    Ok(Prepared {
        program,
        env,
        home_given,
        seccomp,
    })
}

/// The namespaces to join: the container's own, the user namespace first of all.
fn join_flags(target: &ExecTarget) -> Result<CloneFlags> {
    let mut flags = CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS;
    for kind in &target.namespaces {
        flags |= proc_info::flag_of(kind).ok_or_else(|| {
            Error::failure(format!(
                "the record of {} names an unknown namespace {kind:?}",
                target.shown
            ))
        })?;
    }
    Ok(flags)
}

fn not_running(target: &ExecTarget, why: Error) -> Error {
    Error::failure(format!(
        "{} is not running: its pid 1 (host pid {}) is gone",
        target.shown, target.pid1.pid
    ))
    .because(why)
    .fix("see `userns ps -a`; start it again with userns run -d, or remove it with userns rm")
}

/// Open pid 1 of the container (checked against its start time) and join its
/// namespaces. A pid 1 that never exec'd (the reaper of `run --init`) is not dumpable,
/// and the kernel lets nobody but a holder of CAP_SYS_PTRACE on the host join the
/// namespaces of such a process (setns checks ptrace access): then the program it
/// started, its oldest child, which has them all, is joined instead.
fn join(target: &ExecTarget) -> Result<()> {
    let pid1 = Joinable::open(
        target.pid1.pid,
        Some(target.pid1.start_time),
        target.shown.clone(),
    )
    .map_err(|e| not_running(target, e))?;
    if !target.pid1.alive() {
        return Err(not_running(target, Error::failure("it has exited")));
    }
    let flags = join_flags(target)?;
    let via = if target.reaper {
        reaper_child(target)?
            .ok_or_else(|| not_running(target, Error::failure("its reaper has no program left")))?
    } else {
        pid1
    };
    via.join(flags, None).map_err(|e| {
        if target.pid1.alive() {
            e
        } else {
            not_running(target, e)
        }
    })
}

/// The oldest child of pid 1 (its program, under a reaper), held by a pidfd and checked
/// to be pid 1's child still once held.
fn reaper_child(target: &ExecTarget) -> Result<Option<Joinable>> {
    let pid1 = target.pid1.pid;
    let path = format!("/proc/{pid1}/task/{pid1}/children");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let Some(pid) = text
        .split_whitespace()
        .next()
        .and_then(|p| p.parse::<i32>().ok())
    else {
        return Ok(None);
    };
    let joinable = Joinable::open(
        pid,
        None,
        format!("the program of {} (pid {pid})", target.shown),
    )?;
    let parent = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .and_then(|i| s[i + 1..].split_whitespace().nth(1)?.parse::<i32>().ok())
        });
    Ok((parent == Some(pid1)).then_some(joinable))
}

/// The most a passwd or group file may hold: more is not an account database.
const ACCOUNT_FILE_LIMIT: u64 = 4 << 20;

/// Read a file of the container's (the root is the container's after setns): without
/// following magic links, without blocking on a FIFO, only a regular file. Missing or
/// refused: empty, as `run` reads a missing one.
fn read_container_file(path: &str) -> String {
    use std::io::Read;
    let Ok(root) = std::fs::File::open("/") else {
        return String::new();
    };
    let Ok(fd) = resolve::open_in_root(
        root.as_fd(),
        path,
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
    ) else {
        return String::new();
    };
    let file = std::fs::File::from(fd);
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return String::new();
    }
    let mut text = String::new();
    let _ = file.take(ACCOUNT_FILE_LIMIT).read_to_string(&mut text);
    text
}

/// The container's /dev/null when it is the null device (opened without blocking and
/// without magic links: the container owns its /dev), else `host`, the host's: a
/// descriptor of the container's own leads nowhere outside it.
fn container_null(host: OwnedFd) -> OwnedFd {
    let Ok(root) = std::fs::File::open("/") else {
        return host;
    };
    let Ok(fd) = resolve::open_in_root(
        root.as_fd(),
        "/dev/null",
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
    ) else {
        return host;
    };
    match rustix::fs::fstat(&fd) {
        Ok(st)
            if rustix::fs::FileType::from_raw_mode(st.st_mode)
                == rustix::fs::FileType::CharacterDevice
                && rustix::fs::major(st.st_rdev) == 1
                && rustix::fs::minor(st.st_rdev) == 3 =>
        {
            fd
        }
        _ => host,
    }
}

/// Enter the working directory below the container's root, never through a magic link
/// (CVE-2024-21626: /proc/self/fd/N of a leaked host descriptor as the cwd).
fn enter_workdir(dir: &str) -> Result<()> {
    let failed = |e: std::io::Error| {
        Error::failure(format!("cannot change to directory {dir} in the container"))
            .because(e)
            .fix("check that the directory exists there (-w DIR)")
    };
    let root = std::fs::File::open("/").map_err(failed)?;
    let fd = resolve::open_in_root(root.as_fd(), dir, libc::O_PATH | libc::O_DIRECTORY)
        .map_err(failed)?;
    nix::unistd::fchdir(&fd).map_err(|e| failed(e.into()))
}

/// Run `options.command` in the running container `record`; the exit code to leave with
/// (podman's: 125 userns failed, 126 not executable, 127 not found, else the program's,
/// 128+N when killed by signal N).
pub fn exec(record: &ContainerRecord, options: &ExecOptions) -> Result<u8> {
    // First, while userns holds nothing of its own above 2.
    crate::unshare::fds::keep_from_programs(0)?;
    let target = &ExecTarget::of(record)?;
    let Prepared {
        mut program,
        mut env,
        home_given,
        seccomp,
    } = prepare(target, options)?;
    let workdir = program
        .wd
        .take()
        .map(|w| w.display().to_string())
        .unwrap_or_else(|| "/".into());
    let mut terminal = if options.tty {
        Some(tty::Terminal::prepare()?)
    } else {
        None
    };
    // The host's /dev/null, opened before the container's files are in reach.
    let null: Option<OwnedFd> = (!options.tty && !options.interactive)
        .then(|| std::fs::File::open("/dev/null").map(OwnedFd::from))
        .transpose()
        .map_err(|e| Error::io("open", std::path::Path::new("/dev/null"), &e))?;
    // Before anything of the container can see this process or its children.
    nix::sys::prctl::set_dumpable(false)
        .map_err(|e| Error::failure("cannot make userns non-dumpable").because(e))?;
    join(target)?;
    let null = null.map(container_null);
    let mut exec_user = user::ExecUser {
        uid: target.uid,
        gid: target.gid,
        home: String::new(),
    };
    let mut groups = target.additional_gids.clone();
    if let Some(spec) = &options.user {
        exec_user = user::resolve(
            spec,
            &read_container_file("/etc/passwd"),
            &read_container_file("/etc/group"),
        )?;
        groups.clear();
        if !home_given {
            spec::set_env(&mut env, &format!("HOME={}", exec_user.home));
        }
    }
    let caps = target.capabilities.clone();
    let container_end = terminal.as_mut().and_then(|t| t.container_end());
    let interactive = options.interactive;
    let child = supervise::start_pid1(
        &program,
        Pid1Mode::Program,
        true,
        Confinement::Container { preserve_fds: 0 },
        move || {
            nix::unistd::setsid()
                .map_err(|e| Error::failure("cannot start a session").because(e))?;
            match (container_end, null) {
                (Some(end), _) => tty::attach_terminal(end, &exec_user, false)?,
                (None, Some(null)) => rustix::stdio::dup2_stdin(&null).map_err(|e| {
                    Error::failure("cannot make /dev/null the program's stdin")
                        .because(std::io::Error::from(e))
                })?,
                (None, None) => {}
            }
            process::set_environment(&env);
            process::become_user_with(&exec_user, &caps, &groups)?;
            enter_workdir(&workdir)?;
            match &seccomp {
                Some(filter) => crate::seccomp::install(filter),
                None => Ok(()),
            }
        },
    )?;
    supervise::forward_signals(child.pid, true);
    match terminal {
        Some(t) => t.relay(child, &program, interactive),
        None => child.wait(&program),
    }
}
