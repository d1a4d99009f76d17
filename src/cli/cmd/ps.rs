//! `userns ps [-a] [--json] [-q]`: the user's containers, as `podman ps` lists them.
//! Every record is refreshed first (`Store::refresh`): a container whose monitor is gone
//! shows as gone, never as running.

use crate::cli::args::PsArgs;
use crate::cli::render;
use serde::Serialize;
use userns::container::{ContainerRecord, Status, Store};
use userns::error::Result;
use userns::users::Account;

/// One line of `ps --json`.
#[derive(Serialize)]
struct PsEntry<'a> {
    id: &'a str,
    name: &'a str,
    source: &'a str,
    command: &'a [String],
    created: u64,
    status: &'static str,
    exit_code: Option<u8>,
    started_at: Option<u64>,
    finished_at: Option<u64>,
    /// pid 1 as the host numbers it, while it runs.
    pid: Option<i32>,
    restarts: u32,
    error: Option<&'a str>,
}

pub fn run(args: PsArgs) -> Result<u8> {
    let store = Store::open(&Account::current(), false)?;
    let mut shown = Vec::new();
    for rec in store.list() {
        match rec {
            Ok(rec) => {
                let rec = store.refresh(rec);
                if args.all || rec.is_running() {
                    shown.push(rec);
                }
            }
            Err(e) => userns::warn(e),
        }
    }
    if args.quiet {
        let mut out = String::new();
        for rec in &shown {
            out.push_str(rec.short_id());
            out.push('\n');
        }
        crate::cli::render::out::print(out)?;
    } else if args.json {
        let entries: Vec<PsEntry> = shown.iter().map(entry).collect();
        render::json::print_json(&entries)?;
    } else {
        let now = userns::container::record::now();
        let rows: Vec<Vec<String>> = shown
            .iter()
            .map(|r| {
                vec![
                    r.short_id().to_string(),
                    r.source.clone(),
                    shorten(&r.command.join(" "), 30),
                    format!("{} ago", ago(now.saturating_sub(r.created))),
                    status_text(r, now),
                    r.pid1
                        .filter(|_| r.is_running())
                        .map_or_else(|| "-".to_string(), |p| p.pid.to_string()),
                    r.name.clone(),
                ]
            })
            .collect();
        crate::cli::render::out::print(render::table::render(
            &[
                "CONTAINER ID",
                "SOURCE",
                "COMMAND",
                "CREATED",
                "STATUS",
                "PID",
                "NAMES",
            ],
            &rows,
        ))?;
    }
    Ok(userns::exit::OK)
}

fn entry(r: &ContainerRecord) -> PsEntry<'_> {
    PsEntry {
        id: &r.id,
        name: &r.name,
        source: &r.source,
        command: &r.command,
        created: r.created,
        status: r.status.as_str(),
        exit_code: r.exit_code,
        started_at: r.started_at,
        finished_at: r.finished_at,
        pid: r.pid1.filter(|_| r.is_running()).map(|p| p.pid),
        restarts: r.restart_count,
        error: r.error.as_deref(),
    }
}

/// podman's words: "Up 5 seconds", "Exited (0) 3 minutes ago", "Created"; and "Gone",
/// when the monitor ended without recording an exit status.
fn status_text(r: &ContainerRecord, now: u64) -> String {
    let since = |t: Option<u64>| ago(now.saturating_sub(t.unwrap_or(r.created)));
    match r.status {
        Status::Created => "Created".to_string(),
        Status::Running if r.error.is_some() => {
            format!("Up {} (monitor gone)", since(r.started_at))
        }
        Status::Running => format!("Up {}", since(r.started_at)),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            r.exit_code
                .map_or_else(|| "?".to_string(), |c| c.to_string()),
            since(r.finished_at)
        ),
        Status::Gone => format!("Gone {} ago (exit status unknown)", since(r.finished_at)),
    }
}

fn ago(secs: u64) -> String {
    let (n, unit) = match secs {
        0..=59 => (secs, "second"),
        60..=3599 => (secs / 60, "minute"),
        3600..=86_399 => (secs / 3600, "hour"),
        _ => (secs / 86_400, "day"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_podman_writes_them() {
        assert_eq!(ago(1), "1 second");
        assert_eq!(ago(59), "59 seconds");
        assert_eq!(ago(120), "2 minutes");
        assert_eq!(ago(7200), "2 hours");
        assert_eq!(shorten("abcdef", 4), "abc…");
    }
}
