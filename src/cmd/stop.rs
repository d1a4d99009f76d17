//! `userns stop` (placeholder: being written).

use crate::cli::StopArgs;
use crate::error::Result;

pub fn run(_args: StopArgs) -> Result<u8> {
    todo!("userns stop")
}
