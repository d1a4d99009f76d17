//! `userns pull` against a real registry with token auth, as Docker Hub, ghcr.io and
//! quay.io use it: Debian's docker-registry (distribution 2.8) configured with
//! `auth: token`, and a token service the test runs (tests/registry_support/token.rs)
//! that checks basic credentials and signs the JWTs the registry verifies. The real
//! `podman login` follows the realm and writes the auth.json userns reads.
//!
//! Every realm here "points elsewhere": the token service listens on another address
//! (127.0.0.2) than the registry (127.0.0.1), as auth.docker.io is another host than
//! registry-1.docker.io.

mod common;
mod image_support;
mod registry_support;

use base64::Engine as _;
use common::{assert_code, assert_ok, stderr, Scenario};
use image_support::{path_str, Scratch};
use registry_support::token::{Policy, TokenRequest, TokenServer, HOST, SERVICE};
use registry_support::{
    busybox_layer, cache_entries, chown_tree, config, images_json, scenario, Registry, Relay,
    PASSWORD, USER,
};

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
    let (tokens, registry) = Registry::start_login_only(&scratch);
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
    assert_requests(&tokens.take_requests(), "team/app", Some((USER, PASSWORD)));
    assert_registry_saw_only_tokens(&relay);
    let out = scn.run(&["run", &reference, "cat", "/marker"]);
    assert_eq!(assert_ok(&out), "by token\n");
    assert_ok(&scn.run(&["rmi", &reference]));

    // No credentials anywhere: the token service refuses, and userns says to log in.
    let out = scn.run(&["pull", &reference]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{addr} requires a login"))
            && err.contains(&tokens.realm())
            && err.contains(&format!("podman login {addr}")),
        "{err}"
    );
    assert_requests(&tokens.take_requests(), "team/app", None);
    assert_eq!(cache_entries(&scn), Vec::<String>::new());

    // REGISTRY_AUTH_FILE, written there by the real podman login, which follows the realm
    // with the credentials (its request names no repository).
    let file = scn.home().join("elsewhere/auth.json");
    let login = |env: &str| {
        assert_ok(&scn.sh(&format!(
            "mkdir -p $HOME/elsewhere && {env} podman login --tls-verify=false \
             -u {USER} -p {PASSWORD} {addr}"
        )));
        let requests = tokens.take_requests();
        assert!(
            requests
                .iter()
                .any(|r| r.service.as_deref() == Some(SERVICE)
                    && r.basic == Some((USER.to_string(), PASSWORD.to_string()))),
            "podman login did not get a token: {requests:?}"
        );
    };
    login(&format!("REGISTRY_AUTH_FILE={}", file.display()));
    assert!(file.is_file(), "podman login wrote no {}", file.display());
    assert_code(&scn.run(&["pull", &reference]), 1);
    tokens.take_requests();
    let out = scn.sh(&format!(
        "REGISTRY_AUTH_FILE={} exec $USERNS pull {reference}",
        file.display()
    ));
    assert_eq!(assert_ok(&out).trim(), id);
    assert_requests(&tokens.take_requests(), "team/app", Some((USER, PASSWORD)));
    assert_registry_saw_only_tokens(&relay);
    assert_ok(&scn.run(&["rmi", &reference]));

    // podman login's own place ($XDG_RUNTIME_DIR/containers/auth.json).
    login("");
    assert!(scn.scratch().join("run/containers/auth.json").is_file());
    let out = scn.run(&["run", &reference, "cat", "/marker"]);
    assert_eq!(assert_ok(&out), "by token\n");
    assert_requests(&tokens.take_requests(), "team/app", Some((USER, PASSWORD)));
    assert_registry_saw_only_tokens(&relay);
}

#[test]
fn wrong_password_anonymous_pulls_and_a_token_for_one_repository_only() {
    let scratch = Scratch::new("token_access");
    let tokens = TokenServer::start(&scratch.path("token"), false, Policy::default());
    let registry = Registry::start_token(&scratch.path("registry"), &tokens, false);
    push(&scratch, &registry, "private", "team/app:1");
    push(&scratch, &registry, "public", "pub/app:1");
    push(&scratch, &registry, "other", "other/app:1");
    // USER may use team/app only; anyone may pull pub/app.
    *tokens.policy.lock().unwrap() = Policy {
        user_repos: Some(vec!["team/app".into()]),
        public_repos: vec!["pub/app".into()],
        ..Policy::default()
    };
    let addr = registry.addr();
    let Some(scn) = scenario("token_access", &addr, "") else {
        return;
    };
    tokens.take_requests();

    // A wrong password: the token service says 401; named with its realm, the source of
    // the credentials and the fix; nothing left in the cache.
    let out = scn.run(&[
        "pull",
        "--creds",
        &format!("{USER}:wrong"),
        &format!("{addr}/team/app:1"),
    ]);
    assert_code(&out, 1);
    let err = stderr(&out);
    for want in [
        format!("the token service {} of {addr}", tokens.realm()),
        format!("refused the credentials of \"{USER}\""),
        "wrong user name or password (from --creds)".to_string(),
        format!("podman login {addr}"),
    ] {
        assert!(err.contains(&want), "{want:?} missing:\n{err}");
    }
    assert_requests(&tokens.take_requests(), "team/app", Some((USER, "wrong")));
    assert_eq!(cache_entries(&scn), Vec::<String>::new());
    // A stale password in an auth.json: the file is named as where it came from.
    let stale = scn.home().join(".config/containers/auth.json");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:stale"));
    std::fs::write(
        &stale,
        serde_json::json!({"auths": {addr.clone(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    chown_tree(&scn.home(), scn.uid());
    let out = scn.run(&["pull", &format!("{addr}/team/app:1")]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "wrong user name or password (from {})",
            stale.display()
        )) && err.contains(&format!("podman login {addr}")),
        "{err}"
    );
    assert_requests(&tokens.take_requests(), "team/app", Some((USER, "stale")));
    std::fs::remove_file(&stale).unwrap();
    // run's own failure: 125, as podman.
    let out = scn.run(&[
        "run",
        "--creds",
        &format!("{USER}:wrong"),
        &format!("{addr}/team/app:1"),
        "true",
    ]);
    assert_code(&out, 125);
    assert!(stderr(&out).contains("refused the credentials"));
    assert_requests(&tokens.take_requests(), "team/app", Some((USER, "wrong")));
    assert_eq!(cache_entries(&scn), Vec::<String>::new());

    // Anonymous pull access: no credentials anywhere, none sent, and it works.
    let out = scn.run(&["run", &format!("{addr}/pub/app:1"), "cat", "/marker"]);
    assert_eq!(assert_ok(&out), "public\n");
    assert_requests(&tokens.take_requests(), "pub/app", None);

    // A private repository without credentials: a token without access to it (as Docker
    // Hub answers), which the registry refuses: log in.
    let out = scn.run(&["pull", &format!("{addr}/team/app:1")]);
    assert_code(&out, 1);
    let err = stderr(&out);
    for want in [
        format!("{addr} refused access to {addr}/team/app"),
        "no pull access without credentials to team/app".to_string(),
        format!("podman login {addr}"),
    ] {
        assert!(err.contains(&want), "{want:?} missing:\n{err}");
    }
    // Only the public image.
    let public = cache_entries(&scn);
    assert_eq!(public.len(), 1, "{public:?}");

    // A token service that refuses anonymous requests: log in too.
    tokens.policy.lock().unwrap().refuse_anonymous = true;
    let out = scn.run(&["pull", &format!("{addr}/pub/app:1")]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{addr} requires a login"))
            && err.contains(&format!("podman login {addr}")),
        "{err}"
    );
    tokens.take_requests();

    // The user's token holds team/app only: other/app is refused by the registry, and
    // the error says the credentials were right but grant no access there.
    let out = scn.run(&["pull", "--creds", &creds(), &format!("{addr}/other/app:1")]);
    assert_code(&out, 1);
    let err = stderr(&out);
    for want in [
        format!("{addr} refused access to {addr}/other/app"),
        format!("the user \"{USER}\" (from --creds) no pull access to other/app"),
        "insufficient_scope".to_string(),
    ] {
        assert!(err.contains(&want), "{want:?} missing:\n{err}");
    }
    assert!(!err.contains("wrong user name or password"), "{err}");
    assert_requests(&tokens.take_requests(), "other/app", Some((USER, PASSWORD)));
    assert_eq!(cache_entries(&scn), public);

    // A token that expired (one that outlived a long pull): the registry says
    // invalid_token, and userns asks for a new one once, then goes on.
    tokens.policy.lock().unwrap().expired_tokens = 1;
    let out = scn.run(&["pull", "--creds", &creds(), &format!("{addr}/team/app:1")]);
    assert_ok(&out);
    assert_eq!(tokens.take_requests().len(), 2);
    // Only expired ones: said so, after the one new token.
    tokens.policy.lock().unwrap().expired_tokens = 100;
    let out = scn.run(&["pull", "--creds", &creds(), &format!("{addr}/team/app:1")]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{addr} did not accept the token")) && err.contains("invalid_token"),
        "{err}"
    );
    assert_eq!(tokens.take_requests().len(), 2);
    assert_eq!(images_json(&scn).as_array().unwrap().len(), 2);
}

#[test]
fn credentials_go_over_tls_to_the_realm_of_a_verified_registry_and_nowhere_else() {
    let scratch = Scratch::new("token_realms");
    // A verified HTTPS registry whose token service is plain HTTP.
    let plain = TokenServer::start(
        &scratch.path("plain-token"),
        false,
        Policy {
            public_repos: vec!["pub/app".into()],
            ..Policy::default()
        },
    );
    let registry = Registry::start_token(&scratch.path("registry"), &plain, true);
    push(&scratch, &registry, "secure", "team/app:1");
    push(&scratch, &registry, "public", "pub/app:1");
    // One whose token service is HTTPS too, with a certificate of another CA.
    let tls_tokens = TokenServer::start(&scratch.path("tls-token"), true, Policy::default());
    let both = Registry::start_token(&scratch.path("both"), &tls_tokens, true);
    push(&scratch, &both, "both over tls", "team/app:1");
    // One whose realm is not an http(s) URL.
    let unused = TokenServer::start(&scratch.path("unused-token"), false, Policy::default());
    let ftp_realm = format!("ftp://{HOST}:{}/token", unused.port);
    let odd = Registry::start_token_at(&scratch.path("odd"), &unused, &ftp_realm, false);
    let Some(scn) = Scenario::new("token_realms") else {
        return;
    };
    // The realm is reached with the registry's TLS settings, as containers/image does:
    // the token service's CA goes in the registry's certs.d.
    let certs = |registry: &Registry| {
        scn.home()
            .join(".config/containers/certs.d")
            .join(registry.addr())
    };
    for registry in [&registry, &both] {
        std::fs::create_dir_all(certs(registry)).unwrap();
        std::fs::copy(registry.ca_cert(), certs(registry).join("ca.crt")).unwrap();
    }
    let token_ca = certs(&both).join("token-ca.crt");
    std::fs::copy(tls_tokens.tls_ca.as_ref().unwrap(), &token_ca).unwrap();
    chown_tree(&scn.home(), scn.uid());
    plain.take_requests();
    tls_tokens.take_requests();

    // Credentials to a plain HTTP realm of a verified registry: refused, nothing sent.
    let reference = format!("{}/team/app:1", registry.addr());
    let out = scn.run(&["pull", "--creds", &creds(), &reference]);
    assert_code(&out, 1);
    let err = stderr(&out);
    for want in [
        format!(
            "will not send the credentials of \"{USER}\" (from --creds) to {}",
            plain.realm()
        ),
        "plain HTTP".to_string(),
        format!("mark {} insecure", registry.addr()),
    ] {
        assert!(err.contains(&want), "{want:?} missing:\n{err}");
    }
    assert!(plain.take_requests().is_empty(), "credentials were sent");
    assert_eq!(cache_entries(&scn), Vec::<String>::new());

    // Without credentials only an anonymous request goes that way: nothing secret.
    let public = format!("{}/pub/app:1", registry.addr());
    let out = scn.run(&["run", &public, "cat", "/marker"]);
    assert_eq!(assert_ok(&out), "public\n");
    assert_requests(&plain.take_requests(), "pub/app", None);

    // The user made the registry insecure: then, as podman, the credentials go.
    let out = scn.run(&[
        "pull",
        "--tls-verify=false",
        "--creds",
        &creds(),
        &reference,
    ]);
    assert_ok(&out);
    assert_requests(&plain.take_requests(), "team/app", Some((USER, PASSWORD)));

    // An HTTPS realm: the credentials go, over TLS verified with the registry's certs.d.
    let reference = format!("{}/team/app:1", both.addr());
    let out = scn.run(&["run", "--creds", &creds(), &reference, "cat", "/marker"]);
    assert_eq!(assert_ok(&out), "both over tls\n");
    assert_requests(
        &tls_tokens.take_requests(),
        "team/app",
        Some((USER, PASSWORD)),
    );
    // Without the token service's CA its certificate is refused, and the realm named.
    std::fs::remove_file(&token_ca).unwrap();
    assert_ok(&scn.run(&["rmi", &reference]));
    let out = scn.run(&["pull", "--creds", &creds(), &reference]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot get a token from {}", tls_tokens.realm()))
            && err.contains("certs.d"),
        "{err}"
    );
    assert!(tls_tokens.take_requests().is_empty());

    // A realm that is neither http nor https, even for an insecure registry: named as the
    // registry's misconfiguration, nothing sent.
    let out = scn.run(&[
        "pull",
        "--tls-verify=false",
        "--creds",
        &creds(),
        &format!("{}/team/app:1", odd.addr()),
    ]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&ftp_realm) && err.contains("not an http or https URL"),
        "{err}"
    );
    assert!(unused.take_requests().is_empty());
}
