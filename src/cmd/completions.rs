//! `userns completions` (placeholder: being written).

use crate::cli::CompletionsArgs;
use crate::error::Result;

pub fn run(_args: CompletionsArgs) -> Result<u8> {
    todo!("userns completions")
}
