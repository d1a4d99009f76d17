//! A blob's bytes as they stream in: held in memory, within the pull's [`Budget`], rather
//! than written to the stage as they come.
//!
//! A compressed layer's bytes are needed only while they stream: the layer's tap keeps
//! its tar for the unpack (`layertap`), and once the blob's digest matched nothing reads
//! them again. Writing them anyway cost the 25 MiB image of bench/pull.sh a seventh of
//! its pull: 17 MiB through the page cache, and an fsync of the image record that then
//! had their allocated blocks to write out (ext4 data=ordered). So they are written only
//! when they are needed after all:
//! - the download broke off (the registry went away, the connection dropped), or the
//!   pull failed after it (another layer, the config, the namespace): what is held is
//!   written to the part or the blob, and the next pull resumes from it (`stage`);
//! - the budget is spent (big layers, many at once): from then on the part is written as
//!   the bytes come, as before, and a pull killed outright leaves it to resume from;
//! - the layer turned out plain (no compression): its blob is its tar, kept for the
//!   unpack.
//!
//! A pull killed outright (SIGKILL, a crash) loses what it held: those layers, at most
//! [`BUDGET`] bytes in all, start over on the next pull.

use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bytes one pull holds in memory at most, over all the layers downloading at once.
pub(crate) const BUDGET: u64 = 64 << 20;

/// What a pull holds now.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    held: AtomicU64,
}

impl Budget {
    /// Take `n` bytes of the budget, when they are left.
    fn take(&self, n: u64) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held + n <= BUDGET).then_some(held + n)
            })
            .is_ok()
    }

    fn give_back(&self, n: u64) {
        self.held.fetch_sub(n, Ordering::AcqRel);
    }

    #[cfg(test)]
    fn held(&self) -> u64 {
        self.held.load(Ordering::Acquire)
    }
}

/// A blob's part file (what an earlier pull left, then what the budget did not take)
/// and the bytes after it, held.
pub(crate) struct PartSink {
    budget: Arc<Budget>,
    pub(crate) file: File,
    held: Vec<u8>,
    /// Once one write went to the file, every later one does (the bytes stay in order).
    spilled: bool,
}

impl PartSink {
    /// `hold`: whether bytes may be held at all (a config or manifest is written).
    pub(crate) fn new(budget: Arc<Budget>, file: File, hold: bool) -> PartSink {
        PartSink {
            budget,
            file,
            held: Vec::new(),
            spilled: !hold,
        }
    }

    /// The next bytes of the blob.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if !self.spilled && self.budget.take(bytes.len() as u64) {
            self.held.extend_from_slice(bytes);
            return Ok(());
        }
        self.spill()?;
        self.file.write_all(bytes)
    }

    /// Write what is held to the part, after what is there: the blob is wanted on disk
    /// (kept, or to resume from).
    pub(crate) fn spill(&mut self) -> io::Result<()> {
        self.spilled = true;
        if self.held.is_empty() {
            return Ok(());
        }
        let written = self.file.write_all(&self.held);
        self.budget.give_back(self.held.len() as u64);
        self.held = Vec::new();
        written
    }

    /// Forget what was received (the part starts over, or the blob is not wanted).
    pub(crate) fn clear(&mut self) {
        self.budget.give_back(self.held.len() as u64);
        self.held = Vec::new();
    }
}

impl Drop for PartSink {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part() -> (tempfile::TempDir, std::path::PathBuf, File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.part");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        (dir, path, file)
    }

    #[test]
    fn bytes_are_held_within_the_budget_and_written_in_order_past_it() {
        let budget = Arc::new(Budget::default());
        let (_dir, path, file) = part();
        let mut sink = PartSink::new(budget.clone(), file, true);
        sink.write(b"first ").unwrap();
        assert_eq!(budget.held(), 6);
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        // Another blob takes all but 2 bytes of the budget: the next write spills.
        assert!(budget.take(BUDGET - 8));
        sink.write(b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first second");
        assert_eq!(budget.held(), BUDGET - 8);
        // Spilled once, on disk from then on, even with budget left.
        budget.give_back(BUDGET - 8);
        sink.write(b" third").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first second third");
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn what_is_held_is_given_back_when_dropped_and_written_only_when_spilled() {
        let budget = Arc::new(Budget::default());
        let (_dir, path, file) = part();
        let mut sink = PartSink::new(budget.clone(), file, true);
        sink.write(b"abc").unwrap();
        drop(sink);
        assert_eq!(budget.held(), 0);
        assert_eq!(std::fs::read(&path).unwrap(), b"");

        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let mut sink = PartSink::new(budget.clone(), file, true);
        sink.write(b"abc").unwrap();
        sink.spill().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        assert_eq!(budget.held(), 0);

        // Not held at all (a config): written as it comes.
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let mut sink = PartSink::new(budget.clone(), file, false);
        sink.write(b"def").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abcdef");
        assert_eq!(budget.held(), 0);
    }
}
