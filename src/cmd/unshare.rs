//! `userns unshare` (placeholder: being written).

use crate::cli::UnshareArgs;
use crate::error::Result;

pub fn run(_args: UnshareArgs) -> Result<u8> {
    todo!("userns unshare")
}
