//! Where a pull puts what it downloads before anything is unpacked: an OCI image layout
//! (`oci-layout`, `index.json`, `blobs/ALG/HEX`) at `IMAGES/.pull-HEX`, named by the
//! manifest's digest, so that the existing unpacker (`image::prepare` of an OCI layout,
//! with its digest checks, limits and whiteouts) is the one that installs it.
//!
//! A blob streams into `HEX.part`, hashed as it is written, and is renamed to `HEX` only
//! when its size and digest are those of its descriptor; a mismatch removes the part.
//! A pull that dies (killed, network gone, registry gone) leaves its parts: the next
//! pull of the same manifest hashes what is there and asks for the rest with `Range`
//! (a registry that ignores it sends the whole blob, and the part starts over). The
//! layout is only ever read once `index.json` exists, which is written last; the image
//! cache sees nothing until the unpack's own rename. Two pulls of one image take turns
//! (flock on the directory).
//!
//! Nothing here is fsynced. A blob is verified as it streams and a layer scanned with it
//! (`layertap`); the unpack of that same pull trusts those checks and does not hash
//! again. A blob found here by a later pull (a crash's leftover, perhaps cut short under
//! its final name) is read through the whole check again, compressed digest included.

use super::client::Session;
use super::layertap::LayerTap;
use super::manifest::Descriptor;
use crate::error::{Error, Result};
use crate::image::digest::{self, Hasher};
use indicatif::ProgressBar;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

pub(crate) const STAGE_PREFIX: &str = ".pull-";

pub struct Stage {
    pub dir: PathBuf,
    _lock: OwnedFd,
}

/// The bytes of a blob read at a time, handed on to its layer's scan as one chunk.
const CHUNK: usize = 256 << 10;

fn blob_rel(d: &str) -> Option<String> {
    crate::image::manifest::blob_name(d)
}

fn bad_digest(d: &str) -> Error {
    Error::failure(format!("the registry named an unusable digest {d:?}"))
        .because(format!("a digest must be {}", digest::FORMS))
}

impl Stage {
    /// Open (create) the stage of `manifest_digest` under the cache root `images`, and
    /// wait for any other pull of it.
    pub fn open(images: &Path, manifest_digest: &str) -> Result<Stage> {
        let (_, hex) = digest::parse(manifest_digest).ok_or_else(|| bad_digest(manifest_digest))?;
        crate::trusted_dir::ensure_all(images, crate::trusted_dir::Kind::Private)?;
        let dir = images.join(format!("{STAGE_PREFIX}{hex}"));
        let blobs = dir.join("blobs");
        std::fs::create_dir_all(&blobs).map_err(|e| Error::io("create", &blobs, &e))?;
        let file = File::open(&dir).map_err(|e| Error::io("open", &dir, &e))?;
        use crate::sys::fs::FlockOperation as Op;
        if crate::sys::fs::flock(&file, Op::NonBlockingLockExclusive).is_err() {
            crate::note("waiting for another pull of the same image to finish");
            crate::sys::fs::flock(&file, Op::LockExclusive)
                .map_err(|e| Error::io("lock", &dir, &e.into()))?;
        }
        Ok(Stage {
            dir,
            _lock: file.into(),
        })
    }

    fn path_of(&self, d: &str) -> Result<PathBuf> {
        Ok(self.dir.join(blob_rel(d).ok_or_else(|| bad_digest(d))?))
    }

    /// Where the blob `d` is once complete.
    pub fn blob_path(&self, d: &str) -> Result<PathBuf> {
        self.path_of(d)
    }

    /// Whether the blob is here complete (it was verified when it was renamed).
    pub fn has(&self, d: &str) -> bool {
        self.path_of(d).is_ok_and(|p| p.is_file())
    }

    /// Store a document already read and checked against `d`.
    pub fn put(&self, d: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path_of(d)?;
        write_atomic(&path, bytes)
    }

    /// Download the blob of `desc`, resuming a part, verified by size and digest, and
    /// named by it once whole. Every byte of the blob, in order, is also given to `tap`
    /// (a layer's scan): those of a blob or part already here as they are read, then
    /// those that arrive.
    ///
    /// The part is written as the bytes come, into the page cache of a file nothing
    /// fsyncs: on the ext4 of a standard install that costs a third of holding the same
    /// bytes in fresh anonymous memory (large folios; measured on bench/pull.sh's VM,
    /// 6 ms against 17 ms for 18 MiB), and whatever stops the pull, even SIGKILL, leaves
    /// the part to resume from.
    pub(crate) fn download(
        &self,
        session: &mut Session,
        desc: &Descriptor,
        progress: &ProgressBar,
        mut tap: Option<&mut LayerTap>,
    ) -> Result<()> {
        let path = self.path_of(&desc.digest)?;
        let (alg, _) = digest::parse(&desc.digest).ok_or_else(|| bad_digest(&desc.digest))?;
        if path.is_file() {
            // Complete when an earlier pull stopped later on: checked again all the same
            // (nothing in the stage is fsynced, and this pull's unpack trusts its checks).
            let mut file = File::open(&path).map_err(|e| Error::io("open", &path, &e))?;
            let mut hasher = Hasher::new(alg);
            let len = rehash(&mut file, &path, &mut hasher, &mut |b| {
                if let Some(t) = tap.as_deref_mut() {
                    t.feed(b)
                }
            })?;
            if len == desc.size && hasher.finish() == desc.digest {
                progress.inc(desc.size);
                return Ok(());
            }
            let _ = std::fs::remove_file(&path);
            tap.as_deref_mut().map(LayerTap::reset);
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, &e))?;
        }
        let part = path.with_extension("part");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&part)
            .map_err(|e| Error::io("open", &part, &e))?;
        let mut hasher = Hasher::new(alg);
        let mut have = rehash(&mut file, &part, &mut hasher, &mut |b| {
            if let Some(t) = tap.as_deref_mut() {
                t.feed(b)
            }
        })?;
        // The part, its hash and the layer's scan from byte 0 again. Truncated only when
        // there is something to drop: ext4 flushes a file truncated to 0 when it is
        // closed (auto_da_alloc), and its blocks, allocated then, would be written out
        // by the fsync of the image record (data=ordered).
        let start_over = |file: &mut File,
                          hasher: &mut Hasher,
                          have: &mut u64,
                          tap: &mut Option<&mut LayerTap>| {
            if *have > 0 {
                file.set_len(0)
                    .map_err(|e| Error::io("truncate", &part, &e))?;
            }
            *hasher = Hasher::new(alg);
            *have = 0;
            tap.as_deref_mut().map(LayerTap::reset);
            Ok::<(), Error>(())
        };
        if have > desc.size {
            start_over(&mut file, &mut hasher, &mut have, &mut tap)?;
        }
        if have == desc.size {
            // A part that is whole (the pull stopped before naming it): named if it is
            // the blob, else started over.
            if std::mem::replace(&mut hasher, Hasher::new(alg)).finish() == desc.digest {
                progress.inc(have);
                drop(file);
                return std::fs::rename(&part, &path).map_err(|e| Error::io("rename", &part, &e));
            }
            start_over(&mut file, &mut hasher, &mut have, &mut tap)?;
        }
        let what = format!(
            "blob {} of {}/{}",
            desc.digest, session.registry, session.repository
        );
        let mut response = session.get("blobs", &desc.digest, "*/*", have)?;
        match response.status().as_u16() {
            206 => {}
            200 => {
                // The registry sends the whole blob: start the part over.
                start_over(&mut file, &mut hasher, &mut have, &mut tap)?;
            }
            404 => {
                return Err(Error::failure(format!("{what} is missing"))
                    .because("404: the registry does not hold a blob its manifest names")
                    .fix("the image in the registry is incomplete: push it again"))
            }
            s => {
                return Err(Error::failure(format!("cannot download {what}"))
                    .because(format!("the registry answered {s}")))
            }
        }
        progress.inc(have);
        let mut body = response
            .body_mut()
            .with_config()
            .limit(desc.size - have + 1)
            .reader();
        loop {
            // A chunk read whole (unless the blob ends first), then moved to the scan:
            // few hand-overs, and no copy of it.
            let spare = tap.as_deref().and_then(LayerTap::spare_chunk);
            let mut chunk = crate::image::chunks::to_fill(spare, CHUNK);
            let (n, broke) = crate::image::chunks::fill(&mut body, &mut chunk);
            let ended = n < CHUNK && broke.is_none();
            chunk.truncate(n);
            have += n as u64;
            if have > desc.size {
                drop(file);
                let _ = std::fs::remove_file(&part);
                return Err(
                    Error::failure(format!("{what} is larger than its manifest says"))
                        .because(format!("the manifest gives {} bytes", desc.size))
                        .fix("the image in the registry is damaged or was altered: push it again"),
                );
            }
            if n > 0 {
                hasher.update(&chunk);
                file.write_all(&chunk)
                    .map_err(|e| Error::io("write", &part, &e))?;
                if let Some(t) = tap.as_deref_mut() {
                    t.feed_chunk(chunk);
                }
                progress.inc(n as u64);
            }
            if let Some(e) = broke {
                // What came before the break is in the part, to resume from.
                let _ = file.sync_data();
                return Err(Error::failure(format!(
                    "the download of {what} broke off after {have} of {} bytes",
                    desc.size
                ))
                .because(e)
                .fix("pull again when the registry is back: it resumes where this stopped"));
            }
            if ended {
                break;
            }
        }
        if have < desc.size {
            let _ = file.sync_data();
            return Err(Error::failure(format!(
                "the download of {what} ended after {have} of {} bytes",
                desc.size
            ))
            .because("the registry closed the connection early")
            .fix("pull again when the registry is back: it resumes where this stopped"));
        }
        let actual = hasher.finish();
        if actual != desc.digest {
            drop(file);
            let _ = std::fs::remove_file(&part);
            return Err(Error::failure(format!("{what} does not match its digest"))
                .because(format!("the content is {actual}"))
                .fix("the blob in the registry is damaged or was altered: push the image again"));
        }
        // No fsync: a blob a crash left short or empty under its final name fails the
        // unpacker's own digest check, and a failed install removes the stage (`pull`).
        drop(file);
        std::fs::rename(&part, &path).map_err(|e| Error::io("rename", &part, &e))
    }

    /// Write `oci-layout` and, last, `index.json` naming the manifest.
    pub fn finish(&self, manifest: &Descriptor) -> Result<PathBuf> {
        write_atomic(
            &self.dir.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": super::manifest::OCI_INDEX,
            "manifests": [{
                "mediaType": manifest.media_type,
                "digest": manifest.digest,
                "size": manifest.size,
            }],
        });
        write_atomic(&self.dir.join("index.json"), index.to_string().as_bytes())?;
        Ok(self.dir.clone())
    }

    /// Whether a layer's blob, or a part of one, is here to resume from (else an
    /// interrupted stage holds nothing worth keeping).
    pub fn resumable(&self, layers: &[Descriptor]) -> bool {
        if layers.iter().any(|l| self.has(&l.digest)) {
            return true;
        }
        let dir = self.dir.join("blobs");
        let algs = std::fs::read_dir(dir).into_iter().flatten().flatten();
        algs.flat_map(|a| std::fs::read_dir(a.path()).into_iter().flatten().flatten())
            .any(|b| {
                b.path().extension().is_some_and(|x| x == "part")
                    && b.metadata().is_ok_and(|m| m.len() > 0)
            })
    }

    /// Remove the stage (its blobs are in the cache's image now, or unwanted).
    pub fn remove(&self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            crate::warn(Error::io("remove", &self.dir, &e));
        }
    }
}

/// The digest of the file at `path` in `alg` (a kept tar whose config names its diff_id
/// in another algorithm than its blob's).
pub(crate) fn digest_of_file(path: &Path, alg: digest::Algorithm) -> Result<String> {
    let mut file = File::open(path).map_err(|e| Error::io("open", path, &e))?;
    let mut hasher = Hasher::new(alg);
    rehash(&mut file, path, &mut hasher, &mut |_| {})?;
    Ok(hasher.finish())
}

/// Hash the bytes of a part already on disk, and give them to `also`; returns its length.
fn rehash(
    file: &mut File,
    part: &Path,
    hasher: &mut Hasher,
    also: &mut dyn FnMut(&[u8]),
) -> Result<u64> {
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0u64;
    let mut reader = std::io::BufReader::new(&*file);
    use std::io::Seek;
    reader
        .seek(std::io::SeekFrom::Start(0))
        .map_err(|e| Error::io("read", part, &e))?;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| Error::io("read", part, &e))?;
        if n == 0 {
            return Ok(total);
        }
        hasher.update(&buf[..n]);
        also(&buf[..n]);
        total += n as u64;
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, &e))?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(|e| Error::io("create", &tmp, &e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io("write", &tmp, &e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("rename", &tmp, &e))
}
