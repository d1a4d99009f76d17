//! The SOURCE of `userns run`: a root filesystem directory, or an image archive or OCI
//! layout that `crate::image` unpacks into the user's cache. Located and its kind detected
//! outside, before any namespace exists, so that a bad source fails fast with exit code
//! 125; prepared inside the mapped namespace, where an archive's files can be given their
//! subordinate owners. A SOURCE that is no path but an image reference is a cached
//! image's name, or is pulled (downloaded and verified, before any namespace; unpacked
//! inside, as an archive is).

use crate::error::{Error, Result};
use crate::image::{self, ImageCache, SourceKind};
use crate::users::Account;
use std::path::{Path, PathBuf};

/// What `userns run` takes from the source: the root, and the image's run configuration
/// (all empty for a plain directory).
#[derive(Debug, Clone, Default)]
pub(crate) struct Prepared {
    pub rootfs: PathBuf,
    /// The image id, or a directory's `dir:` id.
    pub id: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    /// The image's StopSignal, as written.
    pub stop_signal: Option<String>,
}

/// Where the container's root comes from, found before any namespace exists.
pub(crate) enum Located {
    /// A directory, archive or layout at this (absolute) path.
    Path(PathBuf, SourceKind),
    /// An image pulled before, by its id.
    Cached(String),
    /// An image just downloaded and verified, to unpack inside the namespace.
    Pulled(Box<crate::registry::Fetched>),
}

impl Located {
    /// SOURCE as a kept layer records it: the path made absolute, or the reference.
    pub(crate) fn shown(&self, given: &Path) -> PathBuf {
        match self {
            Located::Path(path, _) => path.clone(),
            Located::Cached(_) | Located::Pulled(_) => given.to_path_buf(),
        }
    }

    fn kind(&self) -> SourceKind {
        match self {
            Located::Path(_, kind) => *kind,
            Located::Cached(_) | Located::Pulled(_) => SourceKind::OciLayout,
        }
    }
}

/// SOURCE as a path when something is there; else as an image reference: a name pulled
/// before, or one pulled now (`pull.reference` is SOURCE).
pub(crate) fn locate_or_pull(
    source: &Path,
    rootfs_rw: bool,
    pull: &crate::registry::PullSpec,
    quiet: bool,
    account: &Account,
) -> Result<Located> {
    let text = source.to_str().unwrap_or("");
    if !crate::registry::pull::looks_like_reference(text) {
        let (path, kind) = locate(source, rootfs_rw)?;
        return Ok(Located::Path(path, kind));
    }
    check_rootfs_rw(source, SourceKind::OciLayout, rootfs_rw)?;
    let cache = ImageCache::for_user(account);
    if let Some(id) = crate::registry::pull::cached(text, &cache, account)? {
        return Ok(Located::Cached(id));
    }
    let spec = crate::registry::PullSpec {
        reference: text.to_string(),
        ..pull.clone()
    };
    let progress = crate::registry::pull::progress_bar(quiet);
    let fetched = crate::registry::fetch(&spec, &cache, account, &progress)?;
    Ok(Located::Pulled(Box::new(fetched)))
}

/// Make SOURCE absolute, check it exists and is a kind userns can run; `rootfs_rw` only
/// for a directory of the user's (see `check_rootfs_rw`).
pub(crate) fn locate(source: &Path, rootfs_rw: bool) -> Result<(PathBuf, SourceKind)> {
    let path = source.canonicalize().map_err(|e| {
        Error::io("use the source", source, &e).fix(
            "give a root filesystem directory, an image archive (podman save) or an OCI layout",
        )
    })?;
    let kind = image::detect(&path)?;
    check_rootfs_rw(&path, kind, rootfs_rw)?;
    Ok((path, kind))
}

/// `--rootfs-rw` writes to the source itself: fine for a directory the user gave, not for
/// an image, whose root is the one copy in the cache that every later container of the
/// image starts from.
fn check_rootfs_rw(source: &Path, kind: SourceKind, rootfs_rw: bool) -> Result<()> {
    if !rootfs_rw || kind == SourceKind::RootfsDir {
        return Ok(());
    }
    Err(Error::usage(format!(
        "--rootfs-rw cannot be used with {} (an image, {})",
        source.display(),
        kind.name()
    ))
    .because("its root filesystem is the image cache's copy, shared by every container of the image; writes would change the image for good")
    .fix("drop --rootfs-rw: the container then writes to a layer of its own (--keep NAME keeps that layer between runs)"))
}

/// Prepare the located source (inside the mapped namespace, as uid 0 there); `located` is
/// the kind `locate` found.
pub(crate) fn prepare(located: &Located, account: &Account, rootfs_rw: bool) -> Result<Prepared> {
    let cache = ImageCache::for_user(account);
    // The cache's top, the userns data dir, is private before anything is unpacked under
    // it (created so, or made so when an older userns left it open); the cache itself is
    // private too (`ImageCache::install`).
    let secure_top = || match cache.root.parent() {
        Some(top) => crate::trusted_dir::ensure_all(top, crate::trusted_dir::Kind::Private),
        None => Ok(()),
    };
    if located.kind() != SourceKind::RootfsDir {
        secure_top()?;
    }
    let (source, prepared) = match located {
        // Before anything is unpacked: every owner in the layers must be one this
        // namespace maps, or the run stops here, with nothing written to the cache (ids
        // first). A pulled image is checked so too (`registry::install`).
        Located::Path(path, _) => (path.clone(), image::prepare_checked(path, &cache, account)?),
        Located::Cached(id) => (
            PathBuf::from(id),
            image::prepare_cached(id, &cache)?.ok_or_else(|| {
                Error::failure(format!("image {id} left the cache"))
                    .fix("run again: it is pulled anew")
            })?,
        ),
        Located::Pulled(fetched) => {
            let image = crate::registry::install(fetched, &cache, account)?;
            (
                PathBuf::from(fetched.origin()),
                image::prepare_cached(&image.id, &cache)?
                    .ok_or_else(|| Error::failure(format!("image {} left the cache", image.id)))?,
            )
        }
    };
    let source = source.as_path();
    let located = located.kind();
    // Checked again with the kind read here, in case the source changed since `locate`,
    // and before the container can write anything.
    check_rootfs_rw(source, prepared.kind, rootfs_rw)?;
    if prepared.kind != SourceKind::RootfsDir && located == SourceKind::RootfsDir {
        secure_top()?;
    }
    let c = prepared.config;
    Ok(Prepared {
        rootfs: prepared.rootfs,
        id: prepared.id,
        entrypoint: c.entrypoint,
        cmd: c.cmd,
        env: c.env,
        working_dir: c.working_dir,
        user: c.user,
        stop_signal: c.stop_signal,
    })
}
