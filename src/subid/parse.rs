//! Parse /etc/subuid and /etc/subgid: `owner:start:count`, one entry a line.
//!
//! Parsing never fails as a whole and never panics: every line that is not an entry is
//! kept as `Skipped` with its number, the reason and what shadow does with it, so one bad
//! line cannot hide the good ones. newuidmap decides what a map may use, so a line is an
//! entry exactly when shadow 4.13 (`lib/subordinateio.c`, `subordinate_parse` under
//! `commonio_open`) takes it: the first three colon-separated fields, non-empty, any
//! further fields ignored; START and COUNT read by `strtoul(…, 0)` (see `strtoul`); lines
//! of 1024 bytes or more and lines starting with `+` or `-` (NIS entries) ignored. The
//! owner is the first field's text, blanks and all, as shadow compares it.

use super::range::SubIdRange;
use super::shadow_lines::shadow_lines;
use super::strtoul::{getulong, Unusual};
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
    /// A uid written as shadow writes one (`%lu`: decimal, no leading zero) is a uid;
    /// anything else is a name. newuidmap and getsubids compare the field's text with the
    /// uid so printed, so `02000` is no one's uid to them (a name no one has).
    pub(crate) fn from_field(field: &str) -> Owner {
        match canonical_uid(field) {
            Some(uid) => Owner::Uid(uid),
            None => Owner::Name(field.to_string()),
        }
    }
}

/// The uid a field names as shadow prints uids (`%lu`), or None.
pub(crate) fn canonical_uid(field: &str) -> Option<u32> {
    let digits = !field.is_empty() && field.bytes().all(|b| b.is_ascii_digit());
    if !digits || (field.len() > 1 && field.starts_with('0')) {
        return None;
    }
    field.parse::<u32>().ok()
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
    /// What shadow's tools do with the line, when it is a subid file's (for `subid check`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow: Option<String>,
}

/// What shadow 4.13 does with most lines it cannot parse: `commonio_open` keeps them for
/// rewriting and every reader passes over them without a word.
pub(crate) const SHADOW_SKIPS: &str = "shadow's tools skip it silently";

/// An entry written in a form shadow 4.13 reads but newer shadow refuses or reads
/// differently (hex, octal, signs, leading blanks, a fourth field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OddForm {
    pub line: usize,
    pub note: String,
}

/// A parsed subid file: its entries in file order and every malformed line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SubIdFile {
    pub path: PathBuf,
    pub entries: Vec<SubIdEntry>,
    pub skipped: Vec<Skipped>,
    /// Entries (whoever they belong to) written in a form that only shadow 4.13 reads so.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub odd: Vec<OddForm>,
    /// The line whose NUL byte makes shadow fail to read the file at all (then there
    /// are no entries: newuidmap refuses every range of it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<usize>,
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

/// shadow's `subordinate_parse` refuses a line of this many bytes or more (its buffer).
const SHADOW_LINE_MAX: usize = 1024;

/// `parse`, keeping only the entries whose owner field passes `keep`; every line is still
/// validated, so malformed lines are reported whoever they belong to.
pub(crate) fn parse_keeping(path: &Path, bytes: &[u8], keep: impl Fn(&str) -> bool) -> SubIdFile {
    let mut file = SubIdFile {
        path: path.to_path_buf(),
        ..Default::default()
    };
    // The usual file has no NUL byte: its lines are the text between newlines, read in
    // place (a site's file has hundreds of thousands).
    if !bytes.contains(&0) {
        for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            take_line(&mut file, index + 1, raw, 0, &keep);
        }
        return file;
    }
    let lines = match shadow_lines(bytes) {
        Ok(lines) => lines,
        Err(line) => {
            // newuidmap refuses every range of a file shadow cannot open: so does userns.
            let raw = bytes
                .split(|&b| b == b'\n')
                .nth(line - 1)
                .unwrap_or_default();
            file.skipped.push(Skipped {
                line,
                text: String::from_utf8_lossy(raw).into_owned(),
                reason: "a NUL byte in the last line makes the whole file unreadable to shadow 4.13 (and so to userns)".into(),
                shadow: Some("shadow's tools cannot read the file: newuidmap refuses every range in it, getsubids lists none".into()),
            });
            file.unreadable = Some(line);
            return file;
        }
    };
    for l in lines {
        take_line(&mut file, l.line, &l.text, l.glued, &keep);
    }
    file
}

/// Add line `line` (as shadow cut it, `glued` following lines glued on by a NUL) to
/// `file`: an entry (kept when its owner passes `keep`), a skipped line, or nothing.
fn take_line(
    file: &mut SubIdFile,
    line: usize,
    raw: &[u8],
    glued: usize,
    keep: &impl Fn(&str) -> bool,
) {
    if raw.is_empty() {
        return;
    }
    let skip = |reason: String, shadow: &str| Skipped {
        line,
        text: String::from_utf8_lossy(raw).into_owned(),
        reason,
        shadow: Some(shadow.to_string()),
    };
    // A NUL ends the C string fgets filled, and commonio_open reads on: shadow reads
    // the text before the NUL joined with the next line. So does userns, and says so.
    let glue_note = (glued > 0).then(|| {
        format!(
            "a NUL byte: shadow 4.13 reads the text before it joined with the next {} as one line, {:?}",
            if glued == 1 { "line".to_string() } else { format!("{glued} lines") },
            String::from_utf8_lossy(raw)
        )
    });
    let text = match std::str::from_utf8(raw) {
        Ok(t) => t,
        Err(_) => {
            // Only the owner's bytes matter to shadow: a name is any bytes but ':'.
            let owner_only = raw.iter().position(|&b| b == b':').is_some_and(|colon| {
                colon > 0
                    && std::str::from_utf8(&raw[colon..])
                        .is_ok_and(|rest| split_line(&format!("x{rest}")).is_ok())
            });
            file.skipped.push(skip(
                "not valid UTF-8".into(),
                if owner_only {
                    "shadow takes it as a range of an owner whose name is those bytes; no user name userns can match is"
                } else {
                    SHADOW_SKIPS
                },
            ));
            return;
        }
    };
    // shadow parses comments too, as lines of an owner named `#…` (no one): skip them.
    if text.trim_start().starts_with('#') || text.trim().is_empty() {
        return;
    }
    if text.starts_with(['+', '-']) {
        file.skipped.push(skip(
            "starts with + or -, which shadow reads as a NIS entry".into(),
            "shadow's tools ignore it (a NIS entry) silently",
        ));
        return;
    }
    if raw.len() >= SHADOW_LINE_MAX {
        file.skipped.push(skip(
            format!(
                "line is {} bytes long; shadow reads lines of at most {} bytes",
                raw.len(),
                SHADOW_LINE_MAX - 1
            ),
            SHADOW_SKIPS,
        ));
        return;
    }
    match split_line(text) {
        Ok(fields) => {
            let note = match (glue_note, fields.odd) {
                (Some(a), Some(b)) => Some(format!("{a}; {b}")),
                (a, b) => a.or(b),
            };
            if let Some(note) = note {
                file.odd.push(OddForm { line, note });
            }
            if keep(fields.owner) {
                file.entries.push(SubIdEntry {
                    owner: Owner::from_field(fields.owner),
                    owner_text: fields.owner.to_string(),
                    start: fields.start,
                    count: fields.count,
                    line,
                });
            }
        }
        Err(reason) => file.skipped.push(skip(reason, SHADOW_SKIPS)),
    }
}

/// Parse one non-comment line into an entry, or say what was expected: that text is the
/// reason of a skipped line (parsing never fails as a whole), so it stays a `String`.
pub fn parse_line(text: &str, line: usize) -> Result<SubIdEntry, String> {
    let fields = split_line(text)?;
    Ok(SubIdEntry {
        owner: Owner::from_field(fields.owner),
        owner_text: fields.owner.to_string(),
        start: fields.start,
        count: fields.count,
        line,
    })
}

/// The fields of a line, as shadow reads them.
struct Fields<'a> {
    owner: &'a str,
    start: u64,
    count: u64,
    /// How the line departs from `OWNER:START:COUNT` in plain decimal, if it does.
    odd: Option<String>,
}

/// Validate a line and return its owner field and numbers, allocating only for lines
/// written in an odd form.
fn split_line(text: &str) -> Result<Fields<'_>, String> {
    // subordinate_parse cuts the first three fields at colons and ignores the rest.
    let mut fields = text.splitn(4, ':');
    let (Some(owner), Some(start_text), Some(count_text)) =
        (fields.next(), fields.next(), fields.next())
    else {
        return Err(format!(
            "expected 3 fields OWNER:START:COUNT, found {}",
            text.split(':').count()
        ));
    };
    let extra = fields.next();
    if owner.is_empty() {
        return Err("empty owner; expected a user name or numeric uid".into());
    }
    let (start, start_odd) = parse_number(start_text, "START")?;
    let (count, count_odd) = parse_number(count_text, "COUNT")?;
    let mut odd = Vec::new();
    for (name, field, how) in [
        ("START", start_text, start_odd),
        ("COUNT", count_text, count_odd),
    ] {
        if let Some(how) = how {
            odd.push(format!("{name} {field:?} {}", how.describe()));
        }
    }
    if let Some(extra) = extra {
        odd.push(format!(
            "text after the third field ({:?}) is ignored by shadow 4.13",
            extra
        ));
    }
    Ok(Fields {
        owner,
        start,
        count,
        odd: (!odd.is_empty()).then(|| odd.join("; ")),
    })
}

/// START or COUNT as shadow 4.13 reads it, with how it is unusually written, if it is.
fn parse_number(field: &str, name: &str) -> Result<(u64, Option<Unusual>), String> {
    // The usual case first: plain decimal without a leading zero.
    if !field.is_empty()
        && field.bytes().all(|b| b.is_ascii_digit())
        && (field.len() == 1 || !field.starts_with('0'))
    {
        return field
            .parse::<u64>()
            .map(|v| (v, None))
            .map_err(|_| format!("{name} {field} is far too large for an id (above 2^64-1)"));
    }
    if field.is_empty() {
        return Err(format!("empty {name}; expected a decimal number"));
    }
    if let Some(read) = getulong(field) {
        return Ok(read);
    }
    if field.trim_end() != field {
        return Err(format!(
            "{name} {field:?} has trailing white space (or a CR line ending); expected a plain decimal number"
        ));
    }
    Err(format!("{name} {field:?} is not a number"))
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
        assert_eq!(f.skipped[1].shadow.as_deref(), Some(SHADOW_SKIPS));
    }

    #[test]
    fn numbers_as_shadow_4_13_reads_them() {
        let n = |t: &str| parse_line(t, 1).map(|e| (e.start, e.count));
        assert_eq!(n("a:0x10:5"), Ok((16, 5)));
        assert_eq!(n("a:010:5"), Ok((8, 5)));
        assert_eq!(n("a:-1:5"), Ok((u64::MAX, 5)));
        assert_eq!(n("a: 7:\t+5"), Ok((7, 5)));
        assert_eq!(n("a:1:5:6"), Ok((1, 5)));
        assert_eq!(n("a:1:5:"), Ok((1, 5)));
        assert!(n("a:1:5 ").unwrap_err().contains("white space"));
        assert!(n("a:1:5\r").unwrap_err().contains("CR"));
        assert!(n("a:1:").unwrap_err().contains("empty COUNT"));
        assert!(n(":1:5").unwrap_err().contains("empty owner"));
        assert!(n("a:08:5").unwrap_err().contains("not a number"));
        assert!(n("a:1").unwrap_err().contains("found 2"));
    }

    #[test]
    fn odd_forms_are_noted_and_plain_ones_are_not() {
        let f = p("ivy:0x10:5\nivy:100000:65536\nivy:1:2:x\n");
        let lines: Vec<usize> = f.odd.iter().map(|o| o.line).collect();
        assert_eq!(lines, vec![1, 3]);
        assert!(f.odd[0].note.contains("hexadecimal"), "{:?}", f.odd);
        assert!(f.odd[1].note.contains("third field"), "{:?}", f.odd);
    }

    #[test]
    fn lines_shadow_ignores() {
        let long = format!("ivy:1:{}\n", "0".repeat(1020) + "5");
        let f = p(&format!("+ivy:1:2\n-ivy:1:2\n{long}ivy:3:4\n"));
        let lines: Vec<usize> = f.skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, vec![1, 2, 3]);
        assert!(
            f.skipped[2].reason.contains("1027 bytes"),
            "{:?}",
            f.skipped[2]
        );
        assert_eq!(f.entries.len(), 1);
        // A NUL glues the next line on, as shadow's fgets and strrchr do.
        let f = parse(Path::new("x"), b"ivy:1:5\0junk\n:9:9\nivy:3:4\n");
        let got: Vec<(usize, u64, u64)> = f
            .entries
            .iter()
            .map(|e| (e.line, e.start, e.count))
            .collect();
        assert_eq!(got, vec![(1, 1, 5), (3, 3, 4)]);
        assert!(f.odd[0].note.contains("NUL"), "{:?}", f.odd);
        // In the last line, before a newline: shadow cannot read the file at all.
        let f = parse(Path::new("x"), b"ivy:3:4\nivy:1:2\0junk\n");
        assert!(f.entries.is_empty());
        assert_eq!((f.unreadable, f.skipped[0].line), (Some(2), 2));
    }

    #[test]
    fn blanks_around_the_owner_are_part_of_its_name() {
        let e = parse_line(" ivy :1:2", 1).unwrap();
        assert_eq!(e.owner, Owner::Name(" ivy ".into()));
    }

    #[test]
    fn a_uid_is_written_as_shadow_prints_it() {
        assert_eq!(Owner::from_field("2000"), Owner::Uid(2000));
        assert_eq!(Owner::from_field("0"), Owner::Uid(0));
        assert_eq!(Owner::from_field("02000"), Owner::Name("02000".into()));
        assert_eq!(Owner::from_field("+2000"), Owner::Name("+2000".into()));
    }

    #[test]
    fn out_of_range_numbers_stay_entries() {
        let e = parse_line("a:4294967295:10", 1).unwrap();
        assert_eq!(e.start, 4294967295);
        assert_eq!(e.range(), Some(SubIdRange::new(u32::MAX, 10)));
        let e = parse_line("a:4294967296:10", 1).unwrap();
        assert_eq!(e.range(), None);
        assert!(parse_line("a:99999999999999999999999:1", 1).is_err());
        assert_eq!(parse_line("a:-1:1", 1).unwrap().range(), None);
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
