//! The tree walkers' file system calls, from the system-call layer (`sys::fs`: *at(2)
//! calls relative to a directory descriptor, never through a symlink), and how their
//! failures and paths are shown.

pub use crate::sys::fs::*;
use std::io;

/// A reason for a failure report line: the OS message without "(os error N)".
pub(crate) fn reason(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Show a path's bytes on one line: newlines, control characters and bytes that are not
/// UTF-8 escaped as `\n`, `\xHH` (and `\\`), the rest as is.
pub fn display_bytes(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::fd::OwnedFd;

    #[test]
    fn display_escapes_what_breaks_a_line() {
        assert_eq!(
            display_bytes(b"a\nb\\c\xffd\x01 \xc3\xa9"),
            "a\\nb\\\\c\\xffd\\x01 é"
        );
    }

    #[test]
    fn symlinks_are_not_followed() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::os::unix::fs::symlink(t.path().join("d"), t.path().join("l")).unwrap();
        let anchor = OwnedFd::from(std::fs::File::open(t.path()).unwrap());
        let l = CString::new("l").unwrap();
        // O_NOFOLLOW|O_DIRECTORY on a symlink: ELOOP or ENOTDIR, depending on the kernel.
        let err = open_dir_at(anchor.as_fd(), &l).unwrap_err();
        assert!(
            matches!(err.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)),
            "{err}"
        );
        assert!(stat_at(anchor.as_fd(), &l).unwrap().is_symlink());
        let link = open_path_at(anchor.as_fd(), &l).unwrap();
        assert!(stat_fd(link.as_fd()).unwrap().is_symlink());
        assert_eq!(
            read_link_fd(link.as_fd()).unwrap(),
            t.path().join("d").as_os_str().as_encoded_bytes()
        );
        let names = read_names(anchor.as_fd()).unwrap();
        assert_eq!(names.len(), 2);
        // A second read of the same descriptor lists the names again.
        assert_eq!(read_names(anchor.as_fd()).unwrap().len(), 2);
    }

    use std::os::fd::AsFd;
}
