//! Rootless storage and diagnosis: `clean`, `chown`, `stat`, `doctor`, `whose`, `migrate`.

use super::*;

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
