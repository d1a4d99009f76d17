//! `userns logs [-f] [--tail N] NAME|ID`: a detached container's output.

use crate::cli::args::LogsArgs;
use userns::container::{follow, Store};
use userns::error::Result;
use userns::users::Account;

pub fn run(args: LogsArgs) -> Result<u8> {
    let store = Store::open(&Account::current(), false)?;
    let rec = store.lookup(&args.container)?;
    let (mut stdout, mut stderr) = (std::io::stdout().lock(), std::io::stderr().lock());
    let mut out = follow::Output {
        stdout: &mut stdout,
        stderr: &mut stderr,
    };
    follow::print(&store, &rec, args.tail, args.follow, &mut out)?;
    Ok(userns::exit::OK)
}
