//! `userns images` (`image ls`): the images unpacked in your cache, with their names
//! (repository, tag, manifest digest, when pulled) and where each came from.

use crate::cli::args::ImagesArgs;
use serde::Serialize;
use std::io::Write;
use userns::error::Result;
use userns::image::cache::short_id;
use userns::image::names::{ImageName, Names};
use userns::image::{CachedImage, ImageCache};
use userns::units::human_bytes;
use userns::users::Account;

/// One line of `--json`: the record plus what a script wants without recomputing it.
#[derive(Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    image: &'a CachedImage,
    /// RFC 3339, UTC.
    unpacked: String,
    rootfs: std::path::PathBuf,
    /// Its names, each with its manifest digest and when it was pulled.
    names: Vec<&'a ImageName>,
}

pub fn run(args: ImagesArgs) -> Result<u8> {
    let cache = ImageCache::for_user(&Account::current());
    // Listing is a use too: an open cache left by an older userns is made private here.
    for dir in cache
        .root
        .parent()
        .into_iter()
        .chain([cache.root.as_path()])
    {
        userns::trusted_dir::check(dir, userns::trusted_dir::Kind::Private)?;
    }
    let images = cache.list()?;
    let names = Names::read(&cache)?;
    if args.json {
        let listed: Vec<Listed> = images
            .iter()
            .map(|image| Listed {
                image,
                unpacked: rfc3339_utc(image.unpacked_at),
                rootfs: cache.rootfs_of(&image.id),
                names: names.of_image(&image.id).collect(),
            })
            .collect();
        crate::cli::render::json::print_json(&listed)?;
        return Ok(userns::exit::OK);
    }
    if images.is_empty() {
        // Not prefixed "userns:": it reads as the empty table's caption.
        let _ = writeln!(
            std::io::stderr(),
            "no images in {} (userns pull REFERENCE or userns run ARCHIVE puts one there)",
            cache.root.display()
        );
        return Ok(userns::exit::OK);
    }
    // One row per name, as podman lists them; `<none>` for an image without one.
    let mut rows: Vec<Vec<String>> = Vec::new();
    for i in &images {
        let row = |repo: &str, tag: &str, digest: &str, when: u64| {
            vec![
                repo.to_string(),
                tag.to_string(),
                short_id(&i.id),
                digest.to_string(),
                i.kind.clone(),
                human_bytes(i.size),
                rfc3339_utc(when),
                i.source.display().to_string(),
            ]
        };
        let mut named = false;
        for n in names.of_image(&i.id) {
            named = true;
            let digest = short_id(&n.digest);
            rows.push(row(
                &n.repository,
                n.tag.as_deref().unwrap_or("<none>"),
                &digest,
                n.pulled_at,
            ));
        }
        if !named {
            rows.push(row("<none>", "<none>", "<none>", i.unpacked_at));
        }
    }
    crate::cli::render::out::print(crate::cli::render::table::render(
        &[
            "REPOSITORY",
            "TAG",
            "ID",
            "DIGEST",
            "KIND",
            "SIZE",
            "CREATED",
            "SOURCE",
        ],
        &rows,
    ))?;
    Ok(userns::exit::OK)
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (days to civil date after Howard
/// Hinnant's `civil_from_days`, proleptic Gregorian).
fn rfc3339_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_rfc3339() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn sizes_are_binary_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
