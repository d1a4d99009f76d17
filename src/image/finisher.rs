//! The finisher: a second thread of one layer's unpack that completes the regular files
//! the walking thread ([`super::layer`]) has just created, so that the walk does not wait
//! for each file's data and metadata to reach the file system.
//!
//! The walker keeps every operation that makes, removes or resolves a name, in archive
//! order (creation, directories, links, whiteouts, the kept parent, the limits): what a
//! path means, which paths were named twice and that nothing lands outside the root
//! ([`super::beneath`]) stay its alone. It hands over only an open descriptor of a file it
//! created beneath the root, with what remains to do to it, in the order the serial
//! unpack did it: the data (or none, when the walker wrote it), then the owner (chown
//! clears setuid bits), the mode, the extended attributes (chown clears file
//! capabilities), the times. The finisher never opens anything by path: whatever a later
//! entry does to the file's name (replaces its directory with a symlink, whites it out,
//! links to it), the finisher writes the same inode the serial unpack wrote, and the
//! tree comes out the same. Before the limits ask the file system for its free space
//! again ([`super::limits`]), the walker waits for what it handed over to land
//! ([`Finisher::drain`]), so that the check sees what the serial unpack saw.
//!
//! Jobs wait in a queue bounded in count (each holds a descriptor) and in bytes of data
//! (small files travel as bytes, see [`CARRIED_MAX`]). The first failure stops the
//! finisher, drops what waits (the unpack fails and its tree is discarded) and is seen by
//! the walker before its next entry; it is reported, as the serial unpack would have
//! reported it, naming the file. The thread is scoped to one layer's unpack and joined at
//! its end, on success and on error: nothing of it outlives the unpack. (After the join
//! the kernel may take a moment more to drop the thread from the process; no caller needs
//! a single-threaded process after an unpack: the user namespace is entered before it,
//! and what follows forks.)
//!
//! Where the kernel refuses a thread (after unshare(CLONE_NEWPID) no thread may be made:
//! `userns run` unpacks before it for that reason), and with `USERNS_UNPACK_SERIAL=1`,
//! every file is finished on the walking thread as it is created, exactly as before the
//! finisher existed: to compare the two, and a way out should a file system ever mind.

use super::beneath;
use super::xattrs::{self, Xattr};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::{Scope, ScopedJoinHandle};

/// A file of at most this many bytes travels to the finisher as bytes read from the
/// layer; a larger one is written by the walker, which hands over only its metadata.
/// Nearly all files of an image are below it (and they are what costs: a system call or
/// more per file), and copying their bytes once more costs less than writing them; above
/// it the write itself dominates, and one such file fills a good part of the bytes the
/// queue may hold, so carrying it would leave the walker waiting on the queue instead.
pub(crate) const CARRIED_MAX: u64 = 1 << 20;

/// The most bytes of data waiting in the queue (as many again may be in the finisher's
/// hands): memory stays small on any layer.
const MAX_BYTES: usize = 8 << 20;

/// The most jobs waiting (each holds an open file), unless the descriptor limit is low;
/// as many again may be running in the finisher's hands.
const MAX_JOBS: usize = 64;

/// The walker hands jobs over this many at a time (or a quarter of `MAX_BYTES`).
const BATCH: usize = 16;

const SERIAL_VAR: &str = "USERNS_UNPACK_SERIAL";

/// Set once the kernel refused a thread: after unshare(CLONE_NEWPID) it refuses every
/// new thread (EINVAL: copy_process will not put a thread
/// in a pid namespace other than its process's), so later layers do not ask again.
static NO_THREADS: AtomicBool = AtomicBool::new(false);

/// What remains to do to a regular file the walker created.
pub(crate) struct Job {
    pub(crate) file: File,
    /// The entry's path as the archive gives it, for the error that names it.
    pub(crate) shown: String,
    /// Its data, when the walker did not write it.
    pub(crate) data: Vec<u8>,
    /// The owner to give it, when a new file does not get it already.
    pub(crate) owner: Option<(u32, u32)>,
    /// The mode to give it, when a new file does not get it already.
    pub(crate) mode: Option<u32>,
    pub(crate) attrs: Vec<Xattr>,
    pub(crate) mtime: i64,
}

impl Job {
    /// Finish the file: data, owner, mode, attributes, time, in that order.
    fn run(self, xattrs_skipped: &mut u64) -> Result<(), Failure> {
        let Job {
            mut file,
            shown,
            data,
            owner,
            mode,
            attrs,
            mtime,
        } = self;
        let done = (|| {
            file.write_all(&data)?;
            if let Some((uid, gid)) = owner {
                set_owner(file.as_fd(), uid, gid)?;
            }
            if let Some(mode) = mode {
                beneath::fchmod(file.as_fd(), mode)?;
            }
            xattrs::apply(file.as_fd(), &attrs, xattrs_skipped)?;
            beneath::set_times(file.as_fd(), mtime)
        })();
        done.map_err(|error| Failure { shown, error })
    }
}

/// Give an open file its owner, with the ids in the error (`io_fix` reads "chown").
pub(crate) fn set_owner(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    beneath::fchown(fd, uid, gid)
        .map_err(|e| io::Error::new(e.kind(), format!("chown to {uid}:{gid}: {e}")))
}

/// The first job that failed: the file it named and why.
pub(crate) struct Failure {
    pub(crate) shown: String,
    pub(crate) error: io::Error,
}

/// The queue between the walker and the finisher, made before the thread's scope. Both
/// ends move jobs in batches: a lock taken (and, when the other end sleeps, a wake-up)
/// for every file would cost about what finishing a small file does.
#[derive(Default)]
pub(crate) struct Queue {
    state: Mutex<State>,
    /// Jobs came, or the walker is done: for the finisher.
    has_jobs: Condvar,
    /// The finisher took what waited, went idle or stopped: for the walker.
    has_room: Condvar,
    /// Set with `State::failure`, read by the walker before every entry without a lock.
    failed: AtomicBool,
}

#[derive(Default)]
struct State {
    /// Jobs waiting, in archive order; the finisher takes them all at once.
    jobs: Vec<Job>,
    bytes: usize,
    /// The finisher is running jobs it took.
    busy: bool,
    /// The walker hands over nothing more.
    closed: bool,
    /// The finisher stopped (on a failure, or when the queue closed).
    stopped: bool,
    failure: Option<Failure>,
    xattrs_skipped: u64,
    /// The most jobs waiting (`MAX_JOBS`, or less when the descriptor limit is low).
    max_jobs: usize,
    finisher_waits: bool,
    walker_waits: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held left nothing half-changed that matters here.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The finisher's loop: take every job waiting, run them in order, until the queue
    /// closes or one fails.
    fn work(&self) {
        let mut skipped = 0;
        let mut batch = Vec::new();
        let mut state = self.lock();
        loop {
            state.busy = false;
            while state.jobs.is_empty() {
                if state.walker_waits {
                    self.has_room.notify_one();
                }
                if state.closed {
                    state.stopped = true;
                    state.xattrs_skipped += skipped;
                    return;
                }
                state.finisher_waits = true;
                state = self.has_jobs.wait(state).unwrap_or_else(|p| p.into_inner());
                state.finisher_waits = false;
            }
            std::mem::swap(&mut batch, &mut state.jobs);
            state.bytes = 0;
            state.busy = true;
            if state.walker_waits {
                self.has_room.notify_one();
            }
            drop(state);
            let mut failed = None;
            for job in batch.drain(..) {
                if let Err(failure) = job.run(&mut skipped) {
                    // The jobs after it are dropped with the drain: their files closed.
                    failed = Some(failure);
                    break;
                }
            }
            state = self.lock();
            if let Some(failure) = failed {
                state.failure = Some(failure);
                state.jobs.clear();
                state.bytes = 0;
                state.busy = false;
                state.stopped = true;
                state.xattrs_skipped += skipped;
                self.failed.store(true, Ordering::Release);
                self.has_room.notify_one();
                return;
            }
        }
    }

    /// Queue the walker's `pending` jobs (`bytes` of data) once there is room; dropped
    /// when the finisher stopped on a failure (the walker stops at its next entry and
    /// reports that failure).
    fn push(&self, pending: &mut Vec<Job>, bytes: usize) {
        let mut state = self.lock();
        while !state.stopped
            && !state.jobs.is_empty()
            && (state.jobs.len() + pending.len() > state.max_jobs
                || state.bytes + bytes > MAX_BYTES)
        {
            state = self.wait_for_room(state);
        }
        if state.stopped {
            pending.clear();
            return;
        }
        state.bytes += bytes;
        state.jobs.append(pending);
        if state.finisher_waits {
            self.has_jobs.notify_one();
        }
    }

    /// Wait until the finisher took what waits, went idle or stopped.
    fn wait_for_room<'q>(&'q self, mut state: MutexGuard<'q, State>) -> MutexGuard<'q, State> {
        state.walker_waits = true;
        let mut state = self.has_room.wait(state).unwrap_or_else(|p| p.into_inner());
        state.walker_waits = false;
        state
    }

    /// A bug made the finisher panic: stop as on a failure, so that the walker does not
    /// wait for room forever and the unpack fails rather than leave a file unfinished.
    fn stop_after_panic(&self) {
        let mut state = self.lock();
        state.failure.get_or_insert_with(|| Failure {
            shown: "a file of the layer".into(),
            error: io::Error::other("the thread finishing its files failed"),
        });
        state.jobs.clear();
        state.stopped = true;
        self.failed.store(true, Ordering::Release);
        self.has_room.notify_one();
    }

    fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        self.has_jobs.notify_one();
    }
}

/// What the finisher of one layer did: the attributes it skipped and its failure.
pub(crate) struct Finished {
    pub(crate) xattrs_skipped: u64,
    pub(crate) failure: Option<Failure>,
}

/// The walker's end of the finisher.
pub(crate) struct Finisher<'scope, 'env> {
    scope: &'scope Scope<'scope, 'env>,
    queue: &'env Queue,
    /// Started with the first job (a layer without regular files needs no thread).
    thread: Option<ScopedJoinHandle<'scope, ()>>,
    /// Finish every file on the walking thread (USERNS_UNPACK_SERIAL, or no thread could
    /// be started).
    serial: bool,
    /// What the serial way skipped.
    xattrs_skipped: u64,
    /// Jobs not queued yet, and their bytes of data: handed over in batches.
    pending: Vec<Job>,
    pending_bytes: usize,
    /// How many jobs are handed over at once (fewer when the descriptor limit is low).
    batch: usize,
}

/// Whether an unpack runs on its one thread: `USERNS_UNPACK_SERIAL=1`, or the kernel
/// refused a thread already.
pub(crate) fn serial() -> bool {
    std::env::var_os(SERIAL_VAR).is_some_and(|v| v == "1") || NO_THREADS.load(Ordering::Relaxed)
}

impl<'scope, 'env> Finisher<'scope, 'env> {
    pub(crate) fn new(scope: &'scope Scope<'scope, 'env>, queue: &'env Queue) -> Self {
        let serial = serial();
        // Each waiting job holds a descriptor: leave most of the limit to the rest.
        let max_jobs = (crate::sys::fs::fd_limit() / 8).clamp(1, MAX_JOBS as u64) as usize;
        queue.lock().max_jobs = max_jobs;
        Finisher {
            scope,
            queue,
            thread: None,
            serial,
            xattrs_skipped: 0,
            pending: Vec::new(),
            pending_bytes: 0,
            batch: BATCH.min(max_jobs),
        }
    }

    /// Hand a file over. Serially the job runs here and its failure is returned (as the
    /// entry's error, as before); otherwise a failure is the finisher's to report.
    pub(crate) fn hand(&mut self, job: Job) -> io::Result<()> {
        if self.thread.is_none() && !self.serial {
            let queue = self.queue;
            let work = move || {
                let worked =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| queue.work()));
                if worked.is_err() {
                    queue.stop_after_panic();
                }
            };
            match std::thread::Builder::new()
                .name("userns-finisher".into())
                .spawn_scoped(self.scope, work)
            {
                Ok(handle) => self.thread = Some(handle),
                // No thread to be had (a new pid namespace, a pids limit): the files are
                // finished here, as they were before the finisher.
                Err(_) => {
                    NO_THREADS.store(true, Ordering::Relaxed);
                    self.serial = true;
                }
            }
        }
        if self.serial {
            return job
                .run(&mut self.xattrs_skipped)
                .map_err(|failure| failure.error);
        }
        self.pending_bytes += job.data.len();
        self.pending.push(job);
        if self.pending.len() >= self.batch || self.pending_bytes >= MAX_BYTES / 4 {
            self.flush();
        }
        Ok(())
    }

    /// Queue the jobs handed over and not queued yet.
    fn flush(&mut self) {
        if !self.pending.is_empty() {
            self.queue.push(&mut self.pending, self.pending_bytes);
            self.pending_bytes = 0;
        }
    }

    /// Whether the finisher stopped on a failure: the walker stops too.
    pub(crate) fn failed(&self) -> bool {
        self.queue.failed.load(Ordering::Acquire)
    }

    /// Wait until every file handed over is finished (or the finisher failed): for a
    /// step that must see the file system as the serial unpack would (the free space).
    pub(crate) fn drain(&mut self) {
        if self.thread.is_none() {
            return;
        }
        self.flush();
        let mut state = self.queue.lock();
        while !state.stopped && (state.busy || !state.jobs.is_empty()) {
            state = self.queue.wait_for_room(state);
        }
    }

    /// Close the queue, let the finisher finish what waits, and join it.
    pub(crate) fn join(mut self) -> Finished {
        self.flush();
        self.queue.close();
        if let Some(thread) = self.thread.take() {
            // It catches its own panics (`Queue::stop_after_panic`).
            let _ = thread.join();
        }
        let mut state = self.queue.lock();
        Finished {
            xattrs_skipped: self.xattrs_skipped + state.xattrs_skipped,
            failure: state.failure.take(),
        }
    }
}

impl Drop for Finisher<'_, '_> {
    /// Should the walker unwind without `join`, the finisher still ends (the scope joins it).
    fn drop(&mut self) {
        self.queue.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::fs::MetadataExt;

    fn job(dir: &std::path::Path, i: usize, attrs: Vec<Xattr>) -> Job {
        let path = dir.join(format!("f{i}"));
        Job {
            file: File::create(&path).unwrap(),
            shown: format!("f{i}"),
            data: format!("file {i}").into_bytes(),
            owner: None,
            mode: Some(0o640),
            attrs,
            mtime: 1_000_000 + i as i64,
        }
    }

    /// Hand `jobs` to a finisher thread and join it.
    fn finish_all(jobs: impl Iterator<Item = Job>) -> Finished {
        let queue = Queue::default();
        std::thread::scope(|scope| {
            let mut finisher = Finisher::new(scope, &queue);
            finisher.serial = false;
            for j in jobs {
                finisher.hand(j).unwrap();
            }
            assert!(finisher.thread.is_some(), "a thread of its own");
            finisher.join()
        })
    }

    #[test]
    fn every_file_handed_over_is_finished_when_join_returns() {
        let dir = std::env::temp_dir().join(format!("userns-finisher-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let finished = finish_all((0..1000).map(|i| job(&dir, i, Vec::new())));
        assert!(finished.failure.is_none());
        for i in 0..1000 {
            let path = dir.join(format!("f{i}"));
            let m = std::fs::metadata(&path).unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("file {i}"));
            assert_eq!(
                (m.mode() & 0o7777, m.mtime()),
                (0o640, 1_000_000 + i as i64)
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_first_failure_names_its_file_and_the_files_before_it_are_finished() {
        let dir = std::env::temp_dir().join(format!("userns-finisher-f-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A name longer than XATTR_NAME_MAX: ERANGE, which no rule skips.
        let bad = || Xattr {
            name: CString::new(format!("user.{}", "n".repeat(300))).unwrap(),
            value: b"v".to_vec(),
        };
        let jobs = (0..600).map(|i| match i {
            300 | 450 => job(&dir, i, vec![bad()]),
            _ => job(&dir, i, Vec::new()),
        });
        let finished = finish_all(jobs);
        let failure = finished.failure.expect("the unpack fails");
        assert_eq!(failure.shown, "f300");
        assert!(
            failure.error.to_string().contains("set the attribute"),
            "{}",
            failure.error
        );
        for i in 0..300 {
            let m = std::fs::metadata(dir.join(format!("f{i}"))).unwrap();
            assert_eq!(m.mtime(), 1_000_000 + i as i64, "f{i} was finished");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
