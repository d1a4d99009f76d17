//! A layer blob made plain: told plain, gzip or zstd by its magic bytes, hashed as
//! stored and again once plain, when its digests are still to be checked (an archive or
//! a layout given by path, `image::Staged::Unverified`).
//!
//! That work can run on a thread of its own ([`spawn`]), which hands the plain
//! tar to the walking thread in chunks through a bounded channel: for a gzip layer of
//! 2,000 small files the walk waited on the decompressor for two thirds of its time
//! (bench/unpack.sh: 168 ms of user time in 226). The walker then walks, the finisher
//! finishes, and the decoder decodes, each on its own core where there is one. Where no
//! thread may start the same reader chain runs on the walking thread (`inline`).

use super::chunks::{self, fill, ChunkReader};
use super::digest::{Hasher, Hashing};
use crate::error::{Error, Result};
use std::io::{self, BufRead, BufReader, Read};

/// Plain tar bytes read (and sent) at a time.
const CHUNK: usize = 128 << 10;

/// Chunks waiting for the walker: enough to ride over a slow entry, little memory.
const IN_FLIGHT: usize = 4;

pub(crate) const GZIP: &[u8] = &[0x1f, 0x8b];
pub(crate) const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// A layer's compression, told by its first bytes (as the unpacker and the ids check
/// both tell it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    Plain,
    Gzip,
    Zstd,
}

/// The compression of a stream whose first bytes are `head`; bzip2 and xz are refused.
pub(crate) fn compression_of(head: &[u8]) -> io::Result<Compression> {
    if head.starts_with(GZIP) {
        Ok(Compression::Gzip)
    } else if head.starts_with(ZSTD) {
        Ok(Compression::Zstd)
    } else if head.starts_with(b"BZh") || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z']) {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "compressed with bzip2 or xz; userns reads plain, gzip and zstd layers, as the OCI \
             image-spec defines",
        ))
    } else {
        Ok(Compression::Plain)
    }
}

/// The plain bytes of `raw`, compressed as `compression` says.
pub(crate) fn decompress<'a>(
    raw: &'a mut dyn BufRead,
    compression: Compression,
) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(raw)?),
        Compression::Plain => Box::new(raw),
    })
}

/// The error for a layer that cannot be read.
pub(crate) fn read_error(label: &str, e: io::Error) -> Error {
    Error::failure(format!("cannot read {label}"))
        .because(e)
        .fix("the archive is damaged or truncated: save the image again")
}

/// The decompressor a blob's first bytes ask for, reading from `raw`. Compression is
/// told by magic bytes, not by media type (docker-archive layers carry none, and some
/// tools label gzip layers as plain tar).
fn decompressor<'a>(raw: &'a mut dyn BufRead, label: &str) -> Result<Box<dyn Read + 'a>> {
    let head = raw.fill_buf().map_err(|e| read_error(label, e))?;
    let Ok(compression) = compression_of(&head[..head.len().min(8)]) else {
        return Err(
            Error::failure(format!("{label} is compressed with bzip2 or xz"))
                .because("userns reads plain, gzip and zstd layers, as the OCI image-spec defines")
                .fix("re-save the image with podman (it stores gzip or plain layers)"),
        );
    };
    decompress(raw, compression).map_err(|e| read_error(label, e))
}

/// Read `blob` through its hashers and decompressor and hand the plain tar to `walk`.
/// When `walk` read it to its end (true), what is left of the plain tar and of the blob
/// is read too and hashed: digests cover the whole blob. When it stopped (false), so
/// does this.
pub(crate) fn decode(
    blob: impl Read,
    raw_hash: Option<&mut Hasher>,
    plain_hash: Option<&mut Hasher>,
    label: &str,
    walk: impl FnOnce(&mut dyn Read) -> Result<bool>,
) -> Result<bool> {
    let mut raw = BufReader::with_capacity(
        1 << 16,
        Hashing {
            inner: blob,
            hasher: raw_hash,
        },
    );
    let mut plain = Hashing {
        inner: decompressor(&mut raw, label)?,
        hasher: plain_hash,
    };
    if !walk(&mut plain)? {
        return Ok(false);
    }
    io::copy(&mut plain, &mut io::sink()).map_err(|e| read_error(label, e))?;
    drop(plain);
    io::copy(&mut raw, &mut io::sink()).map_err(|e| read_error(label, e))?;
    Ok(true)
}

/// What the decoder thread ends with: the two hashers, fed with every byte of the blob
/// and of its plain tar (None when the walker stopped first).
pub(crate) type Hashed = (Option<Hasher>, Option<Hasher>);

/// A blob and the hashers of its digest and its diff_id.
pub(crate) type Input<B> = (B, Option<Hasher>, Option<Hasher>);

/// Start decoding the blob `input` holds, with its two hashers, on a thread of
/// `scope`, which takes them; None when the kernel refuses a thread, and `input`
/// still holds them (to be decoded inline). The walker reads the plain tar from
/// the reader returned; the thread stops when that is dropped.
pub(crate) fn spawn<'scope, 'env, B: Read + Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    input: &'env std::sync::Mutex<Option<Input<B>>>,
    label: &'scope str,
) -> Option<(
    ChunkReader,
    std::thread::ScopedJoinHandle<'scope, Result<Hashed>>,
)> {
    let (sender, reader) = chunks::channel(IN_FLIGHT);
    let handle = std::thread::Builder::new()
        .name("userns-decoder".into())
        .spawn_scoped(scope, move || {
            let taken = input.lock().ok().and_then(|mut i| i.take());
            let Some((blob, mut raw_hash, mut plain_hash)) = taken else {
                return Err(Error::failure(format!("{label}: nothing to decode")));
            };
            let whole = decode(
                blob,
                raw_hash.as_mut(),
                plain_hash.as_mut(),
                label,
                |plain| {
                    loop {
                        let mut chunk = chunks::to_fill(sender.spare(), CHUNK);
                        let (n, broke) = fill(plain, &mut chunk);
                        chunk.truncate(n);
                        if n > 0 && !sender.send(Ok(chunk)) {
                            // The walker stopped (its own error is the unpack's).
                            return Ok(false);
                        }
                        if let Some(e) = broke {
                            sender.send(Err(e));
                            return Ok(false);
                        }
                        if n == 0 {
                            return Ok(true);
                        }
                    }
                },
            );
            match whole {
                Ok(true) => Ok((raw_hash, plain_hash)),
                Ok(false) => Ok((None, None)),
                Err(e) => Err(e),
            }
        })
        .ok()?;
    Some((reader, handle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::digest::Algorithm;
    use std::sync::Mutex;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut e, bytes).unwrap();
        e.finish().unwrap()
    }

    /// Decode on the thread, read `walk` bytes, drop the rest or drain it: what the
    /// walker read, and what the thread ended with.
    fn decode(blob: Vec<u8>, walk: usize, drain: bool) -> (Vec<u8>, Result<Hashed>) {
        let input = Mutex::new(Some((
            io::Cursor::new(blob),
            Some(Hasher::new(Algorithm::Sha256)),
            Some(Hasher::new(Algorithm::Sha256)),
        )));
        std::thread::scope(|scope| {
            let (mut decoder, handle) = spawn(scope, &input, "layer 1").unwrap();
            let mut read = vec![0u8; walk];
            let n = fill(&mut decoder, &mut read).0;
            read.truncate(n);
            if drain {
                io::copy(&mut decoder, &mut read).unwrap();
            }
            drop(decoder);
            (read, handle.join().unwrap())
        })
    }

    #[test]
    fn the_plain_bytes_arrive_in_order_and_both_digests_cover_the_whole_blob() {
        let plain: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let blob = gz(&plain);
        let (read, hashed) = decode(blob.clone(), 10, true);
        assert_eq!(read, plain);
        let (raw, decoded) = hashed.unwrap();
        let sha = |b: &[u8]| format!("sha256:{}", crate::image::sha256_hex(b));
        assert_eq!(raw.unwrap().finish(), sha(&blob));
        assert_eq!(decoded.unwrap().finish(), sha(&plain));
        // A plain blob is its own tar.
        let (read, hashed) = decode(plain.clone(), plain.len(), true);
        assert_eq!(read, plain);
        assert_eq!(hashed.unwrap().1.unwrap().finish(), sha(&plain));
    }

    #[test]
    fn a_damaged_blob_is_an_error_for_the_walker_and_a_walker_that_stops_stops_the_thread() {
        let plain = vec![9u8; 1 << 20];
        let blob = gz(&plain);
        // Cut short: the walker's read fails (after what could be decoded).
        let cut = blob[..blob.len() / 2].to_vec();
        let input = Mutex::new(Some((io::Cursor::new(cut), None, None)));
        let failed = std::thread::scope(|scope| {
            let (mut decoder, handle) = spawn(scope, &input, "layer 1").unwrap();
            let read = io::copy(&mut decoder, &mut io::sink());
            drop(decoder);
            let _ = handle.join().unwrap();
            read
        });
        assert!(failed.is_err());
        // A walker that reads a little and goes: the thread ends without its hashes.
        let (read, hashed) = decode(blob, 100, false);
        assert_eq!(read, vec![9u8; 100]);
        assert!(matches!(hashed, Ok((None, None))));
        // bzip2 is named.
        let (read, hashed) = decode(b"BZh91AY&SY".to_vec(), 10, true);
        assert!(read.is_empty());
        let err = hashed.err().unwrap().to_string();
        assert!(err.contains("bzip2"), "{err}");
    }
}
