//! The command line, as clap derive definitions. The same `Command` feeds the man pages
//! (man/) and the shell completions, so they cannot drift from what the binary accepts.
//!
//! One file per family of commands, all re-exported here. They need only clap and the
//! library's public items: tests/man_pages.rs includes them as they are to render the
//! pages.

use clap::{Args, Parser, Subcommand, ValueHint};
use std::ffi::OsString;
use std::path::PathBuf;
use userns::run::{NetMode, UsernsMode};

mod container;
mod image;
mod namespaces;
mod storage;
mod subid;

pub use container::*;
pub use image::*;
pub use namespaces::*;
pub use storage::*;
pub use subid::*;

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

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print completions for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// The clap `Command`, for man pages and completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
