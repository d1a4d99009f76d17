//! The one error type of userns: what failed, why, and how to fix it.
//!
//! Every message a user sees is built here, so that each names the file, line,
//! id or pid it is about (`what`), the cause (`cause`) and the fix (`fix`).

use std::fmt;

/// How an error should be classified when it becomes an exit code (see `exit.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command line was wrong.
    Usage,
    /// userns (or the operation it was asked for) failed.
    Failure,
    /// The user's program was found but could not be executed (podman: 126).
    NotExecutable,
    /// The user's program was not found (podman: 127).
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    /// What failed, naming its subject: "cannot read /etc/subuid".
    pub what: String,
    /// Why it failed: "Permission denied (os error 13)".
    pub cause: Option<String>,
    /// What the user can do about it, one line.
    pub fix: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, what: impl Into<String>) -> Self {
        Error {
            kind,
            what: what.into(),
            cause: None,
            fix: None,
        }
    }

    pub fn failure(what: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failure, what)
    }

    pub fn usage(what: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, what)
    }

    pub fn because(mut self, cause: impl fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    /// An I/O error on `path`, with a fix chosen by the errno.
    pub fn io(action: &str, path: &std::path::Path, err: &std::io::Error) -> Self {
        let e = Error::failure(format!("cannot {action} {}", path.display())).because(err);
        match err.kind() {
            std::io::ErrorKind::PermissionDenied => {
                e.fix("check the file's owner and mode (ls -l), or run as a user who may read it")
            }
            std::io::ErrorKind::NotFound => e.fix("check the path; it does not exist"),
            _ => e,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.what)?;
        if let Some(cause) = &self.cause {
            write!(f, ": {cause}")?;
        }
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix: {fix}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}
