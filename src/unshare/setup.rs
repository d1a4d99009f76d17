//! What the new namespaces need once the process is mapped: private mount propagation,
//! a hostname, loopback up, a fresh /proc.

use crate::error::{Error, Result};
use nix::mount::{mount, MsFlags};

/// Make every mount private, as util-linux `unshare --mount` does by default
/// (`--propagation private`): mounts made inside must not leak to the host, and the
/// host's must not appear inside halfway through.
pub(crate) fn make_mounts_private() -> Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| Error::failure("cannot make mounts private in the new mount namespace").because(e))
}

/// Mount a proc for the new pid namespace (run in its pid 1).
pub(crate) fn mount_proc() -> Result<()> {
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| {
        Error::failure("cannot mount /proc in the new pid namespace")
            .because(e)
            .fix("the kernel allows it only where a full /proc is already visible (not under a masked /proc of a container)")
    })
}

pub(crate) fn set_hostname(name: &str) -> Result<()> {
    nix::unistd::sethostname(name).map_err(|e| {
        Error::usage(format!("cannot set hostname {name:?}"))
            .because(e)
            .fix("give a name of at most 64 bytes")
    })
}

/// Bring up `lo` in the new network namespace (it starts down, so even 127.0.0.1 fails).
pub(crate) fn loopback_up() -> Result<()> {
    let fail = |e: nix::errno::Errno| {
        Error::failure("cannot bring up the loopback interface in the new network namespace")
            .because(e)
    };
    // SAFETY: a plain socket and SIOCGIFFLAGS/SIOCSIFFLAGS on a zeroed, NUL-terminated ifreq.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return Err(fail(nix::errno::Errno::last()));
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo\0".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        let mut result = Ok(());
        if libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) < 0 {
            result = Err(fail(nix::errno::Errno::last()));
        } else {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            if libc::ioctl(sock, libc::SIOCSIFFLAGS, &req) < 0 {
                result = Err(fail(nix::errno::Errno::last()));
            }
        }
        libc::close(sock);
        result
    }
}
