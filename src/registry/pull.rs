//! A pull, in the order that keeps a half image from ever being used:
//!
//! 1. resolve the reference (registries.conf: aliases, search registries, rewrites,
//!    mirrors, blocks) and fetch its manifest, choosing the platform's from an index;
//! 2. when the image (its config digest) is cached already, only record the name;
//! 3. else download the config into the stage (`stage`), then the layers, up to
//!    [`super::layers::PARALLEL_LAYERS`] at once, each on its own connection into its own resumable
//!    part. Each byte of a layer is read once: as it arrives it is hashed (size and
//!    digest), and handed to a thread of the layer's own (`layertap`) that decompresses
//!    it, hashes the tar for the config's diff_id, reads the tar headers into an id
//!    census, and writes the tar into the stage, named by its diff_id once that matched;
//! 4. in the mapped user namespace, every blob here and verified and nothing unpacked,
//!    hold the census against the namespace's map (`image::idcheck`: a refusal removes
//!    the stage and leaves the cache as it was);
//! 5. unpack through `image::install_pulled` (the unpacker of OCI layouts), told that the
//!    digests, diff_ids and owners are checked already (`Staged::VerifiedWhileStreaming`:
//!    it hashes nothing, and unpacks the kept tars rather than decompress the layers
//!    again), record the name, remove the stage.
//!
//! The image record and names.json stay fsynced before their renames (`ImageCache`,
//! `Names`): the rename is what makes an image or a name exist, and without the fsync a
//! crash could leave the name pointing at an image whose record is empty, which `run`
//! would then trust. The stage is not fsynced: a later pull re-reads and re-checks
//! whatever it finds there.
//!
//! Steps 1–3 run as the user, outside any namespace (`fetch`); steps 4–5 run inside one
//! (`install`), which `userns pull` joins (made ahead while it downloads,
//! `unshare::ahead`) and `userns run` already is in.

use super::auth::{self, CredSource, Credentials};
use super::client::{Access, Session};
use super::config::{Endpoint, RegistriesConf, Resolution};
use super::layers::{download_all, Downloaded, Failed};
use super::manifest::{self, Document, Platform, ACCEPT, MAX_MANIFEST};
use super::reference::Reference;
use super::stage::Stage;
use crate::error::{Error, Result};
use crate::image::digest::{self, Algorithm};
use crate::image::idcheck::{self, IdCensus, MapTarget};
use crate::image::names::Names;
use crate::image::{CachedImage, ImageCache};
use crate::users::Account;
use indicatif::ProgressBar;
use std::path::PathBuf;

/// What the user asked for, as plain values (the command line builds it).
#[derive(Debug, Clone, Default)]
pub struct PullSpec {
    pub reference: String,
    /// `--platform OS/ARCH[/VARIANT]`; the host's when None.
    pub platform: Option<String>,
    /// `--tls-verify`: None follows registries.conf (`insecure`).
    pub tls_verify: Option<bool>,
    pub authfile: Option<PathBuf>,
    /// `--creds USER[:PASS]`.
    pub creds: Option<String>,
    /// Download the blobs even when the image is cached (`image check` of a reference
    /// reads them).
    pub always_stage: bool,
}

/// A fetched image: its name, its digests, and its stage (None when it was cached).
pub struct Fetched {
    pub reference: Reference,
    pub manifest_digest: String,
    /// The image id: the config's digest.
    pub id: String,
    pub stage: Option<Stage>,
    /// The owners of the staged layers' files, read as they streamed (Some with a stage).
    pub census: Option<IdCensus>,
    /// The compressed blobs of the stage the unpack does not read (their tars are kept).
    replaced: Vec<PathBuf>,
}

impl Fetched {
    /// The pull is done with its blobs (installed, refused, or only checked): the
    /// stage is removed.
    pub fn remove_stage(&self) {
        if let Some(stage) = &self.stage {
            stage.remove();
        }
    }
}

impl Fetched {
    /// `docker://REGISTRY/REPOSITORY:TAG`, the source recorded for the image.
    pub fn origin(&self) -> String {
        format!("docker://{}", self.reference)
    }
}

/// A byte bar on a terminal (stderr); nothing when piped or quiet.
pub fn progress_bar(quiet: bool) -> ProgressBar {
    use indicatif::{ProgressDrawTarget, ProgressStyle};
    use std::io::IsTerminal;
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
        ProgressStyle::with_template(
            "{msg} {bar:30} {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
}

/// Whether SOURCE of `userns run` is a reference rather than a path: nothing exists at
/// that path, it does not read as one (`/`, `./`, `.tar`), and it parses as a reference.
pub fn looks_like_reference(text: &str) -> bool {
    std::fs::symlink_metadata(text).is_err()
        && !text.starts_with(['/', '.'])
        && !text.ends_with(".tar")
        && super::reference::parse(text).is_ok()
}

/// The cached image that `text` names, when it was pulled before (no network).
pub fn cached(text: &str, cache: &ImageCache, account: &Account) -> Result<Option<String>> {
    let conf = RegistriesConf::load(account.home.as_deref())?;
    let Ok((candidates, _)) = conf.resolve(text) else {
        return Ok(None);
    };
    let names = Names::read(cache)?;
    for r in candidates {
        if let Some(n) = names.find(&r.name(), r.tag.as_deref(), r.digest.as_deref()) {
            if crate::image::prepare_cached(&n.id, cache)?.is_some() {
                return Ok(Some(n.id.clone()));
            }
        }
    }
    Ok(None)
}

/// Steps 1–4: resolve, fetch the manifest, download and verify every blob.
pub fn fetch(
    spec: &PullSpec,
    cache: &ImageCache,
    account: &Account,
    progress: &ProgressBar,
) -> Result<Fetched> {
    let home = account.home.as_deref();
    let conf = RegistriesConf::load(home)?;
    let platform = match &spec.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let creds = spec.creds.as_deref().map(Credentials::parse).transpose()?;
    let files = auth::auth_files(spec.authfile.as_deref(), home, account.uid)?;
    let (helpers, helpers_named_in) = conf.credential_helpers();
    let sources = auth::Sources {
        helpers: &helpers,
        helpers_named_in: &helpers_named_in,
        files: &files,
    };
    let (candidates, resolution) = conf.resolve(&spec.reference)?;
    if let Resolution::Alias(file) = &resolution {
        crate::progress(format_args!(
            "resolved {:?} as an alias ({})",
            spec.reference,
            file.display()
        ));
    }
    let mut failures: Vec<Error> = Vec::new();
    for candidate in &candidates {
        for endpoint in conf.endpoints(candidate)? {
            if candidates.len() > 1 || endpoint.mirror {
                crate::progress(format_args!("trying to pull {}...", endpoint.reference));
            }
            let credentials = match &creds {
                Some(c) => Some((c.clone(), CredSource::CommandLine)),
                None => auth::lookup(
                    &sources,
                    &endpoint.reference.registry,
                    &endpoint.reference.repository,
                )?,
            };
            let access = Access {
                insecure: spec.tls_verify.map_or(endpoint.insecure, |v| !v),
                credentials,
            };
            let always = spec.always_stage;
            match fetch_from(
                &endpoint, candidate, &access, &platform, cache, account, progress, always,
            ) {
                Ok(f) => return Ok(f),
                Err(e) => failures.push(e),
            }
        }
    }
    if failures.len() == 1 {
        return Err(failures.remove(0));
    }
    let tried: Vec<String> = failures.iter().map(|e| e.to_string()).collect();
    Err(Error::failure(format!("cannot pull {}", spec.reference))
        .because(format!("every source failed:\n  {}", tried.join("\n  ")))
        .fix("check the name, the registries in registries.conf, and your login"))
}

/// Read a manifest document, checked against the digest it is asked by (or computed).
fn get_manifest(
    session: &mut Session,
    reference: &str,
    shown: &str,
) -> Result<(Vec<u8>, String, String)> {
    let mut response = session.get("manifests", reference, ACCEPT, 0)?;
    match response.status().as_u16() {
        200 => {}
        404 => {
            return Err(Error::failure(format!("{shown} is not in the registry"))
                .because(format!(
                    "404: {}/{} has no manifest {reference:?} (manifest unknown)",
                    session.registry, session.repository
                ))
                .fix("check the name and the tag (skopeo list-tags docker://REGISTRY/REPOSITORY lists the tags)"))
        }
        s => {
            return Err(Error::failure(format!("cannot get the manifest of {shown}"))
                .because(format!("the registry answered {s}")))
        }
    }
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = response
        .body_mut()
        .with_config()
        .limit(MAX_MANIFEST)
        .read_to_vec()
        .map_err(|e| {
            Error::failure(format!("cannot read the manifest of {shown}")).because(e.to_string())
        })?;
    let alg = digest::parse(reference).map_or(Algorithm::Sha256, |(a, _)| a);
    let actual = digest::of(alg, &bytes);
    if digest::parse(reference).is_some() && actual != reference {
        return Err(
            Error::failure(format!("the manifest of {shown} does not match its digest"))
                .because(format!("asked for {reference}, the content is {actual}"))
                .fix("the registry's copy is damaged or was altered: push the image again"),
        );
    }
    Ok((bytes, content_type, actual))
}

#[allow(clippy::too_many_arguments)]
fn fetch_from(
    endpoint: &Endpoint,
    asked: &Reference,
    access: &Access,
    platform: &Platform,
    cache: &ImageCache,
    account: &Account,
    progress: &ProgressBar,
    always_stage: bool,
) -> Result<Fetched> {
    let r = &endpoint.reference;
    let shown = r.to_string();
    let mut session = Session::open(&r.registry, &r.repository, access, account.home.as_deref())?;
    let (mut bytes, mut content_type, mut manifest_digest) =
        get_manifest(&mut session, r.manifest_ref(), &shown)?;
    let mut doc = Document::parse(&shown, &content_type, &bytes)?;
    if let Some(list) = &doc.manifests {
        let chosen = manifest::choose(&shown, list, platform)?.clone();
        (bytes, content_type, manifest_digest) = get_manifest(
            &mut session,
            &chosen.digest,
            &format!("{shown} ({platform})"),
        )?;
        doc = Document::parse(&shown, &content_type, &bytes)?;
        if doc.manifests.is_some() {
            return Err(
                Error::failure(format!("{shown}: an index names another index"))
                    .fix("push a plain multi-platform image (one index of manifests)"),
            );
        }
    }
    let config = doc
        .config
        .clone()
        .ok_or_else(|| Error::failure(format!("{shown}: the manifest names no config")))?;
    let fetched = |stage, downloaded: Option<Downloaded>| {
        let (census, replaced) = match downloaded {
            Some(d) => (Some(d.census), d.replaced),
            None => (None, Vec::new()),
        };
        Fetched {
            reference: asked.clone(),
            manifest_digest: manifest_digest.clone(),
            id: config.digest.clone(),
            stage,
            census,
            replaced,
        }
    };
    if !always_stage && crate::image::prepare_cached(&config.digest, cache)?.is_some() {
        return Ok(fetched(None, None));
    }
    let stage = Stage::open(&cache.root, &manifest_digest)?;
    stage.put(&manifest_digest, &bytes)?;
    let total: u64 = config.size + doc.layers.iter().map(|l| l.size).sum::<u64>();
    progress.set_length(total);
    progress.set_message(shown.clone());
    let downloaded = download_all(&stage, &mut session, &config, &doc.layers, progress, &shown);
    // No thread of the download may outlive it: the user namespace comes next.
    crate::sys::fork::threads_gone();
    let downloaded = match downloaded {
        Ok(downloaded) => downloaded,
        Err(Failed { error, damaged }) => {
            progress.abandon();
            // A blob that failed its digest is gone; what broke off stays, to resume.
            // A layer whose tar is damaged (or is not the one its diff_id names) came
            // as the registry holds it: nothing worth resuming.
            if damaged || !stage.resumable(&doc.layers) {
                stage.remove();
            }
            return Err(error);
        }
    };
    let media_type = if content_type.is_empty() {
        doc.media_type
            .clone()
            .unwrap_or(manifest::OCI_MANIFEST.into())
    } else {
        content_type
    };
    stage.finish(&manifest::Descriptor {
        media_type,
        digest: manifest_digest.clone(),
        size: bytes.len() as u64,
        platform: None,
    })?;
    let out = fetched(Some(stage), Some(downloaded));
    progress.finish_and_clear();
    // Every blob is in the stage and verified, nothing is unpacked: `install`, in the
    // namespace, checks the layers' owners against its map before it unpacks anything
    // (`image::install_pulled`), and a refusal removes the stage.
    Ok(out)
}

/// `userns pull`: fetch, then (when there is anything to unpack) enter a user namespace
/// mapped as every container's, and install. Returns the image.
pub fn pull(spec: &PullSpec, account: &Account, progress: &ProgressBar) -> Result<CachedImage> {
    // The map of `userns unshare` and of every container's shared namespace, so that the
    // layers' owners land where a container expects them. Made now, while this process
    // is single-threaded (no download thread yet), and made while the layers download:
    // its setup (the setuid helpers) is then off the pull's critical path. Dropped at
    // the end, whatever the path: its holder process is reaped.
    let mut userns = crate::unshare::ahead::Ahead::start(account);
    let cache = ImageCache::for_user(account);
    if let Some(top) = cache.root.parent() {
        crate::trusted_dir::ensure_all(top, crate::trusted_dir::Kind::Private)?;
    }
    let fetched = fetch(spec, &cache, account, progress)?;
    if fetched.stage.is_some() {
        // The download's threads are gone (`fetch_from`): joining needs a single thread.
        userns.join(account)?;
    }
    install(&fetched, &cache, account)
}

/// Step 5, inside the mapped namespace: unpack the stage (unless the image is cached),
/// name the image, remove the stage.
pub fn install(fetched: &Fetched, cache: &ImageCache, account: &Account) -> Result<CachedImage> {
    let Fetched {
        reference,
        manifest_digest,
        id,
        stage,
        ..
    } = fetched;
    let origin = fetched.origin();
    let image = match stage {
        Some(stage) => {
            // The compressed blobs go while the unpack runs, rather than after it, with
            // the stage.
            let mut removals = crate::image::removals::Removals::default();
            removals.remove(fetched.replaced.clone());
            let installed = match &fetched.census {
                // Ids first: the census made as the layers streamed, held against the
                // map of the namespace this runs in (the one the unpack uses), before
                // anything is unpacked.
                Some(census) => MapTarget::current()
                    .and_then(|target| {
                        idcheck::check_census(&reference.to_string(), census, &target, account)
                    })
                    .and_then(|_| {
                        crate::image::install_pulled(
                            &stage.dir,
                            &origin,
                            cache,
                            account,
                            crate::image::Staged::VerifiedWhileStreaming,
                        )
                    }),
                None => crate::image::install_pulled(
                    &stage.dir,
                    &origin,
                    cache,
                    account,
                    crate::image::Staged::Unverified,
                ),
            };
            removals.wait();
            // Installed, or refused by the checks: either way the stage is done (a
            // damaged one must not be resumed from).
            fetched.remove_stage();
            installed?
        }
        None => cache.lookup(id)?.ok_or_else(|| {
            Error::failure(format!("image {id} left the cache during the pull")).fix("pull again")
        })?,
    };
    let mut names = Names::lock(cache)?;
    names.set(
        &reference.name(),
        reference.recorded_tag(),
        manifest_digest,
        &image.id,
    );
    names.save()?;
    Ok(image)
}
