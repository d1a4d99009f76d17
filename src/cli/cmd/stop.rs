//! `userns stop NAME` / `userns stop --all`: end kept namespaces.

use crate::cli::args::StopArgs;
use userns::error::{Error, Result};
use userns::keep::{self, record};

pub fn run(args: StopArgs) -> Result<u8> {
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
