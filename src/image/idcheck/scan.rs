//! Read a layer's tar headers, and nothing else, into an [`IdCensus`].
//!
//! A layer is told plain, gzip or zstd by its magic bytes (as the unpacker tells it:
//! docker-archive layers carry no media type). A plain layer that can seek (an archive
//! member, a layout's blob file) has its file data sought over: only the header blocks
//! are read. A compressed one must be decompressed whole, but its data goes nowhere.
//! The headers are read by [`crate::image::tarstream`], the unpacker's own walker, so
//! PAX `uid`/`gid`/`path` records and GNU long names count exactly as they do when the
//! layer is unpacked.

use super::census::IdCensus;
use crate::image::decoder::{compression_of, decompress, Compression};
use crate::image::digest::Hasher;
use crate::image::limits::{Budget, Limits};
use crate::image::tarstream::{ReadSeek, TarStream};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use tar::EntryType;

/// An entry that declares more data than one file may hold (USERNS_UNPACK_MAX_FILE):
/// refused here as the unpacker refuses it, before its data is read past, which for a
/// declared 2^64 bytes would not end before the layer does.
#[derive(Debug)]
pub(crate) struct TooLarge {
    pub(crate) path: String,
    pub(crate) cause: String,
    pub(crate) fix: String,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.path, self.cause)
    }
}

impl std::error::Error for TooLarge {}

const WHITEOUT_PREFIX: &[u8] = b".wh.";

/// Scan a layer stream (plain, gzip or zstd), reading and dropping its file data.
pub(crate) fn scan_stream(reader: impl Read, census: &mut IdCensus) -> io::Result<()> {
    let mut raw = BufReader::with_capacity(1 << 16, reader);
    let head = raw.fill_buf()?.to_vec();
    match compression_of(&head)? {
        Compression::Plain => walk(TarStream::new(&mut raw), census),
        compression => decode(&mut raw, compression, census),
    }
}

/// [`scan_stream`] of a buffered stream (read where it is buffered, not copied first),
/// and every uncompressed byte hashed into `plain` on the way (those
/// after the end-of-archive blocks too: a diff_id covers the whole tar), so that a pull
/// verifies a layer's diff_id in the one pass that decompresses and scans it. A
/// compressed layer's tar is also written to `copy` (a pull keeps it for the unpack,
/// which then need not decompress it again); true when it was.
pub(crate) fn scan_stream_hashed(
    mut raw: impl BufRead,
    census: &mut IdCensus,
    plain: &mut Hasher,
    copy: Option<&mut dyn Write>,
) -> io::Result<bool> {
    let head = raw.fill_buf()?;
    let compression = compression_of(&head[..head.len().min(8)])?;
    {
        let decoded = decompress(&mut raw, compression)?;
        let mut hashing = Hashing {
            inner: decoded,
            hasher: plain,
            copy: copy.filter(|_| compression != Compression::Plain),
        };
        walk(TarStream::new(&mut hashing), census)?;
        io::copy(&mut hashing, &mut io::sink())?;
        if let Some(out) = hashing.copy {
            out.flush()?;
        }
    }
    // Whatever follows the compressed stream is read too: the sender is never left
    // waiting on a reader that stopped.
    io::copy(&mut raw, &mut io::sink())?;
    Ok(compression != Compression::Plain)
}

/// A reader that hashes what passes through it, and copies it when asked.
struct Hashing<'h, 'c, R> {
    inner: R,
    hasher: &'h mut Hasher,
    copy: Option<&'c mut dyn Write>,
}

impl<R: Read> Read for Hashing<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        if let Some(out) = self.copy.as_mut() {
            out.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

/// Scan a seekable layer: a plain one seeks over its file data.
pub(crate) fn scan_seekable(mut reader: impl Read + Seek, census: &mut IdCensus) -> io::Result<()> {
    let start = reader.stream_position()?;
    let mut head = [0u8; 6];
    let mut got = 0;
    while got < head.len() {
        match reader.read(&mut head[got..])? {
            0 => break,
            n => got += n,
        }
    }
    reader.seek(SeekFrom::Start(start))?;
    match compression_of(&head[..got])? {
        Compression::Plain => {
            let seekable: &mut dyn ReadSeek = &mut reader;
            walk(TarStream::seekable(seekable)?, census)
        }
        compression => decode(
            &mut BufReader::with_capacity(1 << 16, reader),
            compression,
            census,
        ),
    }
}

fn decode(
    raw: &mut dyn BufRead,
    compression: Compression,
    census: &mut IdCensus,
) -> io::Result<()> {
    walk(TarStream::new(&mut decompress(raw, compression)?), census)
}

/// Count every entry the unpacker gives an owner: directories, files, symlinks, FIFOs,
/// and hard links (whose header carries the owner too, and which podman's unpacker
/// chowns). Whiteouts make nothing, and device nodes are skipped by a rootless unpack.
fn walk(mut tar: TarStream<'_>, census: &mut IdCensus) -> io::Result<()> {
    // A setting that is not a size is the unpacker's to report, with its fix; the
    // defaults hold here meanwhile.
    let sizes = Budget::new(
        Limits::from_env().unwrap_or_default(),
        std::path::Path::new(""),
    );
    let mut previous: Option<String> = None;
    loop {
        let entry = match tar.next_entry() {
            Ok(Some(entry)) => entry,
            Ok(None) => break,
            Err(e) => {
                let after = previous
                    .map(|p| format!(" (after {p})"))
                    .unwrap_or_default();
                return Err(io::Error::new(e.kind(), format!("{e}{after}")));
            }
        };
        if let Err(refusal) = sizes.check_size(entry.size) {
            return Err(io::Error::other(TooLarge {
                path: String::from_utf8_lossy(&entry.path).into_owned(),
                cause: refusal.cause,
                fix: refusal.fix,
            }));
        }
        let kind = entry.kind();
        let name = entry.path.rsplit(|b| *b == b'/').find(|c| !c.is_empty());
        let whiteout = name.is_some_and(|n| n.starts_with(WHITEOUT_PREFIX));
        let owned = matches!(
            kind,
            EntryType::Directory
                | EntryType::Regular
                | EntryType::Continuous
                | EntryType::GNUSparse
                | EntryType::Symlink
                | EntryType::Link
                | EntryType::Fifo
        );
        if owned && !whiteout {
            census.record(&entry.path, entry.uid, entry.gid);
        }
        previous = Some(super::census::shown_path(&entry.path));
    }
    census.layers += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdKind;
    use crate::image::decoder::{GZIP, ZSTD};
    use std::io::Cursor;

    fn header(kind: EntryType, path: &str, uid: u64, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_path(path).unwrap();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_uid(uid);
        h.set_gid(uid + 1);
        h.set_mtime(0);
        h.set_cksum();
        h
    }

    fn layer() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        b.append(&header(EntryType::Directory, "./", 0, 0), &[][..])
            .unwrap();
        b.append(
            &header(EntryType::Regular, "big", 7, 1 << 20),
            &vec![1u8; 1 << 20][..],
        )
        .unwrap();
        b.append_pax_extensions([("uid", &b"3000000"[..]), ("gid", b"3000001")])
            .unwrap();
        b.append(&header(EntryType::Regular, "pax", 0, 3), &b"abc"[..])
            .unwrap();
        b.append(&header(EntryType::Regular, ".wh.gone", 99, 0), &[][..])
            .unwrap();
        b.append(&header(EntryType::Char, "null", 98, 0), &[][..])
            .unwrap();
        let mut link = header(EntryType::Link, "big-again", 7, 0);
        link.set_link_name("big").unwrap();
        link.set_cksum();
        b.append(&link, &[][..]).unwrap();
        b.into_inner().unwrap()
    }

    fn check(c: &IdCensus) {
        let uids = c.tally(IdKind::Uid);
        let listed: Vec<u64> = uids.ids().map(|(id, _)| id).collect();
        assert_eq!(listed, [0, 7, 3_000_000]);
        assert_eq!(uids.get(7).unwrap().paths, ["/big", "/big-again"]);
        assert_eq!(uids.get(3_000_000).unwrap().paths, ["/pax"]);
        assert_eq!(c.tally(IdKind::Gid).highest(), Some(3_000_001));
        assert_eq!((c.entries, c.layers), (4, 1));
    }

    #[test]
    fn plain_gzip_and_zstd_layers_give_the_same_census() {
        let plain = layer();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &plain).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&plain[..], 1).unwrap();
        for bytes in [&plain, &gz, &zst] {
            let mut c = IdCensus::new();
            scan_stream(&bytes[..], &mut c).unwrap();
            check(&c);
            let mut c = IdCensus::new();
            scan_seekable(Cursor::new(bytes), &mut c).unwrap();
            check(&c);
        }
    }

    #[test]
    fn a_hashed_scan_gives_the_census_and_the_uncompressed_digest() {
        let mut plain = layer();
        // Zero blocks past the end of the archive count in the diff_id too.
        plain.extend_from_slice(&[0u8; 1024]);
        let diff_id = format!("sha256:{}", crate::image::sha256_hex(&plain));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &plain).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&plain[..], 1).unwrap();
        for (bytes, compressed) in [(&plain, false), (&gz, true), (&zst, true)] {
            let mut c = IdCensus::new();
            let mut h = Hasher::new(crate::image::digest::Algorithm::Sha256);
            let mut copy = Vec::new();
            let copied = scan_stream_hashed(&bytes[..], &mut c, &mut h, Some(&mut copy)).unwrap();
            check(&c);
            assert_eq!(h.finish(), diff_id);
            // The tar of a compressed layer, whole; nothing for a plain one.
            assert_eq!(copied, compressed);
            assert_eq!(
                copy,
                if compressed {
                    plain.clone()
                } else {
                    Vec::new()
                }
            );
        }
    }

    /// Counts the bytes read, to show that a seekable plain layer's data is not read.
    struct Counting<R> {
        inner: R,
        read: u64,
    }
    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read += n as u64;
            Ok(n)
        }
    }
    impl<R: Seek> Seek for Counting<R> {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            self.inner.seek(to)
        }
    }

    #[test]
    fn a_seekable_plain_layer_has_only_its_headers_read() {
        let plain = layer();
        let mut counting = Counting {
            inner: Cursor::new(&plain),
            read: 0,
        };
        let mut c = IdCensus::new();
        scan_seekable(&mut counting, &mut c).unwrap();
        check(&c);
        assert!(counting.read < 16 << 10, "{} bytes read", counting.read);
    }

    #[test]
    fn damaged_layers_are_errors_not_panics() {
        let plain = layer();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &plain).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&plain[..], 1).unwrap();
        let cut = |b: &[u8], n: usize| b[..b.len() - n].to_vec();
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
        let cases = [
            cut(&plain, plain.len() / 2),
            cut(&gz, gz.len() / 2),
            cut(&zst, zst.len() / 2),
            garbage,
            b"BZh91AY&SY".to_vec(),
            [GZIP, &b"not really gzip at all"[..]].concat(),
            [ZSTD, &b"not really zstd at all"[..]].concat(),
        ];
        for (i, bytes) in cases.iter().enumerate() {
            let mut c = IdCensus::new();
            assert!(
                scan_stream(&bytes[..], &mut c).is_err(),
                "case {i} (stream)"
            );
            let mut c = IdCensus::new();
            assert!(
                scan_seekable(Cursor::new(bytes), &mut c).is_err(),
                "case {i} (seekable)"
            );
        }
        // An empty layer is an empty archive.
        let mut c = IdCensus::new();
        scan_stream(&b""[..], &mut c).unwrap();
        assert_eq!(c.entries, 0);
    }
}
