//! `userns pull`, `run REFERENCE`, `images` and `rmi` against a real registry (Debian's
//! docker-registry, htpasswd auth, images pushed with skopeo), as the unprivileged
//! fixture user, with the real `podman login` writing the auth.json userns reads.

mod common;
mod image_support;
mod registry_support;

use common::{assert_code, assert_ok, stderr, Scenario};
use image_support::{path_str, Scratch};
use registry_support::{
    busybox_layer, cache_dir, cache_entries, chown_tree, config, images_json, scenario, Registry,
    Relay, PASSWORD, USER,
};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn pull_by_tag_and_digest_with_podman_login_then_run_list_and_remove() {
    let scratch = Scratch::new("pull_tag");
    let mut registry = Registry::start(&scratch.path("registry"));
    let addr = registry.addr();
    let layer = busybox_layer(&scratch, "v1", "version one", &[]);
    let archive = scratch.docker_archive("v1", config("amd64"), &[&layer]);
    let digest = registry.push(
        &format!("docker-archive:{}", path_str(&archive)),
        "team/app:v1",
        false,
    );
    let layer2 = busybox_layer(&scratch, "v2", "version two", &[]);
    let archive2 = scratch.docker_archive("v2", config("amd64"), &[&layer2]);
    registry.push(
        &format!("docker-archive:{}", path_str(&archive2)),
        "team/app:v2",
        false,
    );
    let Some(scn) = scenario("pull_tag", &addr, "") else {
        return;
    };
    let name = format!("{addr}/team/app");

    // Without a login the registry's 401 is explained.
    let out = scn.run(&["pull", &format!("{name}:v1")]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains("podman login"), "{}", stderr(&out));

    // podman login (the real one, as the user) writes auth.json in XDG_RUNTIME_DIR.
    let login = scn.sh(&format!(
        "podman login --tls-verify=false -u {USER} -p {PASSWORD} {addr}"
    ));
    assert_ok(&login);
    let auth = scn.scratch().join("run/containers/auth.json");
    assert!(auth.is_file(), "podman login wrote no {}", auth.display());

    let out = scn.run(&["pull", &format!("{name}:v1")]);
    let id = assert_ok(&out).trim().to_string();
    assert_eq!(id.len(), 64, "pull prints the image id: {id}");
    let listed = images_json(&scn);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], json!(format!("sha256:{id}")));
    assert_eq!(listed[0]["kind"], json!("registry"));
    assert_eq!(listed[0]["names"][0]["repository"], json!(name));
    assert_eq!(listed[0]["names"][0]["tag"], json!("v1"));
    assert_eq!(listed[0]["names"][0]["digest"], json!(digest));
    let table = assert_ok(&scn.run(&["images"]));
    assert!(table.contains(&name) && table.contains("v1"), "{table}");
    // Owners landed on the user's ids (uid 0 in the layer is the user, in the map).
    let marker = cache_dir(&scn).join(&id).join("rootfs/marker");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "version one\n");

    // run by name uses the cached image: nothing unpacked, nothing fetched.
    let out = scn.run(&["run", &format!("{name}:v1"), "cat", "/marker"]);
    assert_eq!(assert_ok(&out), "version one\n");
    assert!(!stderr(&out).contains("unpacking"), "{}", stderr(&out));

    // By digest: the same image, named by its digest too. Quiet (-q), as podman's: the
    // id alone, and no word on stderr of the steps.
    std::fs::remove_dir_all(cache_dir(&scn).join(&id)).unwrap();
    let out = scn.run(&["pull", "-q", &format!("{name}@{digest}")]);
    assert_eq!(assert_ok(&out).trim(), id);
    assert_eq!(stderr(&out), "");
    assert!(cache_dir(&scn).join(&id).join("rootfs/marker").is_file());

    // run of a tag not cached pulls it (the auth.json login still applies).
    let out = scn.run(&["run", &format!("{name}:v2"), "cat", "/marker"]);
    assert_eq!(assert_ok(&out), "version two\n");
    assert_eq!(images_json(&scn).as_array().unwrap().len(), 2);

    // A missing tag: named, 1 for pull, 125 for run.
    let out = scn.run(&["pull", &format!("{name}:missing")]);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("manifest unknown"),
        "{}",
        stderr(&out)
    );
    assert_code(&scn.run(&["run", &format!("{name}:missing"), "true"]), 125);

    // A wrong password: refused, with where the credentials came from.
    let out = scn.run(&[
        "pull",
        "--creds",
        &format!("{USER}:wrong"),
        &format!("{name}:v1"),
    ]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("refused the credentials") && err.contains("--creds"),
        "{err}"
    );
    let out = scn.run(&[
        "run",
        "--creds",
        &format!("{USER}:wrong"),
        &format!("{name}:v3"),
        "true",
    ]);
    assert_code(&out, 125);

    // rmi: a name whose image has another name is only untagged; then the id removes it.
    let out = assert_ok(&scn.run(&["rmi", &format!("{name}:v1")]));
    assert!(
        out.contains("Untagged") && !out.contains("Deleted"),
        "{out}"
    );
    let out = assert_ok(&scn.run(&["image", "rm", &id[..12]]));
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    assert!(!cache_dir(&scn).join(&id).exists());
    assert_code(&scn.run(&["rmi", &format!("{name}:v1")]), 1);
    registry.kill();
}

#[test]
fn an_image_used_by_a_kept_layer_or_a_running_container_is_not_removed_unless_forced() {
    let scratch = Scratch::new("pull_rm_kept");
    let registry = Registry::start(&scratch.path("registry"));
    let addr = registry.addr();
    let layer = busybox_layer(&scratch, "l", "kept", &[]);
    let archive = scratch.docker_archive("a", config("amd64"), &[&layer]);
    registry.push(
        &format!("docker-archive:{}", path_str(&archive)),
        "app:1",
        false,
    );
    let Some(scn) = scenario("pull_rm_kept", &addr, "") else {
        return;
    };
    let reference = format!("{addr}/app:1");
    let creds = format!("{USER}:{PASSWORD}");
    assert_ok(&scn.run(&[
        "run", "--creds", &creds, "--keep", "box", &reference, "true",
    ]));
    let out = scn.run(&["image", "rm", &reference]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains("kept layer box"), "{}", stderr(&out));

    // A running container's image too (its run holds the container directory's lock).
    let mut child = scn.spawn_sh(&format!("exec $USERNS run --init {reference} sleep 60"));
    let containers = scn.scratch().join("run/userns/containers");
    let deadline = Instant::now() + Duration::from_secs(30);
    let recorded = || {
        std::fs::read_dir(&containers)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.path().join("image").is_file())
    };
    while !recorded() {
        if let Ok(Some(_)) = child.try_wait() {
            panic!(
                "the run ended: {}",
                common::describe(&child.wait_with_output().unwrap())
            );
        }
        assert!(
            Instant::now() < deadline,
            "the container never recorded its image"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = scn.run(&["rmi", &reference]);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("running container"),
        "{}",
        stderr(&out)
    );
    // SIGTERM to userns, which passes it to the container (--init forwards it to sleep).
    // SAFETY: kill(2) with the pid of our own child, which has not been reaped yet.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let ended = child.wait_with_output().unwrap();
    assert_eq!(
        ended.status.code(),
        Some(143),
        "{}",
        common::describe(&ended)
    );
    assert_eq!(images_json(&scn).as_array().unwrap().len(), 1);
    let out = assert_ok(&scn.run(&["image", "rm", "-f", &reference]));
    assert!(out.contains("Deleted"), "{out}");
    assert_eq!(images_json(&scn).as_array().unwrap().len(), 0);
}

/// Two OCI layouts made into one with an index of both platforms (the arm64 image's
/// layer in zstd), pushed with `skopeo copy --all`.
fn multi_arch_layout(scratch: &Scratch) -> PathBuf {
    let dir = scratch.path("multi");
    let mut manifests = Vec::new();
    for (arch, variant) in [("amd64", None), ("arm64", Some("v8"))] {
        let mut layer = busybox_layer(scratch, arch, arch, &[]);
        if arch == "arm64" {
            layer = image_support::compress("zstd", &layer);
        }
        scratch.oci_layout("multi", config(arch), &[&layer]);
        let index: Value =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        let mut m = index["manifests"][0].clone();
        m["platform"] = json!({"os": "linux", "architecture": arch});
        if let Some(v) = variant {
            m["platform"]["variant"] = json!(v);
        }
        manifests.push(m);
    }
    // The platforms' index is a blob of its own; index.json names it as the one image
    // of the layout (a layout whose index.json lists two manifests holds two images).
    let inner = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    })
    .to_string();
    let out = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(inner.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let hex = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    std::fs::write(dir.join("blobs/sha256").join(&hex), &inner).unwrap();
    let outer = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": format!("sha256:{hex}"),
            "size": inner.len(),
        }],
    });
    std::fs::write(dir.join("index.json"), outer.to_string()).unwrap();
    dir
}

#[test]
fn short_names_aliases_and_a_multi_arch_index() {
    let scratch = Scratch::new("pull_multi");
    let registry = Registry::start(&scratch.path("registry"));
    let addr = registry.addr();
    let layout = multi_arch_layout(&scratch);
    registry.push(&format!("oci:{}", path_str(&layout)), "multi:1", true);
    let conf = format!(
        "unqualified-search-registries = [\"{addr}\"]\n[aliases]\n\"mine\" = \"{addr}/multi\""
    );
    let Some(scn) = scenario("pull_multi", &addr, &conf) else {
        return;
    };
    let creds = format!("{USER}:{PASSWORD}");
    let marker = |scn: &Scenario, reference: &str| {
        assert_ok(&scn.run(&["run", reference, "cat", "/marker"]))
    };

    // A short name, through unqualified-search-registries; the host's platform.
    assert_ok(&scn.run(&["pull", "--creds", &creds, "multi:1"]));
    let full = format!("{addr}/multi:1");
    assert_eq!(marker(&scn, &full), "amd64\n");
    assert_eq!(marker(&scn, "multi:1"), "amd64\n");

    // --platform picks the other one (a zstd layer); the tag moves to it.
    assert_ok(&scn.run(&[
        "pull",
        "--creds",
        &creds,
        "--platform",
        "linux/arm64",
        &full,
    ]));
    assert_eq!(marker(&scn, &full), "arm64\n");
    assert_eq!(images_json(&scn).as_array().unwrap().len(), 2);

    // An alias, said so; an absent platform is named with those on offer.
    let out = scn.run(&[
        "pull",
        "--creds",
        &creds,
        "--platform",
        "linux/amd64",
        "mine:1",
    ]);
    assert_ok(&out);
    assert!(stderr(&out).contains("as an alias"), "{}", stderr(&out));
    assert_eq!(marker(&scn, &full), "amd64\n");
    let out = scn.run(&[
        "pull",
        "--creds",
        &creds,
        "--platform",
        "linux/s390x",
        &full,
    ]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains("linux/arm64/v8"), "{}", stderr(&out));
}

#[test]
fn a_tampered_blob_is_refused_and_leaves_nothing() {
    let scratch = Scratch::new("pull_tampered");
    let registry = Registry::start(&scratch.path("registry"));
    let addr = registry.addr();
    let layer = busybox_layer(&scratch, "l", "genuine", &[]);
    let archive = scratch.docker_archive("a", config("amd64"), &[&layer]);
    let digest = registry.push(
        &format!("docker-archive:{}", path_str(&archive)),
        "app:1",
        false,
    );
    // The manifest, as the registry stores it, names the layer blob to corrupt.
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(registry.blob_file(&digest)).unwrap()).unwrap();
    let layer_digest = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = registry.blob_file(&layer_digest);
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();
    let Some(scn) = scenario("pull_tampered", &addr, "") else {
        return;
    };
    let creds = format!("{USER}:{PASSWORD}");
    let reference = format!("{addr}/app:1");
    let out = scn.run(&["pull", "--creds", &creds, &reference]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("does not match its digest") && err.contains(&layer_digest),
        "{err}"
    );
    assert_eq!(images_json(&scn), json!([]));
    assert_eq!(cache_entries(&scn), Vec::<String>::new());
    assert_code(
        &scn.run(&["run", "--creds", &creds, &reference, "true"]),
        125,
    );
    assert_eq!(cache_entries(&scn), Vec::<String>::new());
}

#[test]
fn a_registry_that_dies_mid_pull_leaves_no_image_and_the_next_pull_resumes() {
    let scratch = Scratch::new("pull_dies");
    let mut registry = Registry::start(&scratch.path("registry"));
    // Random data: the layer stays large once skopeo gzips it for the registry.
    let big = scratch.path("big.bin");
    let size = 24 << 20;
    let ok = Command::new("head")
        .arg("-c")
        .arg(size.to_string())
        .arg("/dev/urandom")
        .stdout(std::fs::File::create(&big).unwrap())
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let extra = [json!({"path": "big.bin", "file": path_str(&big)})];
    let layer = busybox_layer(&scratch, "l", "big", &extra);
    let archive = scratch.docker_archive("a", config("amd64"), &[&layer]);
    registry.push(
        &format!("docker-archive:{}", path_str(&archive)),
        "big:1",
        false,
    );
    // 2 MiB/s through the relay: the layer takes seconds, time enough to kill the registry.
    let relay = Relay::start(registry.port, 2 << 20);
    let addr = relay.addr();
    let Some(scn) = scenario("pull_dies", &addr, "") else {
        return;
    };
    let creds = format!("{USER}:{PASSWORD}");
    let reference = format!("{addr}/big:1");
    let child = scn.spawn_sh(&format!("exec $USERNS pull --creds {creds} {reference}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while relay.passed.load(std::sync::atomic::Ordering::Relaxed) < (6 << 20) {
        assert!(
            Instant::now() < deadline,
            "the pull did not get 6 MiB in 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // No image, nothing run would use: only the stage.
    registry_support::kill_mid_pull(&mut registry, child, &scn);
    assert_code(&scn.run(&["run", &reference, "true"]), 125);

    registry.restart();
    relay.rate.store(0, std::sync::atomic::Ordering::Relaxed);
    relay.passed.store(0, std::sync::atomic::Ordering::Relaxed);
    let id = assert_ok(&scn.run(&["pull", "--creds", &creds, &reference]));
    let resumed = relay.passed.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        resumed < size - (4 << 20),
        "the second pull fetched {resumed} bytes: no resume"
    );
    assert_eq!(cache_entries(&scn), vec![id.trim().to_string()]);
    let host_sum = Command::new("sha256sum").arg(&big).output().unwrap();
    let host_sum = String::from_utf8_lossy(&host_sum.stdout);
    let out = scn.run(&["run", &reference, "sha256sum", "/big.bin"]);
    assert_eq!(
        assert_ok(&out).split_whitespace().next(),
        host_sum.split_whitespace().next()
    );
}

#[test]
fn tls_with_a_ca_from_certs_d_and_podman_login_over_https() {
    let scratch = Scratch::new("pull_tls");
    let registry = Registry::start_tls(&scratch.path("registry"));
    let addr = registry.addr();
    let layer = busybox_layer(&scratch, "l", "over tls", &[]);
    let archive = scratch.docker_archive("a", config("amd64"), &[&layer]);
    registry.push(
        &format!("docker-archive:{}", path_str(&archive)),
        "app:1",
        false,
    );
    // No registries.conf entry: HTTPS, verified.
    let Some(scn) = Scenario::new("pull_tls") else {
        return;
    };
    let reference = format!("{addr}/app:1");
    let creds = format!("{USER}:{PASSWORD}");

    // An unknown CA: refused, with where to put it.
    let out = scn.run(&["pull", "--creds", &creds, &reference]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains("certs.d"), "{}", stderr(&out));
    // --tls-verify=false takes it anyway (a test registry).
    assert_ok(&scn.run(&["pull", "--tls-verify=false", "--creds", &creds, &reference]));
    assert_ok(&scn.run(&["rmi", &reference]));

    // The CA in the user's certs.d: podman login trusts it, and so does userns, which
    // then reads the credentials podman wrote.
    let certs = scn.home().join(".config/containers/certs.d").join(&addr);
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(registry.ca_cert(), certs.join("ca.crt")).unwrap();
    chown_tree(&scn.home(), scn.uid());
    assert_ok(&scn.sh(&format!("podman login -u {USER} -p {PASSWORD} {addr}")));
    let id = assert_ok(&scn.run(&["pull", &reference]));
    assert_eq!(id.trim().len(), 64);
    let out = scn.run(&["run", &reference, "cat", "/marker"]);
    assert_eq!(assert_ok(&out), "over tls\n");
}

#[test]
fn an_image_with_ids_beyond_the_map_is_refused_before_unpacking() {
    let scratch = Scratch::new("pull_ids");
    let registry = Registry::start(&scratch.path("registry"));
    let addr = registry.addr();
    // The fixture map holds 0-65536; uid 70000 cannot be owned inside it.
    let extra = [
        json!({"path": "opt/", "type": "dir"}),
        json!({"path": "opt/su", "data": "x", "uid": 70000, "gid": 0, "mode": 0o4755}),
    ];
    let layer = busybox_layer(&scratch, "l", "beyond", &extra);
    let archive = scratch.docker_archive("a", config("amd64"), &[&layer]);
    registry.push(
        &format!("docker-archive:{}", path_str(&archive)),
        "beyond:1",
        false,
    );
    let Some(scn) = scenario("pull_ids", &addr, "") else {
        return;
    };
    let creds = format!("{USER}:{PASSWORD}");
    let reference = format!("{addr}/beyond:1");
    // Refused for its ids: 125 from either verb, as the issue and podman have it.
    for (verb, code) in [("pull", 125), ("run", 125)] {
        let mut args = vec![verb, "--creds", &creds, &reference];
        if verb == "run" {
            args.extend(["echo", "must not run"]);
        }
        let out = scn.run(&args);
        assert_code(&out, code);
        let err = stderr(&out);
        assert!(!common::stdout(&out).contains("must not run"));
        for want in ["uid 70000 (1 entry: /opt/su)", "usermod --add-subuids"] {
            assert!(err.contains(want), "{verb}: {want:?} missing:\n{err}");
        }
        assert!(!err.contains("unpacking"), "{err}");
        // Nothing left: no image, no name, no stage.
        assert_eq!(images_json(&scn), json!([]));
        assert_eq!(cache_entries(&scn), Vec::<String>::new());
    }
    // `image check` of the reference: the same report, from the registry's blobs, and
    // nothing kept.
    let out = scn.run(&["image", "check", "--creds", &creds, &reference]);
    assert_code(&out, 1);
    let text = common::stdout(&out);
    assert!(text.contains(&format!("docker://{reference}")), "{text}");
    assert!(text.contains("70000") && text.contains("/opt/su"), "{text}");
    assert_eq!(cache_entries(&scn), Vec::<String>::new());
}

#[test]
fn mirrors_first_then_the_rewritten_location_and_blocked_registries_refused() {
    let scratch = Scratch::new("pull_mirror");
    let mirror = Registry::start(&scratch.path("mirror"));
    let mut primary = Registry::start(&scratch.path("primary"));
    let push = |registry: &Registry, marker: &str, dest: &str| {
        let layer = busybox_layer(&scratch, marker, marker, &[]);
        let archive = scratch.docker_archive(marker, config("amd64"), &[&layer]);
        registry.push(
            &format!("docker-archive:{}", path_str(&archive)),
            dest,
            false,
        );
    };
    push(&mirror, "from-mirror", "mirrored/app:1");
    push(&primary, "from-primary", "team/app:1");
    push(&primary, "primary-two", "team/app:2");
    // example.test resolves nowhere: only the rewrite and the mirror can serve it.
    let conf = format!(
        "[[registry]]\nprefix = \"example.test/team\"\nlocation = \"{}/team\"\ninsecure = true\n\
         [[registry.mirror]]\nlocation = \"{}/mirrored\"\ninsecure = true\n\n\
         [[registry]]\nlocation = \"blocked.test\"\nblocked = true\n",
        primary.addr(),
        mirror.addr()
    );
    let Some(scn) = scenario("pull_mirror", &mirror.addr(), &conf) else {
        return;
    };
    let creds = format!("{USER}:{PASSWORD}");
    let marker = |reference: &str| assert_ok(&scn.run(&["run", reference, "cat", "/marker"]));

    // The mirror is tried first, as podman does, and says so.
    let out = scn.run(&["pull", "--creds", &creds, "example.test/team/app:1"]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains(&format!("{}/mirrored/app:1", mirror.addr())),
        "{}",
        stderr(&out)
    );
    assert_eq!(marker("example.test/team/app:1"), "from-mirror\n");

    // A tag the mirror lacks comes from the location the prefix rewrites to.
    assert_ok(&scn.run(&["pull", "--creds", &creds, "example.test/team/app:2"]));
    assert_eq!(marker("example.test/team/app:2"), "primary-two\n");

    // Both gone: each source's failure is named.
    primary.kill();
    let out = scn.run(&["pull", "--creds", &creds, "example.test/team/app:3"]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("every source failed") && err.contains(&primary.addr()),
        "{err}"
    );

    // A blocked registry is refused before any connection, with the line that blocks it.
    let out = scn.run(&["pull", "--creds", &creds, "blocked.test/app:1"]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("blocked.test is blocked") && err.contains("blocked = true"),
        "{err}"
    );
    assert_eq!(images_json(&scn).as_array().unwrap().len(), 2);
}
