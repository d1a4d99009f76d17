//! Apply one layer (a tar stream, plain, gzip or zstd) onto a root, as the OCI image-spec
//! `layer.md` says: entries replace what lower layers put at the same path, `.wh.NAME`
//! deletes NAME, `.wh..wh..opq` hides everything lower layers put in its directory. A
//! layer that names a path twice is refused, as podman refuses it ([`super::seen`]).
//!
//! Every write goes through [`super::beneath`], so no entry, link or symlink can make it
//! land outside the root. Symlinks are created as they are and never followed here; hard
//! links must name an entry already beneath the root. Owners come from the tar headers
//! (chown with AT_SYMLINK_NOFOLLOW; inside the mapped namespace they land on subordinate
//! ids), then modes (after chown, which clears setuid bits), then extended attributes
//! (`xattrs`: chown clears file capabilities too), then times. Device nodes cannot be
//! made in a user namespace (mknod needs CAP_MKNOD in the initial one); they are counted
//! and skipped, as rootless podman does with the /dev it mounts instead.
//!
//! The tar stream is walked by [`super::tarstream`], so a file's declared size is weighed
//! against the limits and the free space ([`super::limits`]) before anything at its path
//! changes, and a sparse file is written with its holes ([`super::sparse`]).
//!
//! The walk makes every name; a regular file, once created, is handed with what remains
//! to do to it (its data when small, owner, mode, attributes, time) to a second thread,
//! [`super::finisher`], whose first failure stops the unpack as a failure here would.

use super::beneath::{self, InnerPath, Root};
use super::decoder;
use super::digest::{hasher_for, verify, Hasher};
use super::entry_error::EntryError;
use super::finisher::{self, Finisher, Job, Queue};
use super::limits::{Budget, Limits};
use super::parents::{NewFile, Parent, Parents};
use super::seen::{named_twice, SeenPaths};
use super::sparse::{self, Sparse};
use super::tarstream::{Entry, TarStream};
use super::whiteout::{apply_whiteout, WHITEOUT_PREFIX};
use super::xattrs;
use crate::error::{Error, Result};
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io::{self, BufReader, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use tar::EntryType;

/// File data goes through one buffer of this size (fewer system calls than io::copy's).
const COPY_BUFFER: usize = 128 << 10;

/// What unpacking all layers of an image did, for the summary line and the cache record.
#[derive(Debug, Default)]
pub(crate) struct UnpackState {
    pub(crate) devices_skipped: u64,
    /// Bytes of regular file data written (hard links counted once).
    pub(crate) bytes: u64,
    pub(crate) entries: u64,
    /// Extended attributes left out: overlay's own, or refused by the file system.
    pub(crate) xattrs_skipped: u64,
    /// Directory mtimes, set once after the last layer (adding a child changes them).
    dir_times: HashMap<Option<InnerPath>, i64>,
    /// What the files so far took of the limits and of the free space.
    budget: Budget,
    buf: Vec<u8>,
}

impl UnpackState {
    /// A state for an unpack into the image cache `cache`, within `limits`.
    pub(crate) fn new(limits: Limits, cache: &std::path::Path) -> UnpackState {
        UnpackState {
            budget: Budget::new(limits, cache),
            ..UnpackState::default()
        }
    }
}

/// Apply one layer blob. `digest` is the blob's digest as stored (OCI), `diff_id` that of
/// the uncompressed tar, each hashed in its own algorithm while the layer streams in, and
/// checked at its end: a mismatch fails the whole unpack and the caller discards the
/// half-made tree, so no run ever sees it. Both None: the blob was verified already as
/// it was downloaded (a pull's stage, `image::Staged`), and is not hashed again.
pub(crate) fn apply_blob(
    root: &Root,
    blob: impl Read + Send,
    label: &str,
    digest: Option<&str>,
    diff_id: Option<&str>,
    state: &mut UnpackState,
) -> Result<()> {
    let raw_hash = digest.map(|d| hasher_for(label, d)).transpose()?;
    let plain_hash = diff_id.map(|d| hasher_for(label, d)).transpose()?;
    // A blob still to be checked (an archive's, a layout's: likely compressed too) is
    // decoded and hashed on a thread of its own while this one walks; a pull's verified
    // plain tar has nothing to hand over, and is walked as it is read.
    let threaded = (raw_hash.is_some() || plain_hash.is_some()) && !finisher::serial();
    let input = std::sync::Mutex::new(Some((blob, raw_hash, plain_hash)));
    if threaded {
        let walked = std::thread::scope(|scope| {
            let (mut plain, handle) = decoder::spawn(scope, &input, label)?;
            let walked = apply_tar(root, &mut plain, label, state).and_then(|()| {
                // The rest too: the decoder hashes what follows the tar's end.
                io::copy(&mut plain, &mut io::sink())
                    .map(|_| ())
                    .map_err(|e| decoder::read_error(label, e))
            });
            drop(plain);
            let hashed = handle.join().unwrap_or_else(|_| {
                Err(Error::failure(format!(
                    "the decoding of {label} stopped unexpectedly"
                )))
            });
            Some(walked.and(hashed))
        });
        if let Some(hashed) = walked {
            let (raw, plain) = hashed?;
            return check_hashes(label, digest, raw, diff_id, plain);
        }
        // No thread: decoded here, as below.
    }
    let (blob, mut raw_hash, mut plain_hash) = input
        .into_inner()
        .ok()
        .flatten()
        .ok_or_else(|| Error::failure(format!("cannot decode {label}")))?;
    decoder::decode(
        blob,
        raw_hash.as_mut(),
        plain_hash.as_mut(),
        label,
        |plain| {
            // The tar is read in 512-byte headers and small files: buffered, the decoder
            // runs once per 128 KiB instead of once per read, and hashes in blocks as large.
            apply_tar(
                root,
                &mut BufReader::with_capacity(COPY_BUFFER, plain),
                label,
                state,
            )?;
            Ok(true)
        },
    )?;
    check_hashes(label, digest, raw_hash, diff_id, plain_hash)
}

/// Hold what the blob and its plain tar hashed to against their digests (each one that
/// was given).
fn check_hashes(
    label: &str,
    digest: Option<&str>,
    raw_hash: Option<Hasher>,
    diff_id: Option<&str>,
    plain_hash: Option<Hasher>,
) -> Result<()> {
    for (expected, hash, what) in [
        (digest, raw_hash, "layer"),
        (diff_id, plain_hash, "uncompressed layer (diff_id)"),
    ] {
        if let Some(expected) = expected {
            let hash = hash.ok_or_else(|| {
                Error::failure(format!("the decoding of {label} stopped before its end"))
            })?;
            verify(label, what, expected, hash.finish())?;
        }
    }
    Ok(())
}

/// Set directory times recorded over all layers; call once after the last layer.
pub(crate) fn finish(root: &Root, state: &UnpackState) -> Result<()> {
    for (path, mtime) in &state.dir_times {
        let result = match path {
            None => root
                .dir(None)
                .and_then(|d| beneath::set_times_at(&d, OsStr::new("."), *mtime)),
            Some(p) => root
                .dir(p.parent_path().as_ref())
                .and_then(|d| beneath::set_times_at(&d, p.name(), *mtime)),
        };
        match result {
            // A later layer removed or replaced it: nothing to set.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {}
            Err(e) => {
                let shown = path.as_ref().map(|p| p.display()).unwrap_or("/".into());
                return Err(Error::failure(format!("cannot set the time of {shown}")).because(e));
            }
            Ok(()) => {}
        }
    }
    Ok(())
}

/// Apply one layer's tar, its regular files finished by a thread of this layer's own,
/// joined before this returns.
fn apply_tar(
    root: &Root,
    stream: &mut dyn Read,
    label: &str,
    state: &mut UnpackState,
) -> Result<()> {
    let queue = Queue::default();
    std::thread::scope(|scope| {
        let mut finisher = Finisher::new(scope, &queue);
        let walked = walk_tar(root, stream, label, state, &mut finisher);
        let finished = finisher.join();
        state.xattrs_skipped += finished.xattrs_skipped;
        match finished.failure {
            // Its file came before the entry the walk stopped at, if it did: the serial
            // unpack would have stopped at that file, with this error.
            Some(f) => Err(EntryError::Io(f.error).naming(&f.shown, label)),
            None => walked,
        }
    })
}

fn walk_tar(
    root: &Root,
    stream: &mut dyn Read,
    label: &str,
    state: &mut UnpackState,
    finisher: &mut Finisher,
) -> Result<()> {
    let mut tar = TarStream::new(stream);
    // Paths this layer put in place: an opaque marker hides everything else in its directory.
    let mut this_layer: HashSet<InnerPath> = HashSet::new();
    let mut previous: Option<String> = None;
    let mut seen = SeenPaths::default();
    let mut parents = Parents::default();
    loop {
        if finisher.failed() {
            // `apply_tar` reports the finisher's failure.
            return Ok(());
        }
        let entry = match tar.next_entry() {
            Ok(Some(entry)) => entry,
            Ok(None) => return Ok(()),
            Err(e) => {
                let after = previous
                    .map(|p| format!(" after {p:?}"))
                    .unwrap_or_default();
                return Err(Error::failure(format!(
                    "cannot read {label}: a damaged tar header{after}"
                ))
                .because(e)
                .fix("the archive is damaged or truncated: save the image again"));
            }
        };
        let shown = String::from_utf8_lossy(&entry.path).into_owned();
        if !seen.first_time(&entry.path) {
            return Err(named_twice(label, &shown));
        }
        let mut walk = Walk {
            this_layer: &mut this_layer,
            parents: &mut parents,
            finisher,
        };
        apply_entry(root, &entry, &mut tar, &mut walk, state)
            .map_err(|e| e.naming(&shown, label))?;
        state.entries += 1;
        previous = Some(shown);
    }
}

fn io_context<'a>(what: &'a str, path: &'a InnerPath) -> impl Fn(io::Error) -> io::Error + 'a {
    move |e| io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

fn is_file(kind: EntryType) -> bool {
    matches!(
        kind,
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse
    )
}

/// What a header says about the object's owner, permission bits and time.
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: i64,
}

impl Meta {
    fn of(entry: &Entry) -> io::Result<Meta> {
        let header = &entry.header;
        let mode = header.mode()? & 0o7777;
        let uid = id32(entry.uid)?;
        let gid = id32(entry.gid)?;
        let mtime = header.mtime()? as i64;
        Ok(Meta {
            uid,
            gid,
            mode,
            mtime,
        })
    }
}

/// What one layer's walk keeps from entry to entry.
struct Walk<'w, 'scope, 'env> {
    /// Paths this layer put in place: an opaque marker hides everything else in its directory.
    this_layer: &'w mut HashSet<InnerPath>,
    parents: &'w mut Parents,
    finisher: &'w mut Finisher<'scope, 'env>,
}

fn apply_entry(
    root: &Root,
    entry: &Entry,
    data: &mut dyn Read,
    walk: &mut Walk,
    state: &mut UnpackState,
) -> Result<(), EntryError> {
    let Walk {
        this_layer,
        parents,
        finisher,
    } = walk;
    let kind = entry.kind();
    let meta = Meta::of(entry)?;
    state.budget.check_size(entry.size)?;

    let Some(path) = InnerPath::clean(&entry.path) else {
        // `./` or `/`: the root directory's own metadata.
        if kind.is_dir() {
            // Every kept path runs through the root, whose owner and mode change.
            parents.forget();
            apply_root_meta(root, &meta, state)?;
        }
        return Ok(());
    };
    if path
        .name()
        .as_bytes()
        .starts_with(WHITEOUT_PREFIX.as_bytes())
    {
        parents.forget();
        return apply_whiteout(root, &path, this_layer);
    }
    match kind {
        EntryType::Char | EntryType::Block => {
            state.devices_skipped += 1;
            return Ok(());
        }
        // Weighed before anything at this path changes, let alone a byte is written.
        _ if is_file(kind) => weigh_file(root, entry, state, finisher)?,
        _ => {}
    }
    let mut parent = parents
        .take(root, &path)
        .map_err(io_context("parent of", &path))?;
    this_layer.insert(path.clone());
    let name = path.name();
    let attrs = xattrs::of_pax(&entry.pax, &mut state.xattrs_skipped);
    // Whether the name was free: only then may the parent be kept for the next entry.
    let name_was_free = match kind {
        EntryType::Directory => {
            let free = make_dir(&parent.fd, name, &meta, &attrs, state)?;
            state.dir_times.insert(Some(path.clone()), meta.mtime);
            free
        }
        _ if is_file(kind) => {
            let (free, job) = write_file(&mut parent, name, entry, data, &meta, attrs, state)?;
            finisher.hand(job)?;
            free
        }
        EntryType::Symlink => make_symlink(&parent, name, entry, &meta)?,
        EntryType::Link => make_hard_link(root, &parent.fd, &path, entry)?,
        EntryType::Fifo => make_fifo(&parent.fd, name, &meta)?,
        other => {
            crate::warn(format!(
                "skipped {} (tar entry type {:?} is not a file system object)",
                path.display(),
                other.as_byte() as char
            ));
            true
        }
    };
    if name_was_free {
        parents.keep(parent);
    }
    Ok(())
}

/// An entry for `./` or `/` sets the owner, mode and time of the root directory itself.
fn apply_root_meta(root: &Root, meta: &Meta, state: &mut UnpackState) -> io::Result<()> {
    let dir = root.dir(None)?;
    let fd = beneath::open_dir_at(&dir, OsStr::new("."))?;
    set_owner_mode(fd.as_fd(), meta.uid, meta.gid, meta.mode)?;
    state.dir_times.insert(None, meta.mtime);
    Ok(())
}

/// Refuse a file the limits or the free space cannot take: a sparse map that does not
/// add up, or data beyond what is left.
fn weigh_file(
    root: &Root,
    entry: &Entry,
    state: &mut UnpackState,
    finisher: &mut Finisher,
) -> Result<(), EntryError> {
    if let Some(Sparse {
        real_size,
        map: Some(map),
    }) = &entry.sparse
    {
        sparse::check(map, *real_size, entry.size)?;
    }
    if state.budget.asks_free_space(entry.size) {
        // The free space, as the serial unpack saw it: with the files before this one written.
        finisher.drain();
    }
    state.budget.admit(root, entry.file_size(), entry.size)?;
    Ok(())
}

/// Make a new object at `name` with `make`. When something is there (EEXIST), remove it,
/// as an entry replaces what a lower layer put at its path, and make it again. Returns
/// what `make` returned and whether the name was free. (Trying first spares a stat of the
/// name for every entry: in a first layer every name is free.)
fn make_replacing<T>(
    parent: &OwnedFd,
    name: &OsStr,
    make: impl Fn() -> io::Result<T>,
) -> io::Result<(T, bool)> {
    match make() {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            beneath::remove_all_at(parent, name)?;
            Ok((make()?, false))
        }
        made => Ok((made?, true)),
    }
}

/// Make a directory, or merge with the directory already at its name (a directory over a
/// directory keeps what lower layers put in it; anything else there is replaced), then set
/// its owner, mode and attributes (its time is set at the end). Returns whether the name
/// was free.
fn make_dir(
    parent: &OwnedFd,
    name: &OsStr,
    meta: &Meta,
    attrs: &[xattrs::Xattr],
    state: &mut UnpackState,
) -> io::Result<bool> {
    let free = match beneath::mkdir_at(parent, name, 0o700) {
        Ok(()) => true,
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            if !beneath::is_dir(&beneath::lstat_at(parent, name)?) {
                beneath::remove_all_at(parent, name)?;
                beneath::mkdir_at(parent, name, 0o700)?;
            }
            false
        }
        Err(e) => return Err(e),
    };
    let fd = beneath::open_dir_at(parent, name)?;
    set_owner_mode(fd.as_fd(), meta.uid, meta.gid, meta.mode)?;
    xattrs::apply(fd.as_fd(), attrs, &mut state.xattrs_skipped)?;
    Ok(free)
}

/// Create a regular (or sparse) file and the job that finishes it: its data (written here
/// when large or sparse, else carried in the job), then its owner, mode, attributes and
/// time, in that order (chown clears setuid bits and file capabilities). It is made with
/// its permission bits; chown and chmod are done only when what the directory gives a new
/// file ([`NewFile`]) is not what the entry asks. Returns whether the name was free.
fn write_file(
    parent: &mut Parent,
    name: &OsStr,
    entry: &Entry,
    data: &mut dyn Read,
    meta: &Meta,
    attrs: Vec<xattrs::Xattr>,
    state: &mut UnpackState,
) -> Result<(bool, Job), EntryError> {
    let asked = meta.mode & 0o777;
    let (mut file, free) = make_replacing(&parent.fd, name, || {
        beneath::create_file_at(&parent.fd, name, asked)
    })?;
    let made = match parent.new_file {
        Some(made) => made,
        None => {
            let made = NewFile::seen(&beneath::stat_fd(file.as_fd())?, asked);
            parent.new_file = Some(made);
            made
        }
    };
    if state.buf.is_empty() {
        state.buf = vec![0; COPY_BUFFER];
    }
    let mut carried = Vec::new();
    state.bytes += match &entry.sparse {
        Some(s) => sparse::write(&mut file, data, s, entry.size, &mut state.buf)?,
        None if entry.size <= finisher::CARRIED_MAX => {
            carried = vec![0; entry.size as usize];
            sparse::read_exact(data, &mut carried)?;
            entry.size
        }
        None => {
            sparse::copy_exact(data, &mut file, entry.size, &mut state.buf)?;
            entry.size
        }
    };
    let job = Job {
        file,
        shown: String::from_utf8_lossy(&entry.path).into_owned(),
        data: carried,
        owner: (!made.owned_by(meta.uid, meta.gid)).then_some((meta.uid, meta.gid)),
        mode: (meta.mode & 0o7000 != 0 || !made.keeps(asked)).then_some(meta.mode),
        attrs,
        mtime: meta.mtime,
    };
    Ok((free, job))
}

/// A symlink is made as it is and never followed; its owner and time are set by name.
/// Its owner is left when it is the one a new file gets in that directory (the kernel
/// gives every new inode its owner alike: inode_init_owner). Returns whether the name
/// was free.
fn make_symlink(parent: &Parent, name: &OsStr, entry: &Entry, meta: &Meta) -> io::Result<bool> {
    if entry.link.is_empty() {
        return Err(io::Error::other("a symlink with an empty target"));
    }
    let ((), free) = make_replacing(&parent.fd, name, || {
        beneath::symlink_at(&entry.link, &parent.fd, name)
    })?;
    if !parent
        .new_file
        .is_some_and(|made| made.owned_by(meta.uid, meta.gid))
    {
        beneath::chown_at(&parent.fd, name, meta.uid, meta.gid).map_err(chown_context)?;
    }
    beneath::set_times_at(&parent.fd, name, meta.mtime)?;
    Ok(free)
}

/// A hard link to an entry already beneath the root. One naming itself is refused, as
/// podman's unpack fails on it: the path was removed to make way for the link. What is
/// at the name is removed before the target is looked up (the lookup may pass through
/// it), as it always was. Returns whether the name was free.
fn make_hard_link(
    root: &Root,
    parent: &OwnedFd,
    path: &InnerPath,
    entry: &Entry,
) -> io::Result<bool> {
    let target = InnerPath::clean(&entry.link)
        .ok_or_else(|| io::Error::other("a hard link to the root directory"))?;
    if &target == path {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a hard link to itself: what it would link to is the path it replaces (podman \
             refuses it too)",
        ));
    }
    let free = match beneath::lstat_at(parent, path.name()) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => true,
        Err(e) => return Err(e),
        Ok(_) => {
            beneath::remove_all_at(parent, path.name())?;
            false
        }
    };
    // The target is resolved beneath the root like any path: a link to
    // /etc/passwd means the image's /etc/passwd, never the host's.
    let src_dir = root.parent_of(&target, false).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "hard link target {} is not in the image: {e}",
                target.display()
            ),
        )
    })?;
    beneath::link_at(&src_dir, target.name(), parent, path.name()).map_err(|e| {
        // A later entry may hold the target: links are made in archive order, as podman's.
        let why = match e.raw_os_error() {
            Some(libc::ENOENT) => "no entry before it (in this layer or a lower one) made it: ",
            _ => "",
        };
        io::Error::new(
            e.kind(),
            format!("hard link to {}: {why}{e}", target.display()),
        )
    })?;
    Ok(free)
}

/// A FIFO with its owner, mode and time. Returns whether the name was free.
fn make_fifo(parent: &OwnedFd, name: &OsStr, meta: &Meta) -> io::Result<bool> {
    let ((), free) = make_replacing(parent, name, || beneath::mkfifo_at(parent, name, 0o600))?;
    beneath::chown_at(parent, name, meta.uid, meta.gid).map_err(chown_context)?;
    // mknodat's mode went through the umask; a FIFO cannot be opened for fchmod
    // without blocking, so chmod it by name (it was just created: not a symlink).
    beneath::chmod_fifo_at(parent, name, meta.mode)?;
    beneath::set_times_at(parent, name, meta.mtime)?;
    Ok(free)
}

fn id32(id: u64) -> io::Result<u32> {
    u32::try_from(id)
        .ok()
        .filter(|id| *id != u32::MAX)
        .ok_or_else(|| io::Error::other(format!("owner id {id} is not a valid id")))
}

fn chown_context(e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("chown: {e}"))
}

/// Owner first, then mode: chown clears the setuid and setgid bits (chown(2)).
fn set_owner_mode(fd: BorrowedFd<'_>, uid: u32, gid: u32, mode: u32) -> io::Result<()> {
    finisher::set_owner(fd, uid, gid)?;
    beneath::fchmod(fd, mode)
}
