//! A token service for distribution's token auth (distribution `docs/spec/auth/token.md`,
//! `registry/auth/token`), run by the test itself: a thread on 127.0.0.2 at a free port
//! (another host than the registry's 127.0.0.1, as auth.docker.io is for Docker Hub),
//! plain HTTP or TLS (rustls, with a certificate of a CA of its own).
//!
//! It answers `GET /token?service=S&scope=repository:NAME:ACTIONS[&account=U]` as
//! docker_auth and Docker Hub do: basic credentials are checked (a wrong pair gets 401);
//! without credentials it refuses (401) or grants what its policy gives anyone; and a
//! repository the caller may not use gets a token without access to it (the registry then
//! refuses with `insufficient_scope`). The JWT is RS256, signed by `openssl dgst` with a
//! key whose self-signed certificate is the registry's `rootcertbundle`; the header's
//! `x5c` carries that certificate, which distribution 2.8 verifies against the bundle
//! (`token.go`, `parseAndVerifyCertChain`). Every request is recorded for the tests.
//!
//! It also answers distribution's OAuth2 flow (`docs/spec/auth/oauth.md`): `POST /token`
//! with a form of `grant_type=refresh_token`, `refresh_token`, `client_id`, `service` and
//! `scope`, as clients holding an identity token ask (containers/image's
//! `getBearerTokenOAuth2`); [`REFRESH_TOKEN`] is USER's, any other gets 400
//! `invalid_grant` (RFC 6749 5.2). The answer's `access_token` is the same JWT.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::json;

use super::{openssl, PASSWORD, USER};

/// The `service` the registry names in its challenge and expects as the token's `aud`.
pub const SERVICE: &str = "userns-test-registry";
/// Where it listens: another host (by address) than the registry.
pub const HOST: &str = "127.0.0.2";
/// The token's `iss`, which the registry trusts.
pub const ISSUER: &str = "userns-test-token-service";
/// USER's identity (refresh) token, as a registry hands it out at login.
pub const REFRESH_TOKEN: &str = "userns-test-refresh-3f9a1c";

/// Who gets what.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Repositories USER may pull and push; `None`: every one.
    pub user_repos: Option<Vec<String>>,
    /// Repositories anyone may pull without credentials.
    pub public_repos: Vec<String>,
    /// Refuse a request without credentials (401), instead of a token holding only what
    /// `public_repos` gives.
    pub refuse_anonymous: bool,
    /// How many of the next tokens to issue already expired (beyond distribution's 60 s
    /// of leeway), as a token that outlived a long pull is.
    pub expired_tokens: usize,
}

/// One request the service was sent.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub service: Option<String>,
    pub scopes: Vec<String>,
    pub account: Option<String>,
    /// The `Authorization` header as sent.
    pub authorization: Option<String>,
    /// Its basic credentials, decoded.
    pub basic: Option<(String, String)>,
    /// `GET` (the token flow) or `POST` (OAuth2).
    pub method: String,
    /// OAuth2's form fields, for a `POST`.
    pub grant_type: Option<String>,
    pub refresh_token: Option<String>,
    pub client_id: Option<String>,
}

pub struct TokenServer {
    pub port: u16,
    pub tls: bool,
    pub policy: Arc<Mutex<Policy>>,
    pub requests: Arc<Mutex<Vec<TokenRequest>>>,
    /// The signing certificate: the registry's `rootcertbundle`.
    pub cert: PathBuf,
    /// The CA of its TLS certificate, when it speaks TLS.
    pub tls_ca: Option<PathBuf>,
    stop: Arc<AtomicBool>,
}

struct Signer {
    key: PathBuf,
    /// The signing certificate in DER, base64 (not URL-safe: `x5c` is plain base64).
    x5c: String,
}

impl Signer {
    fn new(dir: &Path) -> Signer {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=userns test token issuer",
                "-keyout",
                "token.key",
                "-out",
                "token.crt",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-in",
                "token.crt",
                "-outform",
                "DER",
                "-out",
                "token.der",
            ],
        );
        let der = std::fs::read(dir.join("token.der")).unwrap();
        Signer {
            key: dir.join("token.key"),
            x5c: STANDARD.encode(der),
        }
    }

    /// A compact JWS (RS256) of `claims`.
    fn sign(&self, claims: &serde_json::Value) -> String {
        let header = json!({"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        // RSASSA-PKCS1-v1_5 over SHA-256, which is what JWS calls RS256.
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run openssl dgst");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "openssl dgst -sign: {out:?}");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(out.stdout))
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The request line and headers of one HTTP/1.1 request.
fn read_head(stream: &mut impl Read) -> Option<(String, Vec<(String, String)>)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0 || head.len() > 64 << 10 {
            return None;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next()?.to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some((request_line, headers))
}

fn respond(stream: &mut impl Write, status: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

struct Service {
    signer: Signer,
    policy: Arc<Mutex<Policy>>,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
    issued: AtomicU64,
}

impl Service {
    fn serve(&self, stream: &mut (impl Read + Write)) {
        let Some((request_line, headers)) = read_head(stream) else {
            return;
        };
        let mut parts = request_line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if !matches!(method, "GET" | "POST") || path != "/token" {
            return respond(stream, "404 Not Found", "{}");
        }
        // A POST's parameters are its form body (application/x-www-form-urlencoded).
        let body = if method == "POST" {
            let length = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse::<usize>().ok())
                .unwrap_or(0)
                .min(64 << 10);
            let mut body = vec![0u8; length];
            if stream.read_exact(&mut body).is_err() {
                return;
            }
            String::from_utf8_lossy(&body).into_owned()
        } else {
            String::new()
        };
        let query = if method == "POST" {
            body.as_str()
        } else {
            query
        };
        let params: Vec<(String, String)> = query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (percent_decode(k), percent_decode(v)))
            .collect();
        let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let authorization = headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.clone());
        let basic = authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Basic "))
            .and_then(|b| STANDARD.decode(b.trim()).ok())
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|s| {
                s.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
            });
        let request = TokenRequest {
            service: param("service"),
            scopes: params
                .iter()
                .filter(|(k, _)| k == "scope")
                .map(|(_, v)| v.clone())
                .collect(),
            account: param("account"),
            authorization: authorization.clone(),
            basic: basic.clone(),
            method: method.to_string(),
            grant_type: param("grant_type"),
            refresh_token: param("refresh_token"),
            client_id: param("client_id"),
        };
        self.requests.lock().unwrap().push(request.clone());
        let policy = self.policy.lock().unwrap().clone();
        let unauthorized =
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        let subject = match (&authorization, &basic) {
            _ if method == "POST" => {
                let granted = request.grant_type.as_deref() == Some("refresh_token")
                    && request.refresh_token.as_deref() == Some(REFRESH_TOKEN)
                    && request.client_id.as_deref().is_some_and(|c| !c.is_empty());
                if !granted {
                    return respond(stream, "400 Bad Request", r#"{"error":"invalid_grant"}"#);
                }
                USER.to_string()
            }
            (None, _) if policy.refuse_anonymous => {
                return respond(stream, "401 Unauthorized", unauthorized)
            }
            (None, _) => String::new(),
            (Some(_), Some((u, p))) if u == USER && p == PASSWORD => u.clone(),
            (Some(_), _) => return respond(stream, "401 Unauthorized", unauthorized),
        };
        let access: Vec<serde_json::Value> = request
            .scopes
            .iter()
            .filter_map(|scope| {
                let mut it = scope.splitn(3, ':');
                let (kind, name, actions) = (it.next()?, it.next()?, it.next()?);
                let allowed: &[&str] = if subject.is_empty() {
                    if policy.public_repos.iter().any(|r| r == name) {
                        &["pull"]
                    } else {
                        &[]
                    }
                } else if policy
                    .user_repos
                    .as_ref()
                    .is_none_or(|repos| repos.iter().any(|r| r == name))
                {
                    &["pull", "push"]
                } else {
                    &[]
                };
                let granted: Vec<&str> =
                    actions.split(',').filter(|a| allowed.contains(a)).collect();
                (kind == "repository" && !granted.is_empty())
                    .then(|| json!({"type": kind, "name": name, "actions": granted}))
            })
            .collect();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let jti = self.issued.fetch_add(1, Ordering::Relaxed);
        let issued = if policy.expired_tokens > 0 {
            self.policy.lock().unwrap().expired_tokens -= 1;
            now - 900
        } else {
            now
        };
        let claims = json!({
            "iss": ISSUER,
            "sub": subject,
            "aud": request.service.clone().unwrap_or_default(),
            "exp": issued + 300,
            "nbf": issued,
            "iat": issued,
            "jti": format!("token-{jti}"),
            "access": access,
        });
        let token = self.signer.sign(&claims);
        let body = json!({"token": token, "access_token": token, "expires_in": 300});
        respond(stream, "200 OK", &body.to_string());
    }
}

impl TokenServer {
    /// Start one whose key, certificates and such live in `dir` (created); over TLS when
    /// `tls`, with a server certificate for 127.0.0.2 from a CA of its own (`tls_ca`).
    pub fn start(dir: &Path, tls: bool, policy: Policy) -> TokenServer {
        std::fs::create_dir_all(dir).unwrap();
        let signer = Signer::new(dir);
        let cert = dir.join("token.crt");
        let tls_config = tls.then(|| {
            use rustls::pki_types::pem::PemObject;
            use rustls::pki_types::{CertificateDer, PrivateKeyDer};
            let (_, server_cert, server_key) = super::make_certificates(dir);
            let chain = CertificateDer::pem_file_iter(&server_cert)
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_file(&server_key).unwrap();
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            Arc::new(
                rustls::ServerConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .unwrap()
                    .with_no_client_auth()
                    .with_single_cert(chain, key)
                    .unwrap(),
            )
        });
        let listener = TcpListener::bind(format!("{HOST}:0")).expect("bind the token service");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let policy = Arc::new(Mutex::new(policy));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let service = Arc::new(Service {
            signer,
            policy: policy.clone(),
            requests: requests.clone(),
            issued: AtomicU64::new(0),
        });
        let halt = stop.clone();
        std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let (service, tls_config) = (service.clone(), tls_config.clone());
                std::thread::spawn(move || serve_connection(stream, &service, tls_config));
            }
        });
        TokenServer {
            port,
            tls,
            policy,
            requests,
            cert,
            tls_ca: tls.then(|| dir.join("ca.crt")),
            stop,
        }
    }

    /// The realm to configure the registry with.
    pub fn realm(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{HOST}:{}/token", self.port)
    }

    /// What it was sent so far (and forget it).
    pub fn take_requests(&self) -> Vec<TokenRequest> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

fn serve_connection(stream: TcpStream, service: &Service, tls: Option<Arc<rustls::ServerConfig>>) {
    stream.set_nonblocking(false).ok();
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
    match tls {
        None => service.serve(&mut { stream }),
        Some(config) => {
            let Ok(connection) = rustls::ServerConnection::new(config) else {
                return;
            };
            let mut tls_stream = rustls::StreamOwned::new(connection, stream);
            service.serve(&mut tls_stream);
            tls_stream.conn.send_close_notify();
            let _ = tls_stream.flush();
        }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
