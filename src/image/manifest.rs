//! From an image's documents to a plan: its id, its config and its layers in order.
//!
//! docker-archive (docker `image/tarexport`, podman `docker/tarfile`): `manifest.json` is a
//! list of `{Config, RepoTags, Layers}`; Config names the config JSON and Layers the layer
//! tars, lowest first. OCI (image-spec `image-layout.md`): `index.json` lists manifests
//! (or nested indexes); a manifest names its config and layers by digest, found at
//! `blobs/ALG/HEX`. In both, the config's `rootfs.diff_ids` are the digests of the
//! uncompressed layers, in the same order: they are required, since they are all a
//! docker-archive has to check its layers against.

use super::digest::{self, Algorithm};
use super::source::Blobs;
use super::{ImageConfig, SourceKind};
use crate::error::{Error, Result};
use serde::Deserialize;

/// One layer to apply: where its blob is and the digests to check it against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LayerRef {
    /// The blob's name inside the source.
    pub(crate) blob: String,
    /// The digest of the blob as stored (OCI descriptors give it; it may be compressed).
    pub(crate) digest: Option<String>,
    /// The blob's size as the OCI descriptor gives it: no more is read.
    pub(crate) size: Option<u64>,
    /// The digest of the uncompressed tar (the config's rootfs.diff_ids), well formed.
    pub(crate) diff_id: String,
}

/// What an image source resolves to, before anything is unpacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImagePlan {
    /// `sha256:` of the config blob: the image id podman and docker show.
    pub(crate) id: String,
    pub(crate) config: ImageConfig,
    pub(crate) layers: Vec<LayerRef>,
}

#[derive(Deserialize)]
struct DockerManifest {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

/// An index.json or a manifest: which one it is shows by its keys.
#[derive(Deserialize)]
struct OciDocument {
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct ContainerConfig {
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    stop_signal: Option<String>,
}

#[derive(Deserialize, Default)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

#[derive(Deserialize)]
struct ConfigDocument {
    #[serde(default)]
    config: Option<ContainerConfig>,
    #[serde(default)]
    rootfs: Option<RootFs>,
}

fn parse<'a, T: Deserialize<'a>>(blobs: &Blobs, name: &str, bytes: &'a [u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::failure(format!(
            "{}: {name} is not a valid image document",
            blobs.source_path().display()
        ))
        .because(e)
        .fix("the image is damaged or of an unknown format: save it again (podman save)")
    })
}

/// The blob name of a digest, refusing anything but `ALG:HEX` (a digest taken from a
/// document must not become a path such as `../../x`).
pub(crate) fn blob_name(digest: &str) -> Option<String> {
    let (alg, hex) = digest::parse(digest)?;
    Some(format!("blobs/{}/{hex}", alg.name()))
}

fn bad_digest(blobs: &Blobs, digest: &str) -> Error {
    Error::failure(format!(
        "{}: unusable digest {digest:?}",
        blobs.source_path().display()
    ))
    .because(format!("a digest must be {}", digest::FORMS))
    .fix("the image is damaged or was made by hand: save it again (podman save)")
}

/// Plan an archive or layout of `kind`.
pub(crate) fn plan(blobs: &Blobs, kind: SourceKind) -> Result<ImagePlan> {
    match kind {
        SourceKind::DockerArchive => plan_docker(blobs),
        _ => plan_oci(blobs),
    }
}

fn plan_docker(blobs: &Blobs) -> Result<ImagePlan> {
    let bytes = blobs.read_json_bytes("manifest.json", None)?;
    let entries: Vec<DockerManifest> = parse(blobs, "manifest.json", &bytes)?;
    let Some(entry) = entries.first() else {
        return Err(Error::failure(format!(
            "{}: manifest.json lists no image",
            blobs.source_path().display()
        )));
    };
    if entries.len() > 1 {
        crate::warn(format!(
            "{} holds {} images; using the first",
            blobs.source_path().display(),
            entries.len()
        ));
    }
    let layers = entry
        .layers
        .iter()
        .map(|l| (l.clone(), None, None))
        .collect();
    finish(blobs, &entry.config, None, layers)
}

fn plan_oci(blobs: &Blobs) -> Result<ImagePlan> {
    let mut name = "index.json".to_string();
    let mut expected: Option<String> = None;
    let mut size = None;
    // An index may name another index (multi-platform images); follow a few levels.
    for _ in 0..4 {
        let bytes = blobs.read_json_bytes(&name, size)?;
        if let Some(expected) = &expected {
            check_digest(blobs, &name, expected, &bytes)?;
        }
        let doc: OciDocument = parse(blobs, &name, &bytes)?;
        if let Some(manifests) = doc.manifests {
            let chosen = choose_manifest(&manifests).ok_or_else(|| {
                Error::failure(format!(
                    "{}: {name} lists no manifest for {}/{}",
                    blobs.source_path().display(),
                    std::env::consts::OS,
                    go_arch()
                ))
                .fix("save the image for this platform (podman save --platform ...)")
            })?;
            name = blob_name(&chosen.digest).ok_or_else(|| bad_digest(blobs, &chosen.digest))?;
            expected = Some(chosen.digest.clone());
            size = chosen.size;
            continue;
        }
        let Some(config) = doc.config else {
            return Err(Error::failure(format!(
                "{}: {name} is neither an index nor a manifest",
                blobs.source_path().display()
            )));
        };
        let mut layers = Vec::new();
        for l in &doc.layers {
            let blob = blob_name(&l.digest).ok_or_else(|| bad_digest(blobs, &l.digest))?;
            if l.media_type.contains("nondistributable") || l.media_type.contains("foreign") {
                crate::warn(format!("layer {} is marked non-distributable", l.digest));
            }
            layers.push((blob, Some(l.digest.clone()), l.size));
        }
        let config_name =
            blob_name(&config.digest).ok_or_else(|| bad_digest(blobs, &config.digest))?;
        return finish(
            blobs,
            &config_name,
            Some((&config.digest, config.size)),
            layers,
        );
    }
    Err(Error::failure(format!(
        "{}: index.json nests indexes too deep",
        blobs.source_path().display()
    )))
}

/// The manifest for this machine: a platform match, else the only one, else one without
/// a platform.
fn choose_manifest(list: &[Descriptor]) -> Option<&Descriptor> {
    let arch = go_arch();
    list.iter()
        .find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == arch)
        })
        .or_else(|| (list.len() == 1).then(|| &list[0]))
        .or_else(|| list.iter().find(|d| d.platform.is_none()))
}

/// This machine's architecture as OCI platforms name it (Go's GOARCH).
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// A document named by digest must have that digest, in the digest's own algorithm.
fn check_digest(blobs: &Blobs, name: &str, expected: &str, bytes: &[u8]) -> Result<()> {
    let (alg, _) = digest::parse(expected).ok_or_else(|| bad_digest(blobs, expected))?;
    let actual = digest::of(alg, bytes);
    if expected != actual {
        return Err(Error::failure(format!(
            "{}: {name} does not match its digest",
            blobs.source_path().display()
        ))
        .because(format!("it is named {expected}, the content is {actual}"))
        .fix("the image is damaged or was altered: save it again"));
    }
    Ok(())
}

/// A layer as the manifest gives it: blob name, digest and size (OCI only).
type ManifestLayer = (String, Option<String>, Option<u64>);

/// Read the config: compute the image id, check it against the manifest's digest (and
/// size), and pair the layers with the config's diff_ids, which every layer must have.
fn finish(
    blobs: &Blobs,
    config_name: &str,
    expected: Option<(&str, Option<u64>)>,
    manifest_layers: Vec<ManifestLayer>,
) -> Result<ImagePlan> {
    let bytes = blobs.read_json_bytes(config_name, expected.and_then(|(_, size)| size))?;
    let id = digest::of(Algorithm::Sha256, &bytes);
    if let Some((expected, _)) = expected {
        check_digest(blobs, config_name, expected, &bytes)?;
    }
    let doc: ConfigDocument = parse(blobs, config_name, &bytes)?;
    let diff_ids = doc.rootfs.unwrap_or_default().diff_ids;
    let source = blobs.source_path().display();
    if diff_ids.len() != manifest_layers.len() {
        let what = if diff_ids.is_empty() {
            format!(
                "{source}: the config {config_name} gives no diff_id (rootfs.diff_ids) for its \
                 {} layers",
                manifest_layers.len()
            )
        } else {
            format!(
                "{source}: the config {config_name} lists {} diff_ids (rootfs.diff_ids), the \
                 manifest {} layers",
                diff_ids.len(),
                manifest_layers.len()
            )
        };
        return Err(Error::failure(what)
            .because(
                "each layer's uncompressed digest must be in the config: it is what the layer \
                 is checked against (a docker-archive has nothing else)",
            )
            .fix("the image is damaged or was made by hand: save it again (podman save)"));
    }
    let total = manifest_layers.len();
    let mut layers = Vec::with_capacity(total);
    for (i, ((blob, digest, size), diff_id)) in
        manifest_layers.into_iter().zip(diff_ids).enumerate()
    {
        if digest::parse(&diff_id).is_none() {
            return Err(Error::failure(format!(
                "{source}: the diff_id {diff_id:?} of layer {} of {total} ({blob}) is unusable",
                i + 1
            ))
            .because(format!("a diff_id must be {}", digest::FORMS))
            .fix("the image is damaged or was made by hand: save it again (podman save)"));
        }
        layers.push(LayerRef {
            blob,
            digest,
            size,
            diff_id,
        });
    }
    let c = doc.config.unwrap_or_default();
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    Ok(ImagePlan {
        id,
        config: ImageConfig {
            entrypoint: c.entrypoint.unwrap_or_default(),
            cmd: c.cmd.unwrap_or_default(),
            env: c.env.unwrap_or_default(),
            working_dir: non_empty(c.working_dir),
            user: non_empty(c.user),
            stop_signal: non_empty(c.stop_signal),
        },
        layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_become_blob_names_only_when_well_formed() {
        let hex = "a".repeat(64);
        assert_eq!(
            blob_name(&format!("sha256:{hex}")),
            Some(format!("blobs/sha256/{hex}"))
        );
        assert_eq!(blob_name("sha256:../../etc/passwd"), None);
        assert_eq!(blob_name(&format!("md5:{hex}")), None);
        let hex = "b".repeat(128);
        assert_eq!(
            blob_name(&format!("sha512:{hex}")),
            Some(format!("blobs/sha512/{hex}"))
        );
        assert_eq!(blob_name("sha256"), None);
    }
}
