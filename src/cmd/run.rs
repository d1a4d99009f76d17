//! `userns run` (placeholder: being written).

use crate::cli::RunArgs;
use crate::error::Result;

pub fn run(_args: RunArgs) -> Result<u8> {
    todo!("userns run")
}
