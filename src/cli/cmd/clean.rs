//! `userns clean [PATH...]`: remove trees owned by your subordinate ids (by default your
//! rootless container storage), from inside your mapped namespace, never leaving them.

use crate::cli::args::CleanArgs;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use userns::clean::fd_budget;
use userns::clean::guard::{self, Target};
use userns::clean::owners::OwnerIds;
use userns::clean::remove::{count_tree, remove_tree, Outcome};
use userns::clean::report::{self, CleanJson, FailureJson, Tally, TreeJson};
use userns::clean::target::{self, Resolved};
use userns::clean::walk::WalkOptions;
use userns::error::{Error, Result};
use userns::exit;
use userns::podman::PauseProcess;
use userns::storage::StoragePaths;
use userns::subid::SubIdPaths;
use userns::unshare::{plan_mapping, MapRequest, NsSpec};
use userns::users::Account;

pub fn run(args: CleanArgs) -> Result<u8> {
    let account = Account::current();
    let default_storage = args.paths.is_empty();
    let paths = if default_storage {
        match existing_storage(&account)? {
            Some(paths) => paths,
            None => return Ok(exit::OK),
        }
    } else {
        args.paths.clone()
    };

    let mapping = plan_mapping(&MapRequest::default(), &account, &SubIdPaths::default())?;
    let resolved = resolve_all(&paths, &account, &mapping.uid, args.cross_filesystems)?;
    let targets: Vec<Target> = resolved.iter().map(|r| r.target.clone()).collect();

    let ask = !args.yes && !args.dry_run;
    let mut notes = Vec::new();
    let pause = if default_storage {
        PauseProcess::find(account.uid)?
    } else {
        None
    };
    if let Some(p) = &pause {
        let trees: Vec<&Path> = targets.iter().map(|t| t.path.as_path()).collect();
        userns::podman::check_no_containers(p.pid, &trees)?;
    }
    // A container's overlay over a target lives in the container's mount namespace, which
    // check_mounts (ours) cannot see: a kept layer of a running `userns run --keep`, or
    // podman's layers (the check above names podman's fix first).
    userns::clean::in_use::check(&targets)?;

    // Everything that must happen before threads exist: descriptors (above), then the
    // namespace.
    let workers = userns::clean::workers();
    let options = WalkOptions {
        one_filesystem: !args.cross_filesystems,
        budget: fd_budget(workers + 1),
    };
    // The plan's map with a hole where the kernel shows unmapped owners (clean::owners),
    // so that the report can name them.
    let owners = OwnerIds::new(&mapping.uid);
    let spec = NsSpec {
        map: MapRequest {
            explicit_uid: owners.walk_map().entries.clone(),
            ..MapRequest::default()
        },
        ..NsSpec::default()
    };
    userns::unshare::enter(&spec, &account)?;

    let mut planned: Option<Vec<Outcome>> = None;
    if ask || args.dry_run {
        let scans: Vec<Outcome> = resolved
            .iter()
            .map(|r| {
                let t = &r.target;
                count_tree(r.parent.as_fd(), &t.name, &path_bytes(t), &r.st, options)
            })
            .collect();
        if args.dry_run {
            if let Some(p) = &pause {
                notes.push(format!(
                    "would stop podman's pause process {} (it holds the old storage)",
                    p.pid
                ));
            }
            return finish(&args, "dry-run", &targets, &scans, &notes, &owners);
        }
        if !confirm_removal(&args, &targets, &scans, &owners)? {
            userns::note("nothing removed");
            return Ok(exit::OK);
        }
        planned = Some(scans);
    }

    if let Some(p) = &pause {
        p.stop()?;
        notes.push(format!(
            "stopped podman's pause process {} (it held the old storage; podman starts a new one)",
            p.pid
        ));
    }
    let outcomes = remove_all(&resolved, options, workers, planned.as_deref(), args.json);
    finish(&args, "removed", &targets, &outcomes, &notes, &owners)
}

/// The default trees: podman's graphroot and runroot, those that exist. None (after
/// saying so) when neither does.
fn existing_storage(account: &Account) -> Result<Option<Vec<PathBuf>>> {
    let storage = StoragePaths::discover(account);
    storage.check_trusted()?;
    let existing: Vec<PathBuf> = [&storage.graphroot, &storage.runroot]
        .into_iter()
        .filter(|p| p.symlink_metadata().is_ok())
        .cloned()
        .collect();
    if existing.is_empty() {
        crate::cli::render::out::println(format!(
            "nothing to clean: {} and {} do not exist",
            storage.graphroot.display(),
            storage.runroot.display()
        ))?;
        return Ok(None);
    }
    Ok(Some(existing))
}

/// Each PATH resolved once, to descriptors, before any check: the checks look at what
/// the descriptors hold, and the removal starts from them (see target.rs). A tree inside
/// another given one, or named twice, is removed once.
fn resolve_all(
    paths: &[PathBuf],
    account: &Account,
    uid_map: &userns::idmap::IdMap,
    cross_filesystems: bool,
) -> Result<Vec<Resolved>> {
    let homes = guard::protected_homes();
    let mounts = guard::own_mounts()?;
    let mut resolved: Vec<Resolved> = Vec::new();
    for path in paths {
        // A symlink named is removed itself, as rm does.
        let r = target::resolve(path, false, account.uid)?;
        guard::check_path(&r.target, &homes, uid_map)?;
        target::check_identity(&r, &homes)?;
        guard::check_mounts(&r.target, &mounts, cross_filesystems)?;
        resolved.push(r);
    }
    // A tree inside another given tree goes with it.
    let all: Vec<PathBuf> = resolved.iter().map(|r| r.target.path.clone()).collect();
    resolved.retain(|r| {
        !all.iter()
            .any(|o| *o != r.target.path && r.target.path.starts_with(o))
    });
    // The same tree named twice (or by two names) is removed once.
    let mut seen: Vec<(u64, u64)> = Vec::new();
    resolved.retain(|r| {
        let id = (r.st.dev, r.st.ino);
        let first = !seen.contains(&id);
        seen.push(id);
        first
    });
    Ok(resolved)
}

/// Show what will go and ask; an error when no one can answer (stdin not a terminal).
fn confirm_removal(
    args: &CleanArgs,
    targets: &[Target],
    scans: &[Outcome],
    owners: &OwnerIds,
) -> Result<bool> {
    if !args.json {
        crate::cli::render::out::print(trees_text("will remove", targets, scans, owners))?;
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::failure("not removing anything: nobody can confirm")
            .because("stdin is not a terminal and --yes was not given")
            .fix("pass --yes to remove without asking, or --dry-run to only see the report"));
    }
    crate::cli::render::out::confirmed("Remove all of this?")
}

/// Remove the trees, with a progress bar (sized by the scans, when there were any).
fn remove_all(
    resolved: &[Resolved],
    options: WalkOptions,
    workers: usize,
    planned: Option<&[Outcome]>,
    json: bool,
) -> Vec<Outcome> {
    let total = planned.map(|s| s.iter().map(|o| o.tally.entries()).sum::<u64>());
    let progress = progress_bar(total, json);
    let outcomes = resolved
        .iter()
        .map(|r| {
            let t = &r.target;
            remove_tree(
                &r.parent,
                &t.name,
                &path_bytes(t),
                &r.st,
                options,
                workers,
                &progress,
            )
        })
        .collect();
    progress.finish_and_clear();
    outcomes
}

/// The path as bytes, for the walk's messages.
fn path_bytes(t: &Target) -> Vec<u8> {
    t.path.as_os_str().as_encoded_bytes().to_vec()
}

/// Print the report (text or JSON) and the failures; 1 when anything failed.
fn finish(
    args: &CleanArgs,
    action: &'static str,
    targets: &[Target],
    outcomes: &[Outcome],
    notes: &[String],
    owners: &OwnerIds,
) -> Result<u8> {
    let failures: Vec<_> = outcomes.iter().flat_map(|o| &o.failures).collect();
    if args.json {
        crate::cli::render::json::print_json(&CleanJson {
            action,
            trees: targets
                .iter()
                .zip(outcomes)
                .map(|(t, o)| TreeJson::new(&t.path, &o.tally, owners))
                .collect(),
            failures: failures.iter().map(|f| FailureJson::new(f)).collect(),
            notes: notes.to_vec(),
        })?;
    } else {
        let head = if action == "dry-run" {
            "would remove (dry run, nothing removed)"
        } else {
            "removed"
        };
        crate::cli::render::out::print(trees_text(head, targets, outcomes, owners))?;
        for note in notes {
            crate::cli::render::out::println(note)?;
        }
    }
    if failures.is_empty() {
        return Ok(exit::OK);
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "userns: {} could not be {}:",
        report::counted(failures.len() as u64, "entry"),
        if action == "dry-run" {
            "read"
        } else {
            "removed"
        }
    );
    for f in &failures {
        let _ = writeln!(err, "{}", f.line());
    }
    Ok(exit::PROBLEMS)
}

fn trees_text(head: &str, targets: &[Target], outcomes: &[Outcome], owners: &OwnerIds) -> String {
    let mut text = format!("{head}:\n");
    let mut total = Tally::default();
    for (t, o) in targets.iter().zip(outcomes) {
        text.push_str(&report::tree_text(&t.path, &o.tally, owners));
        total.merge(&o.tally);
    }
    if targets.len() > 1 {
        text.push_str(&format!(
            "total: {}, {}, {}\n",
            report::counted(total.files, "file"),
            report::counted(total.directories, "directory"),
            userns::units::human_bytes(total.bytes)
        ));
    }
    text
}

/// A bar on a terminal (stderr), nothing when piped or with --json.
fn progress_bar(total: Option<u64>, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match total {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template(
                "{bar:40} {human_pos}/{human_len} entries removed ({eta} left)",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template("{spinner} {human_pos} entries removed ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    }
}
