//! `userns pull` against a real registry with token auth, as Docker Hub, ghcr.io and
//! quay.io use it: Debian's docker-registry (distribution 2.8) configured with
//! `auth: token`, and a token service the test runs (tests/registry_support/token.rs)
//! that checks basic credentials and signs the JWTs the registry verifies. The real
//! `podman login` follows the realm and writes the auth.json userns reads.
//!
//! Every realm here "points elsewhere": the token service listens on a port of its own,
//! another origin than the registry's, as auth.docker.io is for registry-1.docker.io.

mod common;
mod image_support;
mod registry_support;

use base64::Engine as _;
use common::{assert_code, assert_ok, stderr, Scenario};
use image_support::{path_str, Scratch};
use registry_support::token::{Policy, TokenRequest, TokenServer, SERVICE};
use registry_support::{
    busybox_layer, cache_entries, chown_tree, config, images_json, scenario, Registry, Relay,
    PASSWORD, USER,
};
use serde_json::json;

/// Push an image whose /marker says `marker` to `registry` as `dest`.
fn push(scratch: &Scratch, registry: &Registry, marker: &str, dest: &str) {
    let layer = busybox_layer(scratch, marker, marker, &[]);
    let archive = scratch.docker_archive(marker, config("amd64"), &[&layer]);
    registry.push(
        &format!("docker-archive:{}", path_str(&archive)),
        dest,
        false,
    );
}

fn creds() -> String {
    format!("{USER}:{PASSWORD}")
}

/// Every request asked for `service` and pull of `repository` only, with `basic`.
fn assert_requests(requests: &[TokenRequest], repository: &str, basic: Option<(&str, &str)>) {
    assert!(!requests.is_empty(), "the token service was not asked");
    for r in requests {
        assert_eq!(r.service.as_deref(), Some(SERVICE), "{r:?}");
        assert_eq!(r.scopes, [format!("repository:{repository}:pull")], "{r:?}");
        let sent = r.basic.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
        assert_eq!(sent, basic, "{r:?}");
        if basic.is_none() {
            assert_eq!(r.authorization, None, "{r:?}");
        }
    }
}

/// What the registry was sent through `relay` carries bearer tokens and never the
/// password, in clear or in a basic authorization (then forget it).
fn assert_registry_saw_only_tokens(relay: &Relay) {
    let sent = std::mem::take(&mut *relay.sent.lock().unwrap());
    let text = String::from_utf8_lossy(&sent).to_ascii_lowercase();
    assert!(
        text.contains("authorization: bearer "),
        "no bearer token reached the registry"
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(creds());
    for secret in [PASSWORD.to_ascii_lowercase(), basic.to_ascii_lowercase()] {
        assert!(!text.contains(&secret), "the registry was sent {secret:?}");
    }
    assert!(!text.contains("authorization: basic"), "{text}");
}

#[test]
fn token_auth_with_creds_podman_login_and_registry_auth_file() {
    let scratch = Scratch::new("token_login");
    let tokens = TokenServer::start(
        &scratch.path("token"),
        false,
        Policy {
            refuse_anonymous: true,
            ..Policy::default()
        },
    );
    let registry = Registry::start_token(&scratch.path("registry"), &tokens, false);
    push(&scratch, &registry, "by token", "team/app:1");
    // Through a relay that keeps what the registry is sent.
    let relay = Relay::start(registry.port, 0);
    let addr = relay.addr();
    let Some(scn) = scenario("token_login", &addr, "") else {
        return;
    };
    let reference = format!("{addr}/team/app:1");
    tokens.take_requests();

    // --creds: the token service gets them, the registry only the token.
    let out = scn.run(&["pull", "--creds", &creds(), &reference]);
    let id = assert_ok(&out).trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    assert_requests(
        &tokens.take_requests(),
        "team/app",
        Some((USER, PASSWORD)),
    );
    assert_registry_saw_only_tokens(&relay);
    let out = scn.run(&["run", &reference, "cat", "/marker"]);
    assert_eq!(assert_ok(&out), "by token\n");
    assert_ok(&scn.run(&["rmi", &reference]));
}
