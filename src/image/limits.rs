//! How much an image may unpack. Each file's declared size is weighed before any of its
//! data is written: against a limit per file (its size, holes included), a limit per
//! image (the data of all its files), and the free space of the cache's file system (the
//! data it will write). A layer can declare sizes no disk holds (a GNU base-256 size field
//! reaches 2^64-1) and digests are only known once the whole layer went by, so waiting
//! for the write to fail would first fill the disk.
//!
//! The limits default to sizes far above real images and are set by the environment:
//! `USERNS_UNPACK_MAX_FILE` and `USERNS_UNPACK_MAX_IMAGE`, in bytes or with a K, M, G or
//! T suffix (powers of 1024).

use super::beneath::Root;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

pub(crate) const MAX_FILE_VAR: &str = "USERNS_UNPACK_MAX_FILE";
pub(crate) const MAX_IMAGE_VAR: &str = "USERNS_UNPACK_MAX_IMAGE";
pub(crate) const DEFAULT_MAX_FILE: u64 = 64 << 30;
pub(crate) const DEFAULT_MAX_IMAGE: u64 = 256 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// The largest file, holes included.
    pub(crate) max_file: u64,
    /// The most file data in one image.
    pub(crate) max_image: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file: DEFAULT_MAX_FILE,
            max_image: DEFAULT_MAX_IMAGE,
        }
    }
}

impl Limits {
    /// The limits the environment sets, else the defaults.
    pub(crate) fn from_env() -> Result<Limits> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Limits> {
        let get = |var: &str, default: u64| match lookup(var).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(v) => parse_size(&v).filter(|n| *n > 0).ok_or_else(|| {
                Error::failure(format!("{var}={v:?} is not a size"))
                    .because("a size is a number of bytes, or of K, M, G or T (powers of 1024)")
                    .fix(format!(
                        "set it like {var}=100G, or unset it for the default of {}",
                        human(default)
                    ))
            }),
        };
        Ok(Limits {
            max_file: get(MAX_FILE_VAR, DEFAULT_MAX_FILE)?,
            max_image: get(MAX_IMAGE_VAR, DEFAULT_MAX_IMAGE)?,
        })
    }
}

/// `123`, `64K`, `16M`, `2G`, `1T` (also `2GiB`, `2GB`: powers of 1024 all).
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = t.split_at(digits);
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return None,
    };
    let n: u64 = number.parse().ok()?;
    n.checked_mul(1 << shift)
}

/// A size for people: `64 GiB`, `1.5 MiB`, `16 EiB`.
pub(crate) fn human(n: u64) -> String {
    const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A limit that would admit `n`, for a fix: whole GiB (or MiB below one GiB).
fn enough(n: u64) -> String {
    if n < 1 << 30 {
        format!("{}M", n.div_ceil(1 << 20))
    } else {
        format!("{}G", n.div_ceil(1 << 30))
    }
}

/// Why a file is not unpacked, for the error that names it.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) cause: String,
    pub(crate) fix: String,
}

/// What an unpack has taken of its limits and of the free space so far.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    limits: Limits,
    /// The cache, named when the free space runs out.
    cache: PathBuf,
    /// File data admitted so far.
    data: u64,
    /// Free bytes last seen by statvfs, less what was admitted since.
    free: Option<u64>,
}

impl Budget {
    pub(crate) fn new(limits: Limits, cache: &Path) -> Budget {
        Budget {
            limits,
            cache: cache.to_path_buf(),
            ..Budget::default()
        }
    }

    /// Admit a file `size` bytes long that writes `data` bytes (less when sparse), or say
    /// why not. The free space is asked of the file system again only when the estimate
    /// would not do, so most files cost no system call.
    pub(crate) fn admit(&mut self, root: &Root, size: u64, data: u64) -> Result<(), Refusal> {
        let l = self.limits;
        self.check_size(size)?;
        let total = self.data.saturating_add(data);
        if total > l.max_image {
            return Err(Refusal {
                cause: format!(
                    "with its {data} bytes the image's files come to {} bytes ({}), over the \
                     limit of {} for one image ({MAX_IMAGE_VAR})",
                    total,
                    human(total),
                    human(l.max_image)
                ),
                fix: too_large(total, MAX_IMAGE_VAR),
            });
        }
        let free = match self.free {
            Some(free) if free >= data => free,
            // A file system that cannot tell (statvfs failed) has the write's ENOSPC left.
            _ => free_bytes(root).unwrap_or(u64::MAX),
        };
        if data > free {
            return Err(Refusal {
                cause: format!(
                    "it declares {data} bytes of data ({}), more than the {} free on the file \
                     system of {}",
                    human(data),
                    human(free),
                    self.cache.display()
                ),
                fix: "free space there, or keep the image cache on a file system with room \
                      (XDG_DATA_HOME=/path/with/room userns run ...)"
                    .to_string(),
            });
        }
        self.free = Some(free - data);
        self.data = total;
        Ok(())
    }

    /// Whether admitting `data` bytes would ask the file system for its free space again
    /// (the estimate does not cover it): what was written before must have landed first.
    pub(crate) fn asks_free_space(&self, data: u64) -> bool {
        !matches!(self.free, Some(free) if free >= data)
    }

    /// Refuse a size over the limit for one file. Entries whose data is never written (a
    /// directory, a link, a whiteout) are held to it too: skipping their data costs a read
    /// of all of it.
    pub(crate) fn check_size(&self, size: u64) -> Result<(), Refusal> {
        if size <= self.limits.max_file {
            return Ok(());
        }
        Err(Refusal {
            cause: format!(
                "it declares a size of {size} bytes ({}), over the limit of {} for one file \
                 ({MAX_FILE_VAR})",
                human(size),
                human(self.limits.max_file)
            ),
            fix: too_large(size, MAX_FILE_VAR),
        })
    }
}

fn too_large(n: u64, var: &str) -> String {
    if n >= 1 << 50 {
        "no disk holds that: the layer is damaged or hostile, do not use this image".to_string()
    } else {
        format!(
            "if the image is genuine, raise the limit: {var}={} userns run ...",
            enough(n)
        )
    }
}

/// The bytes an unprivileged writer may still use on the file system of `root`.
fn free_bytes(root: &Root) -> std::io::Result<u64> {
    crate::sys::fs::free_bytes(std::os::fd::AsFd::as_fd(root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_powers_of_1024() {
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("64K"), Some(64 << 10));
        assert_eq!(parse_size("16m"), Some(16 << 20));
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size("1T"), Some(1 << 40));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("1.5G"), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("99999999999T"), None, "overflow");
    }

    #[test]
    fn limits_come_from_the_environment_or_the_defaults() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Limits::from_lookup(env(&[])).unwrap(), Limits::default());
        let l = Limits::from_lookup(env(&[(MAX_FILE_VAR, "1M"), (MAX_IMAGE_VAR, "")])).unwrap();
        assert_eq!((l.max_file, l.max_image), (1 << 20, DEFAULT_MAX_IMAGE));
        let err = Limits::from_lookup(env(&[(MAX_IMAGE_VAR, "0")])).unwrap_err();
        assert!(err.to_string().contains(MAX_IMAGE_VAR), "{err}");
    }

    #[test]
    fn human_sizes_and_suggested_limits() {
        assert_eq!(human(512), "512 bytes");
        assert_eq!(human(64 << 30), "64 GiB");
        assert_eq!(human(3 << 19), "1.5 MiB");
        assert_eq!(human(u64::MAX), "16 EiB");
        assert_eq!(enough((1 << 30) + 1), "2G");
        assert_eq!(enough(4 << 20), "4M");
    }
}
