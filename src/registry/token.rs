//! distribution's token flow (`docs/spec/auth/token.md`): a registry answers 401 with
//! `WWW-Authenticate: Bearer realm=...,service=...`; the client GETs the realm with the
//! service and the scope it needs, with basic credentials when it has them (anonymously
//! otherwise), and sends the registry only the token it gets back.
//!
//! Which realms are followed: any `https` one, on whatever host the registry names (as
//! podman does: Docker Hub's is auth.docker.io, another host than its registry). A plain
//! `http` realm only without credentials or for a registry the user made insecure
//! (registries.conf `insecure`, `--tls-verify=false`): podman sends the password to an
//! `http` realm of a verified HTTPS registry, where anyone on the way can read it; userns
//! refuses. Any other scheme is the registry's misconfiguration, named as such.
//!
//! Credentials that hold an identity token (auth.json's `identitytoken`, or a credential
//! helper's answer for the user `<token>`) take distribution's OAuth2 flow
//! (`docs/spec/auth/oauth.md`) instead, as containers/image's `getBearerTokenOAuth2`
//! does: the realm is POSTed a form with `grant_type=refresh_token`, the token, a
//! `client_id`, the service and the scope, and answers an `access_token`. The token goes
//! in the body, never in a URL (which proxies and logs keep).

use super::auth::{CredSource, Credentials, TokenAnswer};
use super::transport::transport_error;
use crate::error::{Error, Result};

/// One token to ask a registry's token service for.
pub struct TokenRequest<'a> {
    pub registry: &'a str,
    pub repository: &'a str,
    pub realm: &'a str,
    pub service: Option<&'a str>,
    pub credentials: Option<&'a (Credentials, CredSource)>,
    /// The user accepted an unverified or plain connection to the registry.
    pub insecure: bool,
}

impl TokenRequest<'_> {
    /// The realm's scheme, checked against where credentials may go.
    fn check_realm(&self) -> Result<()> {
        let scheme = self
            .realm
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("https") => Ok(()),
            Some("http") if self.insecure => Ok(()),
            Some("http") => match self.credentials {
                None => Ok(()),
                Some((c, source)) => Err(Error::failure(format!(
                    "userns will not send the credentials of {:?} (from {source}) to {}",
                    c.username, self.realm
                ))
                .because(format!(
                    "{} is reached over verified HTTPS but names that token service over \
                     plain HTTP, where the password could be read on the way",
                    self.registry
                ))
                .fix(format!(
                    "if {} really serves tokens over plain HTTP on a network you trust, mark \
                     {} insecure (insecure = true in registries.conf, or --tls-verify=false); \
                     otherwise its token configuration is wrong or the answer was tampered with",
                    self.realm, self.registry
                ))),
            },
            _ => Err(Error::failure(format!(
                "{} names a token service userns cannot reach: {:?}",
                self.registry, self.realm
            ))
            .because("its WWW-Authenticate realm is not an http or https URL")
            .fix(format!(
                "the registry's auth configuration is wrong (its token realm must be an \
                 https URL): tell the owner of {}",
                self.registry
            ))),
        }
    }

    /// The identity token of the credentials, when they hold one.
    fn identity_token(&self) -> Option<&str> {
        self.credentials
            .and_then(|(c, _)| c.identity_token.as_deref())
            .filter(|t| !t.is_empty())
    }

    /// Ask the realm for pull access to the repository: `Bearer TOKEN`.
    pub fn fetch(&self, agent: &ureq::Agent) -> Result<String> {
        self.check_realm()?;
        let realm = self.realm;
        let scope = format!("repository:{}:pull", self.repository);
        let sent = if let Some(refresh) = self.identity_token() {
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", CLIENT_ID),
                ("scope", scope.as_str()),
            ];
            if let Some(s) = self.service {
                form.push(("service", s));
            }
            agent.post(realm).send_form(form)
        } else {
            let mut request = agent.get(realm).query("scope", &scope);
            if let Some(s) = self.service {
                request = request.query("service", s);
            }
            if let Some((c, _)) = self.credentials {
                // docker and containers/image name the account too (docker_auth needs it).
                request = request
                    .query("account", &c.username)
                    .header("Authorization", c.basic());
            }
            request.call()
        };
        let mut response = sent.map_err(|e| {
            let mut err = transport_error(self.registry, "get a token", e);
            err.what = format!(
                "cannot get a token from {realm}, the token service of {}",
                self.registry
            );
            err
        })?;
        let status = response.status();
        // OAuth2 refuses a grant with 400 (`invalid_grant`, RFC 6749 5.2).
        let oauth_refused = status == 400 && self.identity_token().is_some();
        if status == 401 || status == 403 || oauth_refused {
            return Err(self.refused(status.as_u16()));
        }
        if !status.is_success() {
            return Err(Error::failure(format!(
                "the token service {realm} of {} answered {status}",
                self.registry
            ))
            .fix("try again later; if it persists, tell the registry's owner"));
        }
        let unusable = |why: String| {
            Error::failure(format!("the token service {realm} sent no usable token")).because(why)
        };
        let bytes = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|e| unusable(e.to_string()))?;
        let answer: TokenAnswer =
            serde_json::from_slice(&bytes).map_err(|e| unusable(e.to_string()))?;
        let token = answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                unusable("its answer holds neither \"token\" nor \"access_token\"".into())
            })?;
        Ok(format!("Bearer {token}"))
    }

    /// The token service's 401/403: credentials refused, or none given where needed.
    fn refused(&self, status: u16) -> Error {
        let (registry, realm) = (self.registry, self.realm);
        match self.credentials {
            Some((_, source)) if self.identity_token().is_some() => Error::failure(format!(
                "the token service {realm} of {registry} refused the identity token"
            ))
            .because(format!(
                "{status}: the refresh token (from {source}) expired or was revoked"
            ))
            .fix(format!("log in again: podman login {registry}")),
            Some((c, source)) => Error::failure(format!(
                "the token service {realm} of {registry} refused the credentials of {:?}",
                c.username
            ))
            .because(format!(
                "{status}: a wrong user name or password (from {source})"
            ))
            .fix(format!("log in again: podman login {registry}")),
            None => Error::failure(format!("{registry} requires a login"))
                .because(format!(
                    "its token service {realm} answered {status} to a request without credentials"
                ))
                .fix(login_fix(registry)),
        }
    }
}

/// The `client_id` of the OAuth2 flow: who asks (containers/image says its own name).
const CLIENT_ID: &str = "userns";

/// How to give userns credentials for `registry`.
pub fn login_fix(registry: &str) -> String {
    format!("log in (podman login {registry}), or give --creds USER:PASSWORD or --authfile FILE")
}

/// The registry's 401 to a request that carried a token: `error` is the challenge's
/// (RFC 6750): the token grants no access to the repository (`insufficient_scope`), or
/// the registry does not accept it (`invalid_token`: expired, or signed by a key it does
/// not trust).
pub fn refused_by_registry(
    registry: &str,
    repository: &str,
    credentials: Option<&(Credentials, CredSource)>,
    error: Option<&str>,
) -> Error {
    if error != Some("insufficient_scope") {
        return Error::failure(format!(
            "{registry} did not accept the token for {registry}/{repository}"
        ))
        .because(format!(
            "401 Unauthorized ({}): the token from its token service expired or is not \
             signed by a key the registry trusts",
            error.unwrap_or("no reason given")
        ))
        .fix("pull again; if it persists, the registry's token configuration is wrong: tell its owner");
    }
    let (granted, fix) = match credentials {
        Some((c, source)) => (
            format!("the user {:?} (from {source}) no pull access", c.username),
            format!(
                "check the repository's name; if it is right, ask the owner of {registry} for \
                 pull access, or log in as a user who has it (podman login {registry})"
            ),
        ),
        None => (
            "no pull access without credentials".to_string(),
            format!(
                "check the repository's name; if it is private, {}",
                login_fix(registry)
            ),
        ),
    };
    Error::failure(format!(
        "{registry} refused access to {registry}/{repository}"
    ))
    .because(format!(
        "its token service granted {granted} to {repository} (insufficient_scope): the \
             repository does not exist or may not be pulled so"
    ))
    .fix(fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_to_https_realms_and_to_http_ones_of_insecure_registries_only() {
        let creds = (
            Credentials::parse("me:secret").unwrap(),
            CredSource::CommandLine,
        );
        let check = |realm: &str, with_creds: bool, insecure: bool| {
            TokenRequest {
                registry: "reg.example",
                repository: "team/app",
                realm,
                service: None,
                credentials: with_creds.then_some(&creds),
                insecure,
            }
            .check_realm()
        };
        assert!(check("https://auth.elsewhere.example/token", true, false).is_ok());
        assert!(check("HTTPS://reg.example/token", true, false).is_ok());
        assert!(check("http://reg.example/token", true, true).is_ok());
        assert!(check("http://reg.example/token", false, false).is_ok());
        let e = check("http://reg.example/token", true, false).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("will not send the credentials of \"me\"") && !text.contains("secret"),
            "{text}"
        );
        for odd in [
            "ftp://reg.example/token",
            "/token",
            "file:///etc/passwd",
            "",
        ] {
            let e = check(odd, false, true).unwrap_err();
            assert!(e.to_string().contains("cannot reach"), "{odd}: {e}");
        }
    }
}
