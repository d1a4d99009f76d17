//! The environment inside, so that scripts written for `podman unshare` (and podman itself)
//! work unchanged: podman's `cmd/podman/system/unshare.go` sets these.

use crate::storage::StoragePaths;
use crate::users::Account;

/// Variables to set for a program run in the mapped namespace. Call it before entering
/// the namespace: `_CONTAINERS_ROOTLESS_GID` is the host's real gid (podman: os.Getgid()).
pub fn container_env(account: &Account) -> Vec<(String, String)> {
    let gid = nix::unistd::getgid().as_raw();
    let mut env = vec![
        (
            "_CONTAINERS_USERNS_CONFIGURED".to_string(),
            "done".to_string(),
        ),
        (
            "_CONTAINERS_ROOTLESS_UID".to_string(),
            account.uid.to_string(),
        ),
        ("_CONTAINERS_ROOTLESS_GID".to_string(), gid.to_string()),
    ];
    let storage = StoragePaths::discover(account);
    env.push((
        "CONTAINERS_GRAPHROOT".into(),
        storage.graphroot.display().to_string(),
    ));
    env.push((
        "CONTAINERS_RUNROOT".into(),
        storage.runroot.display().to_string(),
    ));
    env
}

/// Set them in this (single-threaded) process before exec.
pub(crate) fn apply(env: &[(String, String)]) {
    for (k, v) in env {
        std::env::set_var(k, v);
    }
}
