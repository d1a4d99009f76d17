//! `--keep NAME` remembers the SOURCE its layer was used over (`kept/NAME/source.json`):
//! a kept layer holds changes to one root filesystem, and laid over another one (another
//! image, or the same archive rebuilt) its deletions and edits land on files they were
//! not made for. podman ties a container's layer to its image for good; userns lets the
//! user reuse a NAME, and says so when the root filesystem under it changed.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a kept layer was last used over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeptSource {
    /// SOURCE as given, made absolute.
    pub source: PathBuf,
    /// The root filesystem under the layer: the directory itself, or the image cache's
    /// root of the image (which names the image's content, not only its file).
    pub rootfs: PathBuf,
}

const FILE: &str = "source.json";

/// What kept layer directory `kept` was last used over, when it says.
pub(crate) fn recorded(kept: &Path) -> Option<KeptSource> {
    std::fs::read(kept.join(FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

/// The warning, if any, for laying kept layer `name` (its directory `kept`) over `now`;
/// records `now` as the layer's source either way (atomically: temp file and rename).
pub(crate) fn check_and_record(
    name: &str,
    kept: &Path,
    now: &KeptSource,
) -> Result<Option<String>> {
    let path = kept.join(FILE);
    let before: Option<KeptSource> = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let warning = before.as_ref().and_then(|b| differs(name, b, now));
    if before.as_ref() != Some(now) {
        let temp = kept.join(format!(".{FILE}.{}", std::process::id()));
        let text = serde_json::to_vec_pretty(now)
            .map_err(|e| Error::failure("cannot encode the kept layer's source").because(e))?;
        std::fs::write(&temp, text).map_err(|e| Error::io("write", &temp, &e))?;
        std::fs::rename(&temp, &path).map_err(|e| Error::io("rename into place", &path, &e))?;
    }
    Ok(warning)
}

/// The words for a change of root filesystem under kept layer `name`.
fn differs(name: &str, before: &KeptSource, now: &KeptSource) -> Option<String> {
    if before.rootfs == now.rootfs {
        return None;
    }
    let what = if before.source == now.source {
        format!(
            "{} changed since layer {name} was last used over it (its root filesystem was {}, now {})",
            now.source.display(),
            before.rootfs.display(),
            now.rootfs.display()
        )
    } else {
        format!(
            "kept layer {name} was made over {}, and this run lays it over {}",
            before.source.display(),
            now.source.display()
        )
    };
    Some(format!(
        "{what}: the layer's changes (deleted and edited files) now apply to another root \
         filesystem; to start afresh use another --keep NAME, or remove the old layer \
         (userns clean ~/.local/share/userns/kept/{name})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(source: &str, rootfs: &str) -> KeptSource {
        KeptSource {
            source: source.into(),
            rootfs: rootfs.into(),
        }
    }

    #[test]
    fn a_new_source_or_a_changed_image_warns_once_and_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let a = src("/img/a.tar", "/cache/sha256-aaa/rootfs");
        assert_eq!(check_and_record("dev", dir.path(), &a).unwrap(), None);
        assert_eq!(check_and_record("dev", dir.path(), &a).unwrap(), None);
        let b = src("/img/b.tar", "/cache/sha256-bbb/rootfs");
        let w = check_and_record("dev", dir.path(), &b).unwrap().unwrap();
        assert!(
            w.contains("made over /img/a.tar") && w.contains("over /img/b.tar"),
            "{w}"
        );
        assert_eq!(check_and_record("dev", dir.path(), &b).unwrap(), None);
        let rebuilt = src("/img/b.tar", "/cache/sha256-ccc/rootfs");
        let w = check_and_record("dev", dir.path(), &rebuilt)
            .unwrap()
            .unwrap();
        assert!(w.contains("/img/b.tar changed since layer dev"), "{w}");
    }
}
