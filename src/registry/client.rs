//! One registry endpoint over the OCI distribution API (distribution-spec `spec.md`):
//! `GET /v2/` to find the scheme and the challenge, then manifests and blobs of one
//! repository, with the authorization the challenge asks for.
//!
//! Plain HTTP only where the registry is `insecure` (registries.conf) or the user said
//! `--tls-verify=false`; then, as containers/image does, HTTPS is tried first without
//! verification, and HTTP after it. Authorization is never sent on a redirect (blob
//! downloads are often redirected to storage that must not see it).

use super::auth::{self, Challenge, CredSource, Credentials};
use super::tls;
use super::token::{self, TokenRequest};
use super::transport::transport_error;
use crate::error::{Error, Result};
use std::path::Path;
use std::time::Duration;
use ureq::http::Response;
use ureq::Body;

/// What the pull is allowed and given.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Skip TLS verification and allow plain HTTP.
    pub insecure: bool,
    pub credentials: Option<(Credentials, CredSource)>,
}

/// Cloned for each layer downloaded at once: the agent's clone shares its connection
/// pool, and the authorization is the one the challenge gave.
#[derive(Clone)]
pub struct Session {
    agent: ureq::Agent,
    /// `https://host[:port]` or `http://...`.
    base: String,
    pub registry: String,
    pub repository: String,
    credentials: Option<(Credentials, CredSource)>,
    authorization: Option<String>,
    insecure: bool,
}

impl Session {
    /// Connect to `registry` for `repository`: find the scheme and authenticate.
    pub fn open(
        registry: &str,
        repository: &str,
        access: &Access,
        home: Option<&Path>,
    ) -> Result<Session> {
        let tls = tls::config_for(registry, home, !access.insecure)?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls)
            .timeout_connect(Some(Duration::from_secs(30)))
            // A registry that stops sending mid-layer is given up on, not waited for.
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(concat!("userns/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        // docker.io's API is served from registry-1.docker.io.
        let host = if registry == "docker.io" {
            "registry-1.docker.io"
        } else {
            registry
        };
        let schemes: &[&str] = if access.insecure {
            &["https", "http"]
        } else {
            &["https"]
        };
        let mut last = None;
        for scheme in schemes {
            let base = format!("{scheme}://{host}");
            match agent.get(&format!("{base}/v2/")).call() {
                Ok(response) => {
                    let mut session = Session {
                        agent: agent.clone(),
                        base,
                        registry: registry.to_string(),
                        repository: repository.to_string(),
                        credentials: access.credentials.clone(),
                        authorization: None,
                        insecure: access.insecure,
                    };
                    session.answer_challenge(&response)?;
                    return Ok(session);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(transport_error(
            registry,
            "connect",
            last.unwrap_or(ureq::Error::ConnectionFailed),
        ))
    }

    /// Authorize for the challenge of a 401 (none otherwise).
    fn answer_challenge(&mut self, response: &Response<Body>) -> Result<()> {
        if response.status() != 401 {
            return Ok(());
        }
        let header = challenge_header(response);
        match auth::parse_challenge(header) {
            Some(Challenge::Basic) => {
                let (c, source) = self
                    .credentials
                    .as_ref()
                    .ok_or_else(|| self.no_credentials())?;
                if c.identity_token.is_some() && c.password.is_empty() {
                    // A refresh token is for a token service; basic auth wants a password.
                    return Err(Error::failure(format!(
                        "{} asks for a password, and the credentials from {source} are an \
                         identity token",
                        self.registry
                    ))
                    .because("it answered 401 with a Basic challenge, which an OAuth2 refresh token cannot answer")
                    .fix(format!("log in with a password: podman login {}", self.registry)));
                }
                self.authorization = Some(c.basic());
            }
            Some(Challenge::Bearer { realm, service, .. }) => {
                let request = TokenRequest {
                    registry: &self.registry,
                    repository: &self.repository,
                    realm: &realm,
                    service: service.as_deref(),
                    credentials: self.credentials.as_ref(),
                    insecure: self.insecure,
                };
                self.authorization = Some(request.fetch(&self.agent)?);
            }
            None => {
                return Err(Error::failure(format!(
                    "{} asks for an authentication userns does not speak",
                    self.registry
                ))
                .because(format!("WWW-Authenticate: {header}"))
                .fix("use a registry with basic or token authentication"))
            }
        }
        Ok(())
    }

    fn no_credentials(&self) -> Error {
        Error::failure(format!("{} requires a login", self.registry))
            .because("it answered 401 Unauthorized and no credentials are known for it")
            .fix(token::login_fix(&self.registry))
    }

    fn denied(&self, what: &str) -> Error {
        match &self.credentials {
            Some((c, source)) => Error::failure(format!(
                "{} refused the credentials of {:?} for {what}",
                self.registry, c.username
            ))
            .because(format!(
                "401 Unauthorized: a wrong user name or password (from {source})"
            ))
            .fix(format!("log in again: podman login {}", self.registry)),
            None => self.no_credentials(),
        }
    }

    /// GET `/v2/REPO/{kind}/{reference}` with `accept` types, from byte `from` on.
    /// A 401 is answered once: by authorizing when nothing was sent (a registry may ask
    /// only for its repositories), or by a new token for one it did not accept (tokens
    /// expire: Docker Hub's after 300 s, which a large pull outlasts).
    pub fn get(
        &mut self,
        kind: &str,
        reference: &str,
        accept: &str,
        from: u64,
    ) -> Result<Response<Body>> {
        let url = format!("{}/v2/{}/{kind}/{reference}", self.base, self.repository);
        for attempt in 0..2 {
            let mut request = self.agent.get(&url).header("Accept", accept);
            if let Some(a) = &self.authorization {
                request = request.header("Authorization", a);
            }
            if from > 0 {
                request = request.header("Range", format!("bytes={from}-"));
            }
            let response = request
                .call()
                .map_err(|e| transport_error(&self.registry, &format!("get {url}"), e))?;
            if response.status() == 401 {
                let bearer_error = match auth::parse_challenge(challenge_header(&response)) {
                    Some(Challenge::Bearer { error, .. }) => Some(error),
                    _ => None,
                };
                let token_sent = self
                    .authorization
                    .as_deref()
                    .is_some_and(|a| a.starts_with("Bearer "));
                match bearer_error {
                    _ if attempt == 0 && self.authorization.is_none() => {}
                    Some(Some(e)) if attempt == 0 && token_sent && e == "invalid_token" => {}
                    Some(error) if token_sent => {
                        return Err(token::refused_by_registry(
                            &self.registry,
                            &self.repository,
                            self.credentials.as_ref(),
                            error.as_deref(),
                        ))
                    }
                    _ => return Err(self.denied(&format!("{}/{}", self.registry, self.repository))),
                }
                self.answer_challenge(&response)?;
                continue;
            }
            return Ok(response);
        }
        Err(self.denied(&url))
    }
}

/// The `WWW-Authenticate` header of a response ("" when absent).
fn challenge_header(response: &Response<Body>) -> &str {
    response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}
