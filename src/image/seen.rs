//! The paths a layer has named so far, to refuse one it names twice.
//!
//! podman and docker record every layer they store with tar-split, which takes one entry
//! per path: its packer fails with "duplicates of file paths not supported" on a second
//! entry whose name, cleaned as Go's `filepath.Clean` does, matches an earlier one's. So
//! `podman load` refuses such a layer (tests/image_e2e.rs checks that it does), whatever
//! the two entries are; userns refuses the same layers, rather than unpack an image that
//! podman would not.

use crate::error::Error;
use std::collections::HashSet;

#[derive(Debug, Default)]
pub(crate) struct SeenPaths {
    seen: HashSet<Vec<u8>>,
}

impl SeenPaths {
    /// Record `raw` (an entry's name as the tar gives it); false when it was seen before.
    pub(crate) fn first_time(&mut self, raw: &[u8]) -> bool {
        self.seen.insert(go_clean(raw))
    }
}

/// The refusal of an entry whose path the layer `label` named before.
pub(crate) fn named_twice(label: &str, shown: &str) -> Error {
    Error::failure(format!("cannot unpack {shown:?} of {label}"))
        .because(
            "an earlier entry of the layer has the same path; podman and docker refuse such a \
             layer (\"duplicates of file paths not supported\"), and so does userns",
        )
        .fix(
            "the layer was written with a path listed twice (tar -r appends a second copy): \
             build the image again without the duplicate",
        )
}

/// A name cleaned as Go's `filepath.Clean` cleans it: `.` and empty components dropped,
/// `..` taken back lexically (at the top of a rooted name it stays at the top, in a
/// relative one it is kept), `.` when nothing is left.
fn go_clean(raw: &[u8]) -> Vec<u8> {
    let rooted = raw.starts_with(b"/");
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => match parts.last() {
                Some(last) if *last != b".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(part),
            },
            _ => parts.push(part),
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    if rooted {
        out.push(b'/');
    }
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(part);
    }
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_as_go_cleans_them() {
        let c = |s: &str| String::from_utf8(go_clean(s.as_bytes())).unwrap();
        assert_eq!(c("./a//b/"), "a/b");
        assert_eq!(c("a/../b"), "b");
        assert_eq!(c("../../a"), "../../a");
        assert_eq!(c("/../a"), "/a");
        assert_eq!(c("./"), ".");
        assert_eq!(c(""), ".");
        assert_eq!(c("/"), "/");
        assert_eq!(c("a/b/../.."), ".");
    }

    #[test]
    fn a_path_named_twice_is_told() {
        let mut seen = SeenPaths::default();
        assert!(seen.first_time(b"./etc/"));
        assert!(seen.first_time(b"etc/passwd"));
        assert!(!seen.first_time(b"etc"));
        assert!(!seen.first_time(b"./etc/./passwd"));
        // Go keeps a rooted name apart from a relative one.
        assert!(seen.first_time(b"/etc/passwd"));
    }
}
