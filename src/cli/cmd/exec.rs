//! `userns exec CONTAINER COMMAND...`: find the container in the user's store, then
//! `userns::container::exec`.

use crate::cli::args::ExecArgs;
use userns::container::exec::ExecOptions;
use userns::container::Store;
use userns::error::Result;
use userns::users::Account;

pub fn run(args: ExecArgs) -> Result<u8> {
    // Only the uid and home decide where the store is: no passwd lookup needed.
    let account = Account::current_ids_and_home().unwrap_or_else(Account::current);
    let record = Store::open(&account, false)?.lookup(&args.container)?;
    let options = ExecOptions {
        interactive: args.interactive,
        tty: args.tty,
        user: args.user,
        env: args.env,
        env_file: args.env_file,
        workdir: args.workdir,
        command: args.command,
    };
    userns::container::exec::exec(&record, &options)
}
