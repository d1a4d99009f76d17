//! Containers: `run`, `ps`, `logs`, `kill`, `rm`, `wait`, `exec`.

use super::*;

/// `--net` of `userns run`: the library's `NetMode` as the command line spells and
/// documents it (each doc line is the value's help in `--help` and the man page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum NetArg {
    /// A new network namespace with loopback only
    #[default]
    None,
    /// The host's network namespace
    Host,
    /// A new network namespace connected by pasta (passt package)
    Pasta,
    /// A new network namespace connected by slirp4netns
    Slirp4netns,
}

impl From<NetArg> for NetMode {
    fn from(arg: NetArg) -> NetMode {
        match arg {
            NetArg::None => NetMode::None,
            NetArg::Host => NetMode::Host,
            NetArg::Pasta => NetMode::Pasta,
            NetArg::Slirp4netns => NetMode::Slirp4netns,
        }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run a tiny init as pid 1 that reaps orphans and forwards signals
    #[arg(long)]
    pub init: bool,
    /// Hostname inside (default: a short container id)
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Network: none (loopback only; the default), host, pasta (the default with -p),
    /// slirp4netns. Also spelt --network, as podman spells it
    #[arg(long, visible_alias = "network", value_enum)]
    pub net: Option<NetArg>,
    /// The container's user namespace. `shared` (the default): the one userns keeps for
    /// containers, named `containers` (see `userns ls`; `userns enter containers` is like
    /// `podman unshare`; `userns stop containers` ends it), made on first use and mapped
    /// with all your subordinate ids; every container joins it, which spares the setuid
    /// helpers newuidmap and newgidmap. It is made afresh when /etc/subuid or /etc/subgid
    /// changed its map. `shared:NAME`: the same with the kept namespace NAME (for example
    /// one made by `userns unshare --name NAME`; only its user namespace is joined), which
    /// must be kept already: it is not made on first use, as podman's `--userns ns:PATH`
    /// needs a namespace that exists.
    /// `private`: a new user namespace for this container alone
    #[arg(
        long,
        value_name = "MODE",
        default_value = "shared",
        value_parser = UsernsMode::parse
    )]
    pub userns: UsernsMode,
    /// Write to the source directory itself instead of an overlay over it. Only for a root
    /// filesystem directory: an image's root is the cache's one copy, shared by every
    /// container of the image, and is refused
    #[arg(long)]
    pub rootfs_rw: bool,
    /// Mount the container's root read-only
    #[arg(long)]
    pub read_only: bool,
    /// Bind mount HOST:CTR[:ro] (repeatable)
    #[arg(short = 'v', long = "volume", value_name = "HOST:CTR[:ro]")]
    pub volumes: Vec<OsString>,
    /// Set an environment variable K=V (repeatable)
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Read environment variables from a file of K=V lines
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// Run as UID[:GID] inside the container
    #[arg(short = 'u', long = "user", value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Security option, as podman spells it: seccomp=unconfined (no system call filter),
    /// seccomp=FILE (a seccomp profile in podman's JSON format). Default: the profile
    /// podman uses (containers.conf seccomp_profile, else /etc/containers/seccomp.json,
    /// else /usr/share/containers/seccomp.json, else a built-in copy of its rules)
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Keep stdin open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-terminal
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Pass N more descriptors, the caller's 3 to 3+N-1 (each must be open), as podman's
    /// --preserve-fds; every other descriptor above 2 is closed for the container
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Run CMD instead of the image's Entrypoint, as podman's --entrypoint: one word, or a
    /// JSON array of words (`'["/bin/sh","-c"]'`); COMMAND follows it, and the image's Cmd
    /// is then not used. `--entrypoint ""` runs COMMAND alone. With a root filesystem
    /// directory, CMD is put before COMMAND
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<OsString>,
    /// Throw the container's writable layer away at exit (the default): it is a tmpfs of
    /// the container's own (memory, at most half of RAM), gone with the container; write
    /// large data to a volume (-v) or a kept layer
    #[arg(long)]
    pub rm: bool,
    /// Keep the container's writable layer on disk, under NAME in the data dir
    /// (~/.local/share/userns/kept/NAME), instead of throwing it away
    #[arg(long, value_name = "NAME", conflicts_with = "rm")]
    pub keep: Option<String>,
    /// A root filesystem directory, an image archive (docker-archive or OCI) or an OCI layout
    ///
    /// An archive or layout is unpacked once into the image cache (see `userns images`),
    /// its layers checked against their sha256 or sha512 digests and diff_ids. A file over
    /// 64 GiB, an image of over 256 GiB of file data, or more than the cache's file system
    /// has free is refused before it is written: the environment variables
    /// USERNS_UNPACK_MAX_FILE and USERNS_UNPACK_MAX_IMAGE (bytes, or with K, M, G, T: e.g.
    /// 100G) change the limits
    #[arg(value_name = "SOURCE", value_hint = ValueHint::AnyPath)]
    pub source: PathBuf,
    /// The command and its arguments (default: the image's Entrypoint and Cmd, else /bin/sh)
    #[arg(trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
    /// When SOURCE is not a path but an image reference (docker.io/library/alpine,
    /// REGISTRY/NAME:TAG, a short name): how to pull it when it is not cached yet
    #[command(flatten)]
    pub registry: Box<RegistryArgs>,
    /// Detach: run the container in the background under a monitor of its own, print its
    /// id. It outlives the caller's terminal and session (with systemd-logind's
    /// KillUserProcesses=yes, only after `loginctl enable-linger`); see `userns ps`, `logs`,
    /// `stop`, `rm`
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Name the container (default with -d: a generated adjective_noun), unique among your
    /// containers; `userns exec`, `stop`, `logs` and the others take it
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// With -d: restart the container when it ends: no, on-failure[:N] (at most N times),
    /// always (until stop, kill or rm)
    #[arg(long, value_name = "POLICY", default_value = "no", value_parser = userns::container::RestartPolicy::parse)]
    pub restart: userns::container::RestartPolicy,
    /// With -d: the log's size limit (bytes, or with K, M, G); the older half is dropped
    /// beyond it; 0 for no limit
    #[arg(long, value_name = "SIZE", default_value = "10M")]
    pub log_size_max: String,
    /// Publish a container port on a host port, through pasta (repeatable; implies --net
    /// pasta): connections to the host's HOST (on address IP only, when given) reach
    /// CONTAINER inside. A host port in use, or below net.ipv4.ip_unprivileged_port_start,
    /// is refused before the container starts
    #[arg(
        short = 'p',
        long = "publish",
        value_name = "[IP:]HOST:CONTAINER[/tcp|udp]"
    )]
    pub publish: Vec<String>,
}
#[derive(Debug, Args)]
pub struct PsArgs {
    /// All containers, ended ones too
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
    /// Print the short ids only
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The container: name, id or id prefix
    #[arg(value_name = "NAME|ID")]
    pub container: String,
    /// Keep printing what it writes until it ends
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only the last N lines
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// The signal: a number or a name (KILL, SIGTERM, HUP)
    #[arg(
        short = 's',
        long = "signal",
        value_name = "SIGNAL",
        default_value = "KILL"
    )]
    pub signal: String,
    /// The containers: names, ids or id prefixes
    #[arg(value_name = "NAME|ID", required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Kill running containers first
    #[arg(short = 'f', long)]
    pub force: bool,
    /// The containers: names, ids or id prefixes
    #[arg(value_name = "NAME|ID", required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The containers: names, ids or id prefixes
    #[arg(value_name = "NAME|ID", required = true)]
    pub containers: Vec<String>,
}
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Keep stdin open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-terminal (in the container's /dev/pts)
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Run as USER[:GROUP] (names or ids of the container's /etc/passwd and /etc/group)
    /// instead of the container's user
    #[arg(short = 'u', long = "user", value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Set an environment variable K=V, or pass your K (repeatable)
    #[arg(short = 'e', long = "env", value_name = "K[=V]")]
    pub env: Vec<String>,
    /// Read environment variables from a file of K=V lines
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container (default: the container's)
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// The container: its name, its id, or a prefix of its id that only it has
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}
