//! Lint /etc/subuid and /etc/subgid: find what makes newuidmap, the kernel or a
//! container fail later, and say it like a compiler does (`FILE:LINE: error: …`).
//!
//! The lint is pure: it takes parsed files, a passwd lookup and login.defs values, and
//! returns findings; `userns subid check` only reads the files and prints.
//!
//! Errors (a map built from these lines fails, or ids leak between users): malformed
//! lines, count 0, ranges past the largest id, duplicate lines, ranges of different
//! owners that overlap, a range containing its owner's own uid (subuid) or primary gid
//! (subgid). Warnings (works, but surprises someone): owners unknown to passwd, users
//! with subuids but no subgids or the reverse, fewer than 65536 usable ids, ranges over
//! ordinary account ids (UID_MIN..UID_MAX), overlapping ranges of the same owner, numeric
//! owners that only some of shadow's tools match, unreadable login.defs numbers.
//!
//! Agreement with shadow 4.13 (Debian 12), checked by running the real `getsubids` and
//! `newuidmap` on generated files (tests/shadow_parser_agreement.rs):
//! - The parser reads every line as shadow does (see `parse`): `0x10` is 16, `010` is 8,
//!   ` 20` is 20, `-1` is 2^64-1 and a fourth field is ignored; each such line gets a
//!   `shadow-only-form` warning, since newer shadow refuses those forms. Lines shadow
//!   cannot read are `malformed` errors whose fix says what shadow does with them.
//! - Owners: both tools compare the owner field as text, with the name and with the uid
//!   as `%lu` prints it (`getsubids -g USER`: the gid of the *group* named USER;
//!   newgidmap: the user's uid), so `02000` is no one's; `non-canonical-uid` says so.
//! - Count 0 and overflowing lines: getsubids lists them as valid; we list them too and
//!   report them as errors, since the kernel rejects such an extent (newuidmap 4.13 even
//!   reads `0:0` as every id, see `lint_shadow::zero_at_zero`).

use super::login_defs::LoginDefs;
use super::lookup::{usability, Usability};
use super::parse::{Owner, SubIdEntry, SubIdFile};
use crate::ids::{IdKind, ID_LIMIT};
use crate::users::{Account, PasswdIndex};
use across::{login_defs_values, missing_other_kind, overlaps, small_totals};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Ids a user should have to run ordinary container images, whose files use ids 0..65535
/// (nobody is 65534); useradd grants SUB_UID_COUNT = 65536 by default.
pub(crate) const MIN_USABLE_TOTAL: u64 = 65536;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// Which rule a finding comes from: stable names for JSON and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    Malformed,
    ZeroCount,
    Overflow,
    Duplicate,
    OwnersOverlap,
    ContainsOwnId,
    UnknownOwner,
    MissingOtherKind,
    SmallTotal,
    AccountIds,
    SameOwnerOverlap,
    NonCanonicalUid,
    LoginDefsValue,
    ShadowOnlyForm,
}

/// One problem at one line of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub rule: Rule,
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
    pub message: String,
    /// What to do about it, when there is one thing to do.
    pub fix: Option<String>,
}

impl Finding {
    /// `FILE:LINE: SEVERITY: MESSAGE`, the first line of the finding's text.
    pub(crate) fn headline(&self) -> String {
        format!(
            "{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.severity.name(),
            self.message
        )
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline())?;
        if let Some(fix) = &self.fix {
            write!(f, "\n    fix: {fix}")?;
        }
        Ok(())
    }
}

/// The passwd database as the lint needs it; `SystemPasswd` asks NSS, tests use a table.
pub trait Passwd {
    fn by_name(&self, name: &str) -> Option<Account>;
    fn by_uid(&self, uid: u32) -> Option<Account>;
}

/// The real passwd database, through NSS (as `getent passwd`), read whole once many
/// owners are asked for (`PasswdIndex`).
#[derive(Default)]
pub struct SystemPasswd(PasswdIndex);

impl Passwd for SystemPasswd {
    fn by_name(&self, name: &str) -> Option<Account> {
        self.0.by_name(name)
    }
    fn by_uid(&self, uid: u32) -> Option<Account> {
        self.0.by_uid(uid)
    }
}

/// Who an entry belongs to after resolving names: one uid for `ivy` and `2000` alike,
/// or the name itself when passwd does not know it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Identity {
    Uid(u32),
    UnknownName(String),
}

/// An entry with its owner resolved.
struct Resolved<'a> {
    entry: &'a SubIdEntry,
    /// The owner's `Identity` as a small number, the same for every line of that identity
    /// in both files: the rules that compare lines index by it rather than hash it.
    owner: u32,
    /// Shared with the other lines of the owner: a site's file has many a user.
    account: Option<Rc<Account>>,
}

impl Resolved<'_> {
    /// The id this entry must not contain: the owner's uid, or primary gid for subgid.
    fn own_id(&self, kind: IdKind) -> Option<u32> {
        match (self.account.as_deref(), kind, &self.entry.owner) {
            (Some(a), _, _) => Some(a.own_id(kind)),
            (None, IdKind::Uid, Owner::Uid(u)) => Some(*u),
            (None, _, _) => None,
        }
    }

    /// The owner for messages: `ivy`, `2000 (ivy)`, or the text as written.
    fn who(&self) -> String {
        match (&self.entry.owner, self.account.as_deref()) {
            (Owner::Uid(_), Some(Account { name: Some(n), .. })) => {
                format!("{} ({n})", self.entry.owner_text)
            }
            _ => self.entry.owner_text.clone(),
        }
    }

    /// `who`, cut short for a mention in another line's finding: shadow's tools keep
    /// names short (useradd takes 32 characters), but a file may hold anything, and many
    /// lines naming one huge owner would make the output quadratic in the file's size.
    fn who_brief(&self) -> String {
        let text = brief(&self.entry.owner_text);
        match (&self.entry.owner, self.account.as_deref()) {
            (Owner::Uid(_), Some(Account { name: Some(n), .. })) => {
                format!("{text} ({})", brief(n))
            }
            _ => text.into_owned(),
        }
    }

    /// The name to give `usermod` in a fix.
    fn usermod_name(&self) -> String {
        self.account
            .as_ref()
            .and_then(|a| a.name.clone())
            .unwrap_or_else(|| self.entry.owner_text.clone())
    }
}

/// Looks owners up once each: a site's files can have thousands of lines for few owners.
#[derive(Default)]
struct Resolver {
    cache: HashMap<Owner, (Option<Rc<Account>>, u32)>,
    identities: HashMap<Identity, u32>,
}

impl Resolver {
    fn resolve<'a>(&mut self, entry: &'a SubIdEntry, passwd: &dyn Passwd) -> Resolved<'a> {
        if let Some((account, owner)) = self.cache.get(&entry.owner) {
            return Resolved {
                entry,
                owner: *owner,
                account: account.clone(),
            };
        }
        let account = match &entry.owner {
            Owner::Name(n) => passwd.by_name(n),
            Owner::Uid(u) => passwd.by_uid(*u),
        }
        .map(Rc::new);
        let identity = match (&entry.owner, &account) {
            (Owner::Uid(u), _) => Identity::Uid(*u),
            (Owner::Name(_), Some(a)) => Identity::Uid(a.uid),
            (Owner::Name(n), None) => Identity::UnknownName(n.clone()),
        };
        let next = self.identities.len() as u32;
        let owner = *self.identities.entry(identity).or_insert(next);
        self.cache
            .insert(entry.owner.clone(), (account.clone(), owner));
        Resolved {
            entry,
            owner,
            account,
        }
    }
}

/// How many owner numbers `lines` use: room for a table indexed by `Resolved::owner`.
fn owner_slots(lines: &[Resolved]) -> usize {
    lines
        .iter()
        .map(|r| r.owner as usize + 1)
        .max()
        .unwrap_or(0)
}

/// Lint both files. Findings come per file (subuid, subgid, then login.defs), by line.
pub fn lint(
    subuid: &SubIdFile,
    subgid: &SubIdFile,
    login_defs: &LoginDefs,
    passwd: &dyn Passwd,
) -> Vec<Finding> {
    let mut resolver = Resolver::default();
    let uids: Vec<Resolved> = subuid
        .entries
        .iter()
        .map(|e| resolver.resolve(e, passwd))
        .collect();
    let gids: Vec<Resolved> = subgid
        .entries
        .iter()
        .map(|e| resolver.resolve(e, passwd))
        .collect();
    let mut findings = Vec::new();
    for (kind, file, lines, other_file, other_lines) in [
        (IdKind::Uid, subuid, &uids, subgid, &gids),
        (IdKind::Gid, subgid, &gids, subuid, &uids),
    ] {
        let mut own = Vec::new();
        lint_file(kind, file, lines, login_defs, passwd, &mut own);
        missing_other_kind(kind, file, lines, other_file, other_lines, &mut own);
        own.sort_by_key(|f| f.line);
        findings.extend(own);
    }
    findings.extend(login_defs_values(login_defs));
    findings
}

/// How many findings have `severity`.
pub fn count(findings: &[Finding], severity: Severity) -> usize {
    findings.iter().filter(|f| f.severity == severity).count()
}

/// The closing line: "2 errors, 1 warning in /etc/subuid, /etc/subgid".
pub fn summary(findings: &[Finding], files: &[&Path]) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    format!(
        "{}, {} in {}",
        plural(count(findings, Severity::Error), "error"),
        plural(count(findings, Severity::Warning), "warning"),
        names.join(", ")
    )
}

fn finding(
    severity: Severity,
    rule: Rule,
    file: &SubIdFile,
    line: usize,
    message: String,
    fix: Option<String>,
) -> Finding {
    Finding {
        severity,
        rule,
        file: file.path.clone(),
        line,
        message,
        fix,
    }
}

/// At most BRIEF_OWNER bytes of an owner's name, then "...".
fn brief(text: &str) -> std::borrow::Cow<'_, str> {
    const BRIEF_OWNER: usize = 64;
    if text.len() <= BRIEF_OWNER {
        return text.into();
    }
    let cut = (0..=BRIEF_OWNER)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}...", &text[..cut]).into()
}

/// `START-LAST`, or `START (empty)`; LAST may pass 2^32 on an overflowing line.
fn span(e: &SubIdEntry) -> String {
    if e.count == 0 {
        format!("{} (empty)", e.start)
    } else {
        format!("{}-{}", e.start, e.end() - 1)
    }
}

/// The lints of one file: each skipped line, each entry on its own (in line order, the
/// findings of a line together), then the rules across entries.
fn lint_file(
    kind: IdKind,
    file: &SubIdFile,
    lines: &[Resolved],
    defs: &LoginDefs,
    passwd: &dyn Passwd,
    out: &mut Vec<Finding>,
) {
    shadow::malformed(file, out);
    shadow::odd_forms(file, out);
    let accounts = AccountIds::of(kind, defs);
    let mut first_of: HashMap<(u32, u64, u64), usize> = HashMap::new();
    let mut duplicates = HashSet::new();
    for r in lines {
        unusable(kind, file, r, defs, out);
        owner_problems(file, r, passwd, out);
        accounts.overlap(kind, file, r, defs, out);
        let e = r.entry;
        match first_of.get(&(r.owner, e.start, e.count)) {
            Some(&first) => {
                duplicates.insert(e.line);
                out.push(finding(
                    Severity::Error,
                    Rule::Duplicate,
                    file,
                    e.line,
                    format!(
                        "{} range {} of {} duplicates line {first}",
                        kind.subid_name(),
                        span(e),
                        r.who()
                    ),
                    Some(format!("delete line {}", e.line)),
                ));
            }
            None => {
                first_of.insert((r.owner, e.start, e.count), e.line);
            }
        }
    }
    overlaps(kind, file, lines, &duplicates, out);
    small_totals(kind, file, lines, &duplicates, out);
}

/// A range the kernel or newuidmap would refuse (see `usability`).
fn unusable(
    kind: IdKind,
    file: &SubIdFile,
    r: &Resolved,
    defs: &LoginDefs,
    out: &mut Vec<Finding>,
) {
    let (e, who, sub) = (r.entry, r.who(), kind.subid_name());
    let (rule, message, fix) = match usability(e, r.own_id(kind)) {
        Usability::Usable => return,
        Usability::ZeroCount => (
            Rule::ZeroCount,
            format!(
                "{sub} range of {who} has count 0; the kernel rejects an empty range{}",
                shadow::zero_at_zero(e)
            ),
            "delete the line, or give it a count such as 65536".to_string(),
        ),
        Usability::Overflow | Usability::PastLimit { .. } => (
            Rule::Overflow,
            format!(
                "{sub} range {} of {who} ends past {}, the largest usable id{}",
                span(e),
                ID_LIMIT - 1,
                shadow::past_limit(e, r.own_id(kind))
            ),
            format!("lower START or COUNT so that START+COUNT is at most {ID_LIMIT}"),
        ),
        Usability::ContainsOwnId { id } => {
            let accounts = AccountIds::of(kind, defs);
            (
                Rule::ContainsOwnId,
                format!(
                    "{sub} range {} of {who} contains the owner's own {} {id}; it is mapped separately, and the kernel rejects the overlap",
                    span(e),
                    own_id_name(kind)
                ),
                format!(
                    "move the range above {} ({}), e.g. to start at SUB_{}_MIN ({})",
                    accounts.max_key,
                    accounts.max,
                    kind.name().to_uppercase(),
                    sub_min(defs, kind)
                ),
            )
        }
    };
    out.push(finding(
        Severity::Error,
        rule,
        file,
        e.line,
        message,
        Some(fix),
    ));
}

/// An owner no one is, or a uid written so that shadow's tools do not read it as one.
fn owner_problems(file: &SubIdFile, r: &Resolved, passwd: &dyn Passwd, out: &mut Vec<Finding>) {
    let (e, who) = (r.entry, r.who());
    if let Some(finding) = shadow::non_canonical_uid(file, e, passwd) {
        out.push(finding);
        return;
    }
    if r.account.is_none() {
        out.push(finding(
            Severity::Warning,
            Rule::UnknownOwner,
            file,
            e.line,
            format!(
                "owner {who} is not in the passwd database (getent passwd {who}); no one can use this range",
            ),
            Some("delete the line if the user is gone, or create the user".into()),
        ));
    }
}

/// The ids of ordinary accounts, UID_MIN..UID_MAX (or GID_*) of login.defs.
struct AccountIds {
    min_key: &'static str,
    max_key: &'static str,
    min: u64,
    max: u64,
}

impl AccountIds {
    fn of(kind: IdKind, defs: &LoginDefs) -> Self {
        let (min_key, max_key) = match kind {
            IdKind::Uid => ("UID_MIN", "UID_MAX"),
            IdKind::Gid => ("GID_MIN", "GID_MAX"),
        };
        AccountIds {
            min_key,
            max_key,
            min: defs.get_u64(min_key).unwrap_or(1000),
            max: defs.get_u64(max_key).unwrap_or(60000),
        }
    }

    /// A range that reaches into the accounts' ids.
    fn overlap(
        &self,
        kind: IdKind,
        file: &SubIdFile,
        r: &Resolved,
        defs: &LoginDefs,
        out: &mut Vec<Finding>,
    ) {
        let e = r.entry;
        if e.count == 0 || e.start > self.max || e.end() <= self.min as u128 {
            return;
        }
        let AccountIds {
            min_key,
            max_key,
            min,
            max,
        } = self;
        out.push(finding(
            Severity::Warning,
            Rule::AccountIds,
            file,
            e.line,
            format!(
                "{} range {} of {} overlaps the ids of ordinary accounts, {min_key}..{max_key} ({min}-{max}, per {}); files of those accounts become reachable from the namespace",
                kind.subid_name(),
                span(e),
                r.who(),
                defs.origin(max_key)
            ),
            Some(format!(
                "move the range above {max_key}, where useradd allocates (SUB_{}_MIN {})",
                kind.name().to_uppercase(),
                sub_min(defs, kind)
            )),
        ));
    }
}

fn own_id_name(kind: IdKind) -> &'static str {
    match kind {
        IdKind::Uid => "uid",
        IdKind::Gid => "primary gid",
    }
}

fn sub_min(defs: &LoginDefs, kind: IdKind) -> u64 {
    let key = match kind {
        IdKind::Uid => "SUB_UID_MIN",
        IdKind::Gid => "SUB_GID_MIN",
    };
    defs.get_u64(key).unwrap_or(100_000)
}

/// The rules about how shadow 4.13 reads a line differently from how it looks.
#[path = "lint_shadow.rs"]
mod shadow;

/// The rules that compare lines with each other: overlaps, owners' totals, the other file.
#[path = "lint_across.rs"]
mod across;

#[cfg(test)]
#[path = "lint_tests.rs"]
pub(crate) mod tests;
