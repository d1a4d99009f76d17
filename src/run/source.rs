//! The SOURCE of `userns run`: a root filesystem directory, or an image archive unpacked
//! by `crate::image` into the user's cache. Located (outside) before the namespace is
//! made, so that a bad source fails fast with exit code 125; prepared inside it, where an
//! archive's files can be given their subordinate owners.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// What `userns run` takes from the source: the root, and the image's run configuration
/// (all empty for a plain directory).
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    pub rootfs: PathBuf,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
}

/// Make SOURCE absolute and check it exists.
pub fn locate(source: &Path) -> Result<PathBuf> {
    source.canonicalize().map_err(|e| {
        Error::io("use the source", source, &e).fix(
            "give a root filesystem directory, an image archive (podman save) or an OCI layout",
        )
    })
}

/// Prepare the located source (inside the mapped namespace).
pub fn prepare(source: &Path) -> Result<Prepared> {
    if source.is_dir() && !source.join("oci-layout").exists() {
        return Ok(Prepared {
            rootfs: source.to_path_buf(),
            ..Prepared::default()
        });
    }
    Err(Error::failure(format!(
        "{}: image archives and OCI layouts are not supported by this build",
        source.display()
    ))
    .fix("unpack the image into a directory (podman export | tar -x) and run that"))
}
