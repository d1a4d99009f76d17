//! The one error type of userns: what failed, why, and how to fix it.
//!
//! Every message a user sees is built here, so that each names the file, line,
//! id or pid it is about (`what`), the cause (`cause`) and the fix (`fix`). The cause
//! keeps the error it came from (an `io::Error`, an errno, another `Error`), so that
//! callers can ask `source()` what went wrong instead of reading the text; the text a
//! user sees is made once, at the command boundary (`userns: {err}` in main.rs).

use nix::errno::Errno;
use std::fmt;
use std::io;

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
    /// An image refused before anything of it was unpacked, because the caller's map
    /// cannot hold its owners: 125 for `pull` as for `run` (the ids-first check, and the
    /// code podman gives "potentially insufficient UIDs or GIDs").
    ImageRefused,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    /// What failed, naming its subject: "cannot read /etc/subuid".
    pub what: String,
    /// Why it failed: "Permission denied (os error 13)", and the error that said so.
    pub cause: Option<Cause>,
    /// What the user can do about it, one line.
    pub fix: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an operation failed: the text shown after "what: ", and the typed error it was
/// made from, when there is one (`Error::source` returns it).
///
/// The text is fixed when the cause is made, from the error's own `Display`, so that a
/// message reads the same whatever happens to the error later (an `io::Error` passed by
/// reference is rebuilt, not cloned, and its rebuilt form may print differently), and
/// so that `e.cause.as_deref()` reads it as a `&str`.
#[derive(Debug)]
pub struct Cause {
    text: String,
    source: Source,
}

/// The typed error behind a cause.
#[derive(Debug)]
enum Source {
    Io(io::Error),
    Errno(Errno),
    Error(Box<Error>),
    /// An error of another library (serde_json's, a map's validation).
    Other(Box<dyn std::error::Error + Send + Sync>),
    /// Only text: a reason userns states itself ("it has exited").
    Text,
}

impl Cause {
    /// A cause stated in words, with no error behind it.
    pub(crate) fn text(text: impl Into<String>) -> Self {
        Cause {
            text: text.into(),
            source: Source::Text,
        }
    }

    /// The same typed source, told in other words (a caller that adds what it knows).
    pub(crate) fn reworded(self, text: impl Into<String>) -> Self {
        Cause {
            text: text.into(),
            ..self
        }
    }

    /// Another library's error, kept as the source.
    pub(crate) fn other(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Cause {
            text: e.to_string(),
            source: Source::Other(Box::new(e)),
        }
    }
}

/// The text, as `e.cause.as_deref()` reads it.
impl std::ops::Deref for Cause {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A copy of an `io::Error`, which is not `Clone`: the same errno, or else the same kind
/// and message (a custom payload's type is not kept).
fn copy_io_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

impl Clone for Cause {
    fn clone(&self) -> Self {
        let source = match &self.source {
            Source::Io(e) => Source::Io(copy_io_error(e)),
            Source::Errno(errno) => Source::Errno(*errno),
            Source::Error(inner) => Source::Error(inner.clone()),
            // Not every error is Clone; the copy keeps the text.
            Source::Other(_) | Source::Text => Source::Text,
        };
        Cause {
            text: self.text.clone(),
            source,
        }
    }
}

/// Two causes are equal when they read the same: what a user (and a test) can tell.
impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Cause {}

impl From<io::Error> for Cause {
    fn from(e: io::Error) -> Self {
        Cause {
            text: e.to_string(),
            source: Source::Io(e),
        }
    }
}

impl From<&io::Error> for Cause {
    fn from(e: &io::Error) -> Self {
        Cause {
            text: e.to_string(),
            source: Source::Io(copy_io_error(e)),
        }
    }
}

impl From<Errno> for Cause {
    fn from(errno: Errno) -> Self {
        Cause {
            text: errno.to_string(),
            source: Source::Errno(errno),
        }
    }
}

impl From<&Errno> for Cause {
    fn from(errno: &Errno) -> Self {
        Cause::from(*errno)
    }
}

impl From<Error> for Cause {
    fn from(e: Error) -> Self {
        Cause {
            text: e.to_string(),
            source: Source::Error(Box::new(e)),
        }
    }
}

impl From<&Error> for Cause {
    fn from(e: &Error) -> Self {
        Cause::from(e.clone())
    }
}

impl From<serde_json::Error> for Cause {
    fn from(e: serde_json::Error) -> Self {
        Cause::other(e)
    }
}

impl From<String> for Cause {
    fn from(text: String) -> Self {
        Cause::text(text)
    }
}

impl From<&String> for Cause {
    fn from(text: &String) -> Self {
        Cause::text(text.as_str())
    }
}

impl From<&str> for Cause {
    fn from(text: &str) -> Self {
        Cause::text(text)
    }
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, what: impl Into<String>) -> Self {
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

    /// An image refused for its owners ([`ErrorKind::ImageRefused`]).
    pub fn image_refused(what: impl Into<String>) -> Self {
        Error::new(ErrorKind::ImageRefused, what)
    }

    pub fn usage(what: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, what)
    }

    pub fn because(mut self, cause: impl Into<Cause>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    /// An I/O error on `path`, with a fix chosen by the errno.
    pub fn io(action: &str, path: &std::path::Path, err: &io::Error) -> Self {
        let e = Error::failure(format!("cannot {action} {}", path.display())).because(err);
        match err.kind() {
            io::ErrorKind::PermissionDenied => {
                e.fix("check the file's owner and mode (ls -l), or run as a user who may read it")
            }
            io::ErrorKind::NotFound => e.fix("check the path; it does not exist"),
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

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause.as_ref()?.source {
            Source::Io(e) => Some(e),
            Source::Errno(errno) => Some(errno),
            Source::Error(inner) => Some(inner.as_ref()),
            Source::Other(e) => Some(e.as_ref()),
            Source::Text => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn the_message_reads_what_cause_and_fix() {
        let io = io::Error::from_raw_os_error(libc::EACCES);
        let e = Error::failure("cannot read /etc/subuid")
            .because(io)
            .fix("run as root");
        assert_eq!(
            e.to_string(),
            "cannot read /etc/subuid: Permission denied (os error 13)\n  fix: run as root"
        );
        assert_eq!(Error::failure("x").to_string(), "x");
        assert_eq!(Error::failure("x").because("y").to_string(), "x: y");
        let errno = Error::failure("cannot setns").because(Errno::EPERM);
        assert_eq!(
            errno.to_string(),
            "cannot setns: EPERM: Operation not permitted"
        );
        // A nested error reads as it did when its cause was its text: fix line included.
        let outer = Error::failure("cannot unpack").because(&e);
        assert_eq!(outer.to_string(), format!("cannot unpack: {e}"));
    }

    #[test]
    fn an_io_cause_is_the_source() {
        let io = io::Error::from_raw_os_error(libc::ENOENT);
        let e = Error::io("read", std::path::Path::new("/nonexistent"), &io);
        let source = e.source().expect("an io error is kept");
        let io = source.downcast_ref::<io::Error>().expect("as an io::Error");
        assert_eq!(io.raw_os_error(), Some(libc::ENOENT));
        assert!(source.source().is_none());
        // A cause in words has no source.
        assert!(Error::failure("x").because("y").source().is_none());
        assert!(Error::failure("x").source().is_none());
    }

    #[test]
    fn a_nested_error_chains_to_its_own_cause() {
        let inner = Error::failure("cannot open /run/x").because(Errno::EACCES);
        let outer = Error::failure("cannot keep the namespace").because(inner);
        let first = outer.source().expect("the inner error");
        let inner = first.downcast_ref::<Error>().expect("an Error");
        assert_eq!(inner.what, "cannot open /run/x");
        let second = first.source().expect("the errno");
        assert_eq!(second.downcast_ref::<Errno>(), Some(&Errno::EACCES));
    }

    #[test]
    fn a_copy_keeps_the_text_and_the_errno() {
        let custom = io::Error::other("short read");
        let e = Error::failure("x").because(&custom);
        assert_eq!(e.clone(), e);
        assert_eq!(e.clone().to_string(), "x: short read");
        let os = Error::failure("x").because(io::Error::from_raw_os_error(libc::EIO));
        let copy = os.clone();
        let io = copy.source().unwrap().downcast_ref::<io::Error>().unwrap();
        assert_eq!(io.raw_os_error(), Some(libc::EIO));
        assert_eq!(copy.cause.as_deref(), os.cause.as_deref());
    }
}
