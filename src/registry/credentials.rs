//! Credentials for a registry, and where they came from (for messages): the plain
//! values the auth files, the credential helpers and `--creds` give, and the token flow
//! and the client use.

use crate::error::{Error, Result};
use base64::Engine as _;
use std::fmt;
use std::path::PathBuf;

/// The name a credential helper `NAME` has on `PATH` (docker-credential-helpers).
pub const HELPER_PREFIX: &str = "docker-credential-";

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// An OAuth2 refresh token (auth.json's `identitytoken`, or a helper's answer for
    /// the user `<token>`): the token service is asked with it instead of the password.
    pub identity_token: Option<String>,
}

/// Never print a password, not even in debug output.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({:?}, <redacted>)", self.username)
    }
}

impl Credentials {
    /// `--creds USER[:PASS]` (podman's form; an empty password is allowed).
    pub fn parse(text: &str) -> Result<Credentials> {
        let (user, pass) = text.split_once(':').unwrap_or((text, ""));
        if user.is_empty() {
            return Err(Error::usage("--creds needs a user name").fix("give --creds USER:PASSWORD"));
        }
        Ok(Credentials {
            username: user.to_string(),
            password: pass.to_string(),
            identity_token: None,
        })
    }

    /// Only an identity token (a helper's answer for the user `<token>`).
    pub fn identity_token(token: String) -> Credentials {
        Credentials {
            username: "<token>".to_string(),
            password: String::new(),
            identity_token: Some(token),
        }
    }

    /// The `Authorization: Basic` value.
    pub fn basic(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// Where credentials came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredSource {
    CommandLine,
    File(PathBuf),
    /// `docker-credential-NAME`, named where `named_in` says.
    Helper {
        helper: String,
        named_in: String,
    },
}

impl fmt::Display for CredSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredSource::CommandLine => f.write_str("--creds"),
            CredSource::File(p) => write!(f, "{}", p.display()),
            CredSource::Helper { helper, named_in } => {
                write!(
                    f,
                    "the credential helper {HELPER_PREFIX}{helper}, named in {named_in}"
                )
            }
        }
    }
}
