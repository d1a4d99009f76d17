//! `userns translate` (placeholder: being written).

use crate::cli::TranslateArgs;
use crate::error::Result;

pub fn run(_args: TranslateArgs) -> Result<u8> {
    todo!("userns translate")
}
