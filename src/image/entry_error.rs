//! Why one entry of a layer was not applied, shared by the unpacker (`layer`), the
//! whiteouts it applies (`whiteout`) and the thread that finishes its files (`finisher`),
//! and the one message that names the entry, its layer, the cause and the fix.

use super::limits::Refusal;
use crate::error::Error;
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

impl EntryError {
    /// The error that stops the unpack: the entry `shown` of the layer `label`, why, and
    /// the fix when one can be told.
    pub(crate) fn naming(self, shown: &str, label: &str) -> Error {
        let what = format!("cannot unpack {shown:?} of {label}");
        match self {
            EntryError::Refused { cause, fix } => Error::failure(what).because(cause).fix(fix),
            EntryError::Io(e) => {
                let fix = io_fix(&e);
                let e = Error::failure(what).because(&e);
                match fix {
                    Some(fix) => e.fix(fix),
                    None => e,
                }
            }
        }
    }
}

/// The fix for an I/O error while unpacking an entry, when one can be told. (Errors given
/// context keep their kind but lose their errno, hence the kinds and the text.)
fn io_fix(e: &io::Error) -> Option<&'static str> {
    let text = e.to_string();
    if text.contains("Invalid argument") && text.contains("chown") {
        return Some(
            "the image uses ids your namespace does not map: give yourself a larger \
             subordinate range (userns subid add), or run inside `userns unshare`",
        );
    }
    match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Some(
            "free space on the image cache's file system, or keep the cache on one with room \
             (XDG_DATA_HOME=/path/with/room userns run ...)",
        ),
        io::ErrorKind::UnexpectedEof => {
            Some("the archive is damaged or truncated: save the image again")
        }
        io::ErrorKind::InvalidData => {
            Some("the layer is damaged or hostile: save the image again, or do not use it")
        }
        _ => None,
    }
}
