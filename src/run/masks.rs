//! The kernel files a container does not get: podman's default masked and read-only
//! paths (containers/common `DefaultMaskedPaths` and `DefaultReadOnlyPaths`, which runc
//! applies as the OCI spec's `maskedPaths` and `readonlyPaths`).
//!
//! Masking follows runc: a directory gets an empty read-only tmpfs over it, a file
//! /dev/null bound over it. Read-only paths are bound onto themselves and the new mount
//! made read-only. A path this kernel does not have is skipped, as runc skips it.
//! Everything runs in pid 1's mount namespace before pivot_root, so the host's /proc and
//! /sys are untouched.

use super::inroot;
use crate::error::{Error, Result};
use nix::mount::{mount, MsFlags};
use std::os::fd::BorrowedFd;

/// Hidden: key material, kernel memory, timing side channels, hardware details.
pub const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/sys/fs/selinux",
];

/// Readable but not writable: kernel settings and triggers.
pub const READ_ONLY: &[&str] = &[
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

fn mount_failed(what: &str, path: &str, e: impl Into<crate::error::Cause>) -> Error {
    Error::failure(format!("cannot {what} {path} in the container"))
        .because(e)
        .fix("podman masks the same paths; check that /proc and /sys are mounted as usual here")
}

/// Mask and protect the paths above under the container root `root` (an O_PATH
/// descriptor of the merged directory, with /proc and /sys already mounted).
pub fn apply(root: BorrowedFd<'_>) -> Result<()> {
    for path in MASKED {
        let Some(at) = existing(root, path)? else {
            continue;
        };
        let target = inroot::proc_fd(&at);
        let outcome = if inroot::is_dir(&at) {
            mount(
                Some("tmpfs"),
                target.as_str(),
                Some("tmpfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("size=0,mode=555"),
            )
        } else {
            mount(
                Some("/dev/null"),
                target.as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        };
        outcome.map_err(|e| mount_failed("mask", path, e))?;
    }
    for path in READ_ONLY {
        let Some(at) = existing(root, path)? else {
            continue;
        };
        let target = inroot::proc_fd(&at);
        mount(
            Some(target.as_str()),
            target.as_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| mount_failed("bind", path, e))?;
        // The bind is on top now: open the path again to reach the new mount.
        let top = inroot::open_path(root, path).map_err(|e| mount_failed("open", path, e))?;
        inroot::set_read_only(&top, true, path)?;
    }
    Ok(())
}

/// The path under the root, or None when this kernel has no such file.
fn existing(root: BorrowedFd<'_>, path: &str) -> Result<Option<std::os::fd::OwnedFd>> {
    match inroot::open_path(root, path) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(mount_failed("open", path, e)),
    }
}
