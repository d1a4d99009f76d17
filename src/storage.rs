//! Where rootless container storage lives, found as containers/storage finds it.

use crate::users::Account;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoragePaths {
    pub graphroot: PathBuf,
    pub runroot: PathBuf,
}

impl StoragePaths {
    /// The defaults of containers/storage for a rootless user: graphroot
    /// `$XDG_DATA_HOME/containers/storage` (else `~/.local/share/containers/storage`),
    /// runroot `$XDG_RUNTIME_DIR/containers` (else `/tmp/storage-run-UID/containers`).
    pub fn discover(account: &Account) -> StoragePaths {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .or_else(|| account.home.clone())
            .unwrap_or_else(|| PathBuf::from("/"));
        let data = std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".local/share"));
        let runroot = std::env::var_os("XDG_RUNTIME_DIR")
            .filter(|v| !v.is_empty())
            .map(|d| PathBuf::from(d).join("containers"))
            .unwrap_or_else(|| {
                PathBuf::from(format!("/tmp/storage-run-{}/containers", account.uid))
            });
        StoragePaths {
            graphroot: data.join("containers/storage"),
            runroot,
        }
    }
}
