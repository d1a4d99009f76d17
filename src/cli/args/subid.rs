//! `userns subid`: reading, checking and administering the subordinate-id files.

use super::*;

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
