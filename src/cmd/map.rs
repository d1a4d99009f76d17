//! `userns map` (placeholder: being written).

use crate::cli::MapArgs;
use crate::error::Result;

pub fn run(_args: MapArgs) -> Result<u8> {
    todo!("userns map")
}
