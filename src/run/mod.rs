//! `userns run`: a rootless container from a root filesystem or an image, without podman.
//!
//! The process tree, and why:
//! - userns itself parses everything, creates the container's directories, then enters
//!   the container's namespaces (`namespaces`). Its user namespace is, by default
//!   (`--userns shared`), the one userns keeps for containers under the name `containers`:
//!   under that name's lock, userns joins it with setns(2) if its pause process is alive
//!   and its map not stale, else makes it (a new user namespace mapped with all the user's
//!   subordinate ids by newuidmap/newgidmap), forks the pause process that keeps it, and
//!   records it. Either way it then unshares new pid, UTS, IPC, cgroup and (unless
//!   `--net host`) network namespaces, which setns into the user namespace allows.
//!   `--userns private` makes a new user namespace with them instead, every run.
//!   userns keeps the host's mount namespace (or, on the run that makes `containers`,
//!   that namespace's copy of it, which holds the same paths: the kept namespace has a
//!   mount namespace of its own, as podman's pause process does), so that after the
//!   container it can still reach and remove the container's directory by its path; it stays as the supervisor:
//!   forwards signals, relays the pseudo-terminal, removes the directory, returns the exit
//!   code.
//! - the pause process (shared mode, first run only) sleeps in the kept user namespace
//!   until `userns stop containers`; containers running in it keep it alive too.
//! - pid 1, forked into the new pid namespace, makes a mount namespace of its own, builds
//!   the filesystem (`rootfs`: the writable layer is a tmpfs of that mount namespace, so
//!   it ends with the container, unless `--keep NAME`), pivots into it, starts a session,
//!   becomes the container's user with podman's capabilities (`process`), then execs the
//!   program in place, or with `--init` stays as a reaper with the program as its child.
//!
//! Signals: the container is in a session of its own (setsid), so the caller's terminal
//! never signals it directly. userns forwards SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGINT and
//! SIGQUIT to pid 1 (podman's sig-proxy does the same). A pid 1 without a handler for a
//! signal does not die of it (the kernel's rule for a namespace's init), exactly as under
//! podman; `--init` makes the reaper pid 1, which passes each one on to the program. With
//! `-t` the terminal is in raw mode, so ^C travels as a byte to the container's own
//! terminal, whose line discipline signals the program.
//!
//! Descriptors: the container gets 0, 1 and 2, and the caller's 3 to 3+N-1 with
//! `--preserve-fds N`, nothing else (podman's rule). userns makes the caller's others
//! close-on-exec as it starts, so no program it runs inherits them, and pid 1 (which the
//! container sees, and which with `--init` never execs) is not dumpable and closes every
//! descriptor of userns's (`unshare::fds`, `unshare::supervise`).

pub(crate) mod dirs;
pub(crate) mod etcfiles;
pub mod images;
pub(crate) mod inroot;
pub(crate) mod kept_source;
pub mod lifecycle;
pub mod masks;
pub(crate) mod namespaces;
pub(crate) mod net;
pub(crate) mod ports;
pub(crate) mod process;
pub(crate) mod rootfs;
pub(crate) mod source;
pub(crate) mod spec;
pub(crate) mod tty;
pub(crate) mod user;

use crate::error::{Error, Result};
use crate::unshare::fds;
use crate::unshare::supervise::{self, Confinement, Pid1Mode};
use crate::unshare::Program;
use crate::users::Account;
use dirs::{ContainerDirs, ContainerId};
pub use lifecycle::{Lifecycle, Started};
pub use namespaces::{map_target, UsernsMode};
pub use spec::{NetMode, RunSpec};
use std::path::{Path, PathBuf};

/// The command line, parsed and checked before any namespace exists.
struct Request {
    source: source::Located,
    volumes: Vec<spec::Volume>,
    env_files: Vec<String>,
    env_cli: Vec<String>,
    /// The compiled seccomp filter; None with `--security-opt seccomp=unconfined`.
    seccomp: Option<crate::seccomp::Filter>,
    /// `-p`, checked against the host's ports.
    ports: Vec<ports::PortMapping>,
}

fn parse_request(args: &RunSpec, account: &Account) -> Result<Request> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::failure("cannot read the current directory").because(e))?;
    let volumes = args
        .volumes
        .iter()
        .map(|v| spec::parse_volume(v, &cwd))
        .collect::<Result<Vec<_>>>()?;
    let lookup = |k: &str| std::env::var(k).ok();
    let mut env_files = Vec::new();
    for file in &args.env_file {
        let text =
            std::fs::read_to_string(file).map_err(|e| Error::io("read the env file", file, &e))?;
        env_files.extend(spec::parse_env_file(file, &text, &lookup)?);
    }
    let mut env_cli = Vec::new();
    for e in &args.env {
        env_cli.extend(spec::parse_env(e, &lookup)?);
    }
    if let Some(w) = &args.workdir {
        if !w.starts_with('/') {
            return Err(Error::usage(format!("invalid --workdir {w:?}"))
                .fix("give an absolute path inside the container"));
        }
    }
    if let Some(name) = &args.keep {
        dirs::check_keep_name(name)?;
    }
    let source = source::locate_or_pull(
        &args.source,
        args.rootfs_rw,
        &args.pull,
        args.quiet,
        account,
    )?;
    // Here, before any namespace: a bad profile fails the run before it starts, and the
    // profile's path and containers.conf are the caller's. podman matches the profile's
    // capability conditions against the bounding set, which is DEFAULT_CAPS whatever the
    // user (containers/common `setupSeccomp`).
    let seccomp_choice = crate::seccomp::parse_security_opts(&args.security_opt)?;
    let seccomp_cache = dirs::containers_root(account)
        .ok()
        .and_then(|root| root.parent().map(|state| state.join("seccomp")));
    let seccomp = crate::seccomp::prepare(
        &seccomp_choice,
        &process::DEFAULT_CAPS,
        seccomp_cache.as_deref(),
    )?;
    let ports = publish_ports(args)?;
    Ok(Request {
        source,
        volumes,
        env_files,
        env_cli,
        seccomp,
        ports,
    })
}

/// `-p`: parsed, only with pasta, and each host port free for pasta to bind.
fn publish_ports(args: &RunSpec) -> Result<Vec<ports::PortMapping>> {
    let mappings = args
        .publish
        .iter()
        .map(|p| ports::parse_publish(p))
        .collect::<Result<Vec<_>>>()?;
    if !mappings.is_empty() && args.net != NetMode::Pasta {
        let mode = match args.net {
            NetMode::None => "none",
            NetMode::Host => "host",
            NetMode::Slirp4netns => "slirp4netns",
            NetMode::Pasta => "pasta",
        };
        return Err(
            Error::usage(format!("-p cannot publish ports with --net {mode}"))
                .because(match args.net {
                    NetMode::Host => {
                        "the container has the host's network: its ports are the host's already"
                    }
                    NetMode::None => "the container has no network but its loopback",
                    _ => "userns publishes ports through pasta only",
                })
                .fix("leave --net out (-p implies --net pasta), or give --net pasta"),
        );
    }
    ports::check_host_ports(&mappings)?;
    for m in mappings.iter().filter(|m| m.is_translated_udp()) {
        crate::warn(format!(
            "-p {m}: the pasta of Debian 12 (2023-03-09) forwards a UDP port only to the \
             same number; if nothing arrives, publish -p {}:{}/udp",
            m.container_port, m.container_port
        ));
    }
    Ok(mappings)
}

/// Write /etc/hosts, /etc/hostname and /etc/resolv.conf into the container's directory.
fn write_etc_files(
    dir: &Path,
    hostname: &str,
    net: NetMode,
) -> Result<Vec<(PathBuf, &'static str)>> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let files = [
        (
            "hosts",
            "/etc/hosts",
            etcfiles::hosts_file(hostname, net, &read("/etc/hosts")),
        ),
        (
            "hostname",
            "/etc/hostname",
            etcfiles::hostname_file(hostname),
        ),
        (
            "resolv.conf",
            "/etc/resolv.conf",
            etcfiles::resolv_conf(net, &read("/etc/resolv.conf")),
        ),
    ];
    let mut out = Vec::new();
    for (name, target, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| Error::io("write", &path, &e))?;
        out.push((path, target));
    }
    Ok(out)
}

pub fn run(args: &RunSpec) -> Result<u8> {
    run_with(args, None)
}

/// Check what `run` would check before any namespace exists (the options, the source,
/// the seccomp profile), for a caller that answers before the run starts (`run -d`).
pub fn check(args: &RunSpec) -> Result<()> {
    fds::check_passed(args.preserve_fds)?;
    parse_request(args, &Account::current()).map(|_| ())
}

/// `run`, with a caller's part (`life`): a given id, pid 1's output, word of the start.
pub fn run_with(args: &RunSpec, life: Option<&mut Lifecycle>) -> Result<u8> {
    // First, while userns holds no descriptor of its own above 2.
    fds::keep_from_programs(args.preserve_fds)?;
    let account = Account::current();
    let request = parse_request(args, &account)?;
    let id = match &life {
        Some(life) => ContainerId::given(&life.id),
        None => ContainerId::random()?,
    };
    let hostname = args
        .hostname
        .clone()
        .unwrap_or_else(|| id.short().to_string());
    let dirs = ContainerDirs::create(&account, &id, args.keep.as_deref())?;
    let lock = dirs.lock()?;
    let outcome = net::Network::prepare(args.net, &dirs.dir.join("network.log"), &request.ports)
        .and_then(|network| {
            let at = Where {
                account: &account,
                hostname: &hostname,
                dirs: &dirs,
            };
            run_container(args, &request, network, &at, life)
        });
    // Inside the namespace now (or never got in, and the directory holds only our files).
    let removed = dirs.remove();
    drop(lock);
    match removed {
        Err(e) => crate::warn(e),
        // In the namespace, where their subordinate-id files can go: what killed runs left.
        Ok(()) if outcome.is_ok() => {
            if let Some(root) = dirs.dir.parent() {
                let swept = dirs::sweep_abandoned(root);
                if swept > 0 {
                    crate::note(format_args!(
                        "removed {swept} container director{} left by runs that were killed",
                        if swept == 1 { "y" } else { "ies" }
                    ));
                }
            }
        }
        Ok(()) => {}
    }
    outcome
}

/// What pid 1 runs: the image's entrypoint and command (or the user's), in its working
/// directory, with the container's environment.
struct ContainerProgram {
    program: Program,
    env: Vec<String>,
    workdir: String,
}

fn container_program(
    args: &RunSpec,
    request: &Request,
    prepared: &source::Prepared,
    hostname: &str,
) -> Result<ContainerProgram> {
    let workdir = args
        .workdir
        .clone()
        .or(prepared.working_dir.clone())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".to_string());
    let entrypoint = args.entrypoint.as_deref().and_then(spec::entrypoint_words);
    let words = spec::program_words(
        &prepared.entrypoint,
        &prepared.cmd,
        entrypoint.as_deref(),
        &args.command,
    )?;
    let mut program = Program::new(&words, Some(Path::new(&workdir)))?;
    let env = spec::container_env(
        hostname,
        &prepared.env,
        &request.env_files,
        &request.env_cli,
    );
    // pid 1 searches the container's PATH, not the caller's.
    program.search_path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .map(str::to_string);
    Ok(ContainerProgram {
        program,
        env,
        workdir,
    })
}

/// Whose container, named what, in which directories.
struct Where<'a> {
    account: &'a Account,
    hostname: &'a str,
    dirs: &'a ContainerDirs,
}

fn run_container(
    args: &RunSpec,
    request: &Request,
    network: net::Network,
    at: &Where,
    mut life: Option<&mut Lifecycle>,
) -> Result<u8> {
    let Where {
        account,
        hostname,
        dirs,
    } = *at;
    let etc_files = write_etc_files(&dirs.dir, hostname, args.net)?;
    namespaces::enter_user(&args.userns, account)?;
    // The image first, unpacked (when it is not cached) in the user namespace but before
    // the pid namespace, after which the kernel refuses the unpack its second thread.
    let prepared = source::prepare(&request.source, account, args.rootfs_rw)?;
    // Joined threads can linger a moment in the kernel's thread group.
    crate::sys::fork::threads_gone();
    namespaces::enter_rest(&args.userns, hostname, args.net != NetMode::Host)?;
    let _network = network.start()?;
    dirs.record_image(&prepared.id)?;
    if let (Some(name), None) = (&args.keep, &dirs.layer.tmpfs_at) {
        if let Some(kept) = dirs.layer.upper.parent() {
            let now = kept_source::KeptSource {
                source: request.source.shown(&args.source),
                rootfs: prepared.rootfs.clone(),
            };
            if let Some(warning) = kept_source::check_and_record(name, kept, &now)? {
                crate::warn(warning);
            }
        }
    }
    let ContainerProgram {
        program,
        env,
        workdir,
    } = container_program(args, request, &prepared, hostname)?;
    let user_spec = args
        .user
        .clone()
        .or(prepared.user.clone())
        .unwrap_or_default();
    let plan_workdir = workdir.clone();
    let stop_signal = prepared.stop_signal.clone();
    let plan = rootfs::RootfsPlan {
        source: prepared.rootfs.clone(),
        layer: (!args.rootfs_rw).then(|| dirs.layer.clone()),
        merged: dirs.merged.clone(),
        etc_files,
        volumes: request.volumes.clone(),
        read_only: args.read_only,
        own_netns: args.net != NetMode::Host,
        workdir,
    };
    let mut terminal = if args.tty {
        Some(tty::Terminal::prepare()?)
    } else {
        None
    };
    let interactive = args.interactive;
    let mode = if args.init {
        Pid1Mode::Reaper
    } else {
        Pid1Mode::Program
    };
    let container_end = terminal.as_mut().and_then(|t| t.container_end());
    let confinement = Confinement::Container {
        preserve_fds: args.preserve_fds,
    };
    let seccomp = request.seccomp.as_ref();
    // Where pid 1 says which user it resolved, for a caller that records it (run -d).
    let (info_read, info_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::failure("cannot create a pipe").because(e))?;
    let output = life.as_mut().and_then(|l| l.output.take());
    let started_env = env.clone();
    let mut pid1 = supervise::start_pid1(&program, mode, true, confinement, move || {
        if let Some((out, err)) = &output {
            lifecycle::redirect_output(out, err)?;
        }
        rootfs::build(&plan)?;
        nix::unistd::setsid()
            .map_err(|e| Error::failure("cannot start the container's session").because(e))?;
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let user = user::resolve(&user_spec, &read("/etc/passwd"), &read("/etc/group"))?;
        let _ = nix::unistd::write(&info_write, lifecycle::encode_user(&user).as_bytes());
        drop(info_write);
        match container_end {
            Some(end) => tty::attach(end, &user)?,
            None if !interactive => process::stdin_null()?,
            None => {}
        }
        let mut env = env;
        if !spec::has_env(&env, "HOME") {
            spec::set_env(&mut env, &format!("HOME={}", user.home));
        }
        process::set_environment(&env);
        process::become_user(&user)?;
        // Last, after no_new_privs (which an unprivileged filter needs) and the switch of
        // user and capabilities, and before pid 1 enters the working directory and execs
        // the program or, with --init, forks it: both processes are filtered. What runs
        // after this (chdir, sigaction, fork, execve, write and exit on failure) is
        // allowed by any profile that lets a program start at all.
        match seccomp {
            Some(filter) => crate::seccomp::install(filter),
            None => Ok(()),
        }
    })?;
    if let Some(life) = life {
        if let Err(e) = pid1.await_exec(&program) {
            // pid 1 is ending: reap it; its error is the run's.
            let _ = pid1.wait(&program);
            return Err(e);
        }
        let facts = lifecycle::Facts {
            pid1: pid1.pid.as_raw(),
            program: &program,
            env: started_env,
            workdir: &plan_workdir,
            hostname,
            stop_signal: stop_signal.as_deref(),
        };
        (life.started)(lifecycle::started(args, facts, info_read))?;
    }
    supervise::forward_signals(pid1.pid, true);
    match terminal {
        Some(t) => t.relay(pid1, &program, interactive),
        None => pid1.wait(&program),
    }
}
