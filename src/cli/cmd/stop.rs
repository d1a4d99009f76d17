//! `userns stop NAME` / `userns stop --all`: end a container, or kept namespaces.
//!
//! NAME is looked up among the containers first (name, id, id prefix), then among the
//! kept namespaces. `run --name` refuses a kept namespace's name, but a namespace kept
//! later may take a container's: then NAME means both, and stop refuses to guess (the
//! container by its id, the namespace with --kept).

use crate::cli::args::StopArgs;
use userns::container::{self, Store};
use userns::error::{Error, Result};
use userns::keep::{self, record};
use userns::users::Account;

pub fn run(args: StopArgs) -> Result<u8> {
    if !args.all && !args.kept {
        let name = args.name.as_deref().unwrap_or_default();
        if let Some(code) = stop_container(name, args.time)? {
            return Ok(code);
        }
    }
    let dir = record::registry_dir(false)?;
    let records: Vec<record::KeptRecord> = if args.all {
        let mut ok = Vec::new();
        for rec in record::list(&dir) {
            match rec {
                Ok(r) => ok.push(r),
                Err(e) => userns::warn(e),
            }
        }
        ok
    } else {
        let name = args.name.as_deref().unwrap_or_default();
        record::check_name(name)?;
        match record::read(&dir, name)? {
            Some(r) => vec![r],
            None => {
                let known = record::known_names(&dir);
                return Err(Error::failure(format!("no kept namespace named {name:?}"))
                    .because(if known.is_empty() {
                        "none is kept".to_string()
                    } else {
                        format!("known: {}", known.join(", "))
                    })
                    .fix("see `userns ls` for the kept namespaces"));
            }
        }
    };
    if !args.all {
        // One name: its failure is the command's error, printed once by main.
        let outcome = keep::stop(&dir, &records[0])?;
        userns::note(outcome);
        return Ok(userns::exit::OK);
    }
    let mut code = userns::exit::OK;
    for rec in &records {
        match keep::stop(&dir, rec) {
            Ok(outcome) => userns::note(outcome),
            Err(e) => {
                userns::note(e);
                code = userns::exit::PROBLEMS;
            }
        }
    }
    Ok(code)
}

/// Stop container NAME, if NAME is one (None: it is not, look for a kept namespace).
fn stop_container(name: &str, seconds: u64) -> Result<Option<u8>> {
    // No usable store (no HOME, say) means no containers: kept namespaces still stop.
    let Ok(store) = Store::open(&Account::current(), false) else {
        return Ok(None);
    };
    let Ok(rec) = store.lookup(name) else {
        return Ok(None);
    };
    let kept = record::check_name(name)
        .ok()
        .and_then(|()| record::registry_dir(false).ok())
        .and_then(|dir| record::read(&dir, name).ok().flatten());
    if kept.is_some() && rec.id != name {
        return Err(Error::usage(format!(
            "{name:?} is both a container ({}) and a kept namespace",
            rec.short_id()
        ))
        .fix(format!(
            "stop the container by its id (userns stop {}), or the namespace with `userns stop --kept {name}`",
            rec.short_id()
        )));
    }
    container::control::stop(&store, &rec, std::time::Duration::from_secs(seconds))?;
    crate::cli::render::out::println(name)?;
    Ok(Some(userns::exit::OK))
}
