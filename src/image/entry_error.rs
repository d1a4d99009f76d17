//! Why one entry of a layer was not applied, shared by the unpacker (`layer`) and the
//! whiteouts it applies (`whiteout`).

use super::limits::Refusal;
use std::io;

/// Why an entry was not applied: the file system said no, or the entry itself is refused.
pub(crate) enum EntryError {
    Io(io::Error),
    Refused { cause: String, fix: String },
}

impl From<io::Error> for EntryError {
    fn from(e: io::Error) -> Self {
        EntryError::Io(e)
    }
}

impl From<Refusal> for EntryError {
    fn from(r: Refusal) -> Self {
        EntryError::Refused {
            cause: r.cause,
            fix: r.fix,
        }
    }
}
