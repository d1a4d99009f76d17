//! `userns kill`, `userns rm`, `userns wait`: thin layers over `userns::container::control`.
//! Each takes several containers; one that fails is reported and the others still go.

use crate::cli::args::{KillArgs, RmArgs, WaitArgs};
use userns::container::{control, ContainerRecord, Store};
use userns::error::Result;
use userns::users::Account;

/// Run `each` on every container named, printing its output line; 1 when any failed.
fn for_each(
    names: &[String],
    mut each: impl FnMut(&Store, &ContainerRecord, &str) -> Result<String>,
) -> Result<u8> {
    let store = Store::open(&Account::current(), false)?;
    let mut code = userns::exit::OK;
    for name in names {
        match store.lookup(name).and_then(|rec| each(&store, &rec, name)) {
            Ok(line) => crate::cli::render::out::println(line)?,
            Err(e) => {
                if names.len() == 1 {
                    return Err(e);
                }
                userns::note(&e);
                code = userns::exit::PROBLEMS;
            }
        }
    }
    Ok(code)
}

pub fn kill(args: KillArgs) -> Result<u8> {
    let signal = control::parse_signal(&args.signal)?;
    for_each(&args.containers, |store, rec, name| {
        control::kill(store, rec, signal)?;
        Ok(name.to_string())
    })
}

pub fn rm(args: RmArgs) -> Result<u8> {
    for_each(&args.containers, |store, rec, name| {
        control::remove(store, rec, args.force)?;
        Ok(name.to_string())
    })
}

pub fn wait(args: WaitArgs) -> Result<u8> {
    for_each(&args.containers, |store, rec, _| {
        control::wait(store, rec).map(|code| code.to_string())
    })
}
