//! The `userns` binary: parse the command line, run, turn the outcome into an exit code.
//!
//! `main` is the C entry point, not Rust's: Rust's runtime start-up reads
//! /proc/self/maps for the main thread's stack guard, installs a stack-overflow handler
//! on an alternate stack and ignores SIGPIPE (which userns set back at once): about
//! 0.09 ms of the ~1.5 ms of `userns enter NAME true` (perf stat, 500 runs each way,
//! alternated three times). userns needs none of it: an overflow still ends in SIGSEGV,
//! the arguments are taken from main's own argc and argv (std::env::args would rely on
//! glibc passing them to initialisers, which other C libraries do not), and what else
//! matters is done here: closed standard descriptors are opened on /dev/null, SIGPIPE
//! gets its default, stdout is flushed at the end.
// Every unsafe block says why it is sound, every unsafe fn what its caller must ensure;
// `cargo clippy -- -D warnings` in .ci/run enforces both.
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]
// Output goes through cli::render::out and messages through userns::note: print! and
// eprint! panic on a failed write (`userns map >/dev/full`).
#![deny(clippy::print_stdout, clippy::print_stderr)]
// The test harness of this binary target (no tests: --all-targets builds it) brings
// its own main.
#![cfg_attr(not(test), no_main)]
#![cfg_attr(test, allow(dead_code))]

mod cli;

use std::ffi::{CStr, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use userns::exit::{self, Convention};

/// The process's entry point, called by the C runtime.
///
/// # Safety
///
/// Only the C runtime calls it, with the argc and argv execve(2) gave the process: argv
/// holds argc pointers to NUL-terminated strings, then a null pointer, and they live as
/// long as the process.
#[cfg(not(test))]
#[no_mangle]
pub unsafe extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    userns::sys::sanitize_std_fds();
    userns::sys::reset_sigpipe();
    // SAFETY: argc and argv are as main's contract says.
    let args = unsafe { args_of(argc, argv) };
    let code = run(&args);
    // Rust's runtime would flush stdout on return from its main; this one must.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    libc::c_int::from(code)
}

/// The command line as the kernel passed it: bytes unchanged, since an argument need not
/// be UTF-8.
///
/// # Safety
///
/// `argv` must be null or point to `argc` pointers to NUL-terminated strings that outlive
/// this call.
unsafe fn args_of(argc: libc::c_int, argv: *const *const libc::c_char) -> Vec<OsString> {
    if argv.is_null() {
        return Vec::new();
    }
    let count = usize::try_from(argc).unwrap_or(0);
    (0..count)
        // SAFETY: i < argc, so argv[i] is within the array the caller vouched for.
        .map(|i| unsafe { *argv.add(i) })
        // An execve with an empty argv passes argc 0; never read past a null entry.
        .take_while(|arg| !arg.is_null())
        .map(|arg| {
            // SAFETY: a non-null entry of argv is a NUL-terminated string (see above).
            let arg = unsafe { CStr::from_ptr(arg) };
            OsStr::from_bytes(arg.to_bytes()).to_os_string()
        })
        .collect()
}

fn run(args: &[OsString]) -> u8 {
    let cli = match cli::parse(args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e, args),
    };
    let convention = if cli.command.runs_program() {
        Convention::Program
    } else {
        Convention::Inspect
    };
    match cli::run(cli) {
        Ok(code) => code,
        Err(err) => report(&err, convention),
    }
}

/// Tell the user about `err` and choose the exit code. A reader that closed the pipe
/// wanted no more: that ends quietly (see `render::out`).
fn report(err: &userns::error::Error, convention: Convention) -> u8 {
    if !cli::render::out::is_closed_pipe(err) {
        userns::note(err);
    }
    exit::for_error(err, convention)
}

/// Print clap's message; usage errors exit 2, or 125 for commands that run a program.
/// Help and version go to stdout, and a failed write of them is a failure like any other.
fn usage_error(e: clap::Error, args: &[OsString]) -> u8 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Styled as clap would: colours on a terminal only.
            let text = e.render();
            let text = if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                text.ansi().to_string()
            } else {
                text.to_string()
            };
            match cli::render::out::print(text) {
                Ok(()) => exit::OK,
                Err(err) => report(&err, Convention::Inspect),
            }
        }
        _ => {
            let _ = e.print();
            exit::for_usage_error(convention_of_words(args))
        }
    }
}

/// The convention of the subcommand a refused command line names: its first word that
/// is not an option, since clap has not said which subcommand it was parsing.
fn convention_of_words(args: &[OsString]) -> Convention {
    let program = args
        .iter()
        .skip(1)
        .find(|a| !a.as_bytes().starts_with(b"-"))
        .and_then(|a| a.to_str())
        .is_some_and(|a| cli::args::PROGRAM_COMMANDS.contains(&a));
    if program {
        Convention::Program
    } else {
        Convention::Inspect
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    #[test]
    fn arguments_are_taken_from_argv_bytes_unchanged() {
        let owned: Vec<CString> = [&b"userns"[..], b"enter", b"\xffx", b""]
            .iter()
            .map(|a| CString::new(*a).unwrap())
            .collect();
        let mut argv: Vec<*const libc::c_char> = owned.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        // SAFETY: argv holds 4 pointers to the NUL-terminated strings of `owned`, then null.
        let args = unsafe { args_of(4, argv.as_ptr()) };
        let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        assert_eq!(bytes, [&b"userns"[..], b"enter", b"\xffx", b""]);
        // SAFETY: a null argv is accepted, whatever argc says.
        assert!(unsafe { args_of(3, std::ptr::null()) }.is_empty());
    }

    #[test]
    fn a_refused_line_takes_the_convention_of_the_command_it_names() {
        let words = |w: &[&str]| w.iter().map(OsString::from).collect::<Vec<_>>();
        let of = |w: &[&str]| convention_of_words(&words(w));
        assert_eq!(of(&["userns", "--bogus", "run"]), Convention::Program);
        assert_eq!(of(&["userns", "ls", "--bogus"]), Convention::Inspect);
        assert_eq!(of(&["userns"]), Convention::Inspect);
    }
}
