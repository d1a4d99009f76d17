//! `userns stat` (placeholder: being written).

use crate::cli::StatArgs;
use crate::error::Result;

pub fn run(_args: StatArgs) -> Result<u8> {
    todo!("userns stat")
}
