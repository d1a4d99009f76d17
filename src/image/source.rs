//! An image source as a set of named blobs: the members of an archive (read in place,
//! by offset, never extracted) or the files of an OCI layout directory.
//!
//! A blob is only ever a regular file (an archive member of type file, or a file in the
//! layout opened without following any symlink), and no more of it is read than the
//! image's descriptor says it holds: a layout whose blob links to /dev/zero or is a FIFO
//! is refused when it is opened, not read forever.

use super::beneath::Root;
use super::SourceKind;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// JSON documents (manifests, configs, index) larger than this are refused: real ones are
/// a few KiB, and reading one whole must not exhaust memory.
const MAX_JSON: u64 = 16 << 20;

/// How many symlinks between members of an archive are followed (docker's old save format
/// links a repeated layer to its first copy).
const MAX_MEMBER_LINKS: usize = 8;

fn not_an_image(source: &Path, why: &str) -> Error {
    Error::failure(format!("{} is not an image SOURCE", source.display()))
        .because(why)
        .fix(
            "give a root filesystem directory, an archive from `podman save` (docker-archive or \
             --format oci-archive) or an OCI layout directory",
        )
}

/// Detect the kind by content: a directory with `oci-layout` is an OCI layout, any other
/// directory a root file system; a tar file is an OCI archive when it holds `oci-layout`
/// and `index.json` (docker 25+ writes both layouts into one save; OCI is the fuller), a
/// docker-archive when it holds `manifest.json`.
pub(crate) fn detect(source: &Path) -> Result<SourceKind> {
    let meta = std::fs::metadata(source).map_err(|e| Error::io("read", source, &e))?;
    if meta.is_dir() {
        return Ok(if source.join("oci-layout").is_file() {
            SourceKind::OciLayout
        } else {
            SourceKind::RootfsDir
        });
    }
    if !meta.is_file() {
        return Err(not_an_image(
            source,
            "neither a directory nor a regular file",
        ));
    }
    let members = index_tar(source, Duplicates::FirstWins)?;
    if members.contains_key("oci-layout") && members.contains_key("index.json") {
        Ok(SourceKind::OciArchive)
    } else if members.contains_key("manifest.json") {
        Ok(SourceKind::DockerArchive)
    } else {
        Err(not_an_image(
            source,
            "a tar archive without manifest.json or oci-layout/index.json",
        ))
    }
}

/// A member of an archive: where its data starts and how long it is, or what it links to.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    offset: u64,
    size: u64,
    link: Option<String>,
    /// What it is when not a regular file nor a link ("a directory"), for the refusal.
    other_kind: Option<&'static str>,
}

#[derive(Debug)]
pub(crate) enum Blobs {
    Archive {
        path: PathBuf,
        file: File,
        /// The archive's length: a member cannot reach past it.
        len: u64,
        members: HashMap<String, Member>,
    },
    Layout {
        path: PathBuf,
        dir: Root,
    },
}

/// An archive member name as a plain relative path (`./a//b` → `a/b`).
fn member_name(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Which member of a name the image tools read when an archive holds the name twice
/// (`tar -r` appends a second copy; GNU tar stores a file listed twice as a hard link to
/// itself). userns reads what `podman load` reads (tests/image_e2e.rs runs both):
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Duplicates {
    /// docker-archive: containers/image reads the archive in place and takes the first
    /// member of the name (docker/internal/tarfile findTarComponent stops at the first).
    FirstWins,
    /// oci-archive: containers/image unpacks the archive into a directory first, so a
    /// later member replaces an earlier one, and a hard link is made to what its target
    /// is at that point of the archive (one to itself, or to a later member, fails).
    Unpacked,
}

/// Index the members of a tar file by name, seeking over their data, keeping for each
/// name the member that `rule` says the image tools read.
fn index_tar(path: &Path, rule: Duplicates) -> Result<HashMap<String, Member>> {
    let file = File::open(path).map_err(|e| Error::io("open", path, &e))?;
    let mut head = [0u8; 512];
    let n = file.read_at(&mut head, 0).unwrap_or(0);
    if n >= 4 && (head[..2] == [0x1f, 0x8b] || head[..4] == [0x28, 0xb5, 0x2f, 0xfd]) {
        return Err(
            not_an_image(path, "a compressed file; image archives are plain tar").fix(format!(
                "decompress it first (gunzip or unzstd), then give the .tar: {}",
                path.display()
            )),
        );
    }
    if n < 512 || &head[257..262] != b"ustar" {
        return Err(not_an_image(path, "not a tar archive (no ustar header)"));
    }
    let bad = |e: io::Error| not_an_image(path, &format!("unreadable tar: {e}"));
    let mut archive = tar::Archive::new(file);
    let mut members = HashMap::new();
    for entry in archive.entries_with_seek().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        let name = member_name(&entry.path_bytes());
        let kind = entry.header().entry_type();
        let other_kind = match kind {
            _ if kind.is_file() || kind.is_contiguous() => None,
            _ if kind.is_symlink() || kind.is_hard_link() => None,
            _ if kind.is_dir() => Some("a directory"),
            _ if kind.is_fifo() => Some("a FIFO"),
            _ if kind.is_character_special() || kind.is_block_special() => Some("a device"),
            _ => Some("not a regular file"),
        };
        let link = if kind.is_symlink() || kind.is_hard_link() {
            entry.link_name_bytes().map(|l| {
                let l = String::from_utf8_lossy(&l).into_owned();
                if kind.is_symlink() {
                    // A symlink's target is relative to the link's own directory.
                    let dir = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                    resolve_relative(dir, &l)
                } else {
                    member_name(l.as_bytes())
                }
            })
        } else {
            None
        };
        let member = Member {
            offset: entry.raw_file_position(),
            size: entry.size(),
            link,
            other_kind,
        };
        match rule {
            Duplicates::FirstWins => {
                members.entry(name).or_insert(member);
            }
            Duplicates::Unpacked if kind.is_hard_link() => {
                // Unpacking removes what is at the name, then links it to the target.
                members.remove(&name);
                let target = member.link.clone().unwrap_or_default();
                let Some(linked) = members.get(&target).cloned() else {
                    return Err(unlinkable(path, &name, &target));
                };
                members.insert(name, linked);
            }
            Duplicates::Unpacked => {
                members.insert(name, member);
            }
        }
    }
    Ok(members)
}

/// An OCI archive's hard link that an unpack cannot make: podman load refuses the archive
/// ("untarring file: no such file or directory"), and so does userns, naming the member.
fn unlinkable(path: &Path, name: &str, target: &str) -> Error {
    let why = if name == target {
        format!(
            "its member {name} is a hard link to itself: unpacking the archive, as podman \
             load does, removes the earlier {name} before it makes the link, so there is \
             nothing to link to"
        )
    } else {
        format!(
            "its member {name} is a hard link to {target}, which no member before it holds \
             (unpacking the archive, as podman load does, makes links in archive order)"
        )
    };
    Error::failure(format!(
        "{} cannot be used as an OCI archive",
        path.display()
    ))
    .because(why)
    .fix(
        "the archive was written with a file listed twice (GNU tar stores the second as a \
             hard link to the first): write it again without the duplicate, or save the image \
             again (podman save --format oci-archive)",
    )
}

/// `dir` joined with `target`, `..` applied lexically, confined to the archive's top.
fn resolve_relative(dir: &str, target: &str) -> String {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        dir.split('/').filter(|c| !c.is_empty()).collect()
    };
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// The file a blob lies in: the archive (shared by its members) or a layout's own file.
pub(crate) enum BlobFile<'a> {
    Shared(&'a File),
    Own(File),
}

impl BlobFile<'_> {
    fn file(&self) -> &File {
        match self {
            BlobFile::Shared(f) => f,
            BlobFile::Own(f) => f,
        }
    }
}

/// A reader of one blob's bytes, by position (`pread`), so that members of one archive
/// need no shared file offset; seekable within the blob, never past its ends.
pub(crate) struct BlobReader<'a> {
    file: BlobFile<'a>,
    start: u64,
    pos: u64,
    end: u64,
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.pos);
        let want = buf.len().min(left.min(usize::MAX as u64) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.file().read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for BlobReader<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = self.end - self.start;
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => (self.pos - self.start).checked_add_signed(d),
            SeekFrom::End(d) => len.checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the blob"))?;
        // Past the end reads as the end: nothing more of the file is ever read.
        self.pos = self.start + target.min(len);
        Ok(target.min(len))
    }
}

impl Blobs {
    pub(crate) fn open(source: &Path, kind: SourceKind) -> Result<Blobs> {
        match kind {
            SourceKind::DockerArchive | SourceKind::OciArchive => {
                let rule = if kind == SourceKind::OciArchive {
                    Duplicates::Unpacked
                } else {
                    Duplicates::FirstWins
                };
                let members = index_tar(source, rule)?;
                let file = File::open(source).map_err(|e| Error::io("open", source, &e))?;
                let len = file
                    .metadata()
                    .map_err(|e| Error::io("read", source, &e))?
                    .len();
                Ok(Blobs::Archive {
                    path: source.to_path_buf(),
                    file,
                    len,
                    members,
                })
            }
            SourceKind::OciLayout => Ok(Blobs::Layout {
                path: source.to_path_buf(),
                dir: Root::open(source).map_err(|e| Error::io("open", source, &e))?,
            }),
            SourceKind::RootfsDir => Err(Error::failure(format!(
                "{} is a root filesystem directory, not an image",
                source.display()
            ))),
        }
    }

    pub(crate) fn source_path(&self) -> &Path {
        match self {
            Blobs::Archive { path, .. } | Blobs::Layout { path, .. } => path,
        }
    }

    /// A blob that is not a plain file of the image.
    fn refused(&self, name: &str, why: impl Into<crate::error::Cause>) -> Error {
        Error::failure(format!(
            "{}: cannot use {name}",
            self.source_path().display()
        ))
        .because(why)
        .fix(
            "an image holds its blobs as regular files of their own: save or copy the image \
             again (podman save, skopeo copy), and do not use one whose blobs lead elsewhere",
        )
    }

    fn missing(&self, name: &str) -> Error {
        Error::failure(format!(
            "{}: {name} is missing",
            self.source_path().display()
        ))
        .because("the image names a file that the archive or layout does not hold")
        .fix("the image is incomplete or damaged: save it again (podman save)")
    }

    /// Open a blob by its name inside the source (`manifest.json`, `blobs/sha256/HEX`).
    /// `expected` is the size the image's descriptor gives it: a blob of another size is
    /// refused, and no more than that is ever read.
    pub(crate) fn open_blob(
        &self,
        name: &str,
        expected: Option<u64>,
    ) -> Result<(Box<dyn Read + Send + '_>, u64)> {
        let (reader, size) = self.open_blob_seekable(name, expected)?;
        Ok((Box::new(reader), size))
    }

    /// `open_blob`, seekable: reading only a plain layer's headers seeks over its data.
    pub(crate) fn open_blob_seekable(
        &self,
        name: &str,
        expected: Option<u64>,
    ) -> Result<(BlobReader<'_>, u64)> {
        if name.split('/').any(|c| c == "..") {
            return Err(self.missing(name).because("the name contains `..`"));
        }
        let (file, offset, size) = match self {
            Blobs::Archive {
                file, members, len, ..
            } => {
                let mut key = member_name(name.as_bytes());
                // The members the links passed through, to tell a circle from a chain.
                let mut path: Vec<String> = Vec::new();
                let member = loop {
                    let Some(member) = members.get(&key) else {
                        return Err(match path.last() {
                            None => self.missing(name),
                            Some(last) => self.refused(
                                name,
                                format!("the archive member {last} is a link to {key}, which the archive does not hold"),
                            ),
                        });
                    };
                    let Some(target) = &member.link else {
                        break member;
                    };
                    path.push(key.clone());
                    if path.contains(target) {
                        let circle = format!("{} -> {target}", path.join(" -> "));
                        return Err(self.refused(
                            name,
                            format!("the links between archive members go in a circle ({circle}): no member holds its data"),
                        ));
                    }
                    if path.len() > MAX_MEMBER_LINKS {
                        return Err(self.refused(
                            name,
                            format!("it leads through more than {MAX_MEMBER_LINKS} links between archive members"),
                        ));
                    }
                    key = target.clone();
                };
                if let Some(kind) = member.other_kind {
                    return Err(self.refused(name, format!("the archive member {key} is {kind}")));
                }
                let end = member.offset.saturating_add(member.size);
                if end > *len {
                    return Err(self.missing(name).because(format!(
                        "the archive ends {} bytes into its {} bytes: it is truncated",
                        len.saturating_sub(member.offset),
                        member.size
                    )));
                }
                (BlobFile::Shared(file), member.offset, member.size)
            }
            Blobs::Layout { path, dir } => {
                let (file, size) =
                    dir.open_regular(name.as_bytes())
                        .map_err(|e| match e.raw_os_error() {
                            Some(libc::ENOENT) => self.missing(name),
                            Some(libc::ELOOP) => self.refused(
                                name,
                                "it is a symlink (or lies under one), and blobs are opened \
                             without following links",
                            ),
                            Some(libc::EXDEV) => self.refused(name, "it leads out of the layout"),
                            None => self.refused(name, e),
                            _ => Error::io("open", &path.join(name), &e),
                        })?;
                (BlobFile::Own(file), 0, size)
            }
        };
        match expected {
            Some(n) if n != size => Err(Error::failure(format!(
                "{}: {name} does not have the size the image gives it",
                self.source_path().display()
            ))
            .because(format!("the image says {n} bytes, the blob holds {size}"))
            .fix("the image is damaged or was altered: save or copy it again")),
            _ => Ok((
                BlobReader {
                    file,
                    start: offset,
                    pos: offset,
                    end: offset + size,
                },
                size,
            )),
        }
    }

    /// Read a small JSON document whole (`expected`: its size, when a descriptor gives it).
    pub(crate) fn read_json_bytes(&self, name: &str, expected: Option<u64>) -> Result<Vec<u8>> {
        let (reader, size) = self.open_blob(name, expected)?;
        if size > MAX_JSON {
            return Err(Error::failure(format!(
                "{}: {name} is {size} bytes, too large for an image document",
                self.source_path().display()
            )));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        reader
            .take(MAX_JSON)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("read", &self.source_path().join(name), &e))?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_links_resolve_inside_the_archive() {
        assert_eq!(resolve_relative("abc", "../def/layer.tar"), "def/layer.tar");
        assert_eq!(resolve_relative("abc", "/def/layer.tar"), "def/layer.tar");
        assert_eq!(resolve_relative("", "../../x"), "x");
        assert_eq!(member_name(b"./blobs//sha256/ab"), "blobs/sha256/ab");
    }
}
