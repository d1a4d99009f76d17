//! The `userns` binary: parse the command line, run, turn the outcome into an exit code.

use clap::Parser;
use std::process::ExitCode;
use userns::cli::{Cli, PROGRAM_COMMANDS};
use userns::exit::{self, Convention};

fn main() -> ExitCode {
    userns::sys::reset_sigpipe();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let parsed = match userns::quickparse::plain_enter(&args) {
        Some(cli) => Ok(cli),
        None => Cli::try_parse_from(&args),
    };
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => return ExitCode::from(usage_error(e)),
    };
    let convention = if cli.command.runs_program() {
        Convention::Program
    } else {
        Convention::Inspect
    };
    match userns::cmd::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("userns: {err}");
            ExitCode::from(exit::for_error(&err, convention))
        }
    }
}

/// Print clap's message; usage errors exit 2, or 125 for commands that run a program.
fn usage_error(e: clap::Error) -> u8 {
    use clap::error::ErrorKind;
    let _ = e.print();
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => exit::OK,
        _ => {
            let program = std::env::args()
                .skip(1)
                .find(|a| !a.starts_with('-'))
                .is_some_and(|a| PROGRAM_COMMANDS.contains(&a.as_str()));
            if program {
                exit::OWN_FAILURE
            } else {
                exit::USAGE
            }
        }
    }
}
