//! A detached container's output: podman's `k8s-file` log format (conmon's), one line
//! per record, `TIMESTAMP STREAM TAG CONTENT`, where TIMESTAMP is RFC 3339 with
//! nanoseconds (UTC), STREAM is `stdout` or `stderr`, and TAG is `F` for a full line (its
//! newline not written) or `P` for a part of one (the container wrote no newline yet).
//!
//! The size limit (`--log-size-max`, podman's `log_size_max`): the log is `ctr.log` and,
//! once that has grown to half the limit, it is renamed `ctr.log.1` (replacing the older
//! one) and a new `ctr.log` begins, so that the two never hold much more than the limit
//! and the newest half is always there. conmon truncates the file instead, losing all.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// podman's default `log_size_max` is unlimited (-1); userns keeps 10 MiB, so that a
/// chatty service cannot fill the disk unnoticed.
pub const DEFAULT_SIZE_MAX: u64 = 10 * 1024 * 1024;

/// `--log-size-max SIZE`: bytes, or with K, M, G, T (powers of 1024); 0 for no limit.
pub fn parse_size_max(text: &str) -> Result<u64> {
    crate::image::limits::parse_size(text).ok_or_else(|| {
        Error::usage(format!("invalid --log-size-max {text:?}"))
            .fix("give bytes, or a number with K, M or G (10M), or 0 for no limit")
    })
}

/// Which output a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn word(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// The log being written (by the monitor).
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    /// 0: unlimited.
    size_max: u64,
}

fn open_append(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)
}

impl LogWriter {
    pub fn open(path: &Path, size_max: u64) -> Result<LogWriter> {
        let file = open_append(path).map_err(|e| Error::io("open the log", path, &e))?;
        let size = file.metadata().map_or(0, |m| m.len());
        Ok(LogWriter {
            path: path.to_path_buf(),
            file,
            size,
            size_max,
        })
    }

    /// Log what the container wrote on `stream`, one record per line; a last piece without
    /// a newline is a partial record. Errors are the monitor's to report, once.
    pub fn write(&mut self, stream: Stream, bytes: &[u8]) -> std::io::Result<()> {
        let stamp = timestamp(std::time::SystemTime::now());
        let mut out = Vec::with_capacity(bytes.len() + 64);
        let mut rest = bytes;
        while !rest.is_empty() {
            let (piece, tag, next) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], 'F', &rest[i + 1..]),
                None => (rest, 'P', &rest[rest.len()..]),
            };
            let head = format!("{stamp} {} {tag} ", stream.word());
            let len = (head.len() + piece.len() + 1) as u64;
            // Rotate record by record: one read may bring many times the limit.
            let held = self.size + out.len() as u64;
            if self.size_max > 0 && held > 0 && held + len > self.size_max / 2 {
                self.file.write_all(&out)?;
                out.clear();
                self.rotate()?;
            }
            out.extend_from_slice(head.as_bytes());
            out.extend_from_slice(piece);
            out.push(b'\n');
            rest = next;
        }
        self.file.write_all(&out)?;
        self.size += out.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        std::fs::rename(&self.path, rotated(&self.path))?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// The older half of a rotated log.
pub fn rotated(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// One record of the log, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub stream: Stream,
    /// A full line (a newline follows it on output).
    pub full: bool,
    pub content: &'a [u8],
}

/// Parse one record line (without its newline); None for a line that is not one.
pub fn parse_line(line: &[u8]) -> Option<Entry<'_>> {
    let mut parts = line.splitn(4, |&b| b == b' ');
    let _stamp = parts.next()?;
    let stream = match parts.next()? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let full = match parts.next()? {
        b"F" => true,
        b"P" => false,
        _ => return None,
    };
    Some(Entry {
        stream,
        full,
        content: parts.next().unwrap_or_default(),
    })
}

/// The records of `text` (whole lines only; a torn last line is left for later), the
/// last `tail` full lines only when set.
pub fn entries(text: &[u8], tail: Option<usize>) -> Vec<Entry<'_>> {
    let complete = match text.iter().rposition(|&b| b == b'\n') {
        Some(i) => &text[..i],
        None => return Vec::new(),
    };
    let all: Vec<Entry> = complete
        .split(|&b| b == b'\n')
        .filter_map(parse_line)
        .collect();
    match tail {
        None => all,
        Some(n) => {
            // Count full lines from the end: a partial record belongs to the line after it.
            let mut full = 0;
            let mut start = all.len();
            while start > 0 {
                if all[start - 1].full {
                    if full == n {
                        break;
                    }
                    full += 1;
                }
                start -= 1;
            }
            all[start..].to_vec()
        }
    }
}

/// RFC 3339 with nanoseconds, UTC: 2026-11-29T07:22:43.123456789Z.
pub fn timestamp(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_795_000_000, 5);
        assert_eq!(timestamp(t), "2026-11-18T11:06:40.000000005Z");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn lines_and_parts_are_logged_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctr.log");
        let mut log = LogWriter::open(&path, 0).unwrap();
        log.write(Stream::Stdout, b"one\ntw").unwrap();
        log.write(Stream::Stderr, b"err\n").unwrap();
        log.write(Stream::Stdout, b"o\n").unwrap();
        let text = std::fs::read(&path).unwrap();
        let all = entries(&text, None);
        assert_eq!(all.len(), 4);
        assert_eq!((all[1].content, all[1].full), (&b"tw"[..], false));
        assert_eq!(all[2].stream, Stream::Stderr);
        let last = entries(&text, Some(1));
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].content, b"o");
        // The partial "tw" belongs to the line "o" completes (same stream in practice).
        assert_eq!(entries(&text, Some(2)).len(), 3);
        assert_eq!(entries(&text, Some(0)).len(), 0);
    }

    #[test]
    fn the_log_rotates_at_half_the_limit_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctr.log");
        let mut log = LogWriter::open(&path, 2000).unwrap();
        for i in 0..100 {
            log.write(Stream::Stdout, format!("line {i}\n").as_bytes())
                .unwrap();
        }
        // One read that brings many times the limit at once.
        let burst: String = (100..300).map(|i| format!("line {i}\n")).collect();
        log.write(Stream::Stdout, burst.as_bytes()).unwrap();
        let now = std::fs::read(&path).unwrap();
        let old = std::fs::read(rotated(&path)).unwrap();
        assert!(now.len() as u64 <= 1000 && old.len() as u64 <= 1000);
        let last = entries(&now, Some(1));
        assert_eq!(last[0].content, b"line 299");
    }
}
