//! `userns clean` (placeholder: being written).

use crate::cli::CleanArgs;
use crate::error::Result;

pub fn run(_args: CleanArgs) -> Result<u8> {
    todo!("userns clean")
}
