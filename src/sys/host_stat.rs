//! A stat server left in the host's user namespace, for a process that then enters one of
//! its own. Inside a user namespace the kernel shows every owner it does not map as the
//! overflow id 65534 (stat(2) converts ids to the caller's namespace: from_kuid_munged),
//! whatever the file's real owner. A process still in the parent namespace sees the real
//! ids, and fstat(2) of a descriptor checks no permission: so the process inside opens
//! the very inode (O_PATH, never a path again), passes the descriptor over a socket
//! (SCM_RIGHTS), and the server answers with its stat.
//!
//! The server is a fork of the caller and must be forked while the caller is
//! single-threaded (as every namespace step of userns is): it then runs ordinary code.

use super::fs::{stat_at, stat_fd, FileStat};
use nix::sys::socket::{self, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::unistd::{ForkResult, Pid};
use std::ffi::CStr;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

/// The answer's size: dev, ino, size, nlink (u64), mode, uid, gid, errno (u32).
const ANSWER: usize = 4 * 8 + 4 * 4;

/// The caller's end: one question at a time (the socket is shared by the walkers).
pub(crate) struct HostStat {
    sock: Mutex<OwnedFd>,
    pid: Pid,
}

impl HostStat {
    /// Fork the server. The caller must be single-threaded.
    pub(crate) fn start() -> io::Result<HostStat> {
        let (ours, theirs) = socket::socketpair(
            socket::AddressFamily::Unix,
            socket::SockType::SeqPacket,
            None,
            socket::SockFlag::SOCK_CLOEXEC,
        )?;
        // SAFETY: the caller is single-threaded (this function's contract, kept by every
        // caller: namespace work happens before any thread starts), so the child is a
        // complete copy of the process and may allocate; it never returns from `serve`.
        match unsafe { nix::unistd::fork() }? {
            ForkResult::Child => {
                drop(ours);
                serve(theirs)
            }
            ForkResult::Parent { child } => Ok(HostStat {
                sock: Mutex::new(ours),
                pid: child,
            }),
        }
    }

    /// The stat of `fd`'s inode as the host's user namespace sees it.
    pub(crate) fn stat(&self, fd: BorrowedFd) -> io::Result<FileStat> {
        let answers = self.ask(b"s", fd, 1)?;
        decode(answers[..ANSWER].try_into().expect("one answer"))
    }

    /// The stats of the entries `names` of the directory `dir` (fstatat with
    /// AT_SYMLINK_NOFOLLOW, by the server: so only where the user may search `dir` on the
    /// host; EACCES elsewhere), one question for all. At most [`BATCH`] names.
    pub(crate) fn stat_names(
        &self,
        dir: BorrowedFd,
        names: &[&CStr],
    ) -> io::Result<Vec<io::Result<FileStat>>> {
        assert!(names.len() <= BATCH, "at most BATCH names a question");
        let mut question = vec![b'n'];
        for name in names {
            question.extend_from_slice(name.to_bytes_with_nul());
        }
        let answers = self.ask(&question, dir, names.len())?;
        Ok(answers
            .chunks_exact(ANSWER)
            .map(|a| decode(a.try_into().expect("ANSWER bytes")))
            .collect())
    }

    /// Send `question` with `fd`, read `count` answers.
    fn ask(&self, question: &[u8], fd: BorrowedFd, count: usize) -> io::Result<Vec<u8>> {
        let sock = self.sock.lock().unwrap_or_else(|p| p.into_inner());
        let fds = [fd.as_raw_fd()];
        socket::sendmsg::<()>(
            sock.as_raw_fd(),
            &[IoSlice::new(question)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )?;
        let mut answers = vec![0u8; ANSWER * count];
        let n = loop {
            match nix::unistd::read(&*sock, &mut answers) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other?,
            }
        };
        if n != answers.len() {
            return Err(io::Error::other("the host stat server has ended"));
        }
        Ok(answers)
    }
}

/// Names one question may hold: 256 of at most 255 bytes each fit the socket's message
/// size (a SEQPACKET message must fit the send buffer, 208 KiB by default).
pub(crate) const BATCH: usize = 256;

impl Drop for HostStat {
    fn drop(&mut self) {
        // Closing our end is the server's EOF; then reap it.
        let sock = self.sock.get_mut().unwrap_or_else(|p| p.into_inner());
        let _ = nix::sys::socket::shutdown(sock.as_raw_fd(), socket::Shutdown::Both);
        let _ = nix::sys::wait::waitpid(self.pid, None);
    }
}

/// The server: one descriptor in, its stat out, until the caller closes its end.
fn serve(sock: OwnedFd) -> ! {
    // Never outlive the caller (its end closing ends us too, but a SIGKILL'd caller
    // whose end another process inherited would not).
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    let mut question = vec![0u8; 1 + BATCH * 256];
    loop {
        let mut iov = [IoSliceMut::new(&mut question)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let received = socket::recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        );
        let (len, fd) = match received {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
            Ok(msg) if msg.bytes == 0 => break,
            Ok(msg) => (
                msg.bytes,
                msg.cmsgs().ok().and_then(|mut c| {
                    c.find_map(|m| match m {
                        ControlMessageOwned::ScmRights(fds) => fds.first().map(|&fd| {
                            // SAFETY: the kernel just installed this descriptor in our table,
                            // and nothing else owns it.
                            unsafe { OwnedFd::from_raw_fd(fd) }
                        }),
                        _ => None,
                    })
                }),
            ),
        };
        let Some(fd) = fd else { break };
        let fd = std::os::fd::AsFd::as_fd(&fd);
        let answers: Vec<u8> = match &question[..len] {
            [b's'] => encode(stat_fd(fd)).to_vec(),
            [b'n', names @ ..] => names
                .split_inclusive(|&b| b == 0)
                .filter_map(|n| CStr::from_bytes_with_nul(n).ok())
                .flat_map(|name| encode(stat_at(fd, name)))
                .collect(),
            _ => break,
        };
        if nix::unistd::write(&sock, &answers).is_err() {
            break;
        }
    }
    // SAFETY: _exit ends the forked copy without running the caller's exit handlers or
    // flushing buffers that belong to the caller.
    unsafe { libc::_exit(0) }
}

fn encode(st: io::Result<FileStat>) -> [u8; ANSWER] {
    let mut out = [0u8; ANSWER];
    let (st, errno) = match st {
        Ok(st) => (st, 0),
        Err(e) => (
            FileStat {
                dev: 0,
                ino: 0,
                mode: 0,
                uid: 0,
                gid: 0,
                size: 0,
                nlink: 0,
            },
            e.raw_os_error().unwrap_or(libc::EIO) as u32,
        ),
    };
    let words = [st.dev, st.ino, st.size, st.nlink];
    for (i, w) in words.iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&w.to_ne_bytes());
    }
    for (i, w) in [st.mode, st.uid, st.gid, errno].iter().enumerate() {
        out[32 + i * 4..36 + i * 4].copy_from_slice(&w.to_ne_bytes());
    }
    out
}

fn decode(b: &[u8; ANSWER]) -> io::Result<FileStat> {
    let u64_at = |i: usize| u64::from_ne_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let u32_at = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().expect("4 bytes"));
    let errno = u32_at(44);
    if errno != 0 {
        return Err(io::Error::from_raw_os_error(errno as i32));
    }
    Ok(FileStat {
        dev: u64_at(0),
        ino: u64_at(8),
        size: u64_at(16),
        nlink: u64_at(24),
        mode: u32_at(32),
        uid: u32_at(36),
        gid: u32_at(40),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn answers_round_trip() {
        let st = FileStat {
            dev: 1 << 40,
            ino: 7,
            mode: 0o40700,
            uid: 300_000,
            gid: 4_000_000_000,
            size: 12,
            nlink: 3,
        };
        let back = decode(&encode(Ok(st))).unwrap();
        assert_eq!(
            (back.dev, back.ino, back.mode, back.uid, back.gid, back.size, back.nlink),
            (st.dev, st.ino, st.mode, st.uid, st.gid, st.size, st.nlink)
        );
        let e = decode(&encode(Err(io::Error::from_raw_os_error(libc::EACCES)))).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EACCES));
    }

    #[test]
    fn the_server_stats_the_descriptor_it_is_given() {
        // Forked from a test binary's thread: safe enough here, as the child only
        // serves and _exits; userns itself starts it single-threaded.
        let server = HostStat::start().unwrap();
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), b"abc").unwrap();
        let st = server.stat(f.as_file().as_fd()).unwrap();
        assert_eq!(st.size, 3);
        assert_eq!(st.uid, nix::unistd::geteuid().as_raw());
        let dir = std::fs::File::open(f.path().parent().unwrap()).unwrap();
        let name =
            std::ffi::CString::new(f.path().file_name().unwrap().as_encoded_bytes()).unwrap();
        let answers = server
            .stat_names(dir.as_fd(), &[&name, c"no-such-file", &name])
            .unwrap();
        assert_eq!(answers.len(), 3);
        assert_eq!(answers[0].as_ref().unwrap().ino, st.ino);
        assert_eq!(
            answers[1].as_ref().unwrap_err().raw_os_error(),
            Some(libc::ENOENT)
        );
        assert_eq!(answers[2].as_ref().unwrap().size, 3);
    }
}
