//! `userns enter` (placeholder: being written).

use crate::cli::EnterArgs;
use crate::error::Result;

pub fn run(_args: EnterArgs) -> Result<u8> {
    todo!("userns enter")
}
