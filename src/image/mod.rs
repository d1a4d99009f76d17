//! Container images as `userns run` takes them: a root filesystem directory, a
//! docker-archive (`podman save`, `docker save`), an OCI archive or an OCI image layout.
//!
//! A directory is used in place. An archive or layout is unpacked once, inside the mapped
//! user namespace, into a per-user cache keyed by the image's config digest, so that the
//! owners in the layers land on the user's subordinate ids (a file owned by 1000 in the
//! image is owned by start+999 on the host), as podman's rootless storage does.
//!
//! - [`source`]: the archive or layout as a set of named blobs (kind detection too);
//! - [`manifest`]: manifest.json / index.json → the config and the ordered layers;
//! - [`digest`]: sha256 and sha512 digests, computed while layers stream;
//! - [`decoder`]: a layer blob decompressed and hashed, on a thread of its own;
//! - [`chunks`]: bytes sent in chunks over a channel, read as one stream;
//! - [`layer`]: one layer stream applied to a root (whiteouts, links, owners, modes);
//! - [`whiteout`]: `.wh.NAME` and opaque markers;
//! - [`seen`]: the paths a layer named, as podman refuses a path named twice;
//! - [`tarstream`]: a layer's tar entries, sizes and sparse maps known before their data;
//! - [`sparse`]: GNU tar's sparse formats, written with their holes;
//! - [`limits`]: what an unpack may write, weighed before it writes it;
//! - [`beneath`]: the openat2-confined file-system writes that layer relies on;
//! - [`parents`]: the parent directory kept from one entry to the next, and when it is not;
//! - [`removals`]: files of a pull's stage removed on threads while the install goes on;
//! - [`cache`]: the per-user cache, its atomic install and its listing;
//! - [`idcheck`]: the owners in the layers' headers, checked against a map before unpacking.

pub(crate) mod beneath;
pub mod cache;
pub(crate) mod chunks;
pub(crate) mod decoder;
pub(crate) mod digest;
pub(crate) mod entry_error;
pub(crate) mod finisher;
pub mod idcheck;
pub(crate) mod layer;
pub(crate) mod limits;
pub(crate) mod manifest;
pub mod names;
pub(crate) mod parents;
pub(crate) mod removals;
pub(crate) mod seen;
pub(crate) mod source;
pub(crate) mod sparse;
pub(crate) mod tarstream;
pub(crate) mod whiteout;
pub(crate) mod xattrs;

pub use cache::{CachedImage, ImageCache};

use crate::error::{Error, Result};
use sha2::{Digest as _, Sha256};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The defaults an image gives a container: the image config's "config" object
/// (OCI image-spec `config.md`; docker's `ContainerConfig` has the same keys).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    /// The signal `userns stop` sends first (`SIGTERM` when unset), as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

/// What a SOURCE argument is, told by its contents (never by its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A directory holding a root file system, used in place.
    RootfsDir,
    /// A tar with manifest.json, a config JSON and layer tars (`podman save`, `docker save`).
    DockerArchive,
    /// A tar of an OCI image layout (`podman save --format oci-archive`).
    OciArchive,
    /// A directory with `oci-layout`, `index.json` and `blobs/` (`skopeo copy oci:DIR`).
    OciLayout,
}

impl SourceKind {
    /// The name podman and skopeo use for this transport.
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::RootfsDir => "rootfs-dir",
            SourceKind::DockerArchive => "docker-archive",
            SourceKind::OciArchive => "oci-archive",
            SourceKind::OciLayout => "oci",
        }
    }
}

/// A source ready to run.
#[derive(Debug, Clone)]
pub struct PreparedSource {
    pub(crate) kind: SourceKind,
    /// The directory to use as the container's lower layer.
    pub rootfs: PathBuf,
    /// The image's defaults; all empty for a plain rootfs directory.
    pub config: ImageConfig,
    /// The image digest (`sha256:` of its config blob) or, for a directory, `dir:` and the
    /// sha256 of its canonical path (stable while the directory stays where it is).
    pub id: String,
}

/// Detect the kind of `source` (no namespace needed).
pub fn detect(source: &Path) -> Result<SourceKind> {
    source::detect(source)
}

/// Prepare a source for running: a rootfs directory is used in place; an archive or
/// layout is unpacked once into `cache`, keyed by the image (config) digest, unless it is
/// there already. Unpacking must run inside the mapped user namespace as uid 0 there (after
/// `crate::unshare::enter(..)`), so that the owners from the layers land on the
/// user's subordinate ids.
pub fn prepare(source: &Path, cache: &ImageCache) -> Result<PreparedSource> {
    prepare_with(source, cache, None)
}

/// `prepare`, but an image not in the cache yet has its layers' headers read first, and
/// is refused (nothing written to the cache, no staging directory made) when the user
/// namespace this runs in cannot map the owners of its files: [`idcheck::refusal`], with
/// the fix for `account`. A directory, or an image in the cache, needs no check.
pub fn prepare_checked(
    source: &Path,
    cache: &ImageCache,
    account: &crate::users::Account,
) -> Result<PreparedSource> {
    prepare_with(source, cache, Some(account))
}

fn prepare_with(
    source: &Path,
    cache: &ImageCache,
    check: Option<&crate::users::Account>,
) -> Result<PreparedSource> {
    let kind = detect(source)?;
    if kind == SourceKind::RootfsDir {
        let rootfs = std::fs::canonicalize(source).map_err(|e| Error::io("resolve", source, &e))?;
        return Ok(PreparedSource {
            kind,
            id: dir_id(&rootfs),
            rootfs,
            config: ImageConfig::default(),
        });
    }
    let blobs = source::Blobs::open(source, kind)?;
    let plan = manifest::plan(&blobs, kind)?;
    let image = match cache.lookup(&plan.id)? {
        Some(image) => image,
        None => {
            if let Some(account) = check {
                let target = idcheck::MapTarget::current()?;
                idcheck::check_plan(&blobs, &plan, &target, account)?;
            }
            cache.install(source, kind.name(), &plan, &blobs, Staged::Unverified)?
        }
    };
    Ok(PreparedSource {
        kind,
        rootfs: cache.rootfs_of(&image.id),
        config: image.config,
        id: image.id,
    })
}

/// What is left to check of a layout before and while it is unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staged {
    /// Everything: the layers' owners against this namespace's map before the unpack,
    /// each blob's digest and diff_id as it is unpacked (archives and layouts given by
    /// path, whoever made them).
    Unverified,
    /// Nothing: this process downloaded every blob and, as each streamed, checked its
    /// digest, its diff_id, and made the census of its owners, which it has held against
    /// this namespace's map already (`registry::install`). The stage is in the user's
    /// own 0700 image cache and the unpack runs as that same user (uid 0 of the user's
    /// namespace): no other user could have changed the blobs in between, and the user
    /// could only harm an image of their own. So the unpack does not hash them again.
    VerifiedWhileStreaming,
}

/// Install an image a pull staged as an OCI layout at `layout` (all its blobs downloaded
/// and verified), through the same unpacker as `prepare`; `origin` is the reference it
/// was pulled by, recorded as its source. Inside the mapped namespace, as `prepare`.
/// `Staged::Unverified`: as `prepare_checked`, the layers' owners are checked against
/// this namespace's map first (ids first: refused before anything is unpacked), and
/// their digests as they are unpacked; `Staged::VerifiedWhileStreaming`: the pull did it.
pub fn install_pulled(
    layout: &Path,
    origin: &str,
    cache: &ImageCache,
    account: &crate::users::Account,
    staged: Staged,
) -> Result<CachedImage> {
    let blobs = source::Blobs::open(layout, SourceKind::OciLayout)?;
    let mut plan = manifest::plan(&blobs, SourceKind::OciLayout)?;
    if staged == Staged::VerifiedWhileStreaming {
        // The pull kept each compressed layer's tar, checked against its diff_id, as the
        // blob of that digest: unpack it rather than decompress the layer again.
        for l in &mut plan.layers {
            if let Some(tar) = manifest::blob_name(&l.diff_id) {
                if layout.join(&tar).is_file() {
                    (l.blob, l.size) = (tar, None);
                }
            }
        }
    }
    match cache.lookup(&plan.id)? {
        Some(image) => Ok(image),
        None => {
            if staged == Staged::Unverified {
                let target = idcheck::MapTarget::current()?;
                idcheck::check_plan(&blobs, &plan, &target, account)?;
            }
            cache.install(Path::new(origin), "registry", &plan, &blobs, staged)
        }
    }
}

/// A cached image ready to run, by its id (`run` of a name already pulled).
pub fn prepare_cached(id: &str, cache: &ImageCache) -> Result<Option<PreparedSource>> {
    Ok(cache.lookup(id)?.map(|image| PreparedSource {
        kind: SourceKind::OciLayout,
        rootfs: cache.rootfs_of(&image.id),
        config: image.config,
        id: image.id,
    }))
}

/// The id of a rootfs directory: stable for a path, distinct from image digests.
pub(crate) fn dir_id(canonical: &Path) -> String {
    format!("dir:{}", sha256_hex(canonical.as_os_str().as_bytes()))
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
