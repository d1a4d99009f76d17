//! JSON output for `--json`.

use userns::error::{Error, Result};

/// Print a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::failure("cannot encode JSON output").because(e))?;
    super::out::println(text)
}
