//! `-t`: the container's stdio is a pseudo-terminal of its own devpts, as runc makes it.
//!
//! pid 1 opens /dev/ptmx inside the container (after pivot_root, so the terminal lives
//! in the container's devpts and `tty` names it), gives the slave to the user, makes it
//! stdin/stdout/stderr and its controlling terminal (TIOCSCTTY after setsid), and sends
//! the master to userns over a socket (SCM_RIGHTS); it is bound over /dev/console too.
//! userns puts its own terminal in raw mode and relays bytes both ways, and passes
//! window-size changes on (SIGWINCH → TIOCSWINSZ on the master; the kernel then signals
//! the container's foreground group).

use super::user::ExecUser;
use crate::error::{Error, Result};
use crate::unshare::supervise::Pid1;
use crate::unshare::Program;
use nix::errno::Errno;
use nix::sys::socket::{self, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// The supervisor's side of the terminal hand-over.
#[derive(Debug)]
pub(crate) struct Terminal {
    ours: OwnedFd,
    theirs: Option<OwnedFd>,
}

fn fail(what: &str, e: impl Into<crate::error::Cause>) -> Error {
    Error::failure(what.to_string()).because(e)
}

/// The window size of the caller's terminal (stdin, else stdout), if it has one.
fn caller_winsize() -> Option<libc::winsize> {
    let size = rustix::termios::tcgetwinsize(std::io::stdin())
        .or_else(|_| rustix::termios::tcgetwinsize(std::io::stdout()))
        .ok()?;
    Some(libc::winsize {
        ws_row: size.ws_row,
        ws_col: size.ws_col,
        ws_xpixel: size.ws_xpixel,
        ws_ypixel: size.ws_ypixel,
    })
}

/// TIOCSWINSZ on the terminal `fd` (tty_ioctl(4)).
fn set_winsize(fd: impl std::os::fd::AsFd, ws: &libc::winsize) {
    let _ = rustix::termios::tcsetwinsize(
        fd,
        rustix::termios::Winsize {
            ws_row: ws.ws_row,
            ws_col: ws.ws_col,
            ws_xpixel: ws.ws_xpixel,
            ws_ypixel: ws.ws_ypixel,
        },
    );
}

impl Terminal {
    pub(crate) fn prepare() -> Result<Terminal> {
        let (ours, theirs) = socket::socketpair(
            socket::AddressFamily::Unix,
            socket::SockType::Stream,
            None,
            socket::SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| fail("cannot create the terminal socket", e))?;
        // The initial size travels first, so the program never starts at 0x0.
        let ws = caller_winsize().unwrap_or(libc::winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        });
        let bytes = [ws.ws_row, ws.ws_col, ws.ws_xpixel, ws.ws_ypixel];
        let raw: Vec<u8> = bytes.iter().flat_map(|v| v.to_ne_bytes()).collect();
        nix::unistd::write(&ours, &raw)
            .map_err(|e| fail("cannot write to the terminal socket", e))?;
        Ok(Terminal {
            ours,
            theirs: Some(theirs),
        })
    }

    /// The container's end of the socket, to move into pid 1's setup.
    pub(crate) fn container_end(&mut self) -> Option<OwnedFd> {
        self.theirs.take()
    }
}

/// In pid 1: open a terminal in the container's devpts, hand the master to userns, and
/// make the slave the controlling terminal and stdio.
pub(crate) fn attach(sock: OwnedFd, user: &ExecUser) -> Result<()> {
    attach_terminal(sock, user, true)
}

/// [`attach`], binding the terminal over /dev/console only with `console`: a process
/// `userns exec` starts shares the container's /dev, whose console is pid 1's.
pub(crate) fn attach_terminal(sock: OwnedFd, user: &ExecUser, console: bool) -> Result<()> {
    let mut size = [0u8; 8];
    nix::unistd::read(&sock, &mut size).map_err(|e| fail("cannot read the window size", e))?;
    let word = |i: usize| u16::from_ne_bytes([size[2 * i], size[2 * i + 1]]);
    let ws = libc::winsize {
        ws_row: word(0),
        ws_col: word(1),
        ws_xpixel: word(2),
        ws_ypixel: word(3),
    };
    let master = nix::fcntl::open(
        "/dev/ptmx",
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| fail("cannot open /dev/ptmx in the container", e))?;
    // TIOCSPTLCK 0 and TIOCGPTN (pts(4)): unlock the pair and learn its number.
    // (rustix's ptsname is TIOCGPTN and "/dev/pts/N", not glibc's stat of the name.)
    let slave_path = rustix::pty::unlockpt(&master)
        .and_then(|()| rustix::pty::ptsname(&master, Vec::new()))
        .map_err(|e| {
            fail(
                "cannot unlock the pseudo-terminal",
                Errno::from_raw(e.raw_os_error()),
            )
        })?
        .to_string_lossy()
        .into_owned();
    set_winsize(&master, &ws);
    let slave = nix::fcntl::open(
        slave_path.as_str(),
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| fail(&format!("cannot open {slave_path}"), e))?;
    // The user's own terminal, as login and runc leave it.
    nix::unistd::fchown(&slave, Some(user.uid.into()), Some(user.gid.into()))
        .map_err(|e| fail(&format!("cannot give {slave_path} to uid {}", user.uid), e))?;
    if console {
        bind_console(&slave_path)?;
    }
    let fds = [master.as_raw_fd()];
    socket::sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(b"m")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| fail("cannot send the terminal to userns", e))?;
    drop(master);
    drop(sock);
    // The terminal as stdio, then the controlling one of this new session (TIOCSCTTY).
    let stdio = rustix::stdio::dup2_stdin(&slave)
        .and_then(|()| rustix::stdio::dup2_stdout(&slave))
        .and_then(|()| rustix::stdio::dup2_stderr(&slave));
    if let Err(e) = stdio {
        return Err(fail(
            "cannot make the terminal the container's stdio",
            Errno::from_raw(e.raw_os_error()),
        ));
    }
    if let Err(e) = rustix::process::ioctl_tiocsctty(std::io::stdin()) {
        return Err(fail(
            "cannot make the terminal the controlling one",
            Errno::from_raw(e.raw_os_error()),
        ));
    }
    Ok(())
}

/// Bind the terminal over /dev/console, as runc does with a terminal: what a program
/// writes to the console (an init system, a getty, a kernel-style logger) reaches the
/// user's screen instead of failing with ENOENT. /dev is the container's own tmpfs.
fn bind_console(slave_path: &str) -> Result<()> {
    const CONSOLE: &str = "/dev/console";
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(CONSOLE)
        .map_err(|e| fail("cannot create /dev/console in the container", e))?;
    nix::mount::mount(
        Some(slave_path),
        CONSOLE,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| fail(&format!("cannot bind {slave_path} over /dev/console"), e))
}

/// The self-pipe that SIGCHLD and SIGWINCH write to, so that poll wakes for them.
static WAKE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn wake(sig: libc::c_int) {
    let fd = WAKE.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = sig as u8;
        // SAFETY: write is async-signal-safe; a full pipe already holds a wake-up.
        unsafe {
            libc::write(fd, (&byte as *const u8).cast(), 1);
        }
    }
}

/// The caller's terminal mode, restored on drop.
struct RawMode {
    saved: Option<nix::sys::termios::Termios>,
}

impl RawMode {
    fn enter() -> RawMode {
        use nix::sys::termios;
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            termios::cfmakeraw(&mut raw);
            let _ = termios::tcsetattr(stdin.as_fd(), termios::SetArg::TCSANOW, &raw);
        }
        RawMode { saved }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin().as_fd(),
                nix::sys::termios::SetArg::TCSADRAIN,
                t,
            );
        }
    }
}

fn receive_master(sock: &OwnedFd) -> Option<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = socket::recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .ok()?;
    for cmsg in msg.cmsgs().ok()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            // SAFETY: the kernel just gave us this descriptor.
            return fds.first().map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
    None
}

/// Copy what is readable on `from` to `to`; false at EOF or error (EIO: the slave closed).
fn pump(from: BorrowedFd, to: BorrowedFd) -> bool {
    let mut buf = [0u8; 8192];
    match nix::unistd::read(from, &mut buf) {
        Ok(0) => false,
        Ok(n) => write_all(to, &buf[..n]),
        Err(Errno::EINTR) | Err(Errno::EAGAIN) => true,
        Err(_) => false,
    }
}

fn write_all(to: BorrowedFd, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        match nix::unistd::write(to, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => std::thread::sleep(std::time::Duration::from_millis(1)),
            Err(_) => return false,
        }
    }
    true
}

impl Terminal {
    /// Relay between the caller's stdio and the container's terminal until pid 1 ends;
    /// the exit code to leave with.
    pub(crate) fn relay(self, pid1: Pid1, program: &Program, interactive: bool) -> Result<u8> {
        let Some(master) = receive_master(&self.ours) else {
            // pid 1 failed before handing the terminal over: its report says why.
            return pid1.wait(program);
        };
        let (wake_read, wake_write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
                .map_err(|e| fail("cannot create a pipe", e))?;
        WAKE.store(wake_write.as_raw_fd(), Ordering::Relaxed);
        for sig in [libc::SIGCHLD, libc::SIGWINCH] {
            // SAFETY: wake only reads an atomic and write(2)s one byte, async-signal-safe.
            unsafe { crate::sys::signals::set_handler(sig, wake) }
        }
        let _raw = interactive.then(RawMode::enter);
        let stdin = std::io::stdin();
        let stdout = std::io::stdout();
        let mut stdin_open = interactive;
        let status = loop {
            // A SIGCHLD may have come before the handler was installed: check each turn.
            match waitpid(pid1.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => {}
                Ok(s @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => break s,
                Ok(_) => {}
                Err(e) => return Err(fail(&format!("cannot wait for pid 1 ({})", pid1.pid), e)),
            }
            use nix::poll::{PollFd, PollFlags, PollTimeout};
            let mut fds = vec![
                PollFd::new(master.as_fd(), PollFlags::POLLIN),
                PollFd::new(wake_read.as_fd(), PollFlags::POLLIN),
            ];
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            match nix::poll::poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(fail("cannot poll the terminal", e)),
            }
            let ready = |i: usize| {
                fds.get(i)
                    .and_then(|f| f.revents())
                    .is_some_and(|r| !r.is_empty())
            };
            let (m_ready, w_ready, i_ready) = (ready(0), ready(1), ready(2));
            drop(fds);
            if w_ready {
                let mut buf = [0u8; 64];
                while let Ok(n) = nix::unistd::read(&wake_read, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    if buf[..n].contains(&(libc::SIGWINCH as u8)) {
                        if let Some(ws) = caller_winsize() {
                            set_winsize(&master, &ws);
                        }
                    }
                }
            }
            if m_ready && !pump(master.as_fd(), stdout.as_fd()) {
                // Every slave descriptor is closed: the program is gone; wait for pid 1.
                break wait_blocking(pid1.pid)?;
            }
            if i_ready && !pump(stdin.as_fd(), master.as_fd()) {
                stdin_open = false;
                // End of input: the terminal's EOF character, as a user's ^D.
                write_all(master.as_fd(), &[4]);
            }
        };
        drain(&master, stdout.as_fd());
        pid1.finish(program, status)
    }
}

fn wait_blocking(pid: nix::unistd::Pid) -> Result<WaitStatus> {
    loop {
        match waitpid(pid, None) {
            Ok(s @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => return Ok(s),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(fail(&format!("cannot wait for pid 1 ({pid})"), e)),
        }
    }
}

/// What the program wrote just before it ended.
fn drain(master: &OwnedFd, to: BorrowedFd) {
    let _ = nix::fcntl::fcntl(
        master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    let mut buf = [0u8; 8192];
    while let Ok(n) = nix::unistd::read(master, &mut buf) {
        if n == 0 || !write_all(to, &buf[..n]) {
            break;
        }
    }
}
