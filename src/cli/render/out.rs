//! Standard output, checked: every command prints through `print`, so that a full disk,
//! a closed descriptor or a reader gone away is an error userns reports, never print!'s
//! panic (which, in a binary built with panic=abort or in a panic while panicking, ends
//! in SIGABRT and status 134).
//!
//! SIGPIPE is set to its default at start (main.rs), so a reader that went away
//! (`userns ls | head -1`) ends userns quietly, as it ends coreutils. When the signal is
//! blocked or ignored by whoever started userns, the write fails with EPIPE instead, and
//! that too ends quietly: no message (the reader wanted no more), status 1.

use std::io::Write;
use userns::error::{Error, Result};

/// Write `text` to stdout and flush it, so that a failed write is seen here and not lost
/// in a flush at exit.
pub fn print(text: impl AsRef<[u8]>) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_ref())
        .and_then(|()| stdout.flush())
        .map_err(write_error)
}

/// `print` with a newline after `text`.
pub fn println(text: impl AsRef<[u8]>) -> Result<()> {
    let mut line = text.as_ref().to_vec();
    line.push(b'\n');
    print(line)
}

/// The error for a failed write to stdout: "write error" and its cause, as coreutils
/// says it ("write error: No space left on device").
pub fn write_error(e: std::io::Error) -> Error {
    Error::failure("write error on standard output")
        .because(e)
        .fix("check where standard output goes: a full file system, a closed descriptor")
}

/// Whether `err` is a write to a pipe whose reader has gone (EPIPE): the caller ends
/// quietly.
pub fn is_closed_pipe(err: &Error) -> bool {
    use std::error::Error as _;
    err.what == "write error on standard output"
        && err
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Ask `question` on the terminal (stderr, read from stdin); only "y" or "yes" is yes.
/// `clean` and `migrate` ask before they change anything.
pub fn confirmed(question: &str) -> Result<bool> {
    use std::io::{BufRead, Write};
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{question} [y/N] ").and_then(|()| stderr.flush());
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::failure("cannot read the answer from the terminal").because(e))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_is_told_apart_from_other_write_errors() {
        let epipe = write_error(std::io::Error::from_raw_os_error(libc::EPIPE));
        assert!(is_closed_pipe(&epipe));
        let full = write_error(std::io::Error::from_raw_os_error(libc::ENOSPC));
        assert!(!is_closed_pipe(&full));
        assert!(full
            .to_string()
            .starts_with("write error on standard output: No space left on device (os error 28)"));
        let other =
            Error::failure("cannot read x").because(std::io::Error::from_raw_os_error(libc::EPIPE));
        assert!(!is_closed_pipe(&other));
    }
}
