//! Which container or image a file came from, where that can be known from the path:
//! podman's storage (containers/storage keeps each layer in `overlay/<layer>/` or
//! `vfs/dir/<layer>/`, and indexes layers, images and containers in
//! `overlay-layers/layers.json`, `overlay-images/images.json` and
//! `overlay-containers/containers.json`; named volumes in `volumes/<name>/_data`), and
//! userns's own data dir (the image cache `images/<hex>/rootfs`, kept layers
//! `kept/<name>`).

use crate::image::cache::ImageCache;
use crate::storage::StoragePaths;
use crate::users::Account;
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

/// Where a file came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// podman-container, podman-image, podman-layer, podman-volume, userns-image,
    /// userns-kept.
    pub kind: &'static str,
    pub text: String,
}

#[derive(Debug, Default, Deserialize)]
struct LayerRecord {
    id: String,
    #[serde(default)]
    parent: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ImageRecord {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    layer: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ContainerRecord {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    layer: Option<String>,
}

/// podman's index of its storage, read once when a path under it is asked about.
#[derive(Debug, Default)]
struct PodmanIndex {
    layers: Vec<LayerRecord>,
    images: Vec<ImageRecord>,
    containers: Vec<ContainerRecord>,
}

fn read_json<T: for<'de> Deserialize<'de> + Default>(path: &Path) -> T {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

impl PodmanIndex {
    fn read(graphroot: &Path) -> PodmanIndex {
        let mut index = PodmanIndex::default();
        for driver in ["overlay", "vfs"] {
            let layers: Vec<LayerRecord> =
                read_json(&graphroot.join(format!("{driver}-layers/layers.json")));
            let images: Vec<ImageRecord> =
                read_json(&graphroot.join(format!("{driver}-images/images.json")));
            let containers: Vec<ContainerRecord> =
                read_json(&graphroot.join(format!("{driver}-containers/containers.json")));
            index.layers.extend(layers);
            index.images.extend(images);
            index.containers.extend(containers);
        }
        index
    }

    fn image_name(&self, id: &str) -> String {
        match self.images.iter().find(|i| i.id == id) {
            Some(i) if !i.names.is_empty() => format!("{} ({})", i.names.join(", "), short(id)),
            _ => short(id),
        }
    }

    /// The images whose layer chain holds `layer`.
    fn images_with_layer(&self, layer: &str) -> Vec<&ImageRecord> {
        self.images
            .iter()
            .filter(|img| {
                let mut at = img.layer.clone();
                // A chain is short; the bound only stops a cycle in a damaged index.
                for _ in 0..1000 {
                    match at {
                        Some(ref l) if l == layer => return true,
                        Some(l) => {
                            at = self
                                .layers
                                .iter()
                                .find(|r| r.id == l)
                                .and_then(|r| r.parent.clone())
                        }
                        None => return false,
                    }
                }
                false
            })
            .collect()
    }

    fn container_text(&self, c: &ContainerRecord) -> String {
        let name = c.names.first().cloned().unwrap_or_else(|| short(&c.id));
        match &c.image {
            Some(image) => format!(
                "podman container {name} ({}), of image {}",
                short(&c.id),
                self.image_name(image)
            ),
            None => format!("podman container {name} ({})", short(&c.id)),
        }
    }

    fn of_layer(&self, layer: &str) -> Option<Origin> {
        if let Some(c) = self
            .containers
            .iter()
            .find(|c| c.layer.as_deref() == Some(layer))
        {
            return Some(Origin {
                kind: "podman-container",
                text: format!("the writable layer of {}", self.container_text(c)),
            });
        }
        let images = self.images_with_layer(layer);
        if !images.is_empty() {
            let names: Vec<String> = images.iter().map(|i| self.image_name(&i.id)).collect();
            return Some(Origin {
                kind: "podman-image",
                text: format!(
                    "layer {} of podman image {}",
                    short(layer),
                    names.join("; ")
                ),
            });
        }
        Some(Origin {
            kind: "podman-layer",
            text: format!(
                "podman layer {} (no image or container uses it)",
                short(layer)
            ),
        })
    }

    fn of_container(&self, id: &str) -> Option<Origin> {
        let c = self.containers.iter().find(|c| c.id == id)?;
        Some(Origin {
            kind: "podman-container",
            text: format!("the run data of {}", self.container_text(c)),
        })
    }
}

/// 12 characters of an id, as podman shows them.
fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

/// The places origins are looked up in, and podman's index once read.
#[derive(Debug)]
pub struct Origins {
    graphroot: PathBuf,
    userns_data: Option<PathBuf>,
    cache: ImageCache,
    podman: OnceLock<PodmanIndex>,
}

/// The path's components after `base`, as text (None when not under it).
fn below<'p>(path: &'p Path, base: &Path) -> Option<Vec<&'p str>> {
    let rest = path.strip_prefix(base).ok()?;
    Some(
        rest.components()
            .filter_map(|c| match c {
                Component::Normal(s) => s.to_str(),
                _ => None,
            })
            .collect(),
    )
}

impl Origins {
    pub fn for_user(account: &Account) -> Origins {
        let canon = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
        let cache = ImageCache::for_user(account);
        Origins {
            graphroot: canon(StoragePaths::discover(account).graphroot),
            userns_data: cache.root.parent().map(|p| canon(p.to_path_buf())),
            cache: ImageCache {
                root: canon(cache.root),
            },
            podman: OnceLock::new(),
        }
    }

    /// Where the file at the canonical `path` came from, if that is known.
    pub fn origin_of(&self, path: &Path) -> Option<Origin> {
        if let Some(parts) = below(path, &self.graphroot) {
            return self.in_podman(&parts);
        }
        if let Some(parts) = below(path, &self.cache.root) {
            let hex = parts.first()?;
            let id = format!("sha256:{hex}");
            let text = match self.cache.lookup(&id).ok().flatten() {
                Some(img) => format!(
                    "userns image {} (unpacked from {})",
                    short(hex),
                    img.source.display()
                ),
                None => format!("userns image {}", short(hex)),
            };
            return Some(Origin {
                kind: "userns-image",
                text,
            });
        }
        let data = self.userns_data.as_ref()?;
        match below(path, data)?.as_slice() {
            ["kept", name, ..] => Some(Origin {
                kind: "userns-kept",
                text: format!("userns kept layer {name} (userns run --keep {name})"),
            }),
            _ => None,
        }
    }

    fn in_podman(&self, parts: &[&str]) -> Option<Origin> {
        let index = || {
            self.podman
                .get_or_init(|| PodmanIndex::read(&self.graphroot))
        };
        match parts {
            ["overlay" | "vfs-layers", layer, ..] | ["vfs", "dir", layer, ..] if *layer != "l" => {
                index().of_layer(layer)
            }
            ["overlay-containers" | "vfs-containers", id, ..] => index().of_container(id),
            ["volumes", name, ..] => Some(Origin {
                kind: "podman-volume",
                text: format!("podman volume {name}"),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_images_and_containers_are_found() {
        let t = tempfile::tempdir().unwrap();
        let g = t.path().join("storage");
        std::fs::create_dir_all(g.join("overlay-layers")).unwrap();
        std::fs::create_dir_all(g.join("overlay-images")).unwrap();
        std::fs::create_dir_all(g.join("overlay-containers")).unwrap();
        std::fs::write(
            g.join("overlay-layers/layers.json"),
            r#"[{"id":"aaaa1111aaaa2222","parent":null},{"id":"bbbb1111bbbb2222","parent":"aaaa1111aaaa2222"},{"id":"cccc","parent":"bbbb1111bbbb2222"}]"#,
        )
        .unwrap();
        std::fs::write(
            g.join("overlay-images/images.json"),
            r#"[{"id":"1234567890abcdef","names":["localhost/tiny:latest"],"layer":"bbbb1111bbbb2222"}]"#,
        )
        .unwrap();
        std::fs::write(
            g.join("overlay-containers/containers.json"),
            r#"[{"id":"feedfeedfeedfeed","names":["web"],"image":"1234567890abcdef","layer":"cccc"}]"#,
        )
        .unwrap();
        let o = Origins {
            graphroot: g.clone(),
            userns_data: Some(t.path().join("userns")),
            cache: ImageCache {
                root: t.path().join("userns/images"),
            },
            podman: OnceLock::new(),
        };
        let of = |p: &str| o.origin_of(&g.join(p)).map(|o| o.text);
        assert_eq!(
            of("overlay/aaaa1111aaaa2222/diff/etc/passwd").unwrap(),
            "layer aaaa1111aaaa of podman image localhost/tiny:latest (1234567890ab)"
        );
        assert_eq!(
            of("overlay/cccc/diff/data").unwrap(),
            "the writable layer of podman container web (feedfeedfeed), of image localhost/tiny:latest (1234567890ab)"
        );
        assert_eq!(of("volumes/v1/_data/x").unwrap(), "podman volume v1");
        assert!(of("overlay/l/ABC").is_none());
        assert_eq!(
            o.origin_of(&t.path().join("userns/kept/app/upper/f"))
                .unwrap()
                .kind,
            "userns-kept"
        );
    }
}
