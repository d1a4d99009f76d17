//! Parse /etc/subuid and /etc/subgid: `owner:start:count`, one entry a line.
//!
//! Parsing never fails as a whole and never panics: every line that is not an entry is
//! kept as `Skipped` with its number and the reason, so one bad line cannot hide the good
//! ones. The accepted form is shadow's (`lib/subordinateio.c`, `subordinate_parse`):
//! exactly three colon-separated, non-empty fields. Numbers must be plain decimal; shadow
//! 4.13 also takes hex, octal and signs through `strtoul(…, 0)`, which newer shadow
//! dropped and which `subid check` reports as malformed.

use super::range::SubIdRange;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Who a line belongs to: shadow matches the exact name first, then the numeric uid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum Owner {
    Name(String),
    Uid(u32),
}

impl Owner {
    /// A field of digits is a uid (when it fits); anything else is a name.
    pub(crate) fn from_field(field: &str) -> Owner {
        if !field.is_empty() && field.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(uid) = field.parse::<u32>() {
                return Owner::Uid(uid);
            }
        }
        Owner::Name(field.to_string())
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Name(n) => f.write_str(n),
            Owner::Uid(u) => write!(f, "{u}"),
        }
    }
}

/// One entry of a subid file. `start` and `count` are kept as written (up to u64) so that
/// an entry the kernel cannot use is still shown and linted, as getsubids lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubIdEntry {
    pub owner: Owner,
    /// The owner field exactly as written.
    pub owner_text: String,
    pub start: u64,
    pub count: u64,
    /// 1-based line number.
    pub line: usize,
}

impl SubIdEntry {
    /// The entry as a u32 range, when both numbers fit in 32 bits.
    pub fn range(&self) -> Option<SubIdRange> {
        Some(SubIdRange::new(
            u32::try_from(self.start).ok()?,
            u32::try_from(self.count).ok()?,
        ))
    }

    /// One past the last id, never wrapping.
    pub fn end(&self) -> u128 {
        self.start as u128 + self.count as u128
    }
}

/// A line that is not an entry, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub line: usize,
    pub text: String,
    pub reason: String,
}

/// A parsed subid file: its entries in file order and every malformed line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SubIdFile {
    pub path: PathBuf,
    pub entries: Vec<SubIdEntry>,
    pub skipped: Vec<Skipped>,
}

impl SubIdFile {
    /// Read and parse `path`. A missing file is an empty file (no entries), as shadow treats it.
    pub fn read(path: &Path) -> crate::error::Result<SubIdFile> {
        Self::read_keeping(path, |_| true)
    }

    /// Read `path`, validating every line but keeping only the entries whose owner field
    /// passes `keep`: a user's lookup in a site-sized file need not copy every other line.
    pub(crate) fn read_keeping(
        path: &Path,
        keep: impl Fn(&str) -> bool,
    ) -> crate::error::Result<SubIdFile> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(parse_keeping(path, &bytes, keep)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SubIdFile {
                path: path.to_path_buf(),
                ..Default::default()
            }),
            Err(e) => Err(crate::error::Error::io("read", path, &e)),
        }
    }
}

/// Parse the bytes of a subid file. Invalid UTF-8 makes only its own line malformed.
pub fn parse(path: &Path, bytes: &[u8]) -> SubIdFile {
    parse_keeping(path, bytes, |_| true)
}

/// `parse`, keeping only the entries whose owner field passes `keep`; every line is still
/// validated, so malformed lines are reported whoever they belong to.
pub(crate) fn parse_keeping(path: &Path, bytes: &[u8], keep: impl Fn(&str) -> bool) -> SubIdFile {
    let mut file = SubIdFile {
        path: path.to_path_buf(),
        ..Default::default()
    };
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        if raw.is_empty() {
            continue;
        }
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t,
            Err(_) => {
                file.skipped.push(Skipped {
                    line,
                    text: String::from_utf8_lossy(raw).into_owned(),
                    reason: "not valid UTF-8".into(),
                });
                continue;
            }
        };
        if text.trim_start().starts_with('#') || text.trim().is_empty() {
            continue;
        }
        match split_line(text) {
            Ok((owner, start, count)) => {
                if keep(owner) {
                    file.entries.push(SubIdEntry {
                        owner: Owner::from_field(owner),
                        owner_text: owner.to_string(),
                        start,
                        count,
                        line,
                    });
                }
            }
            Err(reason) => file.skipped.push(Skipped {
                line,
                text: text.to_string(),
                reason,
            }),
        }
    }
    file
}

/// Parse one non-comment line into an entry, or say what was expected: that text is the
/// reason of a skipped line (parsing never fails as a whole), so it stays a `String`.
pub fn parse_line(text: &str, line: usize) -> Result<SubIdEntry, String> {
    let (owner_text, start, count) = split_line(text)?;
    Ok(SubIdEntry {
        owner: Owner::from_field(owner_text),
        owner_text: owner_text.to_string(),
        start,
        count,
        line,
    })
}

/// Validate a line and return its owner field and numbers, without allocating.
fn split_line(text: &str) -> Result<(&str, u64, u64), String> {
    let mut fields = text.splitn(4, ':');
    let (Some(owner_text), Some(start), Some(count), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(format!(
            "expected 3 fields OWNER:START:COUNT, found {}",
            text.split(':').count()
        ));
    };
    if owner_text.is_empty() {
        return Err("empty owner; expected a user name or numeric uid".into());
    }
    if owner_text.trim() != owner_text {
        return Err(format!(
            "owner {owner_text:?} has surrounding white space; shadow matches names exactly"
        ));
    }
    let start = parse_number(start, "START")?;
    let count = parse_number(count, "COUNT")?;
    Ok((owner_text, start, count))
}

fn parse_number(field: &str, name: &str) -> Result<u64, String> {
    // The usual case first: digits only cannot be any of the errors below but the last.
    if !field.is_empty() && field.bytes().all(|b| b.is_ascii_digit()) {
        return field
            .parse::<u64>()
            .map_err(|_| format!("{name} {field} is far too large for an id"));
    }
    if field.is_empty() {
        return Err(format!("empty {name}; expected a decimal number"));
    }
    if field.trim() != field {
        return Err(format!(
            "{name} {field:?} has surrounding white space (or a CR line ending); expected a plain decimal number"
        ));
    }
    if !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{name} {field:?} is not a decimal number"));
    }
    field
        .parse::<u64>()
        .map_err(|_| format!("{name} {field} is far too large for an id"))
}

/// The canonical text of an entry, as shadow writes it.
pub fn format_entry(owner: &str, start: u64, count: u64) -> String {
    format!("{owner}:{start}:{count}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> SubIdFile {
        parse(Path::new("/etc/subuid"), text.as_bytes())
    }

    #[test]
    fn keeps_good_lines_around_bad_ones() {
        let f = p("# comment\nivy:100000:65536\nbroken line\n\n2000:300000:10\nbob:x:1\n");
        assert_eq!(f.entries.len(), 2);
        assert_eq!(f.entries[0].owner, Owner::Name("ivy".into()));
        assert_eq!(f.entries[0].line, 2);
        assert_eq!(f.entries[1].owner, Owner::Uid(2000));
        assert_eq!(f.entries[1].line, 5);
        assert_eq!(f.skipped.len(), 2);
        assert_eq!(f.skipped[0].line, 3);
        assert!(f.skipped[0].reason.contains("3 fields"));
        assert_eq!(f.skipped[1].line, 6);
        assert!(f.skipped[1].reason.contains("START"));
    }

    #[test]
    fn numbers_are_plain_decimal() {
        assert!(parse_line("a:0x10:5", 1).is_err());
        assert!(parse_line("a:-1:5", 1).is_err());
        assert!(parse_line("a:1:5 ", 1).unwrap_err().contains("white space"));
        assert!(parse_line("a:1:5\r", 1).unwrap_err().contains("CR"));
        assert!(parse_line("a:1:", 1).unwrap_err().contains("empty COUNT"));
        assert!(parse_line(":1:5", 1).unwrap_err().contains("empty owner"));
        assert!(parse_line("a:1:5:6", 1).unwrap_err().contains("found 4"));
    }

    #[test]
    fn out_of_range_numbers_stay_entries() {
        let e = parse_line("a:4294967295:10", 1).unwrap();
        assert_eq!(e.start, 4294967295);
        assert_eq!(e.range(), Some(SubIdRange::new(u32::MAX, 10)));
        let e = parse_line("a:4294967296:10", 1).unwrap();
        assert_eq!(e.range(), None);
        assert!(parse_line("a:99999999999999999999999:1", 1).is_err());
    }

    #[test]
    fn numeric_owner_beyond_u32_is_a_name() {
        assert_eq!(
            Owner::from_field("99999999999"),
            Owner::Name("99999999999".into())
        );
    }

    #[test]
    fn invalid_utf8_only_skips_its_line() {
        let f = parse(Path::new("x"), b"a:1:2\n\xff\xfe:1:2\nb:3:4");
        assert_eq!(f.entries.len(), 2);
        assert_eq!(f.skipped[0].line, 2);
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        /// Owner fields as useradd and admins write them: names (some all digits, which
        /// read as uids) and numeric uids.
        fn owner() -> impl Strategy<Value = String> {
            prop_oneof![
                "[a-z_][a-z0-9_.-]{0,31}\\$?",
                any::<u32>().prop_map(|u| u.to_string()),
                "[0-9]{1,12}",
            ]
        }

        proptest! {
            #[test]
            fn format_then_parse_gives_the_entry_back(
                owner in owner(), start in any::<u64>(), count in any::<u64>(), line in 1usize..100_000
            ) {
                let text = format_entry(&owner, start, count);
                let e = parse_line(&text, line).unwrap();
                prop_assert_eq!(&e.owner_text, &owner);
                prop_assert_eq!(e.owner, Owner::from_field(&owner));
                prop_assert_eq!((e.start, e.count, e.line), (start, count, line));
                prop_assert_eq!(format_entry(&e.owner_text, e.start, e.count), text);
            }

            #[test]
            fn a_written_file_reads_back_line_for_line(
                entries in proptest::collection::vec((owner(), any::<u32>(), any::<u32>()), 0..40),
                comments in proptest::collection::vec(any::<bool>(), 40),
            ) {
                let mut text = String::new();
                let mut expected = Vec::new();
                let mut line = 0;
                for (i, (o, s, c)) in entries.iter().enumerate() {
                    if comments[i] {
                        text.push_str("# a comment\n\n");
                        line += 2;
                    }
                    text.push_str(&format_entry(o, *s as u64, *c as u64));
                    text.push('\n');
                    line += 1;
                    expected.push((o.clone(), *s as u64, *c as u64, line));
                }
                let f = parse(Path::new("/etc/subuid"), text.as_bytes());
                prop_assert!(f.skipped.is_empty());
                let got: Vec<_> = f
                    .entries
                    .iter()
                    .map(|e| (e.owner_text.clone(), e.start, e.count, e.line))
                    .collect();
                prop_assert_eq!(got, expected);
            }

            #[test]
            fn parse_never_panics_and_accounts_for_every_line(
                bytes in proptest::collection::vec(any::<u8>(), 0..600)
            ) {
                let f = parse(Path::new("x"), &bytes);
                let lines = bytes.split(|&b| b == b'\n').count();
                let mut seen: Vec<usize> = f
                    .entries
                    .iter()
                    .map(|e| e.line)
                    .chain(f.skipped.iter().map(|s| s.line))
                    .collect();
                let n = seen.len();
                seen.sort_unstable();
                seen.dedup();
                prop_assert_eq!(seen.len(), n, "a line is both an entry and skipped");
                prop_assert!(seen.iter().all(|&l| l >= 1 && l <= lines));
            }

            #[test]
            fn parse_never_panics_on_near_miss_lines(
                text in "([a-z0-9 #:\\-+x\r]{0,20}\n){0,20}"
            ) {
                let f = parse(Path::new("x"), text.as_bytes());
                for e in &f.entries {
                    let again = parse_line(&format_entry(&e.owner_text, e.start, e.count), e.line);
                    prop_assert_eq!(again.as_ref(), Ok(e));
                }
            }
        }
    }
}
