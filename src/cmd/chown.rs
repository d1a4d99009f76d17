//! `userns chown` (placeholder: being written).

use crate::cli::ChownArgs;
use crate::error::Result;

pub fn run(_args: ChownArgs) -> Result<u8> {
    todo!("userns chown")
}
