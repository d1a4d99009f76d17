//! `userns subid show` and `userns subid check`: thin layers over `subid::lookup` and
//! `subid::lint`.
//!
//! JSON output (stable: fields may be added, none renamed or removed):
//!
//! `userns subid show --json`
//! ```text
//! { "user":   { "name": "ivy" | null, "uid": 2000, "gid": 2000 },
//!   "files":  [ { "kind": "subuid", "path": "/etc/subuid", "exists": true, "malformed_lines": 0 },
//!               { "kind": "subgid", ... } ],
//!   "ranges": [ { "kind": "subuid", "owner": "ivy", "start": 100000, "end": 165535 | null,
//!                 "count": 65536, "file": "/etc/subuid", "line": 2,
//!                 "usable": true, "reason": null | "count is 0" } ] }
//! ```
//! `end` is the last id (null for count 0); on an overflowing line it passes 2^32.
//!
//! `userns subid check --json`
//! ```text
//! { "files": ["/etc/subuid", "/etc/subgid"], "login_defs": "/etc/login.defs",
//!   "errors": 1, "warnings": 2, "strict": false, "ok": false,
//!   "findings": [ { "severity": "error" | "warning", "rule": "duplicate", "file": "/etc/subuid",
//!                   "line": 3, "message": "...", "fix": "..." | null } ] }
//! ```
//! `rule` is one of the kebab-case names of `subid::lint::Rule`.

use crate::cli::args::{SubidCheckArgs, SubidShowArgs};
use serde::Serialize;
use std::path::{Path, PathBuf};
use userns::error::{Error, Result};
use userns::exit;
use userns::ids::IdKind;
use userns::subid::alloc;
use userns::subid::lint::{self, Finding, Severity, SystemPasswd};
use userns::subid::login_defs::{LoginDefs, LOGIN_DEFS};
use userns::subid::{SubIdFile, SubIdPaths, UserSubIds};
use userns::users::Account;

#[derive(Serialize)]
struct ShowUser {
    name: Option<String>,
    uid: u32,
    gid: u32,
}

#[derive(Serialize)]
struct ShowFile {
    kind: &'static str,
    path: PathBuf,
    exists: bool,
    malformed_lines: usize,
}

#[derive(Serialize)]
struct ShowRange {
    kind: &'static str,
    owner: String,
    start: u64,
    end: Option<u128>,
    count: u64,
    file: PathBuf,
    line: usize,
    usable: bool,
    reason: Option<String>,
}

#[derive(Serialize)]
struct ShowOutput {
    user: ShowUser,
    files: Vec<ShowFile>,
    ranges: Vec<ShowRange>,
}

pub fn show(args: SubidShowArgs) -> Result<u8> {
    let account = match &args.user {
        Some(spec) => Account::resolve(spec)?,
        None => Account::current(),
    };
    let paths = SubIdPaths::new(args.files.subuid.clone(), args.files.subgid.clone());
    let mut files = Vec::new();
    let mut ranges = Vec::new();
    // The sources (file or NSS) that have no line for the user.
    let mut missing: Vec<(IdKind, String)> = Vec::new();
    for kind in IdKind::BOTH {
        let (file, mine) = read_kind(&paths, kind, &account, &mut ranges)?;
        files.push(file);
        if mine.entries.is_empty() {
            missing.push((kind, mine.source));
        }
    }

    let output = ShowOutput {
        user: ShowUser {
            name: account.name.clone(),
            uid: account.uid,
            gid: account.gid,
        },
        files,
        ranges,
    };
    if args.json {
        crate::cli::render::json::print_json(&output)?;
    } else if !output.ranges.is_empty() {
        crate::cli::render::out::print(render_ranges(&output.ranges))?;
    }
    if missing.is_empty() {
        return Ok(exit::OK);
    }
    report_missing(&account, &paths, &missing)
}

/// The user's ranges of one kind (added to `ranges`), from NSS (`subid:` in
/// nsswitch.conf) or the file, as newuidmap would decide; the file's summary.
fn read_kind(
    paths: &SubIdPaths,
    kind: IdKind,
    account: &Account,
    ranges: &mut Vec<ShowRange>,
) -> Result<(ShowFile, UserSubIds)> {
    let path = paths.path(kind);
    let (mine, malformed) = UserSubIds::read_counting_malformed(paths, kind, account)?;
    if malformed > 0 {
        userns::warn(format!(
            "{}: {malformed} malformed line{} skipped; run `userns subid check` to see them",
            path.display(),
            if malformed == 1 { "" } else { "s" }
        ));
    }
    for (entry, verdict) in &mine.entries {
        ranges.push(ShowRange {
            kind: kind.subid_name(),
            owner: entry.owner_text.clone(),
            start: entry.start,
            end: (entry.count > 0).then(|| entry.end() - 1),
            count: entry.count,
            file: PathBuf::from(&mine.source),
            line: entry.line,
            usable: verdict.usable_range(entry).is_some(),
            reason: verdict.reason(kind),
        });
    }
    let file = ShowFile {
        kind: kind.subid_name(),
        path: path.to_path_buf(),
        exists: path.exists(),
        malformed_lines: malformed,
    };
    Ok((file, mine))
}

/// No ranges of either kind: an error; of one kind: a warning. Each with a free range
/// to add in its fix.
fn report_missing(
    account: &Account,
    paths: &SubIdPaths,
    missing: &[(IdKind, String)],
) -> Result<u8> {
    let who = account.display_name();
    // Ranges served by NSS are not the files' to fix: usermod would write the files.
    if let Some((_, source)) = missing.iter().find(|(_, s)| s.starts_with("nss:")) {
        let fix =
            format!("ask the administrator of the subid module ({source}) for ranges for {who}");
        if missing.len() == 2 {
            return Err(Error::failure(format!("{who} has no subordinate ids from {source}"))
                .because("nsswitch.conf names a subid module, which newuidmap asks instead of the files")
                .fix(fix));
        }
        for (kind, source) in missing {
            userns::warn(format!(
                "{who} has no {} ranges from {source}, so {} will refuse to map any; fix: {fix}",
                kind.subid_name(),
                kind.helper_name(),
            ));
        }
        return Ok(exit::OK);
    }
    // Only now are every owner's lines needed: to suggest in the fix the range `subid
    // add` would allocate in each file.
    let defs = LoginDefs::read(Path::new(LOGIN_DEFS)).unwrap_or_default();
    let suggest = |kind: IdKind| -> Result<String> {
        let file = SubIdFile::read(paths.path(kind))?;
        Ok(alloc::usermod_range(
            &file,
            &defs,
            kind,
            account.own_id(kind),
        ))
    };
    if missing.len() == 2 {
        return Err(Error::failure(format!(
            "{who} has no subordinate ids in {} or {}",
            paths.subuid.display(),
            paths.subgid.display()
        ))
        .because("no line names the user or their uid; rootless containers and `userns unshare` need them")
        .fix(format!(
            "as root: usermod --add-subuids {} --add-subgids {} {who}",
            suggest(IdKind::Uid)?,
            suggest(IdKind::Gid)?
        )));
    }
    for (kind, source) in missing {
        userns::warn(format!(
            "{who} has no {} ranges in {}, so {} will refuse to map any; fix, as root: usermod --add-{}s {} {who}",
            kind.subid_name(),
            source,
            kind.helper_name(),
            kind.subid_name(),
            suggest(*kind)?,
        ));
    }
    Ok(exit::OK)
}

fn render_ranges(ranges: &[ShowRange]) -> String {
    let rows: Vec<Vec<String>> = ranges
        .iter()
        .map(|r| {
            vec![
                r.kind.to_string(),
                r.start.to_string(),
                r.end.map_or("-".into(), |e| e.to_string()),
                r.count.to_string(),
                match &r.reason {
                    None => "yes".into(),
                    Some(why) => format!("no: {why}"),
                },
                format!("{}:{}", r.file.display(), r.line),
            ]
        })
        .collect();
    crate::cli::render::table::render(
        &["KIND", "START", "END", "COUNT", "USABLE", "SOURCE"],
        &rows,
    )
}

#[derive(Serialize)]
struct CheckOutput<'a> {
    files: [&'a Path; 2],
    login_defs: PathBuf,
    errors: usize,
    warnings: usize,
    strict: bool,
    ok: bool,
    findings: &'a [Finding],
}

pub fn check(args: SubidCheckArgs) -> Result<u8> {
    // A file named on the command line must be there: checking nothing and reporting
    // "0 errors" would pass a typo. (A missing /etc/subuid is empty, as shadow reads it.)
    for path in [&args.files.subuid, &args.files.subgid]
        .into_iter()
        .flatten()
    {
        if !path.exists() {
            return Err(Error::failure(format!("{} does not exist", path.display()))
                .because("the file to check was given on the command line")
                .fix("give the path of an existing subuid or subgid file"));
        }
    }
    let paths = SubIdPaths::new(args.files.subuid.clone(), args.files.subgid.clone());
    let subuid = SubIdFile::read(&paths.subuid)?;
    let subgid = SubIdFile::read(&paths.subgid)?;
    let defs_path = args
        .login_defs
        .clone()
        .unwrap_or_else(|| PathBuf::from(LOGIN_DEFS));
    let defs = LoginDefs::read(&defs_path)?;
    let findings = lint::lint(&subuid, &subgid, &defs, &SystemPasswd::default());

    let errors = lint::count(&findings, Severity::Error);
    let warnings = lint::count(&findings, Severity::Warning);
    let ok = errors == 0 && !(args.strict && warnings > 0);
    let files = [paths.subuid.as_path(), paths.subgid.as_path()];
    if args.json {
        crate::cli::render::json::print_json(&CheckOutput {
            files,
            login_defs: defs_path,
            errors,
            warnings,
            strict: args.strict,
            ok,
            findings: &findings,
        })?;
    } else {
        for f in &findings {
            crate::cli::render::out::println(f.to_string())?;
        }
        crate::cli::render::out::println(lint::summary(&findings, &files))?;
    }
    Ok(if ok { exit::OK } else { exit::PROBLEMS })
}
