//! The command line, as clap derive definitions. The same `Command` feeds the man pages
//! (man/) and the shell completions, so they cannot drift from what the binary accepts.
//!
//! This file needs only clap and the library's public items: tests/man_pages.rs includes
//! it as it is to render the pages.

use clap::{Args, Parser, Subcommand, ValueHint};
use std::ffi::OsString;
use std::path::PathBuf;
use userns::run::{NetMode, UsernsMode};

#[derive(Debug, Parser)]
#[command(
    name = "userns",
    version,
    about = "Linux user namespaces and subordinate ids: inspect, plan, enter, keep, clean",
    long_about = "userns reads /etc/subuid and /etc/subgid, plans a user namespace's uid_map and \
gid_map from them, has them written by shadow's setuid helpers newuidmap and newgidmap, and runs \
commands in the mapped namespace. It also lists, keeps and joins namespaces and cleans rootless \
container storage that the user cannot delete outside a namespace.",
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// One `Command` is parsed per process and lives on main's stack: boxing `RunArgs` to even
// out the variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show and lint subordinate id ranges (/etc/subuid, /etc/subgid)
    #[command(subcommand)]
    Subid(SubidCommand),
    /// Show a process's uid_map and gid_map, or the maps `userns unshare` would ask for
    Map(MapArgs),
    /// Translate ids through a process's uid_map or gid_map
    Translate(TranslateArgs),
    /// Run a command (default: your shell) in a new user namespace mapped with all your subordinate ids
    Unshare(UnshareArgs),
    /// Run a command in an existing user namespace: a kept NAME, a PID, or `podman`
    Enter(EnterArgs),
    /// List the user namespaces you can see, with their owners and maps
    Ls(LsArgs),
    /// End a namespace kept by `userns unshare --name`
    Stop(StopArgs),
    /// Remove rootless container storage (or any tree) owned by your subordinate ids
    ///
    /// A symlink given as PATH is removed itself, never what it points to, and no symlink
    /// inside a tree is followed. Symlinks on the way to PATH are resolved once, before
    /// anything is checked or removed; one owned by another user (neither you nor root)
    /// is refused.
    Clean(CleanArgs),
    /// Change ownership as seen inside your mapped namespace
    ///
    /// A symlink given as PATH is dereferenced (the file it points to changes) unless -h is
    /// given. With -R, symlinks inside the tree are never followed: each changes itself.
    /// Symlinks on the way to PATH are resolved once, before anything changes; one owned
    /// by another user (neither you nor root) is refused.
    Chown(ChownArgs),
    /// Show a file's owner as the host sees it and as your namespace sees it
    Stat(StatArgs),
    /// Diagnose why rootless user namespaces fail here, with a fix for each problem
    Doctor(DoctorArgs),
    /// Run a command in a rootless container from a root filesystem or an image archive
    Run(RunArgs),
    /// List the images unpacked in your userns image cache
    Images(ImagesArgs),
    /// Print shell completions
    Completions(CompletionsArgs),
    /// Pull an image from a registry into your image cache (podman's references, registries.conf and auth.json)
    Pull(PullArgs),
    /// Remove images from your image cache (same as `userns image rm`)
    Rmi(RmiArgs),
    /// Images: list, pull, remove, and check an image's file owners against your map
    /// before it is unpacked
    #[command(subcommand)]
    Image(ImageCommand),
    /// List containers (running ones; all with -a)
    Ps(PsArgs),
    /// Print a detached container's output (stdout and stderr)
    Logs(LogsArgs),
    /// Send a signal to a container's pid 1 (default SIGKILL)
    Kill(KillArgs),
    /// Remove containers that have ended (running ones too with -f)
    Rm(RmArgs),
    /// Wait for a container to end and print its exit code
    Wait(WaitArgs),
    /// Run a command in a running container, in all its namespaces, as its user
    Exec(ExecArgs),
    /// Say whose a file is: its owner and group, who those ids belong to, and where it came from
    ///
    /// For each PATH: the host owner and group; who each id belongs to (you, a subordinate
    /// range of which user with its /etc/subuid line or NSS source, root, an account, or no
    /// one, which means no one can chown it back without root); the id inside your
    /// namespace; and, where known, the podman container, image or volume, or the userns
    /// image or kept layer it came from. With -R, a tree is summarised per owner. No
    /// symlink is followed (one given as PATH is described itself). What you cannot read
    /// (a container's directory of mode 0700) is read as root of your own namespace, mapped
    /// with your subordinate ranges; ids that namespace does not map are still shown as the
    /// host's.
    Whose(WhoseArgs),
    /// Move your trees' ownership from the old subordinate ranges to the current ones
    ///
    /// After /etc/subuid or /etc/subgid changed, files made in your namespaces are owned by
    /// ids that are no longer yours. Each id moves through its namespace id (old host id ->
    /// id inside -> new host id), so containers see the same ids inside as before; hard
    /// links, setuid/setgid bits, POSIX ACLs, file capabilities (their root id) and times
    /// are kept. Ids the new map cannot hold are left as they are and reported, with the
    /// fix. The old map is the one userns recorded at your last namespace before the change
    /// (or a kept namespace's, or podman's pause process's), unless given. Default PATHs:
    /// podman's storage and userns's data dir. Without root it runs in a namespace that maps
    /// the old and the new ranges, so the old ones must still be granted; it says what to
    /// ask an administrator otherwise. A journal in ~/.local/state/userns makes a second run
    /// finish an interrupted one. Afterwards podman's pause process is restarted and kept
    /// namespaces with the old map are stopped.
    Migrate(MigrateArgs),
}

impl Command {
    /// Whether this command runs a user's program (podman's 125/126/127 convention).
    pub fn runs_program(&self) -> bool {
        matches!(
            self,
            Command::Unshare(_) | Command::Enter(_) | Command::Run(_) | Command::Exec(_)
        )
    }
}

/// The names of the subcommands that run a user's program, for usage errors met before
/// clap has decided which subcommand it is parsing.
pub const PROGRAM_COMMANDS: &[&str] = &["unshare", "enter", "run", "exec"];

#[derive(Debug, Args, Clone, Default)]
pub struct SubidFiles {
    /// Read this file instead of /etc/subuid
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub subuid: Option<PathBuf>,
    /// Read this file instead of /etc/subgid
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub subgid: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SubidCommand {
    /// Show the subordinate id ranges of USER (default: you)
    Show(SubidShowArgs),
    /// Lint /etc/subuid and /etc/subgid; exit 1 on errors (and on warnings with --strict)
    Check(SubidCheckArgs),
    /// Allocate subordinate ids to USER, as useradd does (root)
    Add(SubidAddArgs),
    /// Remove subordinate ids of USER (root)
    Del(SubidDelArgs),
}

#[derive(Debug, Args)]
pub struct SubidAddArgs {
    /// User name (or numeric uid) to give ranges to
    #[arg(value_name = "USER")]
    pub user: String,
    /// How many ids (default: SUB_UID_COUNT / SUB_GID_COUNT of login.defs, else 65536)
    #[arg(long, value_name = "N")]
    pub count: Option<u32>,
    /// Give exactly this range instead of the first free one
    #[arg(long, value_name = "START:COUNT", conflicts_with = "count")]
    pub range: Option<String>,
    #[command(flatten)]
    pub write: SubidWriteOptions,
}

/// What `subid add` and `subid del` share: which files, which tree, how long to wait.
#[derive(Debug, Args)]
pub struct SubidWriteOptions {
    /// Only /etc/subuid
    #[arg(long, conflicts_with = "gids_only")]
    pub uids_only: bool,
    /// Only /etc/subgid
    #[arg(long)]
    pub gids_only: bool,
    /// Work on the tree at DIR (DIR/etc/subuid, DIR/etc/login.defs) instead of /
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub root: Option<PathBuf>,
    /// Seconds to wait for the lock held by another writer (useradd, usermod, userns)
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub lock_timeout: u64,
}

#[derive(Debug, Args)]
pub struct SubidDelArgs {
    /// User name (or numeric uid) whose ranges to remove
    #[arg(value_name = "USER")]
    pub user: String,
    /// Remove only this range (default: every range of USER)
    #[arg(value_name = "START:COUNT")]
    pub range: Option<String>,
    #[command(flatten)]
    pub write: SubidWriteOptions,
}

#[derive(Debug, Args)]
pub struct SubidShowArgs {
    /// User name or numeric uid (default: the invoking user)
    #[arg(value_name = "USER")]
    pub user: Option<String>,
    #[command(flatten)]
    pub files: SubidFiles,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SubidCheckArgs {
    #[command(flatten)]
    pub files: SubidFiles,
    /// Treat warnings as errors
    #[arg(long)]
    pub strict: bool,
    /// Read UID_MIN/UID_MAX from this file instead of /etc/login.defs
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub login_defs: Option<PathBuf>,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MapArgs {
    /// Process whose maps to show (default: userns itself)
    #[arg(value_name = "PID", conflicts_with_all = ["plan", "user"], value_parser = userns::idmap::proc::parse_pid)]
    pub pid: Option<i32>,
    /// Show the maps `userns unshare` would ask for instead
    #[arg(long)]
    pub plan: bool,
    /// With --plan: plan for this user (default: you)
    #[arg(long, value_name = "USER", requires = "plan")]
    pub user: Option<String>,
    #[command(flatten)]
    pub files: SubidFiles,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
    /// Read /proc from this directory (tests point it at fixtures/proc/CASE)
    #[arg(long, value_name = "DIR", hide = true)]
    pub proc_root: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TranslateArgs {
    /// Process whose map to use (default: userns itself)
    #[arg(long, value_name = "PID", value_parser = userns::idmap::proc::parse_pid)]
    pub pid: Option<i32>,
    /// Translate group ids through gid_map instead of uid_map
    #[arg(long)]
    pub gid: bool,
    /// IDs are inside the namespace; print host ids (the default)
    #[arg(long, conflicts_with = "to_ns")]
    pub to_host: bool,
    /// IDs are host ids; print the ids inside the namespace
    #[arg(long)]
    pub to_ns: bool,
    /// The ids to translate
    #[arg(value_name = "ID", required = true, value_parser = userns::ids::parse_id)]
    pub ids: Vec<u32>,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
    /// Read /proc from this directory (tests point it at fixtures/proc/CASE)
    #[arg(long, value_name = "DIR", hide = true)]
    pub proc_root: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UnshareArgs {
    /// Map ids explicitly instead of the plan (repeatable); checked against your subuid
    /// ranges. `auto` asks for the plan (your own uid, then all your subordinate uids), as
    /// if the option were not given
    #[arg(long = "map-users", value_name = "INNER:OUTER:COUNT|auto")]
    pub map_users: Vec<String>,
    /// Map group ids explicitly instead of the plan (repeatable); checked against your
    /// subgid ranges. `auto` asks for the plan, as for --map-users
    #[arg(long = "map-groups", value_name = "INNER:OUTER:COUNT|auto")]
    pub map_groups: Vec<String>,
    /// Where your own uid lands inside (default 0)
    #[arg(long = "map-user", value_name = "UID")]
    pub map_user: Option<u32>,
    /// Where your own gid lands inside (default 0)
    #[arg(long = "map-group", value_name = "GID")]
    pub map_group: Option<u32>,
    /// Map only your own uid and gid (no subordinate ids, no setuid helpers)
    #[arg(long, conflicts_with_all = ["map_users", "map_groups"])]
    pub single: bool,
    /// Make mounts private in the new mount namespace, as util-linux `unshare --mount`
    /// does. A mount namespace of its own is always made, as podman's pause process has one
    /// (podman run inside needs it); without --mount it receives the host's later mounts
    #[arg(long)]
    pub mount: bool,
    /// Also unshare the pid namespace (COMMAND runs under a small pid-1 reaper)
    #[arg(long)]
    pub pid: bool,
    /// Also unshare the network namespace (loopback is brought up)
    #[arg(long)]
    pub net: bool,
    /// Also unshare the UTS namespace
    #[arg(long)]
    pub uts: bool,
    /// Set the hostname in the new UTS namespace (implies --uts)
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Also unshare the IPC namespace
    #[arg(long)]
    pub ipc: bool,
    /// Also unshare the cgroup namespace
    #[arg(long)]
    pub cgroup: bool,
    /// Mount a new /proc (implies --mount and --pid)
    #[arg(long)]
    pub mount_proc: bool,
    /// Working directory for COMMAND
    #[arg(short = 'w', long = "wd", value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub wd: Option<PathBuf>,
    /// Keep the namespace under NAME after COMMAND ends; later calls with NAME join it. A
    /// later call that gives namespace or map options must give NAME's own (else it is
    /// refused: `userns stop NAME` first to make it anew with other options)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The command and its arguments (default: $SHELL, then /bin/sh)
    #[arg(trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct EnterArgs {
    /// A NAME kept by `userns unshare --name`, a PID, or `podman` (podman's pause process)
    #[arg(value_name = "TARGET")]
    pub target: String,
    /// Also join the target's mount namespace (joined anyway for a kept NAME that has one,
    /// with its pid namespace when NAME mounted its own /proc, and for podman, as `podman
    /// unshare` does)
    #[arg(long)]
    pub mount: bool,
    /// Join every namespace the target has
    #[arg(long)]
    pub all: bool,
    /// Working directory for COMMAND
    #[arg(short = 'w', long = "wd", value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub wd: Option<PathBuf>,
    /// The command and its arguments (default: $SHELL, then /bin/sh)
    #[arg(trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Show namespaces as a tree of parents and children
    #[arg(long)]
    pub tree: bool,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// The container (name, id or id prefix) or kept namespace to end. A container gets its
    /// stop signal (SIGTERM), then SIGKILL after the timeout; a kept namespace's pause
    /// process ends. A name is never both: `run --name` refuses a kept namespace's name
    #[arg(value_name = "NAME", required_unless_present = "all")]
    pub name: Option<String>,
    /// End every namespace you keep (not containers)
    #[arg(long, conflicts_with = "name")]
    pub all: bool,
    /// Seconds to wait after the stop signal before SIGKILL (containers)
    #[arg(
        short = 't',
        long = "time",
        value_name = "SECONDS",
        default_value_t = 10
    )]
    pub time: u64,
    /// NAME is a kept namespace, not a container
    #[arg(long)]
    pub kept: bool,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Trees to remove (default: your rootless container storage)
    #[arg(value_name = "PATH", value_hint = ValueHint::AnyPath)]
    pub paths: Vec<PathBuf>,
    /// Do not ask for confirmation
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Only report what would be removed
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Also descend into other filesystems mounted below PATH
    #[arg(long)]
    pub cross_filesystems: bool,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
// -h is chown(1)'s --no-dereference; help stays on --help.
#[command(disable_help_flag = true)]
pub struct ChownArgs {
    /// Operate on directories recursively, never following symlinks inside them
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Change a symlink given as PATH itself, not the file it points to
    #[arg(short = 'h', long)]
    pub no_dereference: bool,
    /// OWNER and GROUP are host ids, not ids inside the namespace
    #[arg(long)]
    pub from_host: bool,
    /// Also descend into other filesystems mounted below PATH
    #[arg(long)]
    pub cross_filesystems: bool,
    /// New owner as OWNER[:GROUP], ids as seen inside the namespace
    #[arg(value_name = "OWNER[:GROUP]")]
    pub owner: String,
    /// Files and directories to change
    #[arg(value_name = "PATH", required = true, value_hint = ValueHint::AnyPath)]
    pub paths: Vec<PathBuf>,
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

#[derive(Debug, Args)]
pub struct StatArgs {
    /// Files to show
    #[arg(value_name = "PATH", required = true, value_hint = ValueHint::AnyPath)]
    pub paths: Vec<PathBuf>,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Check for this user instead of you. Run by root without --user, doctor checks the
    /// machine instead: the subid files, and every user who has ranges with the maps they
    /// would get; root itself needs no subordinate ids
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Skip the live test that creates a namespace with the helpers
    #[arg(long)]
    pub no_live: bool,
    /// Print JSON instead of a checklist
    #[arg(long)]
    pub json: bool,
}

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
pub struct ImagesArgs {
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print completions for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
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

/// How to reach a registry: podman's options of `pull`, and of `run` for a SOURCE to pull.
#[derive(Debug, Clone, Args, Default)]
pub struct RegistryArgs {
    /// Credentials for the registry, instead of those `podman login` stored
    #[arg(long, value_name = "USER[:PASSWORD]")]
    pub creds: Option<String>,
    /// Read credentials from FILE first (default: $REGISTRY_AUTH_FILE, else
    /// $XDG_RUNTIME_DIR/containers/auth.json, where `podman login` writes; then
    /// ~/.config/containers/auth.json and ~/.docker/config.json)
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub authfile: Option<PathBuf>,
    /// Require HTTPS with a verified certificate (true), or allow plain HTTP and any
    /// certificate (false). Default: as registries.conf says (`insecure = true` allows)
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub tls_verify: Option<bool>,
    /// From a multi-platform image, pull the one for OS/ARCH[/VARIANT] (default: this
    /// machine's, e.g. linux/amd64)
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Print no progress (it is shown only on a terminal anyway)
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// The image: [REGISTRY[:PORT]/]NAME[:TAG][@sha256:DIGEST]; a short NAME is resolved
    /// through registries.conf ([aliases], then unqualified-search-registries)
    #[arg(value_name = "REFERENCE")]
    pub reference: String,
    #[command(flatten)]
    pub registry: Box<RegistryArgs>,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Remove the image even when a running container or a kept layer (run --keep) uses it
    #[arg(short, long)]
    pub force: bool,
    /// Names (REPOSITORY[:TAG]) or ids. A name whose image has other names is only
    /// untagged; the last name, or the id, removes the image
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

/// The clap `Command`, for man pages and completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// `userns image VERB`, as podman's `image` verbs.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List the images of your image cache, with their names (same as `userns images`)
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Pull an image from a registry (same as `userns pull`)
    Pull(PullArgs),
    /// Remove images (same as `userns rmi`)
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Check that your user namespace can map every owner of an image's files; exit 1 if not
    ///
    /// Reads only the layers' tar headers (a plain layer's file data is sought over, a
    /// compressed one's decompressed and dropped), and lists every uid and gid the map
    /// cannot hold, with the paths that carry them, the highest id needed, and the
    /// `usermod --add-subuids` / `--add-subgids` (a range free in /etc/subuid and
    /// /etc/subgid) that would make them fit. `userns run` makes the same check before it
    /// unpacks an image, and refuses one that does not fit.
    Check(ImageCheckArgs),
}

#[derive(Debug, Args)]
pub struct ImageCheckArgs {
    /// Print one JSON object instead of a table
    #[arg(long)]
    pub json: bool,
    /// Check against this map of user ids instead of run's (repeatable), as `userns
    /// unshare --map-users` takes it; checked against your subuid ranges
    #[arg(long = "map-users", value_name = "INNER:OUTER:COUNT")]
    pub map_users: Vec<String>,
    /// Check against this map of group ids instead of run's (repeatable), as `userns
    /// unshare --map-groups` takes it; checked against your subgid ranges
    #[arg(long = "map-groups", value_name = "INNER:OUTER:COUNT")]
    pub map_groups: Vec<String>,
    /// The user namespace `userns run --userns MODE` would use, whose map is checked
    /// against: shared (the default: the kept namespace `containers`'s map when it runs,
    /// else all your subordinate ids), shared:NAME, or private
    #[arg(
        long,
        value_name = "MODE",
        default_value = "shared",
        value_parser = UsernsMode::parse
    )]
    pub userns: UsernsMode,
    /// An image archive (docker-archive or OCI, as `podman save` writes them), an OCI
    /// layout, or an image reference (as `userns pull` takes it): its layers are
    /// downloaded and verified, checked, and not kept
    #[arg(value_name = "SOURCE", value_hint = ValueHint::AnyPath)]
    pub source: PathBuf,
    /// For a SOURCE that is an image reference: how to reach its registry
    #[command(flatten)]
    pub registry: Box<RegistryArgs>,
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

#[derive(Debug, Args)]
pub struct WhoseArgs {
    /// Summarise each PATH as a tree: entries and bytes per owner and per group (host ids
    /// and namespace ids), never following symlinks, hard links counted once
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// With -R, also descend into other filesystems mounted below PATH
    #[arg(long)]
    pub cross_filesystems: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    /// Files or trees to explain
    #[arg(value_name = "PATH", required = true, value_hint = ValueHint::AnyPath)]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The old /etc/subuid (as it was before the change)
    #[arg(long, value_name = "FILE", requires = "from_subgid", conflicts_with = "from_map", value_hint = ValueHint::FilePath)]
    pub from_subuid: Option<PathBuf>,
    /// The old /etc/subgid (as it was before the change)
    #[arg(long, value_name = "FILE", requires = "from_subuid", value_hint = ValueHint::FilePath)]
    pub from_subgid: Option<PathBuf>,
    /// The old maps, as two files in the format of /proc/PID/uid_map and gid_map
    #[arg(long, value_name = "UIDMAP:GIDMAP")]
    pub from_map: Option<String>,
    /// Run by root for USER: change owners directly, without a namespace (when USER's old
    /// ranges are no longer granted); only trees below USER's home. Then stops USER's podman
    /// pause process and USER's kept namespaces with the old map, found in USER's runtime
    /// dir ($XDG_RUNTIME_DIR if USER owns it, else /run/user/UID)
    #[arg(long = "as", value_name = "USER")]
    pub as_user: Option<String>,
    /// Only show what would move
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Do not ask for confirmation
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Also descend into other filesystems mounted below PATH
    #[arg(long)]
    pub cross_filesystems: bool,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
    /// Trees to migrate (default: podman's storage and userns's data dir)
    #[arg(value_name = "PATH", value_hint = ValueHint::AnyPath)]
    pub paths: Vec<PathBuf>,
}
