//! Sparse files in a layer, as GNU tar writes them (GNU tar manual, "Storing Sparse
//! Files", and its `sparse.c`):
//!
//! - old GNU (typeflag 'S'): up to four (offset, numbytes) pairs in the header itself,
//!   21 more in each extension block that follows while `isextended` is set, the file's
//!   size in `realsize` (GNU tar's default format writes this);
//! - PAX 0.0: one `GNU.sparse.offset` and `GNU.sparse.numbytes` record per segment,
//!   `GNU.sparse.size` the file's size;
//! - PAX 0.1: the same pairs in one `GNU.sparse.map` record, "OFFSET,NUMBYTES,...";
//! - PAX 1.0 (`GNU.sparse.major=1`, `GNU.sparse.minor=0`): the map at the start of the
//!   entry's data, decimal numbers one a line (the count, then each offset and numbytes),
//!   padded to a block; `GNU.sparse.realsize` the file's size. 0.1 and 1.0 store the real
//!   name in `GNU.sparse.name` (the header's is `GNUSparseFile.PID/NAME`).
//!
//! In every format the data holds the segments one after the other and everything else
//! is a hole. The file is written by seeking to each segment, then truncated to its size,
//! so holes (a trailing one too) take no disk space: a 10 KiB layer declaring a 1 GiB
//! file of holes writes 10 KiB, not 1 GiB. A map is checked before anything is written:
//! in order, without overlaps, inside the file, adding up to the data stored.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// At most this many segments (16 bytes each in memory) in one file's map.
pub(crate) const MAX_SEGMENTS: usize = 1 << 20;

const BLOCK: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) offset: u64,
    pub(crate) len: u64,
}

/// A sparse file: its size, and its map unless the data begins with it (PAX 1.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sparse {
    pub(crate) real_size: u64,
    pub(crate) map: Option<Vec<Segment>>,
}

fn bad(why: impl Into<String>) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("a malformed sparse file: {}", why.into()),
    )
}

fn number(text: &[u8], what: &str) -> io::Result<u64> {
    std::str::from_utf8(text)
        .ok()
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| {
            bad(format!(
                "{what} {:?} is not a number",
                String::from_utf8_lossy(text)
            ))
        })
}

/// The sparse file the `GNU.sparse.*` records of a PAX header describe, if any, and the
/// real name they give it.
pub(crate) fn from_pax(
    records: &[(Vec<u8>, Vec<u8>)],
) -> io::Result<Option<(Sparse, Option<Vec<u8>>)>> {
    let get = |key: &str| {
        records
            .iter()
            .rev()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| v.as_slice())
    };
    let name = get("GNU.sparse.name").map(<[u8]>::to_vec);
    let size = |keys: &[&str]| -> io::Result<u64> {
        let value = keys
            .iter()
            .find_map(|k| get(k))
            .ok_or_else(|| bad(format!("no {} record", keys[0])))?;
        number(value, keys[0])
    };
    if let Some(major) = get("GNU.sparse.major") {
        let minor = get("GNU.sparse.minor").unwrap_or(b"0");
        if (major, minor) != (&b"1"[..], &b"0"[..]) {
            return Err(bad(format!(
                "sparse format {}.{} is not one GNU tar writes (0.0, 0.1, 1.0)",
                String::from_utf8_lossy(major),
                String::from_utf8_lossy(minor)
            )));
        }
        let real_size = size(&["GNU.sparse.realsize", "GNU.sparse.size"])?;
        return Ok(Some((
            Sparse {
                real_size,
                map: None,
            },
            name,
        )));
    }
    let mut map = Vec::new();
    if let Some(text) = get("GNU.sparse.map") {
        let numbers = text
            .split(|b| *b == b',')
            .map(|n| number(n, "GNU.sparse.map"))
            .collect::<io::Result<Vec<u64>>>()?;
        if numbers.len() % 2 != 0 || numbers.len() / 2 > MAX_SEGMENTS {
            return Err(bad("GNU.sparse.map is not a list of offset,numbytes pairs"));
        }
        map.extend(numbers.chunks(2).map(|p| Segment {
            offset: p[0],
            len: p[1],
        }));
    } else {
        // 0.0: the pairs in record order.
        let mut offset = None;
        for (k, v) in records {
            match k.as_slice() {
                b"GNU.sparse.offset" => offset = Some(number(v, "GNU.sparse.offset")?),
                b"GNU.sparse.numbytes" => {
                    let offset = offset
                        .take()
                        .ok_or_else(|| bad("GNU.sparse.numbytes without its offset"))?;
                    let len = number(v, "GNU.sparse.numbytes")?;
                    if map.len() == MAX_SEGMENTS {
                        return Err(bad(format!("more than {MAX_SEGMENTS} segments")));
                    }
                    map.push(Segment { offset, len });
                }
                _ => {}
            }
        }
        if map.is_empty() {
            return Ok(None);
        }
    }
    let real_size = size(&["GNU.sparse.size", "GNU.sparse.realsize"])?;
    Ok(Some((
        Sparse {
            real_size,
            map: Some(map),
        },
        name,
    )))
}

/// Check a map against the file's size and the data bytes that follow it in the entry.
pub(crate) fn check(map: &[Segment], real_size: u64, stored: u64) -> io::Result<()> {
    let mut end = 0u64;
    let mut data = 0u64;
    for s in map {
        if s.offset < end {
            return Err(bad("its segments overlap or are out of order"));
        }
        end = s
            .offset
            .checked_add(s.len)
            .filter(|e| *e <= real_size)
            .ok_or_else(|| {
                bad(format!(
                    "a segment at {} of {} bytes ends past the file's size {real_size}",
                    s.offset, s.len
                ))
            })?;
        data += s.len;
    }
    if data != stored {
        return Err(bad(format!(
            "its map holds {data} bytes of data, the entry {stored}"
        )));
    }
    Ok(())
}

/// Read the PAX 1.0 map from the start of `data`; returns it and how many bytes it took
/// (whole blocks).
fn read_map(data: &mut dyn Read, stored: u64) -> io::Result<(Vec<Segment>, u64)> {
    let mut text: Vec<u8> = Vec::new();
    let mut pos = 0;
    let mut next = |text: &mut Vec<u8>, what: &str| -> io::Result<u64> {
        loop {
            if let Some(nl) = text[pos..].iter().position(|b| *b == b'\n') {
                let n = number(&text[pos..pos + nl], what)?;
                pos += nl + 1;
                return Ok(n);
            }
            if text.len() as u64 + BLOCK as u64 > stored || text.len() - pos > 20 {
                return Err(bad("its map does not end inside its data"));
            }
            let start = text.len();
            text.resize(start + BLOCK, 0);
            data.read_exact(&mut text[start..])?;
        }
    };
    let count = next(&mut text, "the segment count")?;
    if count > MAX_SEGMENTS as u64 {
        return Err(bad(format!("{count} segments, more than {MAX_SEGMENTS}")));
    }
    // Each segment takes at least four bytes of the data ("0\n0\n"): no more room than that.
    let mut map = Vec::with_capacity(count.min(stored / 4) as usize);
    for _ in 0..count {
        let offset = next(&mut text, "an offset")?;
        let len = next(&mut text, "a length")?;
        map.push(Segment { offset, len });
    }
    Ok((map, text.len() as u64))
}

/// Copy exactly `len` bytes from `from` to `to` through `buf`.
pub(crate) fn copy_exact(
    from: &mut dyn Read,
    to: &mut File,
    mut len: u64,
    buf: &mut [u8],
) -> io::Result<()> {
    while len > 0 {
        let want = buf.len().min(len.try_into().unwrap_or(usize::MAX));
        let n = from.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the layer ends inside the file's data",
            ));
        }
        to.write_all(&buf[..n])?;
        len -= n as u64;
    }
    Ok(())
}

/// Fill `buf` from `from`, with the error `copy_exact` gives when the data ends early.
pub(crate) fn read_exact(from: &mut dyn Read, mut buf: &mut [u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match from.read(buf) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the layer ends inside the file's data",
                ))
            }
            Ok(n) => buf = &mut buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Write a sparse entry's `stored` bytes of data from `data` into `file` (new and empty):
/// each segment at its offset, holes left as holes. Returns the bytes of file data written.
pub(crate) fn write(
    file: &mut File,
    data: &mut dyn Read,
    sparse: &Sparse,
    stored: u64,
    buf: &mut [u8],
) -> io::Result<u64> {
    let from_data;
    let (map, stored) = match &sparse.map {
        Some(map) => (map, stored),
        None => {
            let (map, map_len) = read_map(data, stored)?;
            from_data = map;
            (&from_data, stored - map_len)
        }
    };
    check(map, sparse.real_size, stored)?;
    for s in map.iter().filter(|s| s.len > 0) {
        file.seek(SeekFrom::Start(s.offset))?;
        copy_exact(data, file, s.len, buf)?;
    }
    file.set_len(sparse.real_size)?;
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    fn seg(offset: u64, len: u64) -> Segment {
        Segment { offset, len }
    }

    #[test]
    fn pax_records_of_each_version_give_the_map() {
        // As GNU tar 1.34 writes them for a 1 GiB file with data at 512 MiB and at its end.
        let v00 = records(&[
            ("GNU.sparse.size", "1073741824"),
            ("GNU.sparse.numblocks", "2"),
            ("GNU.sparse.offset", "536870912"),
            ("GNU.sparse.numbytes", "4096"),
            ("GNU.sparse.offset", "1073737728"),
            ("GNU.sparse.numbytes", "4096"),
        ]);
        let map = vec![seg(536870912, 4096), seg(1073737728, 4096)];
        let want = Sparse {
            real_size: 1 << 30,
            map: Some(map),
        };
        assert_eq!(from_pax(&v00).unwrap(), Some((want.clone(), None)));
        let v01 = records(&[
            ("GNU.sparse.size", "1073741824"),
            ("GNU.sparse.name", "big"),
            ("GNU.sparse.map", "536870912,4096,1073737728,4096"),
        ]);
        assert_eq!(from_pax(&v01).unwrap(), Some((want, Some(b"big".to_vec()))));
        let v10 = records(&[
            ("GNU.sparse.major", "1"),
            ("GNU.sparse.minor", "0"),
            ("GNU.sparse.name", "big"),
            ("GNU.sparse.realsize", "1073741824"),
        ]);
        let (sparse, name) = from_pax(&v10).unwrap().unwrap();
        assert_eq!(
            (sparse.real_size, sparse.map, name),
            (1 << 30, None, Some(b"big".to_vec()))
        );
        assert_eq!(from_pax(&records(&[("path", "x")])).unwrap(), None);
    }

    #[test]
    fn malformed_pax_records_are_errors_not_panics() {
        for bad in [
            &[("GNU.sparse.major", "2"), ("GNU.sparse.realsize", "1")][..],
            &[("GNU.sparse.major", "1")],
            &[("GNU.sparse.map", "1,2,3"), ("GNU.sparse.size", "9")],
            &[("GNU.sparse.map", "1,x"), ("GNU.sparse.size", "9")],
            &[("GNU.sparse.numbytes", "1"), ("GNU.sparse.size", "9")],
            &[
                ("GNU.sparse.offset", "99999999999999999999999"),
                ("GNU.sparse.numbytes", "1"),
            ],
            &[("GNU.sparse.offset", "-1"), ("GNU.sparse.numbytes", "1")],
        ] {
            assert!(from_pax(&records(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn maps_must_be_ordered_inside_the_file_and_match_the_data() {
        assert!(check(&[seg(0, 512), seg(4096, 512), seg(8192, 0)], 8192, 1024).is_ok());
        assert!(
            check(&[seg(4096, 512), seg(0, 512)], 8192, 1024).is_err(),
            "out of order"
        );
        assert!(
            check(&[seg(0, 1024), seg(512, 512)], 8192, 1536).is_err(),
            "overlap"
        );
        assert!(check(&[seg(8000, 512)], 8192, 512).is_err(), "past the end");
        assert!(check(&[seg(u64::MAX, 1)], u64::MAX, 1).is_err(), "overflow");
        assert!(check(&[seg(0, 512)], 8192, 4096).is_err(), "data left over");
    }

    #[test]
    fn a_map_in_the_data_is_read_up_to_its_block_end() {
        let mut data = b"2\n0\n5\n100\n3\n".to_vec();
        data.resize(512, 0);
        data.extend_from_slice(b"helloend");
        let (map, len) = read_map(&mut &data[..], data.len() as u64).unwrap();
        assert_eq!((map, len), (vec![seg(0, 5), seg(100, 3)], 512));
        // A number running on forever, a map longer than the data: errors.
        let endless = vec![b'1'; 4096];
        assert!(read_map(&mut &endless[..], 4096).is_err());
        assert!(read_map(&mut &b"3\n"[..], 2).is_err());
    }
}
