//! Whiteouts of the OCI image-spec (`layer.md`): `.wh.NAME` deletes NAME from the layers
//! below, `.wh..wh..opq` hides everything lower layers put in its directory. Both only
//! ever remove beneath the root ([`super::beneath::remove_all_at`] takes one name of a
//! directory resolved beneath it).

use super::beneath::{self, InnerPath, Root};
use super::entry_error::EntryError;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;

pub(super) const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// `.wh.NAME` removes NAME; `.wh..wh..opq` removes everything in its directory that this
/// layer did not put there (earlier in the same stream entries may already have landed).
pub(super) fn apply_whiteout(
    root: &Root,
    path: &InnerPath,
    this_layer: &HashSet<InnerPath>,
) -> Result<(), EntryError> {
    let name = path.name().as_bytes();
    let hidden = &name[WHITEOUT_PREFIX.len()..];
    // The image-spec's whiteout names a sibling: `.wh.`, `.wh..` and `.wh...` name none
    // (nothing, the directory itself, its parent), and removing `..` beneath a directory
    // is removing what holds it: at the top, the staging directory of the unpack.
    if matches!(hidden, b"" | b"." | b"..") {
        let named = match hidden {
            b"" => "nothing",
            b"." => "its own directory",
            _ => "the directory above its own",
        };
        return Err(EntryError::Refused {
            cause: format!(
                "the whiteout {:?} names {named}, not a file beside it",
                String::from_utf8_lossy(name)
            ),
            fix: "the layer is damaged or hostile: do not use this image (a whiteout \
                  .wh.NAME deletes the file NAME in its own directory, nothing else)"
                .to_string(),
        });
    }
    let parent = match root.parent_of(path, false) {
        Ok(fd) => fd,
        // Nothing below to hide.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if name == OPAQUE_MARKER.as_bytes() {
        return Ok(prune(&parent, path.parent_path(), this_layer, 0)?);
    }
    if hidden.starts_with(WHITEOUT_PREFIX.as_bytes()) {
        // `.wh..wh.plnk` and the like: aufs bookkeeping, not a whiteout of a file.
        return Ok(());
    }
    Ok(beneath::remove_all_at(&parent, OsStr::from_bytes(hidden))?)
}

/// Remove what lies in `dir` (beneath `dir_path`) that this layer did not create.
fn prune(
    dir: &std::os::fd::OwnedFd,
    dir_path: Option<InnerPath>,
    this_layer: &HashSet<InnerPath>,
    depth: usize,
) -> io::Result<()> {
    for child in beneath::list_dir(dir)? {
        let child_path = match &dir_path {
            Some(p) => p.join(&child),
            None => InnerPath::clean(child.as_bytes()).expect("a name is a path"),
        };
        if !this_layer.contains(&child_path) {
            beneath::remove_all_at(dir, &child)?;
        } else if depth < 256 && beneath::lstat_at(dir, &child).is_ok_and(|st| beneath::is_dir(&st))
        {
            // A directory this layer made (or merged into) still holds what lower layers
            // put beneath it; the opaque marker hides that too.
            let sub = beneath::open_dir_at(dir, &child)?;
            prune(&sub, Some(child_path), this_layer, depth + 1)?;
        }
    }
    Ok(())
}
