//! The container's filesystem, built by its pid 1 in a mount namespace of its own (so that
//! userns, outside, keeps the host's view to clean up): the root (an overlay over the
//! source, or the source itself), /proc, /dev, /sys, the /etc files, volumes; then
//! pivot_root. Every target inside the root is resolved with `inroot` (never through an
//! image's symlinks to the host).

use super::inroot::{self, Kind};
use super::spec::Volume;
use crate::error::{Error, Result};
use nix::mount::{mount, MsFlags};
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The overlay's writable layer (same filesystem, not itself on overlayfs).
#[derive(Debug, Clone)]
pub struct Layer {
    pub upper: PathBuf,
    pub work: PathBuf,
    /// Mount a tmpfs of the container's own here first and make upper and work in it (a
    /// layer thrown away at exit, the `--rm` default): it ends with the container's mount
    /// namespace, so nothing is left to delete, even after a kill -9, and creating and
    /// removing it costs no disk metadata (on ext4 ~2.4 ms a run). None: a kept layer
    /// (`--keep NAME`) on disk.
    pub tmpfs_at: Option<PathBuf>,
}

/// The private tmpfs of a thrown-away layer, with its upper and work directories.
fn mount_layer_tmpfs(layer: &Layer, at: &Path) -> Result<()> {
    let shown = at.display().to_string();
    mount_bytes(
        Some(OsStr::new("tmpfs")),
        at.as_os_str(),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(OsStr::new("mode=0700")),
        &format!("the container's writable layer (a tmpfs) on {shown}"),
    )?;
    for (dir, mode) in [(&layer.upper, 0o755), (&layer.work, 0o700)] {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(mode)
            .create(dir)
            .map_err(|e| Error::io("create", dir, &e))?;
    }
    Ok(())
}

/// Everything pid 1 needs to build the filesystem.
#[derive(Debug, Clone)]
pub struct RootfsPlan {
    /// The unpacked image or directory.
    pub source: PathBuf,
    /// None with --rootfs-rw: the source itself is the root.
    pub layer: Option<Layer>,
    /// The (empty) directory the root is mounted on.
    pub merged: PathBuf,
    /// Host files bind-mounted over /etc/hosts, /etc/hostname, /etc/resolv.conf.
    pub etc_files: Vec<(PathBuf, &'static str)>,
    pub volumes: Vec<Volume>,
    pub read_only: bool,
    /// The container has a network namespace of its own (a fresh sysfs may be mounted).
    pub own_netns: bool,
    /// Created when missing (podman creates a missing working directory).
    pub workdir: String,
}

fn failed(what: String, e: impl Into<crate::error::Cause>) -> Error {
    Error::failure(what).because(e)
}

/// `mount(2)` whose error names what was mounted where.
fn mount_at(
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    shown: &str,
) -> Result<()> {
    let os = |s: &str| OsStr::new(s).to_os_string();
    mount_bytes(
        source.map(os).as_deref(),
        OsStr::new(target),
        fstype,
        flags,
        data.map(os).as_deref(),
        shown,
    )
}

/// `mount_at` with paths and data as bytes: a host path need not be UTF-8.
fn mount_bytes(
    source: Option<&OsStr>,
    target: &OsStr,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&OsStr>,
    shown: &str,
) -> Result<()> {
    mount(source, target, fstype, flags, data)
        .map_err(|e| failed(format!("cannot mount {shown}"), e))
}

/// Escape a path for overlayfs's option string: `\`, `,` and `:` are its separators.
/// Bytes in, bytes out: the kernel takes the path as it is.
pub fn overlay_escape(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in path.as_os_str().as_bytes() {
        if matches!(b, b'\\' | b',' | b':') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// The overlay mount options; `userxattr` because a user namespace may not write the
/// trusted.* xattrs overlayfs uses otherwise (kernel 5.11 rootless overlay).
pub fn overlay_options(lower: &Path, layer: &Layer) -> OsString {
    let mut out = b"lowerdir=".to_vec();
    out.extend(overlay_escape(lower));
    out.extend(b",upperdir=");
    out.extend(overlay_escape(&layer.upper));
    out.extend(b",workdir=");
    out.extend(overlay_escape(&layer.work));
    out.extend(b",userxattr");
    OsString::from_vec(out)
}

/// Build the filesystem and pivot into it. Runs in pid 1, uid 0 of the user namespace.
pub fn build(plan: &RootfsPlan) -> Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| failed("cannot create the container's mount namespace".into(), e))?;
    crate::unshare::setup::make_mounts_private()?;
    let root = mount_root(plan)?;
    let r = root.as_fd();
    mount_proc(r)?;
    build_dev(r)?;
    build_sys(r, plan.own_netns)?;
    super::masks::apply(r)?;
    bind_etc_files(plan, r);
    bind_volumes(plan, r)?;
    inroot::ensure(r, &plan.workdir, Kind::Dir)?;
    if plan.read_only {
        seal_read_only(r)?;
    }
    pivot(&root)
}

/// Mount the container's root on `plan.merged` (an overlay with a writable layer, or a
/// bind of the source) and open it: everything after is placed through this descriptor.
fn mount_root(plan: &RootfsPlan) -> Result<OwnedFd> {
    let merged = plan.merged.display();
    if let Some((layer, at)) = plan
        .layer
        .as_ref()
        .and_then(|l| l.tmpfs_at.as_ref().map(|at| (l, at)))
    {
        mount_layer_tmpfs(layer, at)?;
    }
    match &plan.layer {
        Some(layer) => mount_bytes(
            Some(OsStr::new("overlay")),
            plan.merged.as_os_str(),
            Some("overlay"),
            MsFlags::empty(),
            Some(overlay_options(&plan.source, layer).as_os_str()),
            &format!("an overlay over {} on {merged}", plan.source.display()),
        )
        .map_err(|e| {
            e.fix(
                "rootless overlayfs needs Linux 5.11 or later, and upper and work dirs \
                   on one filesystem that is not itself overlayfs; or use --rootfs-rw",
            )
        })?,
        None => mount_bytes(
            Some(plan.source.as_os_str()),
            plan.merged.as_os_str(),
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
            &format!("{} on {merged}", plan.source.display()),
        )?,
    }
    let root = std::fs::File::open(&plan.merged)
        .map_err(|e| Error::io("open the container root", &plan.merged, &e))?;
    Ok(root.into())
}

/// A proc of the container's own pid namespace on /proc.
fn mount_proc(r: BorrowedFd<'_>) -> Result<()> {
    let proc_dir = inroot::ensure(r, "/proc", Kind::Dir)?;
    let nosuid_nodev_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount_at(
        Some("proc"),
        &inroot::proc_fd(&proc_dir),
        Some("proc"),
        nosuid_nodev_noexec,
        None,
        "/proc",
    )
    .map_err(|e| e.fix("the kernel allows a new proc only where a full /proc is visible"))
}

/// The host files over /etc/hosts, /etc/hostname and /etc/resolv.conf; one that
/// cannot be placed is warned about, not fatal.
fn bind_etc_files(plan: &RootfsPlan, r: BorrowedFd<'_>) {
    for (host, target) in &plan.etc_files {
        // An image whose /etc belongs to an id outside the map (a tree owned by the host's
        // root, say) cannot get a missing file created; it runs with its own, or none.
        if let Err(e) = bind(host, r, target, Kind::File, false) {
            crate::warn(format!("{target} not provided: {e}"));
        }
    }
}

/// The user's volumes, each a directory or a file as its host side is.
fn bind_volumes(plan: &RootfsPlan, r: BorrowedFd<'_>) -> Result<()> {
    for v in &plan.volumes {
        let kind = if v.host.is_dir() {
            Kind::Dir
        } else {
            Kind::File
        };
        bind(&v.host, r, &v.target, kind, v.read_only)?;
    }
    Ok(())
}

/// --read-only: the root becomes read-only, but for tmpfs scratch dirs over it.
fn seal_read_only(r: BorrowedFd<'_>) -> Result<()> {
    // podman's --read-only-tmpfs (on by default): the usual scratch dirs stay writable.
    for dir in ["/tmp", "/var/tmp", "/run"] {
        if let Ok(fd) = inroot::open(r, dir, libc::O_PATH | libc::O_DIRECTORY) {
            mount_at(
                Some("tmpfs"),
                &inroot::proc_fd(&fd),
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some("mode=1777"),
                dir,
            )?;
        }
    }
    inroot::set_read_only(
        &inroot::open_path(r, "/").map_err(|e| failed("cannot open /".into(), e))?,
        false,
        "the container root",
    )
}

/// Bind `host` onto `target` inside root (created as `kind` if missing), read-only if asked.
fn bind(
    host: &Path,
    root: BorrowedFd<'_>,
    target: &str,
    kind: Kind,
    read_only: bool,
) -> Result<()> {
    let at = inroot::ensure(root, target, kind)?;
    mount_bytes(
        Some(host.as_os_str()),
        OsStr::new(&inroot::proc_fd(&at)),
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
        &format!("{} on {target}", host.display()),
    )?;
    if read_only {
        // The descriptor still names the covered file: open the target again for the mount.
        let top = inroot::open_path(root, target)
            .map_err(|e| failed(format!("cannot open {target} inside the container"), e))?;
        inroot::set_read_only(&top, true, target)?;
    }
    Ok(())
}

/// /dev: a tmpfs with the host's harmless devices bound in (a user namespace may not
/// mknod), a private devpts, /dev/shm, /dev/mqueue and the usual symlinks, as podman.
fn build_dev(root: BorrowedFd<'_>) -> Result<()> {
    let at = inroot::ensure(root, "/dev", Kind::Dir)?;
    mount_at(
        Some("tmpfs"),
        &inroot::proc_fd(&at),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
        "a tmpfs on /dev",
    )?;
    let dev = inroot::open(root, "/dev", libc::O_PATH | libc::O_DIRECTORY)
        .map_err(|e| failed("cannot open the container's /dev".into(), e))?;
    let dev_path = inroot::proc_fd(&dev);
    for name in ["null", "zero", "full", "random", "urandom", "tty"] {
        let target = format!("{dev_path}/{name}");
        std::fs::File::create(&target)
            .map_err(|e| failed(format!("cannot create /dev/{name} in the container"), e))?;
        mount_at(
            Some(&format!("/dev/{name}")),
            &target,
            None,
            MsFlags::MS_BIND,
            None,
            &format!("/dev/{name}"),
        )?;
    }
    for (name, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
        ("core", "/proc/kcore"),
    ] {
        std::os::unix::fs::symlink(to, format!("{dev_path}/{name}"))
            .map_err(|e| failed(format!("cannot create the symlink /dev/{name}"), e))?;
    }
    for name in ["pts", "shm", "mqueue"] {
        std::fs::create_dir(format!("{dev_path}/{name}"))
            .map_err(|e| failed(format!("cannot create /dev/{name}"), e))?;
    }
    let pts = format!("{dev_path}/pts");
    // gid=5 is the tty group of most images (podman passes it too); the mount fails when
    // gid 5 is not mapped, so fall back to the mounter's group then.
    let devpts = |data: &str| {
        mount(
            Some("devpts"),
            pts.as_str(),
            Some("devpts"),
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some(data),
        )
    };
    devpts("newinstance,ptmxmode=0666,mode=0620,gid=5")
        .or_else(|_| devpts("newinstance,ptmxmode=0666,mode=0620"))
        .map_err(|e| failed("cannot mount a devpts on /dev/pts".into(), e))?;
    mount_at(
        Some("shm"),
        &format!("{dev_path}/shm"),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=1777,size=65536k"),
        "a tmpfs on /dev/shm",
    )?;
    // mqueue belongs to the IPC namespace, which is ours: a fresh one may be mounted.
    mount_at(
        Some("mqueue"),
        &format!("{dev_path}/mqueue"),
        Some("mqueue"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None,
        "/dev/mqueue",
    )
}

/// /sys, read-only. A fresh sysfs shows the network devices of the mounter's network
/// namespace, and the kernel allows it only when that namespace belongs to our user
/// namespace; with the host's network, bind the host's /sys instead.
fn build_sys(root: BorrowedFd<'_>, own_netns: bool) -> Result<()> {
    let at = inroot::ensure(root, "/sys", Kind::Dir)?;
    let target = inroot::proc_fd(&at);
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if own_netns {
        mount_at(
            Some("sysfs"),
            &target,
            Some("sysfs"),
            flags | MsFlags::MS_RDONLY,
            None,
            "a sysfs on /sys",
        )
    } else {
        mount_at(
            Some("/sys"),
            &target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
            "the host's /sys on /sys",
        )?;
        let top = inroot::open_path(root, "/sys")
            .map_err(|e| failed("cannot open /sys inside the container".into(), e))?;
        inroot::set_read_only(&top, true, "/sys")
    }
}

/// pivot_root(".", ".") then detach the old root, which then sits on top of the new one
/// (the trick runc uses: no put_old directory needed in a read-only image).
fn pivot(root: &OwnedFd) -> Result<()> {
    nix::unistd::fchdir(root).map_err(|e| failed("cannot enter the container root".into(), e))?;
    nix::unistd::pivot_root(".", ".")
        .map_err(|e| failed("cannot pivot_root into the container root".into(), e))?;
    nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH)
        .map_err(|e| failed("cannot detach the host's root".into(), e))?;
    nix::unistd::chdir("/").map_err(|e| failed("cannot change to /".into(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_options_escape_separators() {
        let layer = Layer {
            upper: "/r/u".into(),
            work: "/r/w".into(),
            tmpfs_at: None,
        };
        assert_eq!(
            overlay_options(Path::new("/img/a,b:c"), &layer),
            OsString::from("lowerdir=/img/a\\,b\\:c,upperdir=/r/u,workdir=/r/w,userxattr")
        );
    }
}
