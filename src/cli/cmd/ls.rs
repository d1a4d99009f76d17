//! `userns ls [--tree] [--json]`: the user namespaces you can see, with owners, maps,
//! and the NAME of those userns keeps.

use crate::cli::args::LsArgs;
use userns::error::Result;
use userns::keep::{self, record};
use userns::nsinfo::{self, Parent, UserNamespace};
use userns::users::Account;

pub fn run(args: LsArgs) -> Result<u8> {
    let mut namespaces = nsinfo::scan();
    name_kept(&mut namespaces);
    if args.json {
        crate::cli::render::json::print_json(&namespaces)?;
        return Ok(userns::exit::OK);
    }
    let rows: Vec<(usize, &UserNamespace)> = if args.tree {
        nsinfo::tree_order(&namespaces)
    } else {
        namespaces.iter().map(|n| (0, n)).collect()
    };
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|(depth, ns)| row(*depth, ns, args.tree))
        .collect();
    let mut header = vec![
        "NS", "OWNER", "PROCS", "PID", "UID_MAP", "GID_MAP", "NAME", "COMMAND",
    ];
    if !args.tree {
        header.insert(2, "PARENT");
    }
    crate::cli::render::out::print(crate::cli::render::table::render(&header, &table))?;
    for ns in &namespaces {
        if let Some(why) = &ns.stale_map {
            userns::warn(why);
        }
    }
    Ok(userns::exit::OK)
}

/// Longest command line a table shows (JSON has it whole).
const COMMAND_WIDTH: usize = 60;

fn shorten(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn row(depth: usize, ns: &UserNamespace, tree: bool) -> Vec<String> {
    let id = if ns.init {
        format!("{} (init)", ns.id)
    } else {
        ns.id.to_string()
    };
    let mut name = ns.name.clone().unwrap_or_default();
    if ns.stale_map.is_some() {
        name.push_str(" (stale map)");
    }
    // A namespace without processes has no /proc/PID/uid_map to read its map from.
    let unreadable = if ns.pid.is_none() { "-" } else { "?" };
    let mut cells = vec![
        format!("{}{id}", "  ".repeat(depth)),
        ns.owner_uid
            .map(|u| u.to_string())
            .unwrap_or_else(|| "?".into()),
        ns.processes.to_string(),
        ns.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
        ns.uid_map
            .as_ref()
            .map_or_else(|| unreadable.into(), |m| m.to_short()),
        ns.gid_map
            .as_ref()
            .map_or_else(|| unreadable.into(), |m| m.to_short()),
        name,
        if ns.pid.is_none() {
            "(no process; its child namespaces keep it)".to_string()
        } else {
            shorten(&ns.command, COMMAND_WIDTH)
        },
    ];
    if !tree {
        let parent = match ns.parent {
            Parent::None => "-".to_string(),
            Parent::Visible(p) => p.to_string(),
            Parent::OutsideView => "(outside view)".to_string(),
            Parent::Unknown => "?".to_string(),
        };
        cells.insert(2, parent);
    }
    cells
}

/// Give each namespace kept by userns its NAME, and flag stale maps. Only live records
/// count: a stale one (pause process gone or pid reused) names nothing.
fn name_kept(namespaces: &mut [UserNamespace]) {
    let Ok(dir) = record::registry_dir(false) else {
        return;
    };
    let records = record::list(&dir);
    if records.is_empty() {
        return;
    }
    let account = Account::current();
    for rec in records.into_iter().flatten() {
        if !matches!(keep::liveness(&rec), keep::Liveness::Alive(_)) {
            continue;
        }
        if let Some(ns) = namespaces.iter_mut().find(|n| n.id == rec.userns_inode) {
            ns.stale_map = keep::stale_map(&rec, &account);
            // The pause process was forked, not executed: its command line is still that
            // of the command that made the namespace, which has long ended.
            if ns.pid == Some(rec.pid) {
                ns.command = format!("userns pause process of {}", rec.name);
            }
            ns.name = Some(rec.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_command_lines_are_shortened_in_the_table() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("abcdefgh", 5), "abcd…");
    }
}
