//! `userns whose [-R] PATH...`: who a file's owner and group are, inside and outside your
//! namespace, and where the file came from; with -R, a tree's entries per owner.

use crate::cli::args::WhoseArgs;
use crate::cli::render::table;
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use userns::clean::report::{counted, thousands, FailureJson};
use userns::clean::target;
use userns::clean::walk::WalkOptions;
use userns::error::Result;
use userns::exit;
use userns::ids::IdKind;
use userns::subid::SubIdPaths;
use userns::units::human_bytes;
use userns::users::Account;
use userns::whose::tree::{summarize, Count, OwnerSummary};
use userns::whose::{describe, Attribution, Context, FileReport, Origin, Origins, UserMaps};

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
    let mut reports = Vec::new();
    for path in &args.paths {
        // A symlink named is described itself; symlinks on the way are followed once.
        let r = match target::resolve(path, false, account.uid) {
            Ok(r) => r,
            Err(e) => {
                userns::note(&e);
                code = exit::PROBLEMS;
                continue;
            }
        };
        if args.recursive && r.st.is_dir() {
            let summary = summarize(&r, options, userns::clean::workers());
            if !summary.failures.is_empty() {
                code = exit::PROBLEMS;
            }
            reports.push(Report::Tree(tree_report(&ctx, &r.target.path, &summary)));
        } else {
            reports.push(Report::File(Box::new(describe(
                &ctx,
                &r.target.path,
                &r.st,
            ))));
        }
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
    Ok(code)
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
