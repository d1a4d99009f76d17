//! One file per subcommand, each a thin layer over the library modules.

pub mod chown;
pub mod clean;
pub mod completions;
pub mod doctor;
pub mod enter;
pub mod images;
pub mod ls;
pub mod map;
pub mod run;
pub mod stat;
pub mod stop;
pub mod subid;
pub mod subid_admin;
pub mod translate;
pub mod unshare;

use crate::cli::args::{Cli, Command, SubidCommand};
use std::ffi::OsString;
use userns::error::Result;

/// Run a parsed command line; the result is the exit code (errors go through `exit.rs`).
/// `words` is the command line it was parsed from.
pub fn run(cli: Cli, words: &[OsString]) -> Result<u8> {
    match cli.command {
        Command::Subid(SubidCommand::Show(a)) => subid::show(a),
        Command::Subid(SubidCommand::Check(a)) => subid::check(a),
        Command::Subid(SubidCommand::Add(a)) => subid_admin::add(a),
        Command::Subid(SubidCommand::Del(a)) => subid_admin::del(a),
        Command::Map(a) => map::run(a),
        Command::Translate(a) => translate::run(a),
        Command::Unshare(a) => unshare::run(a, words),
        Command::Enter(a) => enter::run(a, words),
        Command::Ls(a) => ls::run(a),
        Command::Stop(a) => stop::run(a),
        Command::Clean(a) => clean::run(a),
        Command::Chown(a) => chown::run(a),
        Command::Stat(a) => stat::run(a),
        Command::Doctor(a) => doctor::run(a),
        Command::Run(a) => run::run(a, words),
        Command::Images(a) => images::run(a),
        Command::Completions(a) => completions::run(a),
    }
}
