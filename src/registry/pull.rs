//! A pull, in the order that keeps a half image from ever being used:
//!
//! 1. resolve the reference (registries.conf: aliases, search registries, rewrites,
//!    mirrors, blocks) and fetch its manifest, choosing the platform's from an index;
//! 2. when the image (its config digest) is cached already, only record the name;
//! 3. else download the config into the stage (`stage`), then the layers, up to
//!    [`PARALLEL_LAYERS`] at once, each on its own connection into its own resumable
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
//! Steps 1–3 run as the user, before any namespace exists (`fetch`); steps 4–5 run
//! inside one (`install`), which `userns pull` enters itself and `userns run` already is
//! in.

use super::auth::{self, CredSource, Credentials};
use super::client::{Access, Session};
use super::config::{Endpoint, RegistriesConf, Resolution};
use super::layertap::{LayerTap, Scanned};
use super::manifest::{self, Descriptor, Document, Platform, ACCEPT, MAX_MANIFEST};
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
    let files = auth::auth_files(spec.authfile.as_deref(), home, account.uid);
    let (candidates, resolution) = conf.resolve(&spec.reference)?;
    if let Resolution::Alias(file) = &resolution {
        crate::note(format_args!(
            "resolved {:?} as an alias ({})",
            spec.reference,
            file.display()
        ));
    }
    let mut failures: Vec<Error> = Vec::new();
    for candidate in &candidates {
        for endpoint in conf.endpoints(candidate)? {
            if candidates.len() > 1 || endpoint.mirror {
                crate::note(format_args!("trying to pull {}...", endpoint.reference));
            }
            let credentials = match &creds {
                Some(c) => Some((c.clone(), CredSource::CommandLine)),
                None => auth::lookup(
                    &files,
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
    let fetched = |stage, census| Fetched {
        reference: asked.clone(),
        manifest_digest: manifest_digest.clone(),
        id: config.digest.clone(),
        stage,
        census,
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
    threads_gone();
    let census = match downloaded {
        Ok(census) => census,
        Err(Failed { error, damaged }) => {
            progress.abandon();
            // A blob that failed its digest is gone; what broke off stays, to resume.
            // A layer whose tar is damaged (or is not the one its diff_id names) came
            // as the registry holds it: nothing worth resuming.
            if damaged || !stage.resumable() {
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
    progress.finish_and_clear();
    // Every blob is in the stage and verified, nothing is unpacked: `install`, in the
    // namespace, checks the layers' owners against its map before it unpacks anything
    // (`image::install_pulled`), and a refusal removes the stage.
    Ok(fetched(Some(stage), Some(census)))
}

/// Layers downloaded at once, each on its connection and with its scan thread (podman's
/// default is 6 for a registry; 4 keeps two cores' worth of scans fed).
pub const PARALLEL_LAYERS: usize = 4;

/// Why the download stopped; `damaged` when the stage is not worth resuming.
struct Failed {
    error: Error,
    damaged: bool,
}

fn failed(error: Error) -> Failed {
    Failed {
        error,
        damaged: false,
    }
}

fn damaged(error: Error) -> Failed {
    Failed {
        error,
        damaged: true,
    }
}

/// The config, then every layer (PARALLEL_LAYERS at a time), each verified and scanned
/// as it streams: the census of all the layers, in order.
fn download_all(
    stage: &Stage,
    session: &mut Session,
    config: &Descriptor,
    layers: &[Descriptor],
    progress: &ProgressBar,
    shown: &str,
) -> std::result::Result<IdCensus, Failed> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;
    stage
        .download(session, config, progress, None)
        .map_err(failed)?;
    let diff_ids = config_diff_ids(stage, config, layers.len(), shown).map_err(damaged)?;
    let total = layers.len();
    // A blob named twice (an image may repeat a layer) is downloaded once: two threads
    // must never write one part. Its later places take the first one's scan.
    let first: Vec<usize> = (0..total)
        .map(|i| {
            (0..i)
                .find(|&j| layers[j].digest == layers[i].digest)
                .unwrap_or(i)
        })
        .collect();
    let first = &first;
    let next = &AtomicUsize::new(0);
    let stop = &AtomicBool::new(false);
    let results: Vec<Mutex<Option<std::result::Result<Scanned, Failed>>>> =
        (0..total).map(|_| Mutex::new(None)).collect();
    let results = &results;
    let diff_ids = &diff_ids;
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_LAYERS.min(total) {
            // A copy of the session: its connection pool and its token.
            let mut session = session.clone();
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || stop.load(Ordering::Relaxed) {
                    break;
                }
                if first[i] != i {
                    continue;
                }
                let label = format!(
                    "layer {} of {total} ({}) of {shown}",
                    i + 1,
                    layers[i].digest
                );
                let result = download_layer(
                    stage,
                    &mut session,
                    &layers[i],
                    &diff_ids[i],
                    label,
                    progress,
                );
                if result.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                if let Ok(mut slot) = results[i].lock() {
                    *slot = Some(result);
                }
            });
        }
    });
    let mut census = IdCensus::new();
    let mut first_failure = None;
    let taken: Vec<_> = results
        .iter()
        .map(|slot| slot.lock().ok().and_then(|mut s| s.take()))
        .collect();
    for (i, result) in taken.iter().enumerate() {
        let result = if first[i] == i {
            result
        } else {
            &taken[first[i]]
        };
        match result {
            Some(Ok(scanned)) => census.merge(scanned.census.clone()),
            Some(Err(_)) if first_failure.is_none() => first_failure = Some(i),
            Some(Err(_)) => {}
            // Not started: another layer failed first.
            None => {}
        }
    }
    let mut taken = taken;
    match first_failure {
        Some(i) => match taken[first[i]].take() {
            Some(Err(f)) => Err(f),
            _ => Err(failed(Error::failure(format!(
                "the download of {shown} stopped unexpectedly"
            )))),
        },
        None if census.layers == total => Ok(census),
        None => Err(failed(Error::failure(format!(
            "the download of {shown} stopped unexpectedly"
        )))),
    }
}

/// One layer: downloaded and verified by `stage`, scanned by its tap, and its diff_id
/// checked against the config's.
fn download_layer(
    stage: &Stage,
    session: &mut Session,
    layer: &Descriptor,
    diff_id: &str,
    label: String,
    progress: &ProgressBar,
) -> std::result::Result<Scanned, Failed> {
    // The tar, decompressed once, kept for the unpack: named by its diff_id once checked.
    let tar_path = stage.blob_path(diff_id).map_err(damaged)?;
    let writing = tar_path.with_extension("tar-part");
    let mut tap = LayerTap::new(diff_id, label.clone(), Some(writing)).map_err(damaged)?;
    stage
        .download(session, layer, progress, Some(&mut tap))
        .map_err(failed)?;
    let scanned = tap.finish().map_err(damaged)?;
    if scanned.diff_id != diff_id {
        if let Some(tar) = &scanned.tar {
            let _ = std::fs::remove_file(tar);
        }
        return Err(damaged(
            Error::failure(format!(
                "{label}: the uncompressed layer does not match its diff_id"
            ))
            .because(format!(
                "the config gives {diff_id}, the content is {}",
                scanned.diff_id
            ))
            .fix("the image in the registry is damaged or was altered: push the image again"),
        ));
    }
    if let Some(tar) = &scanned.tar {
        std::fs::rename(tar, &tar_path).map_err(|e| failed(Error::io("rename", tar, &e)))?;
    }
    Ok(scanned)
}

/// The config's `rootfs.diff_ids`, one per layer (checked again, with the rest of the
/// config, when the stage is planned for the unpack).
fn config_diff_ids(
    stage: &Stage,
    config: &Descriptor,
    layers: usize,
    shown: &str,
) -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Config {
        rootfs: Option<RootFs>,
    }
    #[derive(serde::Deserialize)]
    struct RootFs {
        #[serde(default)]
        diff_ids: Vec<String>,
    }
    let path = stage.blob_path(&config.digest)?;
    let bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, &e))?;
    let parsed: Config = serde_json::from_slice(&bytes).map_err(|e| {
        Error::failure(format!(
            "{shown}: the config {} is not valid",
            config.digest
        ))
        .because(e)
        .fix("the image in the registry is damaged: push it again")
    })?;
    let diff_ids = parsed.rootfs.map(|r| r.diff_ids).unwrap_or_default();
    if diff_ids.len() != layers {
        return Err(Error::failure(format!(
            "{shown}: the config {} lists {} diff_ids (rootfs.diff_ids), the manifest {layers} layers",
            config.digest,
            diff_ids.len()
        ))
        .fix("the image in the registry is damaged or was made by hand: push it again"));
    }
    Ok(diff_ids)
}

/// Wait until this process is down to its one thread again. A joined thread has not
/// always left the kernel's thread group when join returns (the kernel wakes the joiner
/// as it releases the thread's memory, a little before the thread is gone), and unshare
/// (CLONE_NEWUSER) fails with EINVAL in a process of more than one thread.
fn threads_gone() {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        let tasks = std::fs::read_dir("/proc/self/task").map_or(1, |d| d.count());
        if tasks <= 1 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_micros(50));
    }
}

/// `userns pull`: fetch, then (when there is anything to unpack) enter a user namespace
/// mapped as every container's, and install. Returns the image.
pub fn pull(spec: &PullSpec, account: &Account, progress: &ProgressBar) -> Result<CachedImage> {
    let cache = ImageCache::for_user(account);
    if let Some(top) = cache.root.parent() {
        crate::trusted_dir::ensure_all(top, crate::trusted_dir::Kind::Private)?;
    }
    let fetched = fetch(spec, &cache, account, progress)?;
    if fetched.stage.is_some() {
        // The map of `userns unshare` and of every container's shared namespace, so that
        // the layers' owners land where a container expects them.
        crate::unshare::enter(&crate::unshare::NsSpec::default(), account)?;
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
            // Installed, or refused by the checks: either way the stage is done (a
            // damaged one must not be resumed from).
            stage.remove();
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
