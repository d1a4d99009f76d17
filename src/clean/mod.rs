//! Remove or re-own trees that belong to the user's subordinate ids, from inside the
//! mapped namespace, without ever leaving the tree given (see `walk.rs`).

pub mod chown;
pub mod fs;
pub mod guard;
pub mod in_use;
pub mod owners;
pub(crate) mod pool;
pub mod remove;
pub mod report;
pub mod target;
pub mod walk;

/// Descriptors kept free for everything else (stdio, the walks' anchors, helpers).
const FD_RESERVE: u64 = 64;

/// How many directory descriptors each of `walkers` concurrent walks may hold, after
/// raising RLIMIT_NOFILE to its hard limit.
pub fn fd_budget(walkers: usize) -> usize {
    let limit = fs::raise_fd_limit();
    let per = limit.saturating_sub(FD_RESERVE) / walkers.max(1) as u64;
    (per as usize).max(8)
}

/// Worker threads of a parallel walk: one per core (up to 8); `USERNS_CLEAN_WORKERS`
/// overrides it, to measure what parallel walks gain on a given filesystem.
pub fn workers() -> usize {
    std::env::var("USERNS_CLEAN_WORKERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| (1..=64).contains(n))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get().min(8)))
}
