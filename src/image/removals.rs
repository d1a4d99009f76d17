//! Files a pull's stage no longer needs, removed on threads of their own while the rest
//! of the install goes on: the stage is removed after the install anyway, and unlinking
//! bench/pull.sh's large image's 17 MiB blob and 18 MiB tar took 2 ms each at the end,
//! on the pull's critical path. Where no thread can start (after unshare(CLONE_NEWPID))
//! the files stay, and go with the stage.

use std::path::PathBuf;

/// Removals under way; each is awaited before this is dropped, so no thread of them
/// outlives the install.
#[derive(Default)]
pub(crate) struct Removals {
    removers: Vec<std::thread::JoinHandle<()>>,
}

impl Removals {
    /// Remove `files`, on a thread of their own.
    pub(crate) fn remove(&mut self, files: Vec<PathBuf>) {
        if files.is_empty() {
            return;
        }
        let remover = std::thread::Builder::new()
            .name("userns-removal".into())
            .spawn(move || {
                for file in files {
                    let _ = std::fs::remove_file(file);
                }
            });
        self.removers.extend(remover.ok());
    }

    /// Until every removal is done.
    pub(crate) fn wait(&mut self) {
        for remover in self.removers.drain(..) {
            let _ = remover.join();
        }
    }
}

impl Drop for Removals {
    fn drop(&mut self) {
        self.wait();
    }
}
