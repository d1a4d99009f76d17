//! The download of an image's blobs into its stage: the config and the layers at once,
//! up to [`PARALLEL_LAYERS`] layers at a time beside the config, each on its own
//! connection into its own resumable part and through its own scan (`layertap`). The
//! config's diff_ids are held against the layers' tars once both are in: a registry
//! answers each blob request after a few milliseconds of its own (7 ms for a config of
//! 600 bytes from docker-registry 2.8 here), and waiting for the config before asking
//! for any layer put that wait on every pull. The census of the layers' owners, in layer
//! order, is what the pull returns.

use super::client::Session;
use super::layertap::{LayerTap, Scanned};
use super::manifest::Descriptor;
use super::stage::Stage;
use crate::error::{Error, Result};
use crate::image::digest;
use crate::image::idcheck::IdCensus;
use indicatif::ProgressBar;

/// Layers downloaded at once, each on its connection and with its scan thread (podman's
/// default is 6 for a registry; 4 keeps two cores' worth of scans fed).
pub const PARALLEL_LAYERS: usize = 4;

/// Why the download stopped; `damaged` when the stage is not worth resuming.
pub(crate) struct Failed {
    pub(crate) error: Error,
    pub(crate) damaged: bool,
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

type Slot<T> = std::sync::Mutex<Option<std::result::Result<T, Failed>>>;

fn take<T>(slot: &Slot<T>) -> Option<std::result::Result<T, Failed>> {
    slot.lock().ok().and_then(|mut s| s.take())
}

fn put<T>(slot: &Slot<T>, result: std::result::Result<T, Failed>) {
    if let Ok(mut s) = slot.lock() {
        *s = Some(result);
    }
}

/// Opened once, by the largest layer's first bytes (or its end): what waits on it starts
/// then, or after [`HEAD_START`] at the latest.
#[derive(Default)]
struct Latch {
    open: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
}

impl Latch {
    fn open(&self) {
        if let Ok(mut open) = self.open.lock() {
            *open = true;
            self.opened.notify_all();
        }
    }

    fn wait(&self, limit: std::time::Duration) {
        if let Ok(open) = self.open.lock() {
            let _ = self.opened.wait_timeout_while(open, limit, |open| !*open);
        }
    }
}

/// How long the other requests wait for the largest layer's response to begin. The
/// largest layer is the pull's critical path, and a registry answers a request slower
/// when others arrive with it (docker-registry 2.8 here: 3-5 ms alone, 7-14 ms beside a
/// config and a small layer); on a far registry the others lose at most this much.
const HEAD_START: std::time::Duration = std::time::Duration::from_millis(10);

/// The config and every layer (PARALLEL_LAYERS at a time), each verified and scanned as
/// it streams, then each layer's tar held against the config's diff_id: the census of
/// all the layers, in order. The largest layer is asked for first, the rest once its
/// response has begun (`HEAD_START`).
pub(crate) fn download_all(
    stage: &Stage,
    session: &mut Session,
    config: &Descriptor,
    layers: &[Descriptor],
    progress: &ProgressBar,
    shown: &str,
) -> std::result::Result<Downloaded, Failed> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
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
    // The blobs to download, largest first.
    let mut order: Vec<usize> = (0..total).filter(|&i| first[i] == i).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(layers[i].size));
    let (first, order) = (&first, &order);
    let next = &AtomicUsize::new(0);
    let stop = &AtomicBool::new(false);
    let head = Arc::new(Latch::default());
    if order.is_empty() {
        head.open();
    }
    let results: Vec<Slot<Scanned>> = (0..total).map(|_| Slot::default()).collect();
    let results = &results;
    let config_done: &Slot<()> = &Slot::default();
    std::thread::scope(|scope| {
        // Each thread has a copy of the session: its connection pool and its token.
        let mut config_session = session.clone();
        let latch = head.clone();
        scope.spawn(move || {
            latch.wait(HEAD_START);
            let result = stage
                .download(&mut config_session, config, progress, None)
                .map_err(failed);
            if result.is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            put(config_done, result);
        });
        for _ in 0..PARALLEL_LAYERS.min(order.len()) {
            let mut session = session.clone();
            let latch = head.clone();
            scope.spawn(move || loop {
                let at = next.fetch_add(1, Ordering::Relaxed);
                if at >= order.len() || stop.load(Ordering::Relaxed) {
                    break;
                }
                let i = order[at];
                let largest = at == 0;
                if !largest {
                    latch.wait(HEAD_START);
                }
                let opens = largest.then(|| latch.clone());
                let result = download_layer(
                    stage,
                    &mut session,
                    &layers[i],
                    label(layers, i, shown),
                    progress,
                    opens,
                );
                if largest {
                    latch.open();
                }
                if result.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                put(&results[i], result);
            });
        }
    });
    let taken: Vec<_> = results.iter().map(take).collect();
    let config_result = take(config_done);
    check_all(stage, config, layers, shown, first, taken, config_result)
}

/// How errors name layer `i`: "layer 2 of 3 (sha256:...) of REFERENCE".
fn label(layers: &[Descriptor], i: usize, shown: &str) -> String {
    format!(
        "layer {} of {} ({}) of {shown}",
        i + 1,
        layers.len(),
        layers[i].digest
    )
}

/// What a download that succeeded leaves.
pub(crate) struct Downloaded {
    /// The owners in all the layers, in order.
    pub(crate) census: IdCensus,
    /// The compressed blobs whose tars the unpack reads instead.
    pub(crate) replaced: Vec<std::path::PathBuf>,
}

/// The first failure of the layers (else the config's), or each layer's tar held
/// against the config's diff_id and the census of all the layers, in order.
fn check_all(
    stage: &Stage,
    config: &Descriptor,
    layers: &[Descriptor],
    shown: &str,
    first: &[usize],
    mut taken: Vec<Option<std::result::Result<Scanned, Failed>>>,
    config_result: Option<std::result::Result<(), Failed>>,
) -> std::result::Result<Downloaded, Failed> {
    let total = layers.len();
    if let Some(i) = (0..total).find(|&i| matches!(taken[first[i]], Some(Err(_)))) {
        if let Some(Err(f)) = taken[first[i]].take() {
            return Err(f);
        }
    }
    let unexpected = || {
        failed(Error::failure(format!(
            "the download of {shown} stopped unexpectedly"
        )))
    };
    config_result.ok_or_else(unexpected)??;
    let diff_ids = config_diff_ids(stage, config, total, shown).map_err(damaged)?;
    let mut census = IdCensus::new();
    let mut replaced = Vec::new();
    for i in 0..total {
        let Some(Ok(scanned)) = &taken[first[i]] else {
            return Err(unexpected());
        };
        if first[i] == i {
            keep_tar(
                stage,
                &layers[i],
                &diff_ids[i],
                scanned,
                &label(layers, i, shown),
            )?;
            // A compressed layer's blob is read no more once its tar is kept (unless
            // it is also some layer's tar: a blob named by another's diff_id).
            if scanned.tar.is_some() && !diff_ids.contains(&layers[i].digest) {
                replaced.push(stage.blob_path(&layers[i].digest).map_err(damaged)?);
            }
        } else if diff_ids[i] != diff_ids[first[i]] {
            return Err(damaged(
                Error::failure(format!(
                    "{shown}: layers {} and {} are one blob ({}) with two diff_ids",
                    first[i] + 1,
                    i + 1,
                    layers[i].digest
                ))
                .because(format!(
                    "the config gives {} and {}",
                    diff_ids[first[i]], diff_ids[i]
                ))
                .fix("the image in the registry is damaged or was made by hand: push it again"),
            ));
        }
        census.merge(scanned.census.clone());
    }
    Ok(Downloaded { census, replaced })
}

/// One layer: downloaded and verified by `stage`, and scanned by its tap, which keeps
/// its tar (a compressed layer's) beside the blob until the config's diff_id names it.
fn download_layer(
    stage: &Stage,
    session: &mut Session,
    layer: &Descriptor,
    label: String,
    progress: &ProgressBar,
    opens: Option<std::sync::Arc<Latch>>,
) -> std::result::Result<Scanned, Failed> {
    let blob = stage.blob_path(&layer.digest).map_err(damaged)?;
    let (alg, _) = digest::parse(&layer.digest).ok_or_else(|| {
        damaged(Error::failure(format!(
            "{label}: an unusable digest {:?}",
            layer.digest
        )))
    })?;
    let mut tap = LayerTap::new(alg, label, Some(blob.with_extension("tar-part")));
    if let Some(latch) = opens {
        tap.on_first_bytes(Box::new(move || latch.open()));
    }
    stage
        .download(session, layer, progress, Some(&mut tap))
        .map_err(failed)?;
    tap.finish().map_err(damaged)
}

/// Hold a layer's tar against the diff_id the config gives it (hashed again only when
/// the config names it in another algorithm than the blob's), and name the kept tar by
/// it, where the unpack looks for it.
fn keep_tar(
    stage: &Stage,
    layer: &Descriptor,
    diff_id: &str,
    scanned: &Scanned,
    label: &str,
) -> std::result::Result<(), Failed> {
    let (alg, _) = digest::parse(diff_id).ok_or_else(|| {
        damaged(
            Error::failure(format!(
                "{label}: the config gives an unusable diff_id {diff_id:?}"
            ))
            .because(format!("a diff_id must be {}", digest::FORMS))
            .fix("the image in the registry is damaged or was made by hand: push it again"),
        )
    })?;
    let actual = match digest::parse(&scanned.diff_id) {
        Some((same, _)) if same == alg => scanned.diff_id.clone(),
        _ => {
            // A plain layer's tar is its blob.
            let tar = match &scanned.tar {
                Some(tar) => tar.clone(),
                None => stage.blob_path(&layer.digest).map_err(damaged)?,
            };
            super::stage::digest_of_file(&tar, alg).map_err(failed)?
        }
    };
    if actual != diff_id {
        if let Some(tar) = &scanned.tar {
            let _ = std::fs::remove_file(tar);
        }
        return Err(damaged(
            Error::failure(format!(
                "{label}: the uncompressed layer does not match its diff_id"
            ))
            .because(format!(
                "the config gives {diff_id}, the content is {actual}"
            ))
            .fix("the image in the registry is damaged or was altered: push the image again"),
        ));
    }
    if let Some(tar) = &scanned.tar {
        let named = stage.blob_path(diff_id).map_err(damaged)?;
        // blobs/sha512/ when the diff_id is the only sha512 digest of the image.
        if let Some(dir) = named.parent() {
            std::fs::create_dir_all(dir).map_err(|e| failed(Error::io("create", dir, &e)))?;
        }
        std::fs::rename(tar, &named).map_err(|e| failed(Error::io("rename", tar, &e)))?;
    }
    Ok(())
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
