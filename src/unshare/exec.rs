//! Run the user's program in place: what the shell or command inherits, and the exit
//! codes of podman's convention when it cannot be run (126 not executable, 127 not found).

use crate::error::{Error, ErrorKind, Result};
use crate::exit::kind_for_exec_errno;
use nix::errno::Errno;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A program to run, with every C string built before any fork.
#[derive(Debug, Clone)]
pub struct Program {
    pub argv: Vec<CString>,
    /// The command as the user typed it, for messages.
    pub shown: String,
    pub wd: Option<PathBuf>,
    /// The PATH the program is searched in, when it is not this process's own (a
    /// container's), for the "command not found" message.
    pub search_path: Option<String>,
}

impl Program {
    /// COMMAND [ARG...], or the user's shell ($SHELL, then /bin/sh) when none is given.
    /// The words are bytes, passed to execve unchanged: an argument need not be UTF-8.
    pub fn new<S: AsRef<OsStr>>(command: &[S], wd: Option<&Path>) -> Result<Program> {
        let words: Vec<OsString> = if command.is_empty() {
            vec![default_shell()]
        } else {
            command.iter().map(|w| w.as_ref().to_os_string()).collect()
        };
        let argv = words
            .iter()
            .map(|w| {
                CString::new(w.as_bytes()).map_err(|_| {
                    Error::usage(format!("argument {w:?} contains a NUL byte"))
                        .fix("remove the NUL byte")
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let shown: Vec<String> = words
            .iter()
            .map(|w| w.to_string_lossy().into_owned())
            .collect();
        Ok(Program {
            argv,
            shown: shown.join(" "),
            wd: wd.map(Path::to_path_buf),
            search_path: None,
        })
    }

    /// The NULL-terminated argv pointer array execve takes. Build it before fork: it
    /// allocates, and a forked child may then exec without allocating.
    pub(crate) fn argv_ptrs(&self) -> Vec<*const libc::c_char> {
        self.argv
            .iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    }

    pub(crate) fn name(&self) -> String {
        self.argv[0].to_string_lossy().into_owned()
    }
}

pub(crate) fn default_shell() -> OsString {
    std::env::var_os("SHELL")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".into())
}

pub(crate) use crate::sys::signals::reset_all as reset_signals;

/// Change to the program's working directory.
pub(crate) fn enter_wd(program: &Program) -> Result<()> {
    if let Some(wd) = &program.wd {
        std::env::set_current_dir(wd).map_err(|e| {
            Error::failure(format!("cannot change to directory {}", wd.display()))
                .because(e)
                .fix("check that the directory exists and is searchable from inside the namespace")
        })?;
    }
    Ok(())
}

/// Replace this process with the program. Returns only on failure, with the error whose
/// kind gives exit code 126 or 127.
pub(crate) fn exec(program: &Program) -> Error {
    if let Err(e) = enter_wd(program) {
        return e;
    }
    reset_signals();
    let errno = raw_execvp(program);
    exec_error(program, errno)
}

/// execvp of the program (builds the pointer array: not for use after fork).
pub(crate) fn raw_execvp(program: &Program) -> Errno {
    raw_execvp_ptrs(&program.argv[0], &program.argv_ptrs())
}

/// execvp with a prepared, NULL-terminated pointer array (no allocation at all).
pub(crate) fn raw_execvp_ptrs(file: &CString, argv: &[*const libc::c_char]) -> Errno {
    // SAFETY: argv is NULL-terminated and its strings outlive the call.
    unsafe {
        libc::execvp(file.as_ptr(), argv.as_ptr());
    }
    Errno::last()
}

/// The error for a failed exec of `program` with `errno`.
pub(crate) fn exec_error(program: &Program, errno: Errno) -> Error {
    let name = program.name();
    let kind = kind_for_exec_errno(errno);
    match kind {
        ErrorKind::NotFound => Error::new(kind, format!("{name}: command not found"))
            .because(errno.desc())
            .fix(if name.contains('/') {
                "check the path".to_string()
            } else {
                format!(
                    "check the name, or give its full path (PATH is {})",
                    program
                        .search_path
                        .clone()
                        .unwrap_or_else(|| std::env::var("PATH").unwrap_or_default())
                )
            }),
        _ => Error::new(kind, format!("{name}: cannot execute"))
            .because(errno.desc())
            .fix(match errno {
                Errno::EACCES => "make it executable (chmod +x), or check that its filesystem is not mounted noexec",
                Errno::ENOEXEC => "it is not a binary the kernel can run; add a #! line to a script",
                _ => "check the file",
            }),
    }
}
