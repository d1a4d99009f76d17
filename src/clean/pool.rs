//! Several workers over one tree: each walks its share with the walker of `walk.rs`, and
//! hands subdirectories over while fewer are queued than there are workers, so that a
//! worker that finishes finds one ready instead of waiting until another meets its next
//! subdirectory (with only a handoff to a worker already waiting, in a tree of 100
//! directories of 1,000 files each, the second of two workers sat idle a third of the
//! time: the first was inside a leaf directory, where nothing can be handed over). Any `Visitor` can be run this way (removal, counting,
//! `whose -R`, `migrate`); the handing over is done here, by `Sharing`, which wraps it.

use super::fs::FileStat;
use super::report::Failure;
use super::walk::{walk, Place, Visitor, WalkOptions};
use std::collections::VecDeque;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// A subdirectory handed to another worker.
struct Job {
    parent: Arc<OwnedFd>,
    name: CString,
    /// What `name` was when it was handed over; the worker checks it is still that.
    st: FileStat,
    /// The job directory's parent path, for messages.
    dir: Vec<u8>,
}

/// The work queue the workers share.
struct Pool {
    state: Mutex<PoolState>,
    wake: Condvar,
    /// Workers waiting for a job, plus the reserve, minus jobs queued: > 0 means a
    /// handoff is welcome.
    hungry: AtomicUsize,
    /// Jobs kept queued ahead of need: one per worker. Each holds its parent directory
    /// open, so the reserve also bounds the descriptors handing over keeps.
    reserve: usize,
}

struct PoolState {
    jobs: VecDeque<Job>,
    active: usize,
    waiting: usize,
}

impl Pool {
    fn offer(&self, job: Job) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.jobs.push_back(job);
        self.update_hunger(&s);
        self.wake.notify_one();
    }

    fn update_hunger(&self, s: &PoolState) {
        self.hungry.store(
            (s.waiting + self.reserve).saturating_sub(s.jobs.len()),
            Ordering::Relaxed,
        );
    }

    /// The next job, or None when the queue is empty and nobody can add to it.
    fn take(&self) -> Option<Job> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            // The oldest first: nearest the root, so most likely the largest.
            if let Some(job) = s.jobs.pop_front() {
                s.active += 1;
                self.update_hunger(&s);
                return Some(job);
            }
            if s.active == 0 {
                self.wake.notify_all();
                return None;
            }
            s.waiting += 1;
            self.update_hunger(&s);
            s = self.wake.wait(s).unwrap_or_else(|p| p.into_inner());
            s.waiting -= 1;
            self.update_hunger(&s);
        }
    }

    fn done(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.active -= 1;
        if s.active == 0 && s.jobs.is_empty() {
            self.wake.notify_all();
        }
    }
}

/// A worker's visitor, with the handing over of subdirectories added.
struct Sharing<'p, V> {
    inner: V,
    pool: &'p Pool,
}

impl<V: Visitor> Visitor for Sharing<'_, V> {
    fn enter(&mut self, fd: BorrowedFd, st: &FileStat, path: &[u8]) -> bool {
        self.inner.enter(fd, st, path)
    }
    fn entry(&mut self, dir: BorrowedFd, at: Place, st: &FileStat) {
        self.inner.entry(dir, at, st)
    }
    fn leave(&mut self, parent: BorrowedFd, at: Place, st: &FileStat) {
        self.inner.leave(parent, at, st)
    }
    fn failed(&mut self, path: &[u8], reason: String) {
        self.inner.failed(path, reason)
    }
    fn other_filesystem(&mut self, parent: BorrowedFd, at: Place, st: &FileStat) {
        self.inner.other_filesystem(parent, at, st)
    }
    fn may_fix_modes(&self) -> bool {
        self.inner.may_fix_modes()
    }
    fn walk_done(&mut self) {
        self.inner.walk_done()
    }
    fn delegate(&mut self, parent: &Arc<OwnedFd>, at: Place, st: &FileStat, _depth: usize) -> bool {
        if self.pool.hungry.load(Ordering::Relaxed) == 0 {
            return false;
        }
        self.pool.offer(Job {
            parent: parent.clone(),
            name: at.name.to_owned(),
            st: *st,
            dir: at.dir.to_vec(),
        });
        true
    }
}

/// Walk the tree `name` of `parent` (which must still be the inode `expect`) with
/// `workers` threads, each visiting with a visitor of its own from `make`. Returns the
/// visitors, to be merged by the caller, and a failure for each worker that crashed.
pub(crate) fn walk_parallel<V, F>(
    parent: &Arc<OwnedFd>,
    name: &CStr,
    path: &[u8],
    expect: &FileStat,
    options: WalkOptions,
    workers: usize,
    make: F,
) -> (Vec<V>, Vec<Failure>)
where
    V: Visitor + Send,
    F: Fn() -> V + Sync,
{
    let pool = Pool {
        state: Mutex::new(PoolState {
            jobs: VecDeque::new(),
            active: 0,
            waiting: 0,
        }),
        wake: Condvar::new(),
        hungry: AtomicUsize::new(0),
        reserve: if workers > 1 { workers } else { 0 },
    };
    let dir = match path.iter().rposition(|&b| b == b'/') {
        Some(0) => b"/".to_vec(),
        Some(i) => path[..i].to_vec(),
        None => Vec::new(),
    };
    pool.offer(Job {
        parent: parent.clone(),
        name: name.to_owned(),
        st: *expect,
        dir,
    });
    let mut visitors = Vec::new();
    let mut crashed = Vec::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut sharing = Sharing {
                        inner: make(),
                        pool: &pool,
                    };
                    while let Some(job) = pool.take() {
                        let job_path = Place {
                            dir: &job.dir,
                            name: &job.name,
                        }
                        .path();
                        walk(
                            job.parent.as_fd(),
                            &job.name,
                            &job_path,
                            &job.st,
                            options,
                            &mut sharing,
                        );
                        pool.done();
                    }
                    sharing.inner
                })
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(v) => visitors.push(v),
                Err(_) => crashed.push(Failure {
                    path: path.to_vec(),
                    reason: "a worker crashed".into(),
                }),
            }
        }
    });
    (visitors, crashed)
}
