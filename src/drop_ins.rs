//! Drop-in directories of podman's configuration files (containers-common): a
//! `NAME.conf.d` beside `NAME.conf` whose `*.conf` files are read in name order, each
//! over the ones before (containers.conf(5), containers-registries.conf.d(5)).

use std::path::{Path, PathBuf};

/// The `*.conf` files of a drop-in directory, in name order; none when it cannot be read.
pub(crate) fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    files
}
