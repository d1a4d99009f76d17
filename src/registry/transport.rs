//! The error for a request that got no answer from the registry (refused, TLS, the
//! network), with the fix for each: the session's requests and the token service's
//! alike.

use crate::error::Error;

fn is_tls(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => true,
        ureq::Error::Io(io) => io
            .get_ref()
            .is_some_and(|inner| inner.is::<rustls::Error>()),
        _ => false,
    }
}

/// A request's failure that is not the registry's answer.
pub(crate) fn transport_error(registry: &str, what: &str, e: ureq::Error) -> Error {
    let fix = match &e {
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("is the registry {registry} running and is this its address?")
        }
        // rustls's refusal of a certificate reaches us inside an io::Error.
        e if is_tls(e) => format!(
            "trust its certificate (put its CA in ~/.config/containers/certs.d/{registry}/ca.crt), \
             or, for a test registry, use --tls-verify=false or insecure = true in registries.conf"
        ),
        _ => "check the network and the registry, then try again (a pull resumes)".to_string(),
    };
    Error::failure(format!("cannot {what} from {registry}"))
        .because(e.to_string())
        .fix(fix)
}
