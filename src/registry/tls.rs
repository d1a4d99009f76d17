//! TLS trust for one registry, as containers/image sets it up (`pkg/tlsclientconfig`,
//! containers-certs.d(5)): the system's CA store, plus for `HOST[:PORT]` every `*.crt`
//! (a CA) and `*.cert`/`*.key` pair (a client certificate) in
//! `~/.config/containers/certs.d/HOST[:PORT]`, `/etc/containers/certs.d/HOST[:PORT]` and
//! `/etc/docker/certs.d/HOST[:PORT]`.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

/// The system CA bundles, as Go's crypto/x509 looks for them on Linux (first found).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/ssl/cert.pem",
];

/// The certs.d directories for `host` (`HOST[:PORT]`), the user's first.
pub fn certs_dirs(host: &str, home: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| h.join(".config")));
    if let Some(c) = config {
        dirs.push(c.join("containers/certs.d").join(host));
    }
    dirs.push(Path::new("/etc/containers/certs.d").join(host));
    dirs.push(Path::new("/etc/docker/certs.d").join(host));
    dirs
}

fn read_pem(path: &Path) -> Result<Vec<PemItem<'static>>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, &e))?;
    ureq::tls::parse_pem(&bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::failure(format!("{} is not a valid PEM file", path.display()))
                .because(e.to_string())
                .fix("give certificates and keys in PEM form (-----BEGIN CERTIFICATE-----)")
        })
}

fn certificates(items: Vec<PemItem<'static>>) -> impl Iterator<Item = Certificate<'static>> {
    items.into_iter().filter_map(|i| match i {
        PemItem::Certificate(c) => Some(c),
        _ => None,
    })
}

fn private_key(path: &Path, items: Vec<PemItem<'static>>) -> Result<PrivateKey<'static>> {
    items
        .into_iter()
        .find_map(|i| match i {
            PemItem::PrivateKey(k) => Some(k),
            _ => None,
        })
        .ok_or_else(|| {
            Error::failure(format!("{} holds no private key", path.display()))
                .fix("put the client certificate's key there in PEM form")
        })
}

/// The TLS configuration for `host`; `verify` false skips verification (`--tls-verify=false`,
/// `insecure = true`).
pub fn config_for(host: &str, home: Option<&Path>, verify: bool) -> Result<TlsConfig> {
    let mut roots: Vec<Certificate<'static>> = Vec::new();
    // Without verification no root is ever consulted: the system's bundle (some 150
    // certificates, ~6 ms to parse) is read only when it is.
    let bundle = SYSTEM_BUNDLES.iter().map(Path::new).find(|p| p.is_file());
    if let Some(bundle) = bundle.filter(|_| verify) {
        roots.extend(certificates(read_pem(bundle)?));
    }
    let mut client = None;
    for dir in certs_dirs(host, home) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in &files {
            match f.extension().and_then(|x| x.to_str()) {
                Some("crt") => roots.extend(certificates(read_pem(f)?)),
                Some("cert") if client.is_none() => {
                    let key = f.with_extension("key");
                    if !key.exists() {
                        return Err(Error::failure(format!(
                            "{} has no key beside it",
                            f.display()
                        ))
                        .fix(format!("put its key at {}", key.display())));
                    }
                    let chain: Vec<_> = certificates(read_pem(f)?).collect();
                    let key = private_key(&key, read_pem(&key)?)?;
                    client = Some(ClientCert::new_with_certs(&chain, key));
                }
                _ => {}
            }
        }
    }
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&roots))
        .client_cert(client)
        .disable_verification(!verify)
        .unversioned_rustls_crypto_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .build())
}
