//! The names of cached images: `names.json` in the cache, one entry per
//! repository and tag (or digest, for a pull by digest), pointing at an image id, as
//! podman's image store keeps names beside images. A tag names one image: pulling it
//! again moves it. The file is replaced whole (temp, fsync, rename) under a lock.

use super::ImageCache;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

const NAMES: &str = "names.json";
const LOCK: &str = ".names.lock";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageName {
    /// `registry/repository`.
    pub repository: String,
    /// None for a pull by digest alone.
    pub tag: Option<String>,
    /// The manifest's digest, as the registry names it.
    pub digest: String,
    /// The image id (`sha256:` of its config).
    pub id: String,
    /// Seconds since the epoch.
    pub pulled_at: u64,
}

/// The names, held locked while they are changed.
pub struct Names {
    path: PathBuf,
    pub entries: Vec<ImageName>,
    _lock: Option<OwnedFd>,
}

fn read(path: &Path) -> Result<Vec<ImageName>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Error::failure(format!("{} is not a valid names file", path.display()))
                .because(e)
                .fix(format!(
                    "remove it (the images stay; pull them again to name them): rm {}",
                    path.display()
                ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io("read", path, &e)),
    }
}

impl Names {
    /// Read the names (no lock: a reader sees one whole file or the other).
    pub fn read(cache: &ImageCache) -> Result<Names> {
        let path = cache.root.join(NAMES);
        Ok(Names {
            entries: read(&path)?,
            path,
            _lock: None,
        })
    }

    /// Read the names to change them: held under the cache's names lock until dropped.
    pub fn lock(cache: &ImageCache) -> Result<Names> {
        crate::trusted_dir::ensure_all(&cache.root, crate::trusted_dir::Kind::Private)?;
        let lock_path = cache.root.join(LOCK);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io("open", &lock_path, &e))?;
        crate::sys::fs::flock(&file, crate::sys::fs::FlockOperation::LockExclusive)
            .map_err(|e| Error::io("lock", &lock_path, &e.into()))?;
        let mut names = Names::read(cache)?;
        names._lock = Some(file.into());
        Ok(names)
    }

    /// Name `id` as `repository[:tag]` (moving the tag from any other image); a pull by
    /// digest alone records the digest.
    pub fn set(&mut self, repository: &str, tag: Option<&str>, digest: &str, id: &str) {
        self.entries.retain(|n| {
            !(n.repository == repository
                && match tag {
                    Some(t) => n.tag.as_deref() == Some(t),
                    None => n.tag.is_none() && n.digest == digest,
                })
        });
        self.entries.push(ImageName {
            repository: repository.to_string(),
            tag: tag.map(str::to_string),
            digest: digest.to_string(),
            id: id.to_string(),
            pulled_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        });
    }

    /// The image a reference names: by tag, or by manifest digest.
    pub fn find(
        &self,
        repository: &str,
        tag: Option<&str>,
        digest: Option<&str>,
    ) -> Option<&ImageName> {
        self.entries.iter().rev().find(|n| {
            n.repository == repository
                && match (digest, tag) {
                    (Some(d), _) => n.digest == d,
                    (None, t) => n.tag.as_deref() == Some(t.unwrap_or("latest")),
                }
        })
    }

    pub fn of_image<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a ImageName> + 'a {
        self.entries.iter().filter(move |n| n.id == id)
    }

    /// Write the names back (the caller holds the lock).
    pub fn save(&self) -> Result<()> {
        let text = serde_json::to_vec_pretty(&self.entries)
            .map_err(|e| Error::failure("cannot encode the image names").because(e))?;
        let tmp = self.path.with_extension("json.tmp");
        {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io("create", &tmp, &e))?;
            f.write_all(&text)
                .and_then(|()| f.sync_all())
                .map_err(|e| Error::io("write", &tmp, &e))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(|e| Error::io("rename", &tmp, &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            path: PathBuf::from("/nonexistent/names.json"),
            entries: Vec::new(),
            _lock: None,
        }
    }

    #[test]
    fn a_tag_names_one_image_and_moves_on_a_new_pull() {
        let mut n = names();
        n.set("r.example/app", Some("v1"), "sha256:m1", "sha256:i1");
        n.set("r.example/app", Some("latest"), "sha256:m1", "sha256:i1");
        n.set("r.example/app", Some("v1"), "sha256:m2", "sha256:i2");
        assert_eq!(n.entries.len(), 2);
        assert_eq!(
            n.find("r.example/app", Some("v1"), None).unwrap().id,
            "sha256:i2"
        );
        assert_eq!(n.find("r.example/app", None, None).unwrap().id, "sha256:i1");
        assert_eq!(
            n.find("r.example/app", None, Some("sha256:m2")).unwrap().id,
            "sha256:i2"
        );
        assert!(n.find("r.example/other", Some("v1"), None).is_none());
        n.set("r.example/app", None, "sha256:m3", "sha256:i3");
        assert_eq!(n.of_image("sha256:i3").count(), 1);
    }
}
