//! The second half of a layer's one pass: while `stage` downloads a layer blob and hashes
//! its compressed bytes, the same bytes go through a bounded channel to a thread of their
//! own that decompresses them (gzip or zstd), hashes the uncompressed tar for its diff_id
//! and reads its tar headers into an id census (`image::idcheck`, the scan that `userns
//! image check` makes, so it refuses what that refuses). The network, the compressed
//! hash and the decompression overlap; nothing is read back from disk, and the unpack
//! that follows has nothing left to verify (`image::Staged::VerifiedWhileStreaming`).
//! The tar of a compressed layer is written beside its blob as it is decompressed, and
//! named by its diff_id once that is checked: the unpack reads it and does not
//! decompress the layer a second time (the stage holds both until the unpack is done).
//!
//! A download that restarts its part from byte 0 (a registry that ignores `Range`)
//! [`LayerTap::reset`]s the tap: the bytes already sent are thrown away with their thread.

use crate::error::{Error, Result};
use crate::image::chunks::{self, ChunkSender};
use crate::image::digest::{self, Hasher};
use crate::image::idcheck::{self, IdCensus};
use std::path::PathBuf;
use std::thread::JoinHandle;

/// Chunks in flight between the download and the scan (of up to 256 KiB each): enough to
/// ride over a slow header, little enough to bound the memory of four layers at once.
const IN_FLIGHT: usize = 8;

/// What the scan of one whole layer found.
pub struct Scanned {
    pub census: IdCensus,
    /// The digest of the uncompressed tar, in the algorithm the tap was given.
    pub diff_id: String,
    /// Where the tar of a compressed layer was written (None for a plain one).
    pub tar: Option<PathBuf>,
}

/// The sending end of a scan (and the chunks it is done with), and its thread.
struct Worker {
    chunks: ChunkSender,
    handle: JoinHandle<Result<Scanned>>,
}

/// The scan of one layer, fed with its compressed bytes in order.
pub struct LayerTap {
    alg: digest::Algorithm,
    label: String,
    tar: Option<PathBuf>,
    worker: Option<Worker>,
    /// Called once, when the first bytes arrive.
    first_bytes: Option<Box<dyn FnOnce() + Send>>,
}

impl LayerTap {
    /// A tap that hashes the layer's tar in `alg` (its blob digest's: the config, which
    /// names the diff_id, may still be on its way); `label` names the layer in errors. A
    /// compressed layer's tar is written to `tar` when given (so that the unpack need not
    /// decompress it again).
    pub(crate) fn new(alg: digest::Algorithm, label: String, tar: Option<PathBuf>) -> LayerTap {
        LayerTap {
            alg,
            label,
            tar,
            worker: None,
            first_bytes: None,
        }
    }

    /// Have `then` called when the layer's first bytes arrive (its response began).
    pub(crate) fn on_first_bytes(&mut self, then: Box<dyn FnOnce() + Send>) {
        self.first_bytes = Some(then);
    }

    fn start(&self) -> Worker {
        let (sender, reader) = chunks::channel(IN_FLIGHT);
        let (alg, label, tar) = (self.alg, self.label.clone(), self.tar.clone());
        let handle = std::thread::spawn(move || {
            let mut census = IdCensus::new();
            let mut plain = Hasher::new(alg);
            let mut out = match &tar {
                // As large as the pieces a scan reads data in (`tarstream`): those go
                // to the file as they are, headers and small files are gathered.
                Some(path) => Some(std::io::BufWriter::with_capacity(
                    64 << 10,
                    std::fs::File::create(path).map_err(|e| Error::io("create", path, &e))?,
                )),
                None => None,
            };
            let copy = out.as_mut().map(|w| w as &mut dyn std::io::Write);
            let copied = idcheck::scan_layer_hashed(reader, &mut census, &mut plain, copy, &label)?;
            drop(out);
            let tar = match tar {
                Some(path) if !copied => {
                    let _ = std::fs::remove_file(&path);
                    None
                }
                t => t,
            };
            Ok(Scanned {
                census,
                diff_id: plain.finish(),
                tar,
            })
        });
        Worker {
            chunks: sender,
            handle,
        }
    }

    /// A chunk the scan is done with, to be filled again (None: make one).
    pub(crate) fn spare_chunk(&self) -> Option<Vec<u8>> {
        self.worker.as_ref()?.chunks.spare()
    }

    /// The next compressed bytes of the layer.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.feed_chunk(bytes.to_vec());
    }

    /// [`LayerTap::feed`], of bytes the caller is done with: moved, not copied.
    pub(crate) fn feed_chunk(&mut self, chunk: Vec<u8>) {
        if chunk.is_empty() {
            return;
        }
        if let Some(then) = self.first_bytes.take() {
            then();
        }
        let worker = match &mut self.worker {
            Some(w) => w,
            None => self.worker.insert(self.start()),
        };
        // A scan that stopped (a damaged layer) has dropped its end: its error is the
        // one `finish` reports, and the download goes on to check the blob's digest.
        worker.chunks.send(Ok(chunk));
    }

    /// Forget what was fed: the layer starts over from its first byte.
    pub fn reset(&mut self) {
        if let Some(Worker { chunks, handle }) = self.worker.take() {
            drop(chunks);
            let _ = handle.join();
        }
    }

    /// The end of the layer: its census and diff_id, or why its tar could not be read.
    pub fn finish(mut self) -> Result<Scanned> {
        let Worker { chunks, handle } = match self.worker.take() {
            Some(w) => w,
            // An empty blob: scanned as one, it is an empty archive.
            None => self.start(),
        };
        drop(chunks);
        handle.join().unwrap_or_else(|_| {
            Err(Error::failure(format!(
                "the scan of {} stopped unexpectedly",
                self.label
            )))
        })
    }
}

impl Drop for LayerTap {
    fn drop(&mut self) {
        // A download that failed: stop the scan and wait for its thread, so that no
        // thread outlives the pull (the user namespace comes next, and unshare(2) of
        // one needs a process of one thread).
        self.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::digest::Algorithm;

    fn tar_gz() -> (Vec<u8>, String) {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_path("f").unwrap();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_uid(70_000);
        h.set_gid(0);
        h.set_cksum();
        b.append(&h, &b"abc"[..]).unwrap();
        let plain = b.into_inner().unwrap();
        let diff_id = format!("sha256:{}", crate::image::sha256_hex(&plain));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &plain).unwrap();
        (gz.finish().unwrap(), diff_id)
    }

    /// A tap of "layer 1" that writes its plain tar in `dir`, and that tar's path.
    fn tap_keeping_tar(dir: &std::path::Path) -> (LayerTap, PathBuf) {
        let tar = dir.join("plain");
        let tap = LayerTap::new(Algorithm::Sha256, "layer 1".into(), Some(tar.clone()));
        (tap, tar)
    }

    #[test]
    fn fed_in_pieces_and_reset_it_gives_the_layers_census_and_diff_id() {
        let (gz, diff_id) = tar_gz();
        let dir = tempfile::tempdir().unwrap();
        let (mut tap, tar) = tap_keeping_tar(dir.path());
        tap.feed(&gz[..10]);
        tap.reset();
        for piece in gz.chunks(7) {
            tap.feed(piece);
        }
        let scanned = tap.finish().unwrap();
        assert_eq!(scanned.diff_id, diff_id);
        // The tar, written whole, is the one the diff_id names.
        assert_eq!(scanned.tar.as_deref(), Some(tar.as_path()));
        let written = std::fs::read(&tar).unwrap();
        assert_eq!(
            format!("sha256:{}", crate::image::sha256_hex(&written)),
            diff_id
        );
        let uids = scanned.census.tally(crate::ids::IdKind::Uid);
        assert_eq!(uids.get(70_000).unwrap().paths, ["/f"]);
    }

    #[test]
    fn chunks_handed_back_and_filled_again_carry_only_their_new_bytes() {
        let (gz, _) = tar_gz();
        let dir = tempfile::tempdir().unwrap();
        let (mut tap, tar) = tap_keeping_tar(dir.path());
        let mut recycled = 0;
        for piece in gz.chunks(5) {
            let mut chunk = match tap.spare_chunk() {
                Some(c) => {
                    recycled += 1;
                    c
                }
                None => Vec::new(),
            };
            // What the download does: the chunk at full size, filled, cut to what came.
            chunk.resize(64, 0xee);
            chunk[..piece.len()].copy_from_slice(piece);
            chunk.truncate(piece.len());
            tap.feed_chunk(chunk);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let scanned = tap.finish().unwrap();
        assert!(recycled > 0, "no chunk came back");
        let mut gz = flate2::read::GzDecoder::new(&gz[..]);
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut gz, &mut plain).unwrap();
        assert_eq!(std::fs::read(&tar).unwrap(), plain);
        let uids = scanned.census.tally(crate::ids::IdKind::Uid);
        assert_eq!(uids.get(70_000).unwrap().paths, ["/f"]);
    }

    #[test]
    fn a_damaged_layer_is_an_error_that_names_it() {
        let (gz, _) = tar_gz();
        let mut tap = LayerTap::new(Algorithm::Sha256, "layer 2 of 2 (sha256:ab)".into(), None);
        tap.feed(&gz[..gz.len() / 2]);
        let err = tap.finish().err().unwrap();
        assert!(
            err.to_string().contains("layer 2 of 2 (sha256:ab)"),
            "{err}"
        );
    }
}
