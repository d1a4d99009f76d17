//! Compiled filters kept on disk, so that a run whose profile has not changed reads its
//! program instead of parsing and compiling the profile again.
//!
//! Why: measured side by side in one process (release build, 300 rounds, a loaded
//! 2-core machine), reading podman's 16 KB profile, parsing and compiling it took 261 µs
//! a run; reading it, hashing it and reading the cached program took 29 µs. A whole
//! `userns run ROOTFS true` is ~3.5 ms, bwrap's ~3.4 ms, so the difference is worth a
//! small file.
//!
//! Where: `seccomp/` in userns's state directory (beside `containers/`: under
//! $XDG_RUNTIME_DIR, a per-boot tmpfs, when it is usable), mode 0700. The directory is
//! opened without following a symlink and used only when it belongs to the user and no
//! one else may enter it; files likewise must be the user's own regular files.
//!
//! What: one file per profile source (a hash of its path, or "built-in"), so that a
//! changed profile replaces its program instead of adding files. It holds a magic, the
//! key it was compiled for, the program, and a SHA-256 of all that. The key hashes the
//! profile's bytes, the capabilities, the architecture, the kernel version (minKernel
//! rules) and the identity of the userns executable (device, inode, size, change time),
//! so that a new userns with a changed compiler never reads an older one's program.
//! Anything that does not match, down to a jump out of the program, is a miss: the
//! profile is compiled again and the file rewritten (a new file, then rename(2): a
//! reader sees the old file or the new one, never half of one).
//!
//! Whoever can write the user's own state directory can already make a container
//! unconfined (containers.conf is the user's too), so the cache adds no way in; it must
//! only never turn a corrupt file into a filter, which the checks above ensure.

use super::bpf::{Insn, MAX_INSNS};
use super::compile::Filter;
use super::select::Host;
use sha2::{Digest, Sha256};
use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const MAGIC: &[u8; 8] = b"USNSBPF1";
/// Magic, key, flags, instruction count.
const HEADER: usize = 8 + 32 + 4 + 4;
const DIGEST: usize = 32;

/// What a program was compiled from.
pub(crate) type Key = [u8; 32];

/// The key of a compilation: everything the program depends on.
pub(crate) fn key(profile: &[u8], caps: &[&str], host: &Host) -> Key {
    let mut h = Sha256::new();
    h.update(b"userns seccomp cache 1\0");
    // The running executable: a rebuilt or upgraded userns compiles afresh.
    if let Ok(m) = std::fs::metadata("/proc/self/exe") {
        for n in [m.dev(), m.ino(), m.size()] {
            h.update(n.to_le_bytes());
        }
        h.update(m.ctime().to_le_bytes());
        h.update(m.ctime_nsec().to_le_bytes());
    }
    h.update((profile.len() as u64).to_le_bytes());
    h.update(profile);
    for cap in caps {
        h.update(cap.as_bytes());
        h.update(b"\0");
    }
    h.update(host.arch.go_name().as_bytes());
    h.update(host.kernel.0.to_le_bytes());
    h.update(host.kernel.1.to_le_bytes());
    h.update([u8::from(host.x32_abi)]);
    h.finalize().into()
}

/// The file name for a profile source (`origin`: its path, or "built-in").
pub(crate) fn slot(origin: &[u8]) -> String {
    let digest = Sha256::digest(origin);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}.bpf")
}

/// The cached program of `slot` compiled for `key`, if there is a sound one.
pub(crate) fn load(dir: &Path, slot: &str, key: &Key) -> Option<Filter> {
    let dir = open_private_dir(dir).ok()?;
    let fd = openat(&dir, slot, libc::O_RDONLY).ok()?;
    let mut file = std::fs::File::from(fd);
    let meta = file.metadata().ok()?;
    let max = (HEADER + MAX_INSNS * 8 + DIGEST) as u64;
    if !meta.is_file() || meta.uid() != euid() || meta.len() > max {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes).ok()?;
    decode(&bytes, key)
}

/// Keep `filter` as `slot`, for `key`. Best effort: a cache that cannot be written
/// costs the next run a compilation, nothing else.
pub(crate) fn store(dir: &Path, slot: &str, key: &Key, filter: &Filter) {
    let _ = try_store(dir, slot, key, filter);
}

fn try_store(dir: &Path, slot: &str, key: &Key, filter: &Filter) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let dir = open_private_dir(dir)?;
    let tmp = format!("{slot}.{}.tmp", std::process::id());
    let fd = openat(&dir, &tmp, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL)?;
    let written = std::fs::File::from(fd).write_all(&encode(key, filter));
    let renamed = written.and_then(|()| renameat(&dir, &tmp, slot));
    if renamed.is_err() {
        let _ = unlinkat(&dir, &tmp);
    }
    renamed
}

fn encode(key: &Key, filter: &Filter) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + filter.program.len() * 8 + DIGEST);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(key);
    out.extend_from_slice(&filter.flags.to_le_bytes());
    out.extend_from_slice(&(filter.program.len() as u32).to_le_bytes());
    for insn in &filter.program {
        out.extend_from_slice(&insn.code.to_le_bytes());
        out.extend_from_slice(&[insn.jt, insn.jf]);
        out.extend_from_slice(&insn.k.to_le_bytes());
    }
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

fn decode(bytes: &[u8], key: &Key) -> Option<Filter> {
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    if bytes.len() < HEADER + DIGEST || &bytes[..8] != MAGIC || bytes[8..40] != key[..] {
        return None;
    }
    let flags = word(40);
    let count = word(44) as usize;
    if count == 0 || count > MAX_INSNS || bytes.len() != HEADER + count * 8 + DIGEST {
        return None;
    }
    let (body, digest) = bytes.split_at(HEADER + count * 8);
    if Sha256::digest(body)[..] != digest[..] {
        return None;
    }
    let program: Vec<Insn> = body[HEADER..]
        .chunks_exact(8)
        .map(|c| Insn {
            code: u16::from_le_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    super::bpf::is_well_formed(&program).then_some(Filter { program, flags })
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The directory, opened without following a symlink, if it is the user's and closed to
/// everyone else.
fn open_private_dir(dir: &Path) -> std::io::Result<OwnedFd> {
    let path = CString::new(dir.as_os_str().as_bytes())?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: open with a NUL-terminated path; the descriptor is owned at once.
    let fd = unsafe { libc::open(path.as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just opened and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let meta = std::fs::File::from(fd.try_clone()?).metadata()?;
    if meta.uid() != euid() || meta.mode() & 0o077 != 0 {
        return Err(std::io::Error::from_raw_os_error(libc::EPERM));
    }
    Ok(fd)
}

/// openat(2) in `dir`, never following a symlink; new files get mode 0600.
fn openat(dir: &OwnedFd, name: &str, flags: i32) -> std::io::Result<OwnedFd> {
    let name = CString::new(name)?;
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: openat with a directory descriptor we hold and a NUL-terminated name.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, 0o600) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn renameat(dir: &OwnedFd, from: &str, to: &str) -> std::io::Result<()> {
    let (from, to) = (CString::new(from)?, CString::new(to)?);
    let d = dir.as_raw_fd();
    // SAFETY: renameat within a directory we hold, NUL-terminated names.
    if unsafe { libc::renameat(d, from.as_ptr(), d, to.as_ptr()) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn unlinkat(dir: &OwnedFd, name: &str) -> std::io::Result<()> {
    let name = CString::new(name)?;
    // SAFETY: unlinkat within a directory we hold, a NUL-terminated name.
    if unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn filter() -> Filter {
        let host = crate::seccomp::select::Host {
            arch: crate::seccomp::syscalls::Arch::X86_64,
            caps: &["CAP_CHOWN"],
            kernel: (6, 1),
            x32_abi: true,
        };
        crate::seccomp::compile_text(crate::seccomp::BUILT_IN_PROFILE, &host)
            .unwrap()
            .unwrap()
    }

    fn host(kernel: (u32, u32)) -> Host<'static> {
        Host {
            arch: crate::seccomp::syscalls::Arch::X86_64,
            caps: &[],
            kernel,
            x32_abi: false,
        }
    }

    fn private_dir() -> (tempfile::TempDir, std::path::PathBuf) {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("seccomp");
        (top, dir)
    }

    #[test]
    fn a_stored_program_comes_back_for_its_key_only() {
        let (_top, dir) = private_dir();
        let f = filter();
        let k = key(b"{}", &["CAP_CHOWN"], &host((6, 1)));
        assert_eq!(load(&dir, "a.bpf", &k), None);
        store(&dir, "a.bpf", &k, &f);
        assert_eq!(load(&dir, "a.bpf", &k), Some(f.clone()));
        let meta = std::fs::metadata(&dir).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o700);
        let file = std::fs::metadata(dir.join("a.bpf")).unwrap();
        assert_eq!(file.mode() & 0o777, 0o600);
        for other in [
            key(b"{ }", &["CAP_CHOWN"], &host((6, 1))),
            key(b"{}", &["CAP_SYS_ADMIN"], &host((6, 1))),
            key(b"{}", &["CAP_CHOWN"], &host((6, 2))),
        ] {
            assert_ne!(other, k);
            assert_eq!(load(&dir, "a.bpf", &other), None);
        }
        // Replaced in place: one file per slot, no temporary left.
        store(&dir, "a.bpf", &k, &f);
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_damaged_file_is_a_miss() {
        let (_top, dir) = private_dir();
        let f = filter();
        let k = key(b"p", &[], &host((6, 1)));
        store(&dir, "a.bpf", &k, &f);
        let good = std::fs::read(dir.join("a.bpf")).unwrap();
        let mut cases: Vec<Vec<u8>> = vec![
            good[..good.len() - 1].to_vec(),
            Vec::new(),
            good[..HEADER + 8].to_vec(),
        ];
        for at in [0, 10, 45, HEADER + 3, good.len() - 5] {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            cases.push(bad);
        }
        for bad in cases {
            std::fs::write(dir.join("a.bpf"), &bad).unwrap();
            assert_eq!(load(&dir, "a.bpf", &k), None);
        }
        // A consistent file whose program jumps out of itself is refused too.
        let mut wild = f.clone();
        let last = wild.program.len() - 1;
        wild.program[last] = Insn {
            code: 0x05,
            jt: 0,
            jf: 0,
            k: 7,
        };
        std::fs::write(dir.join("a.bpf"), encode(&k, &wild)).unwrap();
        assert_eq!(load(&dir, "a.bpf", &k), None);
    }

    #[test]
    fn a_directory_others_may_enter_or_a_symlink_is_not_used() {
        let (top, dir) = private_dir();
        let f = filter();
        let k = key(b"p", &[], &host((6, 1)));
        store(&dir, "a.bpf", &k, &f);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(load(&dir, "a.bpf", &k), None);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let link = top.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert_eq!(load(&link, "a.bpf", &k), None);
        std::os::unix::fs::symlink(dir.join("a.bpf"), dir.join("b.bpf")).unwrap();
        assert_eq!(load(&dir, "b.bpf", &k), None);
        assert_eq!(load(&dir, "a.bpf", &k), Some(f));
    }

    #[test]
    fn slots_differ_by_source() {
        assert_ne!(
            slot(b"built-in"),
            slot(b"/usr/share/containers/seccomp.json")
        );
        assert!(slot(b"x").ends_with(".bpf"));
    }
}
