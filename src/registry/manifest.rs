//! Manifests and indexes as registries serve them: OCI (image-spec `manifest.md`,
//! `image-index.md`) and Docker's v2 schema 2 and manifest list, which have the same
//! shape. An index names one manifest per platform; the host's is chosen (or
//! `--platform OS/ARCH[/VARIANT]`), as containers/image's `platform` matcher does.

use crate::error::{Error, Result};
use serde::Deserialize;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_V1: &str = "application/vnd.docker.distribution.manifest.v1";

/// Every type userns reads, for `Accept`.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// containers/image's limit for a manifest.
pub const MAX_MANIFEST: u64 = 4 << 20;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
pub struct Platform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    /// This machine, as OCI platforms name it (Go's GOOS/GOARCH, arm variants).
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            other => (other, None),
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: variant.map(str::to_string),
        }
    }

    /// `--platform OS/ARCH[/VARIANT]`.
    pub fn parse(text: &str) -> Result<Platform> {
        let parts: Vec<&str> = text.split('/').collect();
        let bad = || {
            Error::usage(format!("invalid --platform {text:?}"))
                .fix("give OS/ARCH or OS/ARCH/VARIANT, as podman does: linux/arm64/v8")
        };
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        Ok(Platform {
            os: parts[0].to_string(),
            architecture: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }

    fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && match (&self.variant, &other.variant) {
                (Some(want), Some(have)) => want == have,
                // arm64's v8 is implied when an index leaves it out.
                _ => true,
            }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An index or an image manifest (told by media type, else by keys).
#[derive(Debug, Deserialize)]
pub struct Document {
    #[serde(rename = "schemaVersion", default)]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

impl Document {
    pub fn parse(what: &str, content_type: &str, bytes: &[u8]) -> Result<Document> {
        if content_type.starts_with(DOCKER_V1) {
            return Err(Error::failure(format!(
                "{what} is a Docker schema 1 manifest, which userns does not read"
            ))
            .because("schema 1 was retired by Docker in 2019 and carries no config digest")
            .fix("push the image again with a current tool (skopeo copy, podman push)"));
        }
        let doc: Document = serde_json::from_slice(bytes).map_err(|e| {
            Error::failure(format!("{what} is not a valid manifest"))
                .because(e)
                .fix("check the reference; the registry sent something else")
        })?;
        if doc.manifests.is_none() && doc.config.is_none() {
            return Err(Error::failure(format!(
                "{what} is neither an image manifest nor an index"
            ))
            .because(format!(
                "media type {content_type:?}, schemaVersion {}",
                doc.schema_version
            )));
        }
        Ok(doc)
    }
}

/// The manifest of `list` for `want`.
pub fn choose<'a>(what: &str, list: &'a [Descriptor], want: &Platform) -> Result<&'a Descriptor> {
    list.iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
        .ok_or_else(|| {
            let offered: Vec<String> = list
                .iter()
                .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
                .collect();
            Error::failure(format!("{what} has no image for {want}"))
                .because(format!("it offers: {}", offered.join(", ")))
                .fix("choose one of those with --platform OS/ARCH[/VARIANT]")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: format!("sha256:{}", "a".repeat(64)),
            size: 1,
            platform: Some(Platform {
                os: os.into(),
                architecture: arch.into(),
                variant: variant.map(str::to_string),
            }),
        }
    }

    #[test]
    fn platforms_are_chosen_by_os_arch_and_variant() {
        let list = vec![
            desc("linux", "arm", Some("v6")),
            desc("linux", "arm", Some("v7")),
            desc("linux", "arm64", None),
            desc("linux", "amd64", None),
        ];
        let p = |t: &str| Platform::parse(t).unwrap();
        assert_eq!(choose("x", &list, &p("linux/arm/v7")).unwrap(), &list[1]);
        assert_eq!(choose("x", &list, &p("linux/arm64/v8")).unwrap(), &list[2]);
        assert_eq!(choose("x", &list, &p("linux/amd64")).unwrap(), &list[3]);
        let e = choose("x", &list, &p("linux/s390x")).unwrap_err();
        assert!(e.cause.as_deref().unwrap().contains("linux/arm/v7"), "{e}");
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux//v7").is_err());
    }

    #[test]
    fn schema1_and_unknown_documents_are_refused() {
        let v1 = "application/vnd.docker.distribution.manifest.v1+prettyjws";
        assert!(Document::parse("m", v1, b"{}").is_err());
        assert!(Document::parse("m", OCI_MANIFEST, b"{\"schemaVersion\":2}").is_err());
        assert!(Document::parse("m", OCI_MANIFEST, b"not json").is_err());
    }
}
