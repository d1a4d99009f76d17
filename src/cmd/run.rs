//! `userns run`: a thin layer over `crate::run`.

use crate::cli::RunArgs;
use crate::error::Result;

pub fn run(args: RunArgs) -> Result<u8> {
    crate::run::run(&args)
}
