//! `userns pull` and `run REFERENCE` with credentials from credential helpers, as
//! podman finds them: a `credHelpers` entry of auth.json, and registries.conf's
//! `credential-helpers` list. The helpers are real programs on the fixture user's PATH
//! (`docker-credential-userns-test` and `docker-credential-userns-other`, one shell
//! script speaking docker-credential-helpers' protocol), in front of a real registry
//! (Debian's docker-registry, htpasswd auth). No password is written anywhere userns
//! reads it: only the helper knows it.

mod common;
mod image_support;
mod registry_support;

use base64::Engine as _;
use common::{assert_code, assert_ok, stderr, stdout, Scenario};
use image_support::{path_str, Scratch};
use registry_support::token::{REFRESH_TOKEN, SERVICE};
use registry_support::{
    busybox_layer, cache_entries, chown_tree, config, images_json, scenario, Registry, PASSWORD,
    USER,
};
use serde_json::json;
use std::path::PathBuf;
use std::process::Output;

/// The helper. Its behaviour is read from `$HOME/helper-mode.NAME` (so that the test can
/// change it between runs); every call is logged to `$HOME/helper-calls` as
/// `NAME|ARGS|STDIN`, one per line.
const HELPER: &str = r#"#!/bin/sh
name=${0##*/docker-credential-}
# All of stdin, trailing newlines kept: the log shows exactly what was sent.
url=$(cat; echo x)
url=${url%x}
printf '%s|%s|%s\n' "$name" "$*" "$url" >> "$HOME/helper-calls"
mode=$(cat "$HOME/helper-mode.$name" 2>/dev/null || echo notfound)
case "$mode" in
answer)
    if [ "$url" = "$(cat "$HOME/helper-registry")" ]; then
        printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\n' "$url" "$(cat "$HOME/helper-user")" "$(cat "$HOME/helper-secret")"
        exit 0
    fi
    echo "credentials not found in native keychain"; exit 1 ;;
notfound)
    echo "credentials not found in native keychain"; exit 1 ;;
fail)
    echo "the keyring is locked: unlock it with keyring-unlock" >&2; exit 3 ;;
garbage)
    printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"' "$url" "$(cat "$HOME/helper-user")" "$(cat "$HOME/helper-secret")"
    exit 0 ;;
flood)
    head -c 3000000 /dev/zero | tr '\0' x
    exit 0 ;;
hang)
    echo "waiting for a touch of the security key" >&2
    sleep 600 &
    echo $! > "$HOME/helper-sleeper.pid"
    wait ;;
esac
"#;

struct Fixture {
    _registry: Registry,
    /// The registry's storage lives here: kept as long as the registry.
    _scratch: Scratch,
    scn: Scenario,
    addr: String,
    reference: String,
}

impl Fixture {
    /// A registry with htpasswd (basic) auth.
    fn new(test: &str) -> Option<Fixture> {
        let scratch = Scratch::new(test);
        let registry = Registry::start(&scratch.path("registry"));
        Fixture::with(test, scratch, registry)
    }

    fn with(test: &str, scratch: Scratch, registry: Registry) -> Option<Fixture> {
        let addr = registry.addr();
        let layer = busybox_layer(&scratch, "helped", "from a helper's login", &[]);
        let archive = scratch.docker_archive("helped", config("amd64"), &[&layer]);
        registry.push(
            &format!("docker-archive:{}", path_str(&archive)),
            "team/app:1",
            false,
        );
        let scn = scenario(test, &addr, "")?;
        let home = scn.home();
        std::fs::create_dir_all(home.join("bin")).unwrap();
        for name in ["userns-test", "userns-other"] {
            let path = home.join(format!("bin/docker-credential-{name}"));
            std::fs::write(&path, HELPER).unwrap();
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(home.join("helper-registry"), &addr).unwrap();
        std::fs::write(home.join("helper-user"), USER).unwrap();
        std::fs::write(home.join("helper-secret"), PASSWORD).unwrap();
        chown_tree(&home, scn.uid());
        let reference = format!("{addr}/team/app:1");
        Some(Fixture {
            _registry: registry,
            _scratch: scratch,
            scn,
            addr,
            reference,
        })
    }

    fn mode(&self, helper: &str, mode: &str) {
        let file = self.scn.home().join(format!("helper-mode.{helper}"));
        std::fs::write(&file, mode).unwrap();
        chown_tree(&file, self.scn.uid());
    }

    fn secret(&self, secret: &str) {
        let file = self.scn.home().join("helper-secret");
        std::fs::write(&file, secret).unwrap();
    }

    fn helper_user(&self, user: &str) {
        let file = self.scn.home().join("helper-user");
        std::fs::write(&file, user).unwrap();
    }

    /// The auth file `podman login` writes ($XDG_RUNTIME_DIR/containers/auth.json).
    fn auth_json(&self) -> PathBuf {
        self.scn.scratch().join("run/containers/auth.json")
    }

    fn write_auth_json(&self, value: serde_json::Value) {
        let file = self.auth_json();
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, value.to_string()).unwrap();
        chown_tree(file.parent().unwrap(), self.scn.uid());
    }

    fn registries_conf(&self, top: &str) {
        let file = self.scn.home().join(".config/containers/registries.conf");
        std::fs::write(
            &file,
            format!(
                "{top}\n[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
                self.addr
            ),
        )
        .unwrap();
    }

    /// `userns ARGS` as the user, with the helpers' directory first on PATH.
    fn userns(&self, args: &str) -> Output {
        let out = self
            .scn
            .sh(&format!("PATH=$HOME/bin:$PATH exec $USERNS {args}"));
        self.assert_no_secret(&out);
        out
    }

    /// Neither the password nor its base64 ever reaches userns's output.
    fn assert_no_secret(&self, out: &Output) {
        let text = format!("{}{}", stdout(out), stderr(out));
        let secret = std::fs::read_to_string(self.scn.home().join("helper-secret")).unwrap();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{secret}"));
        for s in [secret.as_str(), basic.as_str(), PASSWORD] {
            assert!(
                !text.contains(s),
                "userns printed the secret {s:?}:\n{text}"
            );
        }
    }

    /// The calls logged since the last take: (helper, args, stdin).
    fn take_calls(&self) -> Vec<(String, String, String)> {
        let file = self.scn.home().join("helper-calls");
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let _ = std::fs::remove_file(&file);
        text.lines()
            .map(|l| {
                let mut parts = l.splitn(3, '|').map(str::to_string);
                let mut next = || parts.next().unwrap_or_default();
                (next(), next(), next())
            })
            .collect()
    }

    fn assert_nothing_cached(&self) {
        assert_eq!(images_json(&self.scn), json!([]));
        assert_eq!(cache_entries(&self.scn), Vec::<String>::new());
    }
}

fn calls(list: &[(&str, &str)]) -> Vec<(String, String, String)> {
    list.iter()
        .map(|(h, url)| (h.to_string(), "get".to_string(), url.to_string()))
        .collect()
}

#[test]
fn cred_helpers_entry_in_auth_json_is_the_only_login_needed() {
    let Some(f) = Fixture::new("cred_helper_entry") else {
        return;
    };
    // Without the helper, no credentials: the registry's 401 is explained.
    let out = f.userns(&format!("pull {}", f.reference));
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("requires a login"),
        "{}",
        stderr(&out)
    );

    // auth.json as `podman login` leaves it for a helper-backed registry: a credHelpers
    // entry, and a stale password under auths that the entry must override.
    let stale = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:stale"));
    f.write_auth_json(json!({
        "auths": {(f.addr.clone()): {"auth": stale}},
        "credHelpers": {(f.addr.clone()): "userns-test"},
    }));
    f.mode("userns-test", "answer");
    let out = f.userns(&format!("pull {}", f.reference));
    let id = assert_ok(&out).trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    // The helper was asked once, with "get" and the registry's host on stdin, nothing else.
    assert_eq!(f.take_calls(), calls(&[("userns-test", &f.addr)]));
    let out = f.userns(&format!("run {} cat /marker", f.reference));
    assert_eq!(assert_ok(&out), "from a helper's login\n");
    assert_ok(&f.scn.run(&["rmi", &f.reference]));
    f.take_calls();

    // run pulls through the helper too.
    let out = f.userns(&format!("run {} cat /marker", f.reference));
    assert_eq!(assert_ok(&out), "from a helper's login\n");
    assert_eq!(f.take_calls(), calls(&[("userns-test", &f.addr)]));
    assert_ok(&f.scn.run(&["rmi", &f.reference]));

    // The helper's "credentials not found": the file's auths are not read instead (as
    // containers/image), so it is a login that is missing.
    f.mode("userns-test", "notfound");
    let out = f.userns(&format!("pull {}", f.reference));
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{} requires a login", f.addr)) && err.contains("podman login"),
        "{err}"
    );
    f.assert_nothing_cached();

    // A wrong secret from the helper: refused, the helper named as the source.
    f.mode("userns-test", "answer");
    f.secret("not-the-password");
    let out = f.userns(&format!("pull {}", f.reference));
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("refused the credentials of {USER:?}"))
            && err.contains("docker-credential-userns-test")
            && err.contains("auth.json"),
        "{err}"
    );
    f.assert_nothing_cached();

    // A helper that is not installed: named, with where it was named and the fix.
    f.write_auth_json(json!({"credHelpers": {(f.addr.clone()): "userns-missing"}}));
    let out = f.userns(&format!("pull {}", f.reference));
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("docker-credential-userns-missing is not installed")
            && err.contains(path_str(&f.auth_json()))
            && err.contains("PATH"),
        "{err}"
    );

    // Attack: a helper "name" that is a path. Joined to a PATH directory it would reach a
    // program outside the docker-credential- names (bin/docker-credential-../evil); it is
    // refused, and the program never runs.
    let evil_dir = f.scn.home().join("bin/docker-credential-..");
    std::fs::create_dir_all(&evil_dir).unwrap();
    std::fs::write(
        evil_dir.join("evil"),
        "#!/bin/sh\ntouch \"$HOME/evil-ran\"\necho '{\"Username\":\"u\",\"Secret\":\"s\"}'\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(evil_dir.join("evil"), mode).unwrap();
    }
    chown_tree(&f.scn.home().join("bin"), f.scn.uid());
    f.write_auth_json(json!({"credHelpers": {(f.addr.clone()): "../evil"}}));
    let out = f.userns(&format!("pull {}", f.reference));
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("\"../evil\" is not a credential helper's name")
            && err.contains(path_str(&f.auth_json())),
        "{err}"
    );
    assert!(
        !f.scn.home().join("evil-ran").exists(),
        "a helper named by a path was run"
    );
    f.assert_nothing_cached();

    // --creds overrides every source: no helper is run.
    f.take_calls();
    let out = f.userns(&format!("pull --creds {USER}:{PASSWORD} {}", f.reference));
    assert_eq!(assert_ok(&out).trim().len(), 64);
    assert_eq!(f.take_calls(), vec![]);
}

#[test]
fn credential_helpers_of_registries_conf_are_tried_in_their_order() {
    let Some(f) = Fixture::new("cred_helper_order") else {
        return;
    };
    // auth.json holds a wrong password; the helper the right one.
    let wrong = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:wrong"));
    f.write_auth_json(json!({"auths": {(f.addr.clone()): {"auth": wrong}}}));
    f.mode("userns-test", "answer");

    // The helper first: its credentials win, auth.json is not needed.
    f.registries_conf(r#"credential-helpers = ["userns-test", "containers-auth.json"]"#);
    let out = f.userns(&format!("pull {}", f.reference));
    assert_eq!(assert_ok(&out).trim().len(), 64);
    assert_eq!(f.take_calls(), calls(&[("userns-test", &f.addr)]));
    assert_ok(&f.scn.run(&["rmi", &f.reference]));

    // The auth files first: their (wrong) entry wins and the helper is never run.
    f.registries_conf(r#"credential-helpers = ["containers-auth.json", "userns-test"]"#);
    let out = f.userns(&format!("pull {}", f.reference));
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("refused the credentials") && err.contains(path_str(&f.auth_json())),
        "{err}"
    );
    assert_eq!(f.take_calls(), vec![]);
    f.assert_nothing_cached();

    // Without an entry in the auth files, the search goes on to the helper.
    std::fs::remove_file(f.auth_json()).unwrap();
    let out = f.userns(&format!("pull {}", f.reference));
    assert_eq!(assert_ok(&out).trim().len(), 64);
    assert_eq!(f.take_calls(), calls(&[("userns-test", &f.addr)]));
    assert_ok(&f.scn.run(&["rmi", &f.reference]));

    // A helper with nothing for the registry falls through to the next one.
    f.registries_conf(r#"credential-helpers = ["userns-other", "userns-test"]"#);
    f.mode("userns-other", "notfound");
    let out = f.userns(&format!("pull {}", f.reference));
    assert_eq!(assert_ok(&out).trim().len(), 64);
    assert_eq!(
        f.take_calls(),
        calls(&[("userns-other", &f.addr), ("userns-test", &f.addr)])
    );
    assert_ok(&f.scn.run(&["rmi", &f.reference]));

    // A helper that fails does not stop the search either; its failure is noted.
    f.mode("userns-other", "fail");
    let out = f.userns(&format!("pull {}", f.reference));
    assert_eq!(assert_ok(&out).trim().len(), 64);
    assert!(
        stderr(&out).contains("docker-credential-userns-other failed"),
        "{}",
        stderr(&out)
    );
    assert_ok(&f.scn.run(&["rmi", &f.reference]));
    f.take_calls();

    // None has any: "requires a login".
    f.mode("userns-other", "notfound");
    f.mode("userns-test", "notfound");
    let out = f.userns(&format!("pull {}", f.reference));
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains(&format!("{} requires a login", f.addr)),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        f.take_calls(),
        calls(&[("userns-other", &f.addr), ("userns-test", &f.addr)])
    );
    f.assert_nothing_cached();

    // A drop-in's list replaces the main file's.
    let dropins = f.scn.home().join(".config/containers/registries.conf.d");
    std::fs::create_dir_all(&dropins).unwrap();
    std::fs::write(
        dropins.join("50-helpers.conf"),
        "credential-helpers = [\"userns-test\"]\n",
    )
    .unwrap();
    chown_tree(&dropins, f.scn.uid());
    f.mode("userns-test", "answer");
    let out = f.userns(&format!("pull {}", f.reference));
    assert_eq!(assert_ok(&out).trim().len(), 64);
    assert_eq!(f.take_calls(), calls(&[("userns-test", &f.addr)]));
}

#[test]
fn a_helper_that_fails_prints_garbage_or_hangs_is_a_clear_error_and_caches_nothing() {
    let Some(f) = Fixture::new("cred_helper_bad") else {
        return;
    };
    f.registries_conf(r#"credential-helpers = ["userns-test"]"#);
    let check = |mode: &str, expect: &[&str]| {
        f.mode("userns-test", mode);
        for (command, code) in [("pull", 1), ("run", 125)] {
            let args = match command {
                "pull" => format!("pull {}", f.reference),
                _ => format!("run {} cat /marker", f.reference),
            };
            let out = f.scn.sh(&format!(
                "PATH=$HOME/bin:$PATH USERNS_CREDENTIAL_HELPER_TIMEOUT=1 exec $USERNS {args}"
            ));
            f.assert_no_secret(&out);
            assert_code(&out, code);
            let err = stderr(&out);
            assert!(
                err.contains("docker-credential-userns-test") && err.contains(&f.addr),
                "{mode}: the helper and the registry are named: {err}"
            );
            for e in expect {
                assert!(err.contains(e), "{mode}: {e:?} missing from: {err}");
            }
            assert!(!err.contains("panicked"), "{err}");
            f.assert_nothing_cached();
        }
    };
    check(
        "fail",
        &[
            "failed",
            "it exited with status 3",
            "the keyring is locked: unlock it with keyring-unlock",
        ],
    );
    // The answer holds the secret: the error must not quote it (assert_no_secret).
    check(
        "garbage",
        &[
            "answer userns cannot read",
            "not the JSON",
            "it ends early, at line 1",
        ],
    );
    check(
        "hang",
        &[
            "timed out",
            "was killed",
            "waiting for a touch of the security key",
            "USERNS_CREDENTIAL_HELPER_TIMEOUT",
        ],
    );
    check("flood", &["answered too much", "more than 1048576 bytes"]);
    // What the hung helper started was killed with it.
    let out = f.scn.sh("pid=$(cat $HOME/helper-sleeper.pid); i=0; \
         while kill -0 $pid 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; \
         if kill -0 $pid 2>/dev/null; then echo alive; else echo gone; fi");
    assert_eq!(assert_ok(&out).trim(), "gone");
    // Every call was given only the host on stdin and "get".
    let logged = f.take_calls();
    assert_eq!(logged.len(), 8, "{logged:?}");
    for call in logged {
        assert_eq!(
            call,
            ("userns-test".to_string(), "get".to_string(), f.addr.clone())
        );
    }
    // A bad timeout is refused, naming the variable.
    let out = f.scn.sh(&format!(
        "PATH=$HOME/bin:$PATH USERNS_CREDENTIAL_HELPER_TIMEOUT=soon exec $USERNS pull {}",
        f.reference
    ));
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("USERNS_CREDENTIAL_HELPER_TIMEOUT=\"soon\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn identity_tokens_from_auth_json_and_helpers_take_the_oauth2_flow() {
    let scratch = Scratch::new("cred_helper_identity");
    let (tokens, registry) = Registry::start_login_only(&scratch);
    let Some(f) = Fixture::with("cred_helper_identity", scratch, registry) else {
        return;
    };
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    // Every request a POST of the refresh token in the form, for pull of team/app only;
    // never a password, never basic credentials.
    let assert_oauth2 = |refresh: &str| {
        let requests = tokens.take_requests();
        assert!(!requests.is_empty(), "the token service was not asked");
        for r in requests {
            assert_eq!(r.method, "POST", "{r:?}");
            assert_eq!(r.grant_type.as_deref(), Some("refresh_token"), "{r:?}");
            assert_eq!(r.refresh_token.as_deref(), Some(refresh), "{r:?}");
            assert_eq!(r.client_id.as_deref(), Some("userns"), "{r:?}");
            assert_eq!(r.service.as_deref(), Some(SERVICE), "{r:?}");
            assert_eq!(r.scopes, ["repository:team/app:pull"], "{r:?}");
            assert_eq!(r.authorization, None, "{r:?}");
        }
    };
    f.secret(REFRESH_TOKEN);
    tokens.take_requests(); // the push's

    // auth.json's identitytoken, as docker login stores it (the user, no password).
    f.write_auth_json(json!({"auths": {(f.addr.clone()): {
        "auth": b64(&format!("{USER}:")),
        "identitytoken": REFRESH_TOKEN,
    }}}));
    let out = f.userns(&format!("pull {}", f.reference));
    assert_eq!(assert_ok(&out).trim().len(), 64);
    assert_oauth2(REFRESH_TOKEN);
    assert_ok(&f.scn.run(&["rmi", &f.reference]));

    // A helper's answer for the user "<token>" is an identity token too.
    f.write_auth_json(json!({"credHelpers": {(f.addr.clone()): "userns-test"}}));
    f.mode("userns-test", "answer");
    f.helper_user("<token>");
    let out = f.userns(&format!("run {} cat /marker", f.reference));
    assert_eq!(assert_ok(&out), "from a helper's login\n");
    assert_oauth2(REFRESH_TOKEN);
    assert_eq!(f.take_calls(), calls(&[("userns-test", &f.addr)]));

    // A revoked token: OAuth2's 400 invalid_grant is a refusal, with the fix; the token
    // is not printed (assert_no_secret), and nothing is cached.
    assert_ok(&f.scn.run(&["rmi", &f.reference]));
    f.secret("revoked-refresh-token");
    let out = f.userns(&format!("pull {}", f.reference));
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("refused the identity token")
            && err.contains("docker-credential-userns-test")
            && err.contains(&format!("podman login {}", f.addr)),
        "{err}"
    );
    assert_oauth2("revoked-refresh-token");
    f.assert_nothing_cached();
}

#[test]
fn dockercfg_is_read_last_and_an_auth_file_named_is_read_alone() {
    let Some(f) = Fixture::new("cred_dockercfg") else {
        return;
    };
    // docker's legacy ~/.dockercfg: the auths map alone, keyed by a registry URL.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let dockercfg = f.scn.home().join(".dockercfg");
    std::fs::write(
        &dockercfg,
        json!({(format!("https://{}/v1/", f.addr)): {"auth": basic, "email": "u@example.org"}})
            .to_string(),
    )
    .unwrap();
    chown_tree(&dockercfg, f.scn.uid());
    let out = f.userns(&format!("pull {}", f.reference));
    assert_eq!(assert_ok(&out).trim().len(), 64);
    assert_ok(&f.scn.run(&["rmi", &f.reference]));

    // An auth file named (--authfile, or REGISTRY_AUTH_FILE) is the only one read, as
    // containers/image reads since 5.24: the logins in ~/.config/containers/auth.json and
    // ~/.dockercfg do not count then.
    let config_auth = f.scn.home().join(".config/containers/auth.json");
    std::fs::write(
        &config_auth,
        json!({"auths": {(f.addr.clone()): {"auth": basic}}}).to_string(),
    )
    .unwrap();
    chown_tree(&config_auth, f.scn.uid());
    assert_eq!(
        assert_ok(&f.userns(&format!("pull {}", f.reference)))
            .trim()
            .len(),
        64
    );
    assert_ok(&f.scn.run(&["rmi", &f.reference]));
    let named = f.scn.home().join("ci-auth.json");
    std::fs::write(&named, json!({"auths": {}}).to_string()).unwrap();
    chown_tree(&named, f.scn.uid());
    for how in [
        format!("pull --authfile {} {}", named.display(), f.reference),
        format!(
            "REGISTRY_AUTH_FILE={} $USERNS pull {}",
            named.display(),
            f.reference
        ),
    ] {
        let out = match how.starts_with("pull") {
            true => f.userns(&how),
            false => f.scn.sh(&how),
        };
        assert_code(&out, 1);
        assert!(
            stderr(&out).contains("requires a login"),
            "{how}: {}",
            stderr(&out)
        );
    }
    f.assert_nothing_cached();
    // The same file with the login in it is enough.
    std::fs::write(
        &named,
        json!({"auths": {(f.addr.clone()): {"auth": basic}}}).to_string(),
    )
    .unwrap();
    let out = f.userns(&format!(
        "pull --authfile {} {}",
        named.display(),
        f.reference
    ));
    assert_eq!(assert_ok(&out).trim().len(), 64);
    assert_ok(&f.scn.run(&["rmi", &f.reference]));

    // A named file that is not there is an error naming it, as podman's "stat FILE: no
    // such file or directory", not a pull without the login: a usage error for pull,
    // 125 for run, before anything is asked of the registry.
    let missing = f.scn.home().join("ci-auth.jsn");
    for (how, code) in [
        (
            format!("pull --authfile {} {}", missing.display(), f.reference),
            2,
        ),
        (
            format!("run --authfile {} {} true", missing.display(), f.reference),
            125,
        ),
        (
            format!(
                "REGISTRY_AUTH_FILE={} $USERNS pull {}",
                missing.display(),
                f.reference
            ),
            2,
        ),
    ] {
        let out = match how.starts_with("REGISTRY") {
            true => f.scn.sh(&how),
            false => f.userns(&how),
        };
        assert_code(&out, code);
        let err = stderr(&out);
        assert!(
            err.contains(&format!("cannot use the auth file {}", missing.display()))
                && err.contains("No such file")
                && err.contains("--authfile"),
            "{how}: {err}"
        );
    }
    f.assert_nothing_cached();
}
