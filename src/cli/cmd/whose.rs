//! `userns whose [-R] PATH...`: who a file's owner and group are, inside and outside your
//! namespace, and where the file came from; with -R, a tree's entries per owner.

use crate::cli::args::WhoseArgs;
use crate::cli::render::table;
use serde::Serialize;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use userns::clean::report::{counted, thousands, FailureJson};
use userns::clean::target;
use userns::clean::walk::WalkOptions;
use userns::error::{Error, Result};
use userns::exit;
use userns::ids::IdKind;
use userns::subid::SubIdPaths;
use userns::units::human_bytes;
use userns::users::Account;
use userns::whose::inside::Handle;
use userns::whose::tree::{summarize, Count, OwnerSummary};
use userns::whose::{
    describe, Attribution, Context, FileReport, Inside, NotEntered, Origin, Origins, UserMaps,
};

/// One owner's line of a tree summary.
#[derive(Debug, Serialize)]
struct OwnerLine {
    host: u32,
    inside: Option<u32>,
    who: String,
    meaning: &'static str,
    files: u64,
    directories: u64,
    bytes: u64,
}

#[derive(Debug, Serialize)]
struct TreeReport {
    path: String,
    files: u64,
    directories: u64,
    bytes: u64,
    origin: Option<Origin>,
    owners: Vec<OwnerLine>,
    groups: Vec<OwnerLine>,
    failures: Vec<FailureJson>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Report {
    File(Box<FileReport>),
    Tree(TreeReport),
}

/// A PATH the host let us resolve, or one to resolve again inside the namespace.
enum Found {
    Here(target::Resolved),
    /// Permission denied on the way: the canonical path as far as the host could go,
    /// the rest as given (resolved inside, where those directories open).
    Denied(PathBuf, Error),
}

pub fn run(args: WhoseArgs) -> Result<u8> {
    let account = Account::current();
    let paths = SubIdPaths::default();
    let ctx = Context {
        attribution: Attribution::load(&account, &paths),
        maps: UserMaps::plan(&account, &paths),
        origins: Origins::for_user(&account),
    };
    let options = WalkOptions {
        one_filesystem: !args.cross_filesystems,
        budget: userns::clean::fd_budget(userns::clean::workers()),
    };
    let mut code = exit::OK;
    // Every PATH resolved on the host first, while this process is single-threaded.
    let mut found = Vec::new();
    for path in &args.paths {
        // A symlink named is described itself; symlinks on the way are followed once.
        match target::resolve(path, false, account.uid) {
            Ok(r) => found.push(Found::Here(r)),
            Err(e) if denied(&e) => found.push(Found::Denied(host_prefix(path, account.uid), e)),
            Err(e) => {
                userns::note(&e);
                code = exit::PROBLEMS;
            }
        }
    }
    // The namespace is entered when something may be closed to us here that it opens: a
    // PATH the host refused, or a tree of the user's ids to walk (its inner directories
    // are not known yet). A tree of others' ids (root's /usr) is walked on the host: in
    // the namespace its every entry would need a second stat by the host.
    // Root reads everything already.
    let needed = !nix::unistd::geteuid().is_root()
        && found.iter().any(|f| match f {
            Found::Denied(..) => true,
            Found::Here(r) => {
                args.recursive && r.st.is_dir() && ctx.maps.uid.to_ns(r.st.uid).is_some()
            }
        });
    let (inside, not_entered) = if needed {
        match Inside::enter(&account)? {
            Ok(i) => (Some(i), None),
            Err(NotEntered(e)) => (None, Some(e)),
        }
    } else {
        (None, None)
    };
    let mut reports = Vec::new();
    let mut closed = 0usize;
    for f in found {
        // Resolved inside, its stat holds the namespace's ids (uid 0 is the user there).
        let (r, resolved_inside) = match (f, &inside) {
            (Found::Here(r), _) => (r, false),
            (Found::Denied(path, _), Some(_)) => match target::resolve(&path, false, 0) {
                Ok(r) => (r, true),
                Err(e) => {
                    userns::note(&e);
                    closed += 1;
                    code = exit::PROBLEMS;
                    continue;
                }
            },
            (Found::Denied(_, e), None) => {
                userns::note(&e);
                closed += 1;
                code = exit::PROBLEMS;
                continue;
            }
        };
        if args.recursive && r.st.is_dir() {
            let mut summary = summarize(&r, options, userns::clean::workers(), inside.as_ref());
            if summary.total.directories == 0 && !resolved_inside {
                // The top could not be opened: its owner, from the host's stat, is still
                // an answer.
                summary.add(&r.st);
            }
            if !summary.failures.is_empty() {
                code = exit::PROBLEMS;
            }
            closed += summary
                .failures
                .iter()
                .filter(|f| f.reason.contains("ermission denied"))
                .count();
            reports.push(Report::Tree(tree_report(&ctx, &r.target.path, &summary)));
            continue;
        }
        let st = match &inside {
            Some(i) if resolved_inside => {
                match i.host_view(&r.st, || Ok(Handle::Borrowed(r.handle.as_fd()))) {
                    Ok(st) => st,
                    Err(e) => {
                        userns::note(format_args!("{}: {e}", r.target.path.display()));
                        code = exit::PROBLEMS;
                        continue;
                    }
                }
            }
            _ => r.st,
        };
        reports.push(Report::File(Box::new(describe(&ctx, &r.target.path, &st))));
    }
    if args.json {
        crate::cli::render::json::print_json(&reports)?;
    } else {
        let mut out = std::io::stdout().lock();
        for r in &reports {
            let _ = match r {
                Report::File(f) => out.write_all(file_text(f).as_bytes()),
                Report::Tree(t) => out.write_all(tree_text(t).as_bytes()),
            };
        }
    }
    for r in &reports {
        if let Report::Tree(t) = r {
            for f in &t.failures {
                userns::note(format_args!("{}: {}", f.path, f.reason));
            }
        }
    }
    if closed > 0 {
        userns::note(closed_note(closed, inside.is_some(), not_entered.as_ref()));
    }
    Ok(code)
}

/// Why what was refused stays unanswered.
fn closed_note(closed: usize, entered: bool, not_entered: Option<&Error>) -> String {
    let what = counted(closed as u64, "place");
    match not_entered {
        Some(e) => format!(
            "{what} could not be read. whose reads what your subordinate ids own as root of your own user namespace, and cannot here: {}",
            match (&e.cause, &e.fix) {
                (Some(cause), Some(fix)) => format!("{}: {cause} (fix: {fix})", e.what),
                (Some(cause), None) => format!("{}: {cause}", e.what),
                _ => e.what.clone(),
            }
        ),
        None if entered => format!(
            "{what} could not be read, even as root of your user namespace: what belongs to ids outside your ranges (another user's, root's) is open only as its owner lets others in"
        ),
        None => format!(
            "{what} could not be read (whose looks inside as root of your user namespace in PATHs your own or your subordinate ids own: give such a directory as PATH)"
        ),
    }
}

/// Whether the resolution failed for lack of permission (EACCES on the way).
fn denied(e: &Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io.raw_os_error() == Some(libc::EACCES);
        }
        source = s.source();
    }
    false
}

/// `given` with its longest prefix that the host resolves (symlinks followed by the
/// host's rules, `target::resolve`) replaced by that prefix's canonical path: inside the
/// namespace root's symlinks read as 65534's and would not be followed.
fn host_prefix(given: &Path, uid: u32) -> PathBuf {
    let absolute = std::path::absolute(given).unwrap_or_else(|_| given.to_path_buf());
    let parts: Vec<_> = absolute.components().collect();
    for keep in (1..parts.len()).rev() {
        let prefix: PathBuf = parts[..keep].iter().collect();
        if let Ok(r) = target::resolve(&prefix, true, uid) {
            let mut path = r.target.path;
            path.extend(&parts[keep..]);
            return path;
        }
    }
    absolute
}

fn inside_text(kind: IdKind, inside: Option<u32>) -> String {
    match inside {
        Some(id) => format!("{} {id} in your namespace", kind.name()),
        None => "not mapped in your namespace (shown there as 65534)".into(),
    }
}

fn file_text(f: &FileReport) -> String {
    let mut text = format!(
        "{}\n  {} {}, {}, {}\n",
        f.path,
        f.file_type,
        f.mode,
        counted(f.size, "byte"),
        counted(f.links, "link")
    );
    for (label, kind, id) in [
        ("owner", IdKind::Uid, &f.owner),
        ("group", IdKind::Gid, &f.group),
    ] {
        text.push_str(&format!(
            "  {label} {}: {}; {}; {}\n",
            id.host,
            id.who,
            inside_text(kind, id.inside),
            id.meaning
        ));
    }
    if let Some(o) = &f.origin {
        text.push_str(&format!("  from {}\n", o.text));
    }
    text
}

fn lines(
    ctx: &Context,
    kind: IdKind,
    counts: &std::collections::HashMap<u32, Count>,
) -> Vec<OwnerLine> {
    let mut ids: Vec<_> = counts.iter().collect();
    ids.sort_by_key(|(id, _)| **id);
    ids.into_iter()
        .map(|(id, c)| {
            let e = ctx.explain(kind, *id);
            OwnerLine {
                host: *id,
                inside: e.inside,
                who: e.who,
                meaning: e.meaning,
                files: c.files,
                directories: c.directories,
                bytes: c.bytes,
            }
        })
        .collect()
}

fn tree_report(ctx: &Context, path: &Path, s: &OwnerSummary) -> TreeReport {
    TreeReport {
        path: userns::clean::fs::display_bytes(path.as_os_str().as_encoded_bytes()),
        files: s.total.files,
        directories: s.total.directories,
        bytes: s.total.bytes,
        origin: ctx.origins.origin_of(path),
        owners: lines(ctx, IdKind::Uid, &s.by_uid),
        groups: lines(ctx, IdKind::Gid, &s.by_gid),
        failures: s.failures.iter().map(FailureJson::new).collect(),
    }
}

fn tree_text(t: &TreeReport) -> String {
    let mut text = format!(
        "{}\n  {}, {}, {}\n",
        t.path,
        counted(t.files, "file"),
        counted(t.directories, "directory"),
        human_bytes(t.bytes)
    );
    if let Some(o) = &t.origin {
        text.push_str(&format!("  from {}\n", o.text));
    }
    for (head, rows) in [("UID", &t.owners), ("GID", &t.groups)] {
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|l| {
                vec![
                    l.host.to_string(),
                    l.inside.map_or_else(|| "-".into(), |i| i.to_string()),
                    thousands(l.files),
                    thousands(l.directories),
                    human_bytes(l.bytes),
                    l.who.clone(),
                ]
            })
            .collect();
        let rendered = table::render(
            &[head, "INSIDE", "FILES", "DIRS", "SIZE", "BELONGS TO"],
            &rows,
        );
        for line in rendered.lines() {
            text.push_str("  ");
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}
