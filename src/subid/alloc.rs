//! Allocate and remove subordinate id ranges: pure functions from a parsed file to the
//! line edits that `subid add` / `subid del` write.
//!
//! The pool and the first fit are useradd's (shadow `lib/subordinateio.c`,
//! `find_free_range`): the lowest START >= SUB_UID_MIN such that START..START+COUNT-1
//! overlaps no line of the file (of any owner) and ends at or below SUB_UID_MAX, which
//! is inclusive. Removal follows shadow's `remove_range`: a line wholly inside the span
//! goes, a line that the span cuts keeps what lies outside it, and a span in the middle
//! splits the line in two.

use super::lookup::{belongs_to, usability};
use super::parse::{format_entry, SubIdEntry, SubIdFile};
use super::range::SubIdRange;
use crate::ids::{IdKind, ID_LIMIT};
use crate::users::Account;

/// Where useradd allocates from: SUB_UID_MIN..=SUB_UID_MAX (or the GID twins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    pub min: u64,
    /// The last id a range may use (inclusive, as shadow reads SUB_UID_MAX).
    pub max: u64,
}

impl Pool {
    /// The pool and default count of `kind` from login.defs (shadow's defaults when unset).
    pub fn from_login_defs(defs: &super::login_defs::LoginDefs, kind: IdKind) -> (Pool, u64) {
        let k = kind.name().to_uppercase();
        let get =
            |key: &str, default: u64| defs.get_u64(&format!("SUB_{k}_{key}")).unwrap_or(default);
        (
            Pool {
                min: get("MIN", 100_000),
                max: get("MAX", 600_100_000),
            },
            get("COUNT", 65536),
        )
    }
}

/// Why no range could be allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllocError {
    /// count 0, or a pool the kernel cannot use.
    BadRequest(String),
    /// Every gap between min and max is smaller than count.
    Exhausted { pool: Pool, count: u64 },
}

impl std::fmt::Display for AllocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AllocError::BadRequest(why) => f.write_str(why),
            AllocError::Exhausted { pool, count } => write!(
                f,
                "no free range of {count} ids between {} and {}",
                pool.min, pool.max
            ),
        }
    }
}

impl std::error::Error for AllocError {}

/// The error kept as a cause; callers pass it by reference, then match on it for the fix.
impl From<&AllocError> for crate::error::Cause {
    fn from(e: &AllocError) -> Self {
        crate::error::Cause::other(e.clone())
    }
}

/// The lowest free range of `count` ids in `pool` that overlaps no entry of `file` and
/// does not contain `own_id` (the owner's own id is mapped separately; a range holding it
/// is unusable).
pub fn first_fit(
    file: &SubIdFile,
    pool: Pool,
    count: u64,
    own_id: Option<u32>,
) -> Result<SubIdRange, AllocError> {
    if count == 0 {
        return Err(AllocError::BadRequest(
            "a count of 0 ids; the kernel rejects an empty range".into(),
        ));
    }
    // The kernel's id space ends before 4294967295 (the invalid id).
    let max = pool.max.min(ID_LIMIT - 1) as u128;
    let mut used: Vec<(u128, u128)> = file
        .entries
        .iter()
        .filter(|e| e.count > 0)
        .map(|e| (e.start as u128, e.end()))
        .collect();
    if let Some(id) = own_id {
        used.push((id as u128, id as u128 + 1));
    }
    used.sort_unstable();
    let count = count as u128;
    let mut candidate = pool.min as u128;
    for (start, end) in used {
        if end <= candidate {
            continue;
        }
        if start >= candidate + count {
            break;
        }
        candidate = end;
    }
    if candidate + count - 1 > max {
        return Err(AllocError::Exhausted {
            pool,
            count: count as u64,
        });
    }
    Ok(SubIdRange::new(candidate as u32, count as u32))
}

/// The range `userns subid add` would give an owner of `kind` whose own id is `own_id`,
/// as `START-END` for `usermod --add-subuids`: the login.defs count, first fit in the
/// pool after every used range of `file` (any owner's). A fix that names a fixed range
/// such as 100000-165535 may hand the user another user's ids. `START-END` when the pool
/// has no room, so the fix still reads as a command to complete.
pub fn usermod_range(
    file: &SubIdFile,
    defs: &super::login_defs::LoginDefs,
    kind: IdKind,
    own_id: u32,
) -> String {
    let (pool, count) = Pool::from_login_defs(defs, kind);
    match first_fit(file, pool, count, Some(own_id)) {
        Ok(r) => format!("{}-{}", r.start, r.end() - 1),
        Err(_) => "START-END".into(),
    }
}

/// `usermod_range` for the file at `path` and the system's login.defs, read now: for the
/// fix of an error about a user without ranges, when only the user's lines are at hand.
pub fn usermod_range_at(path: &std::path::Path, kind: IdKind, own_id: u32) -> String {
    use super::login_defs::{LoginDefs, LOGIN_DEFS};
    let file = SubIdFile::read(path).unwrap_or_default();
    let defs =
        LoginDefs::read(std::path::Path::new(LOGIN_DEFS)).unwrap_or_else(|_| LoginDefs::defaults());
    usermod_range(&file, &defs, kind, own_id)
}

/// What adding an explicit range to an owner's lines means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Explicit {
    /// Not covered by any line: append it.
    Add,
    /// Lines of the owner already cover it (the line numbers): nothing to do.
    AlreadyOwned(Vec<usize>),
}

/// Why an explicit range cannot be given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// The kernel could not use the range (count 0, past the largest id, own id inside).
    Unusable(String),
    /// Overlaps a line of another owner.
    OtherOwner(SubIdEntry),
    /// Overlaps the owner's own line without being covered by it: adding would give
    /// overlapping lines of one owner.
    OwnPartly(SubIdEntry),
}

/// Judge an explicit `range` for `account` against the lines of `file`.
pub fn check_explicit(
    kind: IdKind,
    file: &SubIdFile,
    account: &Account,
    range: SubIdRange,
) -> Result<Explicit, Conflict> {
    let candidate = SubIdEntry {
        owner: super::parse::Owner::Name(account.display_name()),
        owner_text: account.display_name(),
        start: range.start as u64,
        count: range.count as u64,
        line: 0,
    };
    if let Some(why) = usability(&candidate, Some(account.own_id(kind))).reason(kind) {
        return Err(Conflict::Unusable(why));
    }
    let overlapping = |e: &&SubIdEntry| {
        e.count > 0 && (e.start as u128) < candidate.end() && e.end() > range.start as u128
    };
    if let Some(other) = file
        .entries
        .iter()
        .filter(overlapping)
        .find(|e| !belongs_to(e, account))
    {
        return Err(Conflict::OtherOwner(other.clone()));
    }
    let own: Vec<&SubIdEntry> = file.entries.iter().filter(overlapping).collect();
    if own.is_empty() {
        return Ok(Explicit::Add);
    }
    if let Some(covering) = own
        .iter()
        .find(|e| e.start <= range.start as u64 && e.end() >= candidate.end())
    {
        return Ok(Explicit::AlreadyOwned(vec![covering.line]));
    }
    Err(Conflict::OwnPartly(own[0].clone()))
}

/// One change to the lines of a subid file (1-based line numbers of the parsed file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEdit {
    Delete { line: usize },
    Replace { line: usize, with: Vec<String> },
    Append(String),
}

/// The line to append for a new range, as useradd writes it (owner by name).
pub fn add_line(account: &Account, range: SubIdRange) -> LineEdit {
    LineEdit::Append(format_entry(
        &account.display_name(),
        range.start as u64,
        range.count as u64,
    ))
}

/// The edits that remove `span` (None: everything) from the lines of `account`.
/// Lines of the account are those `lookup::belongs_to` picks: by name and by numeric
/// uid, as newuidmap reads them (shadow's remove_range compares the name only; a numeric
/// line left behind would keep the ids in use).
pub fn remove(file: &SubIdFile, account: &Account, span: Option<SubIdRange>) -> Vec<LineEdit> {
    let mut edits = Vec::new();
    for e in file.entries.iter().filter(|e| belongs_to(e, account)) {
        let Some(span) = span else {
            edits.push(LineEdit::Delete { line: e.line });
            continue;
        };
        if span.count == 0 || e.count == 0 {
            continue;
        }
        let (first, end) = (e.start as u128, e.end());
        let (cut_first, cut_end) = (span.start as u128, span.end() as u128);
        if cut_end <= first || cut_first >= end {
            continue;
        }
        let mut keep = Vec::new();
        if first < cut_first {
            keep.push(format_entry(
                &e.owner_text,
                e.start,
                (cut_first - first) as u64,
            ));
        }
        if cut_end < end {
            keep.push(format_entry(
                &e.owner_text,
                cut_end as u64,
                (end - cut_end) as u64,
            ));
        }
        edits.push(if keep.is_empty() {
            LineEdit::Delete { line: e.line }
        } else {
            LineEdit::Replace {
                line: e.line,
                with: keep,
            }
        });
    }
    edits
}

/// Apply edits to the text of a file, keeping every other line (comments, malformed
/// lines, other owners) byte for byte. The result ends with a newline.
pub fn apply(text: &[u8], edits: &[LineEdit]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 64);
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    // A final newline leaves an empty last piece that is not a line.
    let n = if text.ends_with(b"\n") || text.is_empty() {
        lines.len() - 1
    } else {
        lines.len()
    };
    for (index, raw) in lines.iter().take(n).enumerate() {
        let line = index + 1;
        let edit = edits.iter().find(|e| match e {
            LineEdit::Delete { line: l } | LineEdit::Replace { line: l, .. } => *l == line,
            LineEdit::Append(_) => false,
        });
        match edit {
            Some(LineEdit::Delete { .. }) => {}
            Some(LineEdit::Replace { with, .. }) => {
                for w in with {
                    out.extend_from_slice(w.as_bytes());
                    out.push(b'\n');
                }
            }
            _ => {
                out.extend_from_slice(raw);
                out.push(b'\n');
            }
        }
    }
    for e in edits {
        if let LineEdit::Append(text) = e {
            out.extend_from_slice(text.as_bytes());
            out.push(b'\n');
        }
    }
    out
}

#[cfg(test)]
#[path = "alloc_tests.rs"]
mod tests;
