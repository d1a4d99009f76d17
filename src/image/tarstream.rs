//! The entries of a layer, read from its tar stream (a gzip or zstd layer cannot seek).
//!
//! The tar crate parses each header block; the walk over the stream is done here, so that
//! an entry's declared size and sparse map are known before a byte of its data is read
//! (the crate's own reader hands out a sparse file's holes as zeros, and its size checks
//! come after the writing started). What precedes an entry is read as GNU tar and PAX
//! writers put it: GNU long names and long link names ('L', 'K'), a PAX extended header
//! ('x': `path`, `linkpath`, `size`, `uid`, `gid`, and GNU tar's `GNU.sparse.*`), and an
//! old GNU sparse header's extension blocks ('S'); global PAX headers ('g') are skipped.
//! Extensions are read into memory, so each is bounded.

use super::sparse::{self, Segment, Sparse};
use std::io::{self, Read, Seek, SeekFrom};
use tar::{EntryType, GnuExtSparseHeader, GnuSparseHeader, Header};

const BLOCK: u64 = 512;

/// The most an extension (a long name, a PAX header) may hold.
const MAX_EXTENSION: u64 = 16 << 20;

/// One entry: its header, and what the extensions before it say.
pub(crate) struct Entry {
    pub(crate) header: Header,
    /// The PAX `path`, else the GNU long name, else the header's name (with its prefix).
    pub(crate) path: Vec<u8>,
    /// The PAX `linkpath`, else the GNU long link name, else the header's; may be empty.
    pub(crate) link: Vec<u8>,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    /// The records of its PAX extended header, in order (extended attributes are there).
    pub(crate) pax: Vec<(Vec<u8>, Vec<u8>)>,
    /// The bytes of data that follow the header in the archive.
    pub(crate) size: u64,
    /// A sparse file's size and map (checked against `size`, unless the map is in the data).
    pub(crate) sparse: Option<Sparse>,
}

impl Entry {
    pub(crate) fn kind(&self) -> EntryType {
        self.header.entry_type()
    }

    /// How large the file is once unpacked: more than its data when sparse.
    pub(crate) fn file_size(&self) -> u64 {
        self.sparse.as_ref().map_or(self.size, |s| s.real_size)
    }
}

/// A layer's tar stream, entry by entry. Between entries it reads the current entry's data
/// (as `Read`, no further than its size).
pub(crate) struct TarStream<'a> {
    inner: Input<'a>,
    /// Data of the current entry not read yet, and the padding to its block's end.
    remaining: u64,
    padding: u64,
    /// Where a stream's skipped data is read to (made at the first skip).
    scratch: Option<Vec<u8>>,
}

/// The most of a stream's skipped data read at a time.
const SKIP_PIECE: usize = 64 << 10;

/// The extended headers read so far for the entry that follows them: GNU long names and
/// one PAX record set (global PAX headers are skipped).
#[derive(Default)]
struct Extensions {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl Extensions {
    /// Whether any was read: the archive may not end before their entry.
    fn any(&self) -> bool {
        self.long_name.is_some() || self.long_link.is_some() || self.pax.is_some()
    }
}

/// Each kind of extension may come once per entry; a second would leave it unclear
/// which one applies.
fn once(seen: bool, what: &str) -> io::Result<()> {
    match seen {
        true => Err(damaged(format!("two {what}s for one entry"))),
        false => Ok(()),
    }
}

fn damaged(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

fn decimal(value: &[u8], key: &str) -> io::Result<u64> {
    std::str::from_utf8(value)
        .ok()
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            damaged(format!(
                "the PAX record {key}={:?} is not a number",
                String::from_utf8_lossy(value)
            ))
        })
}

/// Whether the header's checksum holds, summed unsigned (POSIX) or signed (old tars, which
/// GNU tar accepts too), with the checksum field counted as spaces.
fn checksum_ok(header: &Header) -> io::Result<bool> {
    let bytes = header.as_bytes();
    let fields = bytes[..148].iter().chain(&bytes[156..]);
    let unsigned: u32 = fields.clone().map(|b| u32::from(*b)).sum::<u32>() + 8 * 32;
    let signed: i64 = fields.map(|b| i64::from(*b as i8)).sum::<i64>() + 8 * 32;
    let want = header.cksum()?;
    Ok(want == unsigned || i64::from(want) == signed)
}

/// A slot of an old GNU sparse map; None for an unused one (GNU tar stops at a slot whose
/// numbytes field is empty).
fn slot(s: &GnuSparseHeader) -> io::Result<Option<Segment>> {
    if s.numbytes[0] == 0 {
        return Ok(None);
    }
    Ok(Some(Segment {
        offset: s.offset()?,
        len: s.length()?,
    }))
}

/// Something both readable and seekable: a plain tar in a file or an archive member.
pub(crate) trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// Where the tar bytes come from: a stream, whose skipped data is read and dropped (a
/// compressed layer), or a seekable tar of known length, whose data is sought over (what
/// reading only the headers of a plain layer wants).
enum Input<'a> {
    Stream(&'a mut dyn Read),
    Seekable {
        inner: &'a mut dyn ReadSeek,
        len: u64,
    },
}

impl Read for Input<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::Stream(r) => r.read(buf),
            Input::Seekable { inner, .. } => inner.read(buf),
        }
    }
}

impl<'a> TarStream<'a> {
    pub(crate) fn new(inner: &'a mut dyn Read) -> TarStream<'a> {
        TarStream {
            inner: Input::Stream(inner),
            remaining: 0,
            padding: 0,
            scratch: None,
        }
    }

    /// A stream over a seekable plain tar: data that is not read is sought over. Its
    /// length is learnt here, so that a seek past the end (a truncated layer) is an error
    /// rather than a clean end of the archive.
    pub(crate) fn seekable(inner: &'a mut dyn ReadSeek) -> io::Result<TarStream<'a>> {
        let here = inner.stream_position()?;
        let len = inner.seek(SeekFrom::End(0))?;
        inner.seek(SeekFrom::Start(here))?;
        Ok(TarStream {
            inner: Input::Seekable { inner, len },
            remaining: 0,
            padding: 0,
            scratch: None,
        })
    }

    /// One block; None at a clean end of the stream.
    fn block(&mut self) -> io::Result<Option<[u8; BLOCK as usize]>> {
        let mut block = [0u8; BLOCK as usize];
        let mut got = 0;
        while got < block.len() {
            match self.inner.read(&mut block[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => return Err(damaged("the layer ends inside a tar header")),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Some(block))
    }

    fn skip(&mut self, n: u64) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        let skipped = match &mut self.inner {
            Input::Seekable { inner, len } => {
                let here = inner.stream_position()?;
                let to = here.saturating_add(n).min(*len);
                inner.seek(SeekFrom::Start(to))?;
                to - here
            }
            Input::Stream(r) => {
                // Read in large pieces: what is skipped is what a scan hashes and
                // decompresses, and io::copy's 8 KiB would make each of its passes
                // eight times as many.
                let scratch = self.scratch.get_or_insert_with(|| vec![0; SKIP_PIECE]);
                let mut skipped = 0;
                while skipped < n {
                    let want = (n - skipped).min(scratch.len() as u64) as usize;
                    match r.read(&mut scratch[..want]) {
                        Ok(0) => break,
                        Ok(k) => skipped += k as u64,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                skipped
            }
        };
        if skipped < n {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the layer ends inside an entry's data",
            ));
        }
        Ok(())
    }

    /// Start on an entry's data of `size` bytes.
    fn begin(&mut self, size: u64) {
        self.remaining = size;
        self.padding = size.wrapping_neg() % BLOCK;
    }

    /// An extension's whole data (`size` bytes), within MAX_EXTENSION.
    fn extension(&mut self, size: u64, what: &str) -> io::Result<Vec<u8>> {
        if size > MAX_EXTENSION {
            return Err(damaged(format!(
                "a {what} of {size} bytes (at most {MAX_EXTENSION} are read)"
            )));
        }
        self.begin(size);
        let mut data = vec![0; size as usize];
        self.read_exact(&mut data)?;
        Ok(data)
    }

    /// The next entry, past what is left of the current one; None at the end of the archive.
    pub(crate) fn next_entry(&mut self) -> io::Result<Option<Entry>> {
        let mut ext = Extensions::default();
        let Some(header) = self.entry_header(&mut ext)? else {
            return Ok(None);
        };
        self.entry(header, ext).map(Some)
    }

    /// Past what is left of the current entry, the header of the next one, with the
    /// extended headers before it gathered in `ext`; None at the end of the archive.
    fn entry_header(&mut self, ext: &mut Extensions) -> io::Result<Option<Header>> {
        loop {
            self.skip(self.remaining)?;
            self.skip(self.padding)?;
            self.begin(0);
            let block = match self.block()? {
                Some(b) if b.iter().any(|b| *b != 0) => b,
                // A zero block (or the stream's end) ends the archive.
                _ if ext.any() => {
                    return Err(damaged(
                        "the layer ends after an extended header, before its entry",
                    ))
                }
                _ => return Ok(None),
            };
            let header = Header::from_byte_slice(&block).clone();
            if !checksum_ok(&header)? {
                return Err(damaged("a tar header's checksum does not match"));
            }
            let size = header.entry_size()?;
            match header.entry_type() {
                EntryType::GNULongName => {
                    once(ext.long_name.is_some(), "GNU long name")?;
                    ext.long_name = Some(self.gnu_long_name(size, "GNU long name")?);
                }
                EntryType::GNULongLink => {
                    once(ext.long_link.is_some(), "GNU long link name")?;
                    ext.long_link = Some(self.gnu_long_name(size, "GNU long link name")?);
                }
                EntryType::XHeader => {
                    once(ext.pax.is_some(), "PAX extended header")?;
                    ext.pax = Some(self.pax_records(size)?);
                }
                EntryType::XGlobalHeader => self.begin(size),
                _ => return Ok(Some(header)),
            }
        }
    }

    /// A GNU long name (or link name) extension: its data up to the first NUL.
    fn gnu_long_name(&mut self, size: u64, what: &str) -> io::Result<Vec<u8>> {
        let mut name = self.extension(size, what)?;
        name.truncate(name.iter().position(|b| *b == 0).unwrap_or(name.len()));
        Ok(name)
    }

    /// A PAX extended header's records, as key and value bytes.
    fn pax_records(&mut self, size: u64) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let data = self.extension(size, "PAX extended header")?;
        tar::PaxExtensions::new(&data)
            .map(|r| r.map(|r| (r.key_bytes().to_vec(), r.value_bytes().to_vec())))
            .collect::<io::Result<Vec<_>>>()
            .map_err(|e| damaged(format!("a malformed PAX extended header: {e}")))
    }

    /// The entry `header` begins, its fields as the extensions before it override them;
    /// the stream is left at the start of its data.
    fn entry(&mut self, header: Header, ext: Extensions) -> io::Result<Entry> {
        let pax = ext.pax.unwrap_or_default();
        let record = |key: &str| {
            pax.iter()
                .rev()
                .find(|(k, _)| k == key.as_bytes())
                .map(|(_, v)| v.as_slice())
        };
        let mut path = match (record("path"), ext.long_name) {
            (Some(p), _) => p.to_vec(),
            (None, Some(n)) => n,
            (None, None) => header.path_bytes().into_owned(),
        };
        let link = match (record("linkpath"), ext.long_link) {
            (Some(l), _) => l.to_vec(),
            (None, Some(l)) => l,
            (None, None) => header.link_name_bytes().unwrap_or_default().into_owned(),
        };
        let number = |key: &str, header_value: io::Result<u64>| match record(key) {
            Some(v) => decimal(v, key),
            None => header_value,
        };
        let size = number("size", header.entry_size())?;
        let uid = number("uid", header.uid())?;
        let gid = number("gid", header.gid())?;
        let sparse = self.sparse_of(&header, &pax, &mut path)?;
        if let Some(Sparse {
            real_size,
            map: Some(map),
        }) = &sparse
        {
            sparse::check(map, *real_size, size)?;
        }
        self.begin(size);
        Ok(Entry {
            header,
            path,
            link,
            uid,
            gid,
            pax,
            size,
            sparse,
        })
    }

    /// A file's sparse map, from an old GNU sparse header or PAX records; PAX sparse
    /// formats carry the file's real name, which then replaces `path`.
    fn sparse_of(
        &mut self,
        header: &Header,
        pax: &[(Vec<u8>, Vec<u8>)],
        path: &mut Vec<u8>,
    ) -> io::Result<Option<Sparse>> {
        let kind = header.entry_type();
        if kind.is_gnu_sparse() {
            return Ok(Some(self.old_gnu_map(header)?));
        }
        if !(kind.is_file() || kind.is_contiguous()) {
            return Ok(None);
        }
        Ok(sparse::from_pax(pax)?.map(|(sparse, name)| {
            if let Some(name) = name {
                *path = name;
            }
            sparse
        }))
    }

    /// The map of an old GNU sparse header and of the extension blocks after it.
    fn old_gnu_map(&mut self, header: &Header) -> io::Result<Sparse> {
        let gnu = header
            .as_gnu()
            .ok_or_else(|| damaged("a sparse entry ('S') without a GNU header"))?;
        let mut map = Vec::new();
        let mut done = false;
        for s in &gnu.sparse {
            match slot(s)? {
                Some(seg) if !done => map.push(seg),
                _ => done = true,
            }
        }
        let mut extended = gnu.is_extended();
        while extended {
            let block = self
                .block()?
                .ok_or_else(|| damaged("the layer ends inside a sparse map"))?;
            let mut ext = GnuExtSparseHeader::new();
            ext.as_mut_bytes().copy_from_slice(&block);
            for s in ext.sparse() {
                match slot(s)? {
                    Some(seg) if !done => map.push(seg),
                    _ => done = true,
                }
            }
            if map.len() > sparse::MAX_SEGMENTS {
                return Err(damaged(format!(
                    "a sparse map of more than {} segments",
                    sparse::MAX_SEGMENTS
                )));
            }
            extended = ext.is_extended();
        }
        Ok(Sparse {
            real_size: gnu.real_size()?,
            map: Some(map),
        })
    }
}

/// The current entry's data; reading past it gives end of file, a stream that ends
/// before it an error.
impl Read for TarStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(self.remaining.try_into().unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the layer ends inside an entry's data",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: EntryType, path: &str, size: u64) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_path(path).unwrap();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        h
    }

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    #[test]
    fn extensions_give_the_entry_its_path_owner_and_records() {
        let bytes = archive(|b| {
            b.append_pax_extensions([
                ("path", &b"pax/name"[..]),
                ("uid", b"3000000"),
                ("SCHILY.xattr.user.a", b"v"),
            ])
            .unwrap();
            b.append(&header(EntryType::Regular, "short", 5), &b"hello"[..])
                .unwrap();
            let long = "d/".repeat(80) + "f";
            let mut h = header(EntryType::Regular, "x", 2);
            b.append_data(&mut h, &long, &b"hi"[..]).unwrap();
        });
        let mut input = &bytes[..];
        let mut tar = TarStream::new(&mut input);
        let e = tar.next_entry().unwrap().unwrap();
        assert_eq!(
            (e.path.as_slice(), e.uid, e.size),
            (&b"pax/name"[..], 3_000_000, 5)
        );
        assert!(e
            .pax
            .iter()
            .any(|(k, v)| k == b"SCHILY.xattr.user.a" && v == b"v"));
        // The entry's data is left unread: the next entry skips it.
        let e = tar.next_entry().unwrap().unwrap();
        assert_eq!(e.path, ("d/".repeat(80) + "f").into_bytes());
        let mut data = String::new();
        tar.read_to_string(&mut data).unwrap();
        assert_eq!(data, "hi");
        assert!(tar.next_entry().unwrap().is_none());
    }

    #[test]
    fn damaged_streams_are_errors() {
        // Data cut short.
        let mut bytes = archive(|b| {
            b.append(&header(EntryType::Regular, "f", 4096), &[7u8; 4096][..])
                .unwrap();
        });
        bytes.truncate(512 + 100);
        let mut input = &bytes[..];
        let mut tar = TarStream::new(&mut input);
        tar.next_entry().unwrap().unwrap();
        let mut sink = Vec::new();
        let err = tar.read_to_end(&mut sink).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        // A bad checksum; an extension too large to read; an extension with no entry.
        let mut bad = header(EntryType::Regular, "f", 0).as_bytes().to_vec();
        bad[0] = b'g';
        let huge = header(EntryType::XHeader, "x", MAX_EXTENSION + 1);
        let orphan = archive(|b| b.append_pax_extensions([("path", &b"p"[..])]).unwrap());
        for bytes in [bad, huge.as_bytes().to_vec(), orphan] {
            let mut input = &bytes[..];
            assert!(TarStream::new(&mut input).next_entry().is_err());
        }
    }

    #[test]
    fn an_old_gnu_sparse_header_gives_its_map_with_extension_blocks() {
        let mut h = header(EntryType::GNUSparse, "s", 6 * 512);
        let gnu = h.as_gnu_mut().unwrap();
        let offsets = [0u64, 1 << 20, 2 << 20, 3 << 20];
        for (slot, off) in gnu.sparse.iter_mut().zip(offsets) {
            slot.set_offset(off);
            slot.set_length(512);
        }
        gnu.set_is_extended(true);
        gnu.set_real_size(1 << 30);
        h.set_cksum();
        let mut ext = GnuExtSparseHeader::new();
        ext.sparse_mut()[0].set_offset(4 << 20);
        ext.sparse_mut()[0].set_length(512);
        ext.sparse_mut()[1].set_offset(5 << 20);
        ext.sparse_mut()[1].set_length(512);
        let mut bytes = h.as_bytes().to_vec();
        bytes.extend_from_slice(ext.as_bytes());
        bytes.extend_from_slice(&[1u8; 6 * 512]);
        bytes.extend_from_slice(&[0u8; 1024]);
        let mut input = &bytes[..];
        let mut tar = TarStream::new(&mut input);
        let e = tar.next_entry().unwrap().unwrap();
        let sparse = e.sparse.clone().unwrap();
        assert_eq!((e.size, e.file_size()), (3072, 1 << 30));
        let map = sparse.map.unwrap();
        assert_eq!(map.len(), 6);
        assert_eq!(
            map[5],
            Segment {
                offset: 5 << 20,
                len: 512
            }
        );
        assert!(tar.next_entry().unwrap().is_none());
    }
}
