//! The namespace commands: `map`, `translate`, `unshare`, `enter`, `ls`, `stop`.

use super::*;

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
