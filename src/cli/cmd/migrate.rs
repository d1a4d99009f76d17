//! `userns migrate`: move the ownership of your trees (by default podman's storage and
//! userns's data dir) from the old maps to the current ones, after /etc/subuid changed.

use crate::cli::args::MigrateArgs;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use userns::clean::report::{counted, FailureJson};
use userns::clean::target::Resolved;
use userns::clean::walk::WalkOptions;
use userns::clean::{fd_budget, workers};
use userns::error::{Error, Result};
use userns::exit;
use userns::idmap::record;
use userns::ids::IdKind;
use userns::migrate::journal::{Header, Journal};
use userns::migrate::translate::{map_text, MapsRecord};
use userns::migrate::{self, old, Maps, Shared, Tally, Translation};
use userns::podman::PauseProcess;
use userns::subid::SubIdPaths;
use userns::unshare::NsSpec;
use userns::users::Account;

#[derive(Debug, Serialize)]
struct MoveJson {
    kind: IdKind,
    from: u32,
    to: Option<u32>,
    inside: Option<u32>,
    entries: u64,
}

#[derive(Debug, Serialize)]
struct TreeJson {
    path: String,
    entries: u64,
    changed: u64,
    from_journal: u64,
    acls: u64,
    capabilities: u64,
    setid_restored: u64,
}

#[derive(Debug, Serialize)]
struct MigrateJson {
    /// "dry-run", "migrated", "nothing-to-do".
    action: &'static str,
    old: MapsRecord,
    new: MapsRecord,
    old_source: String,
    journaled_every_inode: bool,
    trees: Vec<TreeJson>,
    moves: Vec<MoveJson>,
    unholdable: Vec<MoveJson>,
    fixes: Vec<String>,
    failures: Vec<FailureJson>,
    notes: Vec<String>,
}

/// Who is migrated, and how the files are reached.
struct Who {
    account: Account,
    /// A root run for another user (`--as`): no namespace, ids are host ids already.
    as_root: bool,
}

fn who(args: &MigrateArgs) -> Result<Who> {
    let root = nix::unistd::geteuid().is_root();
    match &args.as_user {
        Some(user) if !root => Err(Error::usage(format!("--as {user} is for root"))
            .because("only root can change the owner of files outside its own namespace")
            .fix("run `userns migrate` as the user (it uses a namespace of theirs), or as root")),
        Some(user) => Ok(Who {
            account: Account::resolve(user)?,
            as_root: true,
        }),
        None if root => Err(Error::usage("root has no rootless storage to migrate")
            .fix("give the user whose trees move: userns migrate --as USER")),
        None => Ok(Who {
            account: Account::current(),
            as_root: false,
        }),
    }
}

/// The old maps: a pending journal's, the command line's, or the newest recorded.
fn old_maps(
    args: &MigrateArgs,
    account: &Account,
    new: &Maps,
    as_root: bool,
) -> Result<(Maps, String)> {
    if let (Some(u), Some(g)) = (&args.from_subuid, &args.from_subgid) {
        let maps = old::from_subid_files(account, u, g)?;
        return Ok((maps, format!("{} and {}", u.display(), g.display())));
    }
    if let Some(spec) = &args.from_map {
        return Ok((old::from_map_files(spec)?, format!("--from-map {spec}")));
    }
    old::recorded(account, new, as_root).ok_or_else(|| {
        Error::failure("no old map to migrate from")
            .because(format!(
                "userns has no record of a map of {} other than the current one ({}), no kept namespace and no podman pause process holds another",
                account.display_name(),
                map_text(&new.uid)
            ))
            .fix("give the old ranges: --from-subuid OLD_SUBUID --from-subgid OLD_SUBGID (the files as they were), or --from-map UIDMAP:GIDMAP")
    })
}

pub fn run(args: MigrateArgs) -> Result<u8> {
    let Who { account, as_root } = who(&args)?;
    let paths = SubIdPaths::default();
    // The plan now, with every granted line: what the last namespaces were made with
    // when the old lines are still granted.
    let current = old::current_maps(&account, &paths)?;
    let state = record::state_dir(&Account::current()).ok_or_else(|| {
        Error::failure("no place for the migration's journal")
            .because("there is no HOME")
            .fix("set HOME or XDG_STATE_HOME")
    })?;
    let journal_dir = state.join(format!("migrate-{}", account.uid));
    let pending = Journal::pending(&journal_dir)?;
    let (old, old_source, trees) = match &pending {
        Some(h) if h.uid == account.uid => {
            let given = args.from_subuid.is_some() || args.from_map.is_some();
            let old = h.old.maps();
            if given && old_maps(&args, &account, &current, as_root)?.0 != old {
                return Err(
                    Error::failure("an interrupted migration is pending with other maps")
                        .because(format!(
                            "{} records the move from {} to {}",
                            journal_dir.join(migrate::journal::HEADER).display(),
                            map_text(&old.uid),
                            map_text(&h.new.maps().uid)
                        ))
                        .fix("run `userns migrate` without --from-* to finish it first"),
                );
            }
            let trees = if args.paths.is_empty() {
                h.paths.clone()
            } else {
                args.paths.clone()
            };
            (
                old,
                format!("the interrupted migration of {} (resumed)", h.started),
                trees,
            )
        }
        _ => {
            let (old, source) = old_maps(&args, &account, &current, as_root)?;
            let trees = if args.paths.is_empty() {
                migrate::steps::default_paths(&account, as_root)
            } else {
                args.paths.clone()
            };
            (old, source, trees)
        }
    };
    // A pending journal's new map is the one to finish with.
    let new = match &pending {
        Some(h) if h.uid == account.uid => h.new.maps(),
        _ => old::new_maps(&account, &paths, &old)?,
    };
    let translation = Translation::new(&old, &new);
    if translation.is_noop() && pending.is_none() {
        crate::cli::render::out::println(format!(
            "nothing to migrate: the old map ({old_source}) is the current one"
        ))?;
        return Ok(exit::OK);
    }
    if trees.is_empty() {
        crate::cli::render::out::println(
            "nothing to migrate: no podman storage and no userns data dir exist",
        )?;
        return Ok(exit::OK);
    }
    if as_root {
        old::check_old_for_root(&account, &old, &paths)?;
    } else {
        old::check_granted(&account, &old, &paths)?;
    }

    let resolved = migrate::steps::resolve_all(&trees, &account, &translation, as_root)?;
    // A root run finds the user's pause process as the user's runtime dir names it,
    // proven theirs before anything is read from its /proc entries (`for_user`).
    let for_user = as_root.then(|| migrate::steps::UserRefresh::find(&account));
    // `pause`: what a user's own run stops after the move (a root run stops the user's
    // through its proof instead, `refresh`); `mounts_of`: the pause process whose mount
    // namespace must hold no container on the trees.
    let (pause, mounts_of) = match &for_user {
        Some(found) => {
            let proven = found.pause.as_ref().ok().and_then(|p| p.as_ref());
            (None, proven.map(|p| p.pid))
        }
        None => {
            let pause = PauseProcess::find(account.uid)?;
            let pid = pause.as_ref().map(|p| p.pid);
            (pause, pid)
        }
    };
    if let Some(pid) = mounts_of {
        let t: Vec<&Path> = resolved.iter().map(|r| r.target.path.as_path()).collect();
        userns::podman::check_no_containers(pid, &t)?;
    }
    let workers = workers();
    let options = WalkOptions {
        one_filesystem: !args.cross_filesystems,
        budget: fd_budget(workers + 1),
    };
    // Kept namespaces whose map goes stale, checked while their /proc entries can still
    // be read (not from inside the namespace below); stopped after the move.
    let stale_kept = if as_root {
        Vec::new()
    } else {
        migrate::steps::stale_kept(&account)
    };
    // Before any thread: the namespace where old and new ids all read as host ids.
    if !as_root {
        let spec = NsSpec {
            map: migrate::namespace_request(&translation),
            ..NsSpec::default()
        };
        userns::unshare::enter(&spec, &account)?;
    }
    let resumed = if pending.is_some() {
        Journal::intents(&journal_dir)?
    } else {
        HashMap::new()
    };
    let shared = |dry_run, journal| Shared {
        translation: &translation,
        dry_run,
        journal,
        journal_all: translation.ambiguous(),
        resumed: &resumed,
        linked: Default::default(),
        overflow_unmapped: !as_root,
        changed: Default::default(),
        kill_after: std::env::var("USERNS_MIGRATE_KILL_AFTER")
            .ok()
            .and_then(|v| v.parse().ok()),
        progress: progress_bar(args.json, dry_run),
    };
    let report = Report {
        args: &args,
        old: &old,
        new: &new,
        old_source: &old_source,
        ambiguous: translation.ambiguous(),
        resolved: &resolved,
        user: account.display_name(),
    };
    if args.dry_run || !args.yes {
        let reading = shared(true, None);
        let plan = migrate::migrate_trees(&resolved, &reading, options, workers);
        reading.progress.finish_and_clear();
        if args.dry_run {
            let would = migrate::steps::would_refresh(
                &account,
                pause.as_ref(),
                &stale_kept,
                for_user.as_ref(),
            );
            return report.finish("dry-run", &plan, &would);
        }
        if !args.json {
            crate::cli::render::out::print(report.text("will move (nothing changed yet)", &plan))?;
        }
        if !std::io::stdin().is_terminal() {
            return Err(Error::failure("not migrating anything: nobody can confirm")
                .because("stdin is not a terminal and --yes was not given")
                .fix("pass --yes to migrate without asking, or -n to only see the plan"));
        }
        if !crate::cli::render::out::confirmed("Move all of this?")? {
            userns::note("nothing changed");
            return Ok(exit::OK);
        }
    }
    let header = Header {
        version: 1,
        uid: account.uid,
        old: MapsRecord::from(&old),
        new: MapsRecord::from(&new),
        paths: resolved.iter().map(|r| r.target.path.clone()).collect(),
        started: pending.as_ref().map_or_else(record::now, |h| h.started),
    };
    let journal = Journal::open(&journal_dir, &header)?;
    let moving = shared(false, Some(&journal));
    let tallies = migrate::migrate_trees(&resolved, &moving, options, workers);
    moving.progress.finish_and_clear();
    let failed = tallies.iter().any(|t| !t.failures.is_empty());
    let mut notes = Vec::new();
    if failed {
        notes.push(format!(
            "the journal {} is kept: run `userns migrate` again to retry what failed",
            journal_dir.display()
        ));
    } else {
        journal.finish()?;
    }
    notes.extend(migrate::steps::refresh(
        &account,
        pause.as_ref(),
        stale_kept,
        for_user,
    ));
    report.finish("migrated", &tallies, &notes)
}

struct Report<'a> {
    args: &'a MigrateArgs,
    old: &'a Maps,
    new: &'a Maps,
    old_source: &'a str,
    ambiguous: bool,
    resolved: &'a [Resolved],
    user: String,
}

impl Report<'_> {
    fn total(tallies: &[Tally]) -> Tally {
        let mut total = Tally::default();
        for t in tallies {
            total.merge(t.clone());
        }
        total
    }

    fn fixes(&self, total: &Tally) -> Vec<String> {
        [(IdKind::Uid, &self.new.uid), (IdKind::Gid, &self.new.gid)]
            .into_iter()
            .filter_map(|(kind, map)| {
                let insides: Vec<u32> = total
                    .unholdable
                    .iter()
                    .filter(|((k, _), _)| *k == kind)
                    .map(|(_, (inside, _))| *inside)
                    .collect();
                (!insides.is_empty())
                    .then(|| migrate::unholdable_fix(&self.user, kind, map, &insides))
            })
            .collect()
    }

    fn text(&self, head: &str, tallies: &[Tally]) -> String {
        let total = Self::total(tallies);
        let mut text = format!(
            "{head}: uids {} -> {}, gids {} -> {} (old map from {})\n",
            map_text(&self.old.uid),
            map_text(&self.new.uid),
            map_text(&self.old.gid),
            map_text(&self.new.gid),
            self.old_source
        );
        for (r, t) in self.resolved.iter().zip(tallies) {
            text.push_str(&format!(
                "{}\n  {} of {} to change ({} ACLs, {} capabilities, {} setuid/setgid bits kept){}\n",
                r.target.path.display(),
                counted(t.changed, "entry"),
                counted(t.entries, "entry"),
                t.acls,
                t.caps,
                t.setid_restored,
                if t.from_journal > 0 {
                    format!(", {} finished from the journal", t.from_journal)
                } else {
                    String::new()
                }
            ));
        }
        for ((kind, from), (to, n)) in total.moves.iter().take(20) {
            text.push_str(&format!(
                "  {} {from} -> {to}: {}\n",
                kind.name(),
                counted(*n, "entry")
            ));
        }
        if total.moves.len() > 20 {
            text.push_str(&format!("  ... and {} more ids\n", total.moves.len() - 20));
        }
        for ((kind, from), (inside, n)) in &total.unholdable {
            text.push_str(&format!(
                "  {} {from} (inside {inside}) cannot move, the new map does not hold it: {} left as they are\n",
                kind.name(),
                counted(*n, "entry")
            ));
        }
        for fix in self.fixes(&total) {
            text.push_str(&format!("  fix: {fix}\n"));
        }
        text
    }

    fn finish(&self, action: &'static str, tallies: &[Tally], notes: &[String]) -> Result<u8> {
        let total = Self::total(tallies);
        if self.args.json {
            let moves = |m: &std::collections::BTreeMap<(IdKind, u32), (u32, u64)>, moved: bool| {
                m.iter()
                    .map(|((kind, from), (x, n))| MoveJson {
                        kind: *kind,
                        from: *from,
                        to: moved.then_some(*x),
                        inside: (!moved).then_some(*x),
                        entries: *n,
                    })
                    .collect()
            };
            crate::cli::render::json::print_json(&MigrateJson {
                action,
                old: MapsRecord::from(self.old),
                new: MapsRecord::from(self.new),
                old_source: self.old_source.to_string(),
                journaled_every_inode: self.ambiguous,
                trees: self
                    .resolved
                    .iter()
                    .zip(tallies)
                    .map(|(r, t)| TreeJson {
                        path: r.target.path.display().to_string(),
                        entries: t.entries,
                        changed: t.changed,
                        from_journal: t.from_journal,
                        acls: t.acls,
                        capabilities: t.caps,
                        setid_restored: t.setid_restored,
                    })
                    .collect(),
                moves: moves(&total.moves, true),
                unholdable: moves(&total.unholdable, false),
                fixes: self.fixes(&total),
                failures: total.failures.iter().map(FailureJson::new).collect(),
                notes: notes.to_vec(),
            })?;
        } else {
            let head = if action == "dry-run" {
                "would move (dry run, nothing changed)"
            } else {
                "moved"
            };
            crate::cli::render::out::print(self.text(head, tallies))?;
            for n in notes {
                crate::cli::render::out::println(n)?;
            }
            let _ = std::io::stdout().flush();
        }
        let mut err = std::io::stderr().lock();
        for f in &total.failures {
            let _ = writeln!(err, "userns: {}", f.line());
        }
        Ok(
            if total.failures.is_empty() && total.unholdable.is_empty() {
                exit::OK
            } else {
                exit::PROBLEMS
            },
        )
    }
}

/// A spinner on a terminal (stderr), nothing when piped or with --json.
fn progress_bar(json: bool, dry_run: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let verb = if dry_run { "read" } else { "migrated" };
    ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {{human_pos}} entries {verb} ({{per_sec}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    )
}
