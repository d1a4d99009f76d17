//! The download of an image's blobs into its stage: the config first (its diff_ids name
//! what each layer's tar must be), then the layers, up to [`PARALLEL_LAYERS`] at once,
//! each on its own connection into its own resumable part and through its own scan
//! (`layertap`): the census of their owners, in layer order, is what the pull returns.

use super::client::Session;
use super::layertap::{LayerTap, Scanned};
use super::manifest::Descriptor;
use super::stage::Stage;
use crate::error::{Error, Result};
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

/// The config, then every layer (PARALLEL_LAYERS at a time), each verified and scanned
/// as it streams: the census of all the layers, in order.
pub(crate) fn download_all(
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
pub(crate) fn threads_gone() {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        let tasks = std::fs::read_dir("/proc/self/task").map_or(1, |d| d.count());
        if tasks <= 1 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_micros(50));
    }
}
