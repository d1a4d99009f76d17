//! `userns images` (placeholder: being written).

use crate::cli::ImagesArgs;
use crate::error::Result;

pub fn run(_args: ImagesArgs) -> Result<u8> {
    todo!("userns images")
}
