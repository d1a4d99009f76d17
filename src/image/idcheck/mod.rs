//! Ids first: which owners an image's files have, read from the layers' tar headers
//! alone, held against the map the image would be unpacked in, before a byte of it is
//! unpacked. The failure rootless users meet most ("potentially insufficient UIDs or GIDs
//! available in user namespace", podman, buildah, moby) comes after the whole download, in
//! the middle of the unpack; here it comes first, naming the files and the fix.
//!
//! - [`census`]: the ids and some of the paths that carry each, in bounded memory;
//! - [`scan`]: a layer blob (plain, gzip, zstd) read for its headers only;
//! - [`report`]: the census against a map: what does not fit;
//! - [`fix`]: the `usermod --add-subuids` that makes it fit.
//!
//! Entry points: [`check_source`] (`userns image check`, an archive or layout),
//! [`check_plan`] (`userns run`, between finding the image and unpacking it) and
//! [`check_census`] (`userns pull`, between downloading the verified blobs, their census
//! made as they streamed, and unpacking).

pub mod census;
pub mod fix;
pub mod report;
pub(crate) mod scan;

pub use census::{IdCensus, IdTally, IdUse, Unlisted};
pub use fix::FixBasis;
pub use report::{Fix, IdReport, IdsDoNotFit, KindReport, MapTarget, UnmappedId};

use super::manifest::{self, ImagePlan};
use super::source::Blobs;
use super::SourceKind;
use crate::error::{Cause, Error, Result};
use crate::users::Account;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

const DAMAGED: &str =
    "the layer is damaged, truncated or not a layer: save or copy the image again";

fn unreadable(label: &str, e: io::Error) -> Error {
    if let Some(t) = e.get_ref().and_then(|r| r.downcast_ref::<scan::TooLarge>()) {
        // Worded as the unpacker words it: the layer is fine to read, the file is not
        // one to unpack.
        return Error::failure(format!("cannot unpack {:?} of {label}", t.path))
            .because(t.cause.clone())
            .fix(t.fix.clone());
    }
    Error::failure(format!("cannot read {label}"))
        .because(e)
        .fix(DAMAGED)
}

/// Add the ids of one layer blob, as stored (plain, gzip or zstd, told by its first
/// bytes), to `census`, reading its tar headers only (its file data is read and dropped;
/// see [`scan_layer_file`] for a layer that can be sought over).
pub fn scan_layer<R: Read>(reader: R, census: &mut IdCensus) -> Result<()> {
    scan::scan_stream(reader, census).map_err(|e| unreadable("the layer", e))
}

/// [`scan_layer`] of a layer as it streams (a pull's download), its uncompressed bytes
/// hashed into `plain` for its diff_id on the way; `label` names it in errors.
/// A compressed layer's tar is written to `copy` too (true when it was).
pub(crate) fn scan_layer_hashed<R: io::BufRead>(
    reader: R,
    census: &mut IdCensus,
    plain: &mut crate::image::digest::Hasher,
    copy: Option<&mut dyn io::Write>,
    label: &str,
) -> Result<bool> {
    scan::scan_stream_hashed(reader, census, plain, copy).map_err(|e| unreadable(label, e))
}

/// [`scan_layer`] for a layer blob in a file: a plain one has only its headers read.
pub fn scan_layer_file(path: &Path, census: &mut IdCensus) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("open", path, &e))?;
    scan::scan_seekable(file, census).map_err(|e| unreadable(&path.display().to_string(), e))
}

/// A layer's name in messages: its place, its digest, its image.
fn layer_label(i: usize, total: usize, digest: &str, source: &Path) -> String {
    format!(
        "layer {} of {total} ({digest}) of {}",
        i + 1,
        source.display()
    )
}

/// The most layers scanned at once (each scan holds a decoder and a 64 KiB buffer).
const MAX_SCANS: usize = 4;

/// The census of every layer of a planned image. Layers are scanned side by side, as
/// many at once as there are CPUs (at most [`MAX_SCANS`]): a compressed layer's scan is
/// all decompression, which runs on one core per stream. Their censuses are merged in
/// layer order, as a pull merges those of the layers it scans as they stream; when layers
/// cannot be read, the first of them in order is the one reported, as a scan in order
/// would report it.
pub(crate) fn census_of_plan(blobs: &Blobs, plan: &ImagePlan) -> Result<IdCensus> {
    let total = plan.layers.len();
    let scan_one = |i: usize| -> Result<IdCensus> {
        let l = &plan.layers[i];
        let digest = l.digest.as_deref().unwrap_or(&l.diff_id);
        let label = layer_label(i, total, digest, blobs.source_path());
        let (reader, _) = blobs.open_blob_seekable(&l.blob, l.size)?;
        let mut census = IdCensus::new();
        scan::scan_seekable(reader, &mut census).map_err(|e| unreadable(&label, e))?;
        Ok(census)
    };
    let scans = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_SCANS));
    let mut census = IdCensus::new();
    for one in in_order(total, scans, scan_one) {
        census.merge(one?);
    }
    Ok(census)
}

/// `work(0)` .. `work(total - 1)` on up to `threads` threads (this one among them), their
/// results in index order. Indexes are taken in order and none is started once one has
/// failed, so every index before a failure has its result; those after it may not (they
/// are left out). Where no thread can be started (a new pid namespace refuses them) all
/// of it runs here.
fn in_order<T: Send>(
    total: usize,
    threads: usize,
    work: impl Fn(usize) -> Result<T> + Sync,
) -> Vec<Result<T>> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<T>>>> = Mutex::new((0..total).map(|_| None).collect());
    let worker = || loop {
        if failed.load(Ordering::Relaxed) {
            return;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            return;
        }
        let result = work(i);
        if result.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        // A panic elsewhere left nothing half-written in a slot.
        results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(result);
    };
    std::thread::scope(|scope| {
        for _ in 1..threads.min(total) {
            if std::thread::Builder::new()
                .name("userns-scan".into())
                .spawn_scoped(scope, worker)
                .is_err()
            {
                break;
            }
        }
        worker();
    });
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.into_iter().map_while(|r| r).collect()
}

/// The refusal of an image (`subject`: its source or reference) whose ids do not fit:
/// the report is its cause (`Error::source` downcasts to [`IdsDoNotFit`]), the usermod
/// commands its fix.
pub fn refusal(subject: &str, report: IdReport) -> Error {
    let fix = report.fix_line().unwrap_or_else(|| {
        "give yourself subordinate ids that cover them (userns subid add)".to_string()
    });
    Error::image_refused(format!("{subject}: not unpacked"))
        .because(Cause::other(IdsDoNotFit(report)))
        .fix(format!(
            "{fix}; `userns image check {subject}` shows the whole report"
        ))
}

/// The check `run` makes between finding an image and unpacking it: Ok when every id
/// fits `target`, else the refusal, with fixes from `account`'s subid files.
pub(crate) fn check_plan(
    blobs: &Blobs,
    plan: &ImagePlan,
    target: &MapTarget,
    account: &Account,
) -> Result<()> {
    let census = census_of_plan(blobs, plan)?;
    let mut report = census.check(target);
    if report.fits {
        return Ok(());
    }
    if let Ok(basis) = FixBasis::read(account, &crate::subid::SubIdPaths::default()) {
        report.suggest_fixes(&basis, target.explicit);
    }
    Err(refusal(&blobs.source_path().display().to_string(), report))
}

/// What `userns image check SOURCE` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceCheck {
    pub source: PathBuf,
    /// docker-archive, oci-archive or oci.
    pub kind: &'static str,
    /// The image id (`sha256:` of its config).
    pub id: String,
    #[serde(flatten)]
    pub report: IdReport,
}

/// Check an archive or OCI layout against `target`; a kind that does not fit gets its fix
/// from `basis` (when given).
pub fn check_source(
    source: &Path,
    target: &MapTarget,
    basis: Option<&FixBasis>,
) -> Result<SourceCheck> {
    let kind = super::detect(source)?;
    if kind == SourceKind::RootfsDir {
        return Err(Error::usage(format!(
            "{} is a root filesystem directory, not an image",
            source.display()
        ))
        .because(
            "a directory is used in place, never unpacked: its files keep the owners they have",
        )
        .fix("give an image archive (podman save) or an OCI layout"));
    }
    let blobs = Blobs::open(source, kind)?;
    let plan = manifest::plan(&blobs, kind)?;
    let census = census_of_plan(&blobs, &plan)?;
    let mut report = census.check(target);
    if let Some(basis) = basis {
        report.suggest_fixes(basis, target.explicit);
    }
    Ok(SourceCheck {
        source: source.to_path_buf(),
        kind: kind.name(),
        id: plan.id,
        report,
    })
}

/// The check of an image whose layers were scanned as they streamed (`userns image check`
/// of a registry reference): `census` against `target`, a kind that does not fit with
/// its fix from `basis` (when given).
pub fn check_streamed(
    source: PathBuf,
    id: String,
    census: &IdCensus,
    target: &MapTarget,
    basis: Option<&FixBasis>,
) -> SourceCheck {
    let mut report = census.check(target);
    if let Some(basis) = basis {
        report.suggest_fixes(basis, target.explicit);
    }
    SourceCheck {
        source,
        kind: "registry",
        id,
        report,
    }
}

/// The check a pull makes between "blobs downloaded and verified" and "unpack": the
/// census made as its layers streamed, held against `target`. Ok(report) when every id
/// fits; else the refusal (see [`refusal`]; `subject` is the reference pulled), whose
/// cause is the [`IdsDoNotFit`] report with the usermod fixes for `account`.
pub fn check_census(
    subject: &str,
    census: &IdCensus,
    target: &MapTarget,
    account: &Account,
) -> Result<IdReport> {
    let mut report = census.check(target);
    if report.fits {
        return Ok(report);
    }
    if let Ok(basis) = FixBasis::read(account, &crate::subid::SubIdPaths::default()) {
        report.suggest_fixes(&basis, target.explicit);
    }
    Err(refusal(subject, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idmap::{IdMap, IdMapEntry};
    use crate::ids::IdKind;
    use std::error::Error as _;

    /// The census of a one-file layer whose file belongs to `uid`.
    fn census_of(uid: u64) -> IdCensus {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_path("f").unwrap();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_uid(uid);
        h.set_gid(0);
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        let mut census = IdCensus::new();
        scan::scan_seekable(std::io::Cursor::new(b.into_inner().unwrap()), &mut census).unwrap();
        census
    }

    #[test]
    fn check_census_gives_the_report_or_the_refusal_that_carries_it() {
        let map = |k| IdMap::new(k, vec![IdMapEntry::new(0, 100_000, 65536)]);
        let target = MapTarget {
            uid: map(IdKind::Uid),
            gid: map(IdKind::Gid),
            origin: "the test map".into(),
            explicit: false,
        };
        let fits = census_of(1000);
        let report = check_census("repo:tag", &fits, &target, &Account::ivy()).unwrap();
        assert!(report.fits && report.layers == 1);
        let mut both = fits.clone();
        both.merge(census_of(70_000));
        let err = check_census("repo:tag", &both, &target, &Account::ivy()).unwrap_err();
        assert!(err.what.starts_with("repo:tag: not unpacked"), "{err}");
        let report = &err
            .source()
            .and_then(|s| s.downcast_ref::<IdsDoNotFit>())
            .expect("the report is the cause")
            .0;
        assert_eq!(report.uids.unmapped[0].id, 70_000);
        assert_eq!(report.uids.unmapped[0].paths, ["/f"]);
    }

    #[test]
    fn work_side_by_side_comes_back_in_order_and_stops_at_the_first_failure() {
        // Later indexes take less time, so they finish first when run side by side.
        let work = |fail: &'static [usize]| {
            move |i: usize| -> Result<usize> {
                std::thread::sleep(std::time::Duration::from_millis(2 * (8 - i as u64)));
                match fail.contains(&i) {
                    true => Err(Error::failure(format!("failed {i}"))),
                    false => Ok(i * 10),
                }
            }
        };
        for threads in [1, 2, 4, 9] {
            let all: Vec<usize> = in_order(8, threads, work(&[]))
                .into_iter()
                .map(|r| r.unwrap())
                .collect();
            assert_eq!(all, [0, 10, 20, 30, 40, 50, 60, 70], "{threads} threads");
            let some = in_order(8, threads, work(&[6, 3]));
            let first_failure = some.iter().position(|r| r.is_err());
            assert_eq!(first_failure, Some(3), "{threads} threads");
            for (i, r) in some.iter().take(3).enumerate() {
                assert_eq!(r.as_ref().ok(), Some(&(i * 10)));
            }
            assert!(some[3].as_ref().unwrap_err().what.contains("failed 3"));
        }
        assert!(in_order(0, 4, work(&[])).is_empty());
    }
}
