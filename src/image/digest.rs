//! Content digests as the OCI image-spec (`descriptor.md`) defines them: `ALGORITHM:HEX`,
//! with sha256 and sha512 the registered algorithms and the hex in lowercase. Layers are
//! hashed while they stream into the unpacker ([`Hashing`]), so checking one costs no pass
//! of its own.

use crate::error::{Error, Result};
use sha2::{Digest as _, Sha256, Sha512};
use std::io::{self, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// What a well-formed digest must look like, for messages.
pub(crate) const FORMS: &str = "sha256:<64 lowercase hex> or sha512:<128 lowercase hex>";

/// A digest's algorithm and hex, when it is well formed (so that it may also name a blob
/// file: nothing but hex can follow the algorithm).
pub(crate) fn parse(digest: &str) -> Option<(Algorithm, &str)> {
    let (alg, hex) = digest.split_once(':')?;
    let alg = match alg {
        "sha256" => Algorithm::Sha256,
        "sha512" => Algorithm::Sha512,
        _ => return None,
    };
    let lower_hex = hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (hex.len() == alg.hex_len() && lower_hex).then_some((alg, hex))
}

/// A running hash of one algorithm.
pub(crate) enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    pub(crate) fn new(alg: Algorithm) -> Hasher {
        match alg {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest in `ALGORITHM:HEX` form.
    pub(crate) fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => format!("sha256:{}", super::hex(&h.finalize())),
            Hasher::Sha512(h) => format!("sha512:{}", super::hex(&h.finalize())),
        }
    }
}

/// The digest of `bytes` with `alg`.
pub(crate) fn of(alg: Algorithm, bytes: &[u8]) -> String {
    let mut h = Hasher::new(alg);
    h.update(bytes);
    h.finish()
}

/// A reader that hashes what passes through it (when there is a digest to check).
pub(crate) struct Hashing<'h, R> {
    pub(crate) inner: R,
    pub(crate) hasher: Option<&'h mut Hasher>,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// A hasher for an expected digest, in its algorithm.
pub(crate) fn hasher_for(label: &str, expected: &str) -> Result<Hasher> {
    let (alg, _) = parse(expected).ok_or_else(|| {
        Error::failure(format!("{label}: unusable digest {expected:?}"))
            .because(format!("a digest must be {}", FORMS))
            .fix("the image is damaged or was made by hand: save it again (podman save)")
    })?;
    Ok(Hasher::new(alg))
}

/// Check a digest computed while unpacking against the one the image gives.
pub(crate) fn verify(label: &str, what: &str, expected: &str, actual: String) -> Result<()> {
    if expected == actual {
        return Ok(());
    }
    Err(
        Error::failure(format!("{label}: the {what} digest does not match"))
            .because(format!(
                "the image says {expected}, the content is {actual}"
            ))
            .fix("the archive is damaged or was altered: save the image again"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_registered_algorithms_with_lowercase_hex_of_their_length_parse() {
        let h64 = "a".repeat(64);
        let h128 = "0".repeat(128);
        assert_eq!(
            parse(&format!("sha256:{h64}")),
            Some((Algorithm::Sha256, h64.as_str()))
        );
        assert_eq!(
            parse(&format!("sha512:{h128}")),
            Some((Algorithm::Sha512, h128.as_str()))
        );
        assert_eq!(parse(&format!("sha512:{h64}")), None);
        assert_eq!(parse(&format!("sha256:{}", "A".repeat(64))), None);
        assert_eq!(parse(&format!("md5:{h64}")), None);
        assert_eq!(parse("sha256:../../etc/passwd"), None);
        assert_eq!(parse("sha256"), None);
    }

    #[test]
    fn digests_are_computed_in_their_algorithm() {
        assert_eq!(
            of(Algorithm::Sha256, b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(of(Algorithm::Sha512, b"abc").starts_with("sha512:ddaf35a193617aba"));
    }
}
