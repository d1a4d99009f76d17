//! The `userns` binary: parse the command line, run, turn the outcome into an exit code.
//!
//! `main` is the C entry point, not Rust's: Rust's runtime start-up reads
//! /proc/self/maps for the main thread's stack guard, installs a stack-overflow handler
//! on an alternate stack and ignores SIGPIPE (which userns set back at once): about
//! 0.09 ms of the ~1.5 ms of `userns enter NAME true` (perf stat, 500 runs each way,
//! alternated three times). userns needs none of it: an overflow still ends in SIGSEGV,
//! the arguments come from glibc as before, and what else matters is done here: closed
//! standard descriptors are opened on /dev/null, SIGPIPE gets its default, stdout is
//! flushed at the end.
// The test harness of this binary target (no tests: --all-targets builds it) brings
// its own main.
#![cfg_attr(not(test), no_main)]
#![cfg_attr(test, allow(dead_code))]

mod cli;

use clap::Parser;
use cli::args::{Cli, PROGRAM_COMMANDS};
use userns::exit::{self, Convention};

#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    userns::sys::sanitize_std_fds();
    userns::sys::reset_sigpipe();
    let code = run();
    // Rust's runtime would flush stdout on return from its main; this one must.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    libc::c_int::from(code)
}

fn run() -> u8 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let parsed = match cli::quick::plain_enter(&args) {
        Some(cli) => Ok(cli),
        None => Cli::try_parse_from(&args),
    };
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let convention = if cli.command.runs_program() {
        Convention::Program
    } else {
        Convention::Inspect
    };
    match cli::cmd::run(cli, &args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("userns: {err}");
            exit::for_error(&err, convention)
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
