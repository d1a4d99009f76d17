//! Images from registries, daemonless and rootless, over the OCI distribution API, with
//! podman's configuration read as podman reads it.
//!
//! - [`reference`]: `registry/repo:tag@digest`, short names, docker.io's defaults;
//! - [`config`]: registries.conf v2 (search registries, aliases, rewrites, mirrors,
//!   `insecure`, `blocked`);
//! - [`auth`]: auth.json where `podman login` writes it, `--creds`, token and basic auth;
//! - [`credentials`]: credentials and where they came from;
//! - [`cred_helper`]: `docker-credential-NAME get`, run bounded;
//! - [`tls`]: the system's CA store and certs.d;
//! - [`token`]: distribution's token flow, and which realms credentials may go to;
//! - [`client`]: one registry endpoint's session ([`transport`]: a request unanswered);
//! - [`manifest`]: manifests and indexes, the platform's choice;
//! - [`stage`]: the downloaded blobs, verified, as an OCI layout that resumes;
//! - [`layers`]: the config and the layers at once (the largest first), into the stage;
//! - [`layertap`]: a layer decompressed, hashed for its diff_id and scanned for its
//!   owners as it downloads;
//! - [`pull`]: the order of it all, up to the image cache's unpacker.
//!
//! Synchronous, blocking I/O; threads only within the download of the layers (one per
//! layer at a time, and one scan per layer), all joined before `fetch` returns:
//! `userns run` pulls before it creates its user namespace, and unshare(2) of a user
//! namespace fails in a process with threads.

pub mod auth;
pub mod client;
pub mod config;
pub mod cred_helper;
pub mod credentials;
pub mod layers;
pub mod layertap;
pub mod manifest;
pub mod pull;
pub mod reference;
pub mod stage;
pub mod tls;
pub mod token;
pub(crate) mod transport;

pub use pull::{fetch, install, Fetched, PullSpec};
pub use reference::Reference;
