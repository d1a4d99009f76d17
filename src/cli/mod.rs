//! The command line: clap definitions (`args`), one thin file per subcommand (`cmd`), the
//! fast parse of `enter` (`quick`), and table and JSON output (`render`). It is the
//! binary's own; the library below it knows nothing of it (tests/layering.rs checks).

pub mod args;
pub mod cmd;
pub mod quick;
pub mod render;

use args::{Cli, Command, ImageCommand, SubidCommand};
use clap::FromArgMatches;
use std::ffi::OsString;
use userns::error::Result;

/// Parse a command line (`words`, the program name first). The plainest `enter` lines
/// are read without building clap's `Command` (see `quick`), with the same outcome.
pub fn parse(words: &[OsString]) -> std::result::Result<Cli, clap::Error> {
    match quick::plain_enter(words).or_else(|| quick::plain_exec(words)) {
        Some(cli) => Ok(cli),
        None => {
            let mut command = args::command().version(VERSION);
            let mut matches = command.try_get_matches_from_mut(words)?;
            Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut command))
        }
    }
}

/// What `--version` prints after the name: the version and the commit built (build.rs).
/// Set here rather than in `args/`, so that the man pages, generated from the same
/// `Command`, do not change with every commit.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("USERNS_COMMIT"),
    ")"
);

/// Run a parsed command line; the result is the exit code (errors go through `exit.rs`).
pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Subid(SubidCommand::Show(a)) => cmd::subid::show(a),
        Command::Subid(SubidCommand::Check(a)) => cmd::subid::check(a),
        Command::Subid(SubidCommand::Add(a)) => cmd::subid_admin::add(a),
        Command::Subid(SubidCommand::Del(a)) => cmd::subid_admin::del(a),
        Command::Map(a) => cmd::map::run(a),
        Command::Translate(a) => cmd::translate::run(a),
        Command::Unshare(a) => cmd::unshare::run(a),
        Command::Enter(a) => cmd::enter::run(a),
        Command::Ls(a) => cmd::ls::run(a),
        Command::Stop(a) => cmd::stop::run(a),
        Command::Clean(a) => cmd::clean::run(a),
        Command::Chown(a) => cmd::chown::run(a),
        Command::Stat(a) => cmd::stat::run(a),
        Command::Doctor(a) => cmd::doctor::run(a),
        Command::Run(a) => cmd::run::run(a),
        Command::Images(a) => cmd::images::run(a),
        Command::Completions(a) => cmd::completions::run(a),
        Command::Image(ImageCommand::Check(a)) => cmd::image_check::run(a),
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => cmd::pull::run(a),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => cmd::pull::rmi(a),
        Command::Image(ImageCommand::Ls(a)) => cmd::images::run(a),
        Command::Ps(a) => cmd::ps::run(a),
        Command::Logs(a) => cmd::logs::run(a),
        Command::Kill(a) => cmd::lifecycle::kill(a),
        Command::Rm(a) => cmd::lifecycle::rm(a),
        Command::Wait(a) => cmd::lifecycle::wait(a),
        Command::Exec(a) => cmd::exec::run(a),
        Command::Whose(a) => cmd::whose::run(a),
        Command::Migrate(a) => cmd::migrate::run(a),
    }
}
