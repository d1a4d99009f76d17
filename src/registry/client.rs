//! One registry endpoint over the OCI distribution API (distribution-spec `spec.md`):
//! manifests and blobs of one repository, with the authorization the registry's
//! challenge asks for.
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
    /// The plain HTTP base to fall back on when HTTPS gets no answer (an insecure
    /// registry), until a first answer settles the scheme.
    fallback: Option<String>,
    settled: bool,
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
        // No `GET /v2/` first: the first request (the manifest) is answered as the ping
        // would be, a 401 with the challenge when the registry wants one, which `get`
        // answers; the ping would cost a round trip more on every pull.
        Ok(Session {
            agent,
            base: format!("https://{host}"),
            // Plain HTTP, as containers/image does: only where allowed, and after HTTPS.
            fallback: access.insecure.then(|| format!("http://{host}")),
            settled: false,
            registry: registry.to_string(),
            repository: repository.to_string(),
            credentials: access.credentials.clone(),
            authorization: None,
            insecure: access.insecure,
        })
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
        // Each 401 is answered once: the first without authorization (by authorizing),
        // and one for a token that expired (by a new one); any other is a refusal.
        let (mut authorized, mut renewed) = (false, false);
        loop {
            let url = format!("{}/v2/{}/{kind}/{reference}", self.base, self.repository);
            let mut request = self.agent.get(&url).header("Accept", accept);
            if let Some(a) = &self.authorization {
                request = request.header("Authorization", a);
            }
            if from > 0 {
                request = request.header("Range", format!("bytes={from}-"));
            }
            let response = match request.call() {
                Ok(response) => response,
                Err(e) if !self.settled => match self.fallback.take() {
                    Some(http) => {
                        self.base = http;
                        continue;
                    }
                    None => return Err(transport_error(&self.registry, "connect", e)),
                },
                Err(e) => return Err(transport_error(&self.registry, &format!("get {url}"), e)),
            };
            self.settled = true;
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
                    _ if !authorized && self.authorization.is_none() => authorized = true,
                    Some(Some(e)) if !renewed && token_sent && e == "invalid_token" => {
                        renewed = true
                    }
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
