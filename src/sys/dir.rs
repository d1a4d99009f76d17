//! Reading a directory through a descriptor (getdents64(2) by way of rustix's `Dir`).

use std::ffi::CString;
use std::io;
use std::os::fd::BorrowedFd;

/// The names in a directory, without `.` and `..`. Reads through a duplicate descriptor,
/// so `dir` stays usable for the *at calls. Not a reopen of "." (rustix's
/// `Dir::read_from`): that would need search permission, which a directory of mode 0444
/// does not give.
pub(crate) fn read_names(dir: BorrowedFd<'_>) -> io::Result<Vec<CString>> {
    let dup = dir.try_clone_to_owned()?;
    // The duplicate shares the file offset (dup(2)); start from the beginning in case an
    // earlier read of the same open directory moved it.
    rustix::fs::seek(&dup, rustix::fs::SeekFrom::Start(0))?;
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::new(dup)? {
        let entry = entry?;
        let name = entry.file_name();
        let bytes = name.to_bytes();
        if bytes != b"." && bytes != b".." {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, OwnedFd};

    #[test]
    fn lists_names_without_dots_and_again_on_the_same_descriptor() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::fs::write(t.path().join("f"), b"").unwrap();
        let dir = OwnedFd::from(std::fs::File::open(t.path()).unwrap());
        let mut names = read_names(dir.as_fd()).unwrap();
        names.sort();
        assert_eq!(names, [c"d".to_owned(), c"f".to_owned()]);
        assert_eq!(read_names(dir.as_fd()).unwrap().len(), 2);
    }
}
