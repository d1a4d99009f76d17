//! The SOURCE of `userns run`: a root filesystem directory, or an image archive or OCI
//! layout that `crate::image` unpacks into the user's cache. Located and its kind detected
//! outside, before any namespace exists, so that a bad source fails fast with exit code
//! 125; prepared inside the mapped namespace, where an archive's files can be given their
//! subordinate owners.

use crate::error::{Error, Result};
use crate::image::{self, ImageCache};
use crate::users::Account;
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

/// Make SOURCE absolute, check it exists and is a kind userns can run.
pub fn locate(source: &Path) -> Result<PathBuf> {
    let path = source.canonicalize().map_err(|e| {
        Error::io("use the source", source, &e).fix(
            "give a root filesystem directory, an image archive (podman save) or an OCI layout",
        )
    })?;
    image::detect(&path)?;
    Ok(path)
}

/// Prepare the located source (inside the mapped namespace, as uid 0 there).
pub fn prepare(source: &Path, account: &Account) -> Result<Prepared> {
    let prepared = image::prepare(source, &ImageCache::for_user(account))?;
    let c = prepared.config;
    Ok(Prepared {
        rootfs: prepared.rootfs,
        entrypoint: c.entrypoint,
        cmd: c.cmd,
        env: c.env,
        working_dir: c.working_dir,
        user: c.user,
    })
}
