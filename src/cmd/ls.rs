//! `userns ls` (placeholder: being written).

use crate::cli::LsArgs;
use crate::error::Result;

pub fn run(_args: LsArgs) -> Result<u8> {
    todo!("userns ls")
}
