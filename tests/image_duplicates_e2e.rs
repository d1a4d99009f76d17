//! Archives and layers that name a member twice, read by userns as the real `podman load`
//! reads them: each archive goes to both, and both must accept it (the same image, the
//! same file data) or both refuse it, userns with a message that names the duplicate and
//! never calls a file that is there missing.
//!
//! What podman load does (containers/image and containers/storage, as installed here):
//! a docker-archive is read in place and the first member of a name is used; an OCI
//! archive is unpacked first, so a later member replaces an earlier one and a hard link
//! to itself (GNU tar's way of storing a file listed twice) fails the unpack; a layer
//! that names a path twice is refused ("duplicates of file paths not supported").
//!
//! podman and the unpacker run as root here (image_e2e.rs's pattern); the last test runs
//! `userns run` as the unprivileged fixture user on archives made by the real GNU tar.

mod common;
mod image_support;

use common::{assert_code, assert_ok, stderr, Scenario};
use image_support::{path_str, root_or_skip, Scratch};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use userns::image;

/// Whether podman is here; in CI it must be.
fn podman_installed() -> bool {
    let here = Command::new("podman").arg("--version").output().is_ok();
    if !here {
        assert!(std::env::var_os("CI").is_none(), "podman is missing in CI");
        eprintln!("skipped: podman is not installed");
    }
    here
}

/// `podman load` of `archive` into a store of its own (a store that already held a blob
/// would skip reading it): the loaded image's id, or podman's error.
fn podman_load(s: &Scratch, name: &str, archive: &Path) -> Result<String, String> {
    let store = s.path(&format!("podman-{name}"));
    // One runroot per load: the tests of this file run in parallel threads of one
    // process, and each load removes its runroot when done.
    static LOADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = LOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let runroot = format!("/tmp/userns-dup-rr.{}.{n}", std::process::id());
    let podman = |args: &[&str]| {
        Command::new("podman")
            .arg("--root")
            .arg(&store)
            .args(["--runroot", &runroot, "--storage-driver", "vfs"])
            .args(args)
            .output()
            .expect("run podman")
    };
    let out = podman(&["load", "-q", "-i", path_str(archive)]);
    let result = if out.status.success() {
        let out = podman(&["images", "-q", "--no-trunc"]);
        assert!(out.status.success());
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(if id.starts_with("sha256:") {
            id
        } else {
            format!("sha256:{id}")
        })
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let _ = std::fs::remove_dir_all(&runroot);
    let _ = Command::new("rm").arg("-rf").arg(&store).status();
    result
}

/// The members of a tar, extracted into DIR, in archive order.
fn members(tar: &Path, dir: &Path) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    let out = Command::new("tar").arg("-tf").arg(tar).output().unwrap();
    assert!(out.status.success());
    let st = Command::new("tar")
        .arg("-xf")
        .arg(tar)
        .arg("-C")
        .arg(dir)
        .status()
        .unwrap();
    assert!(st.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|n| !n.ends_with('/'))
        .map(str::to_string)
        .collect()
}

/// mktar entries for these members, read from DIR.
fn entries(dir: &Path, names: &[String]) -> Vec<Value> {
    names
        .iter()
        .map(|n| json!({"path": n, "file": path_str(&dir.join(n))}))
        .collect()
}

/// The variants of an archive (its members as mktar entries) with the member KEY twice:
/// a GNU-tar-like hard link to itself after it, a bad copy after it, a bad copy before it.
fn duplicated(base: &[Value], key: &str, bad: &str) -> Vec<(String, Vec<Value>)> {
    let at = base.iter().position(|e| e["path"] == key).unwrap();
    let mut self_link = base.to_vec();
    self_link.push(json!({"path": key, "type": "link", "target": key}));
    let mut bad_after = base.to_vec();
    bad_after.push(json!({"path": key, "data": bad}));
    let mut bad_before = base.to_vec();
    bad_before.insert(at, json!({"path": key, "data": bad}));
    vec![
        ("self-link".into(), self_link),
        ("bad-after".into(), bad_after),
        ("bad-before".into(), bad_before),
    ]
}

/// Both accept (the same image, the good layer's file) or both refuse; a refusal by
/// userns never says "missing".
fn agree(s: &Scratch, name: &str, archive: &Path) -> bool {
    let podman = podman_load(s, name, archive);
    let userns = image::prepare(archive, &s.cache(&format!("cache-{name}")));
    match (&podman, &userns) {
        (Ok(podman_id), Ok(prepared)) => {
            assert_eq!(
                &prepared.id, podman_id,
                "{name}: not the image podman loaded"
            );
            let hello = std::fs::read_to_string(prepared.rootfs.join("hello")).unwrap();
            assert_eq!(hello, "hi\n", "{name}");
            true
        }
        (Err(_), Err(e)) => {
            let text = e.to_string();
            assert!(!text.contains("missing"), "{name}: {text}");
            false
        }
        _ => panic!(
            "{name}: podman load {} but userns {}",
            podman
                .as_ref()
                .map(|_| "accepts it".to_string())
                .unwrap_or_else(|e| format!("refuses it: {e}")),
            userns
                .as_ref()
                .map(|_| "accepts it".to_string())
                .unwrap_or_else(|e| format!("refuses it: {e}"))
        ),
    }
}

fn base_layer(s: &Scratch) -> PathBuf {
    s.layer(
        "base",
        json!([{"path": "./", "type": "dir"}, {"path": "hello", "data": "hi\n"}]),
    )
}

#[test]
fn duplicated_archive_members_are_read_as_podman_load_reads_them() {
    if !root_or_skip("duplicated_archive_members") || !podman_installed() {
        return;
    }
    let s = Scratch::new("dup_members");
    let layer = base_layer(&s);
    let config = json!({"config": {"Cmd": ["/hello"]}});
    let docker = s.docker_archive("docker", config.clone(), &[&layer]);
    let docker_names = members(&docker, &s.path("docker-members"));
    let docker_base = entries(&s.path("docker-members"), &docker_names);
    let layout = s.oci_layout("oci", config, &[&layer]);
    let mut oci_names = vec!["oci-layout".to_string(), "index.json".to_string()];
    let mut blobs: Vec<String> = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| format!("blobs/sha256/{}", e.unwrap().file_name().to_str().unwrap()))
        .collect();
    blobs.sort();
    oci_names.extend(blobs);
    let oci_base = entries(&layout, &oci_names);

    let docker_layer = docker_names.iter().find(|n| n.ends_with(".tar")).unwrap();
    let oci_layer = format!(
        "blobs/sha256/{}",
        docker_layer.trim_end_matches(".tar") // the layer is stored uncompressed
    );
    let corrupt = "corrupt ".repeat(100);
    let cases = [
        (
            "docker-manifest",
            &docker_base,
            "manifest.json",
            r#"{"not": "a manifest"}"#,
        ),
        (
            "docker-layer",
            &docker_base,
            docker_layer.as_str(),
            corrupt.as_str(),
        ),
        (
            "oci-index",
            &oci_base,
            "index.json",
            r#"{"not": "an index"}"#,
        ),
        ("oci-layer", &oci_base, oci_layer.as_str(), corrupt.as_str()),
    ];
    let mut accepted = Vec::new();
    for (what, base, key, bad) in cases {
        for (variant, spec) in duplicated(base, key, bad) {
            let name = format!("{what}-{variant}");
            let archive = s.layer(&name, Value::Array(spec));
            if agree(&s, &name, &archive) {
                accepted.push(name);
            }
        }
    }
    // What podman load accepted, recorded so that a change in either is seen: the first
    // member of a docker-archive, the last of an OCI archive.
    assert_eq!(
        accepted,
        [
            "docker-manifest-self-link",
            "docker-manifest-bad-after",
            "docker-layer-self-link",
            "docker-layer-bad-after",
            "oci-index-bad-before",
            "oci-layer-bad-before",
        ]
    );
    // The OCI archive with a hard link to itself is refused for what it is.
    let archive = s.path("oci-index-self-link.tar");
    let err = image::prepare(&archive, &s.cache("again"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("index.json is a hard link to itself"), "{err}");
}

#[test]
fn a_layer_naming_a_path_twice_is_refused_as_podman_refuses_it() {
    if !root_or_skip("layer_path_twice") || !podman_installed() {
        return;
    }
    let s = Scratch::new("dup_layer");
    let hello = json!({"path": "hello", "data": "hi\n"});
    let cases = [
        (
            "file-twice",
            json!([hello, {"path": "hello", "data": "two\n"}]),
        ),
        (
            "dir-twice",
            json!([{"path": "d/", "type": "dir"}, hello, {"path": "./d", "type": "dir"}]),
        ),
        (
            "symlink-then-file",
            json!([{"path": "s", "type": "symlink", "target": "hello"}, hello, {"path": "s", "data": "s\n"}]),
        ),
        (
            "file-then-self-link",
            json!([hello, {"path": "hello", "type": "link", "target": "hello"}]),
        ),
        (
            "link-then-replaced",
            json!([hello, {"path": "b", "type": "link", "target": "hello"}, {"path": "hello", "data": "two\n"}]),
        ),
    ];
    for (name, spec) in cases {
        let layer = s.layer(name, spec);
        let archive = s.docker_archive(&format!("{name}-image"), json!({"config": {}}), &[&layer]);
        assert!(!agree(&s, name, &archive), "{name}: podman load accepts it");
        let err = image::prepare(&archive, &s.cache(&format!("again-{name}")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("an earlier entry of the layer has the same path"),
            "{name}: {err}"
        );
    }
    // A hard link to itself alone (no earlier entry of its name) is refused by both too.
    let layer = s.layer(
        "self-link",
        json!([{"path": "a", "type": "link", "target": "a"}]),
    );
    let archive = s.docker_archive("self-link-image", json!({"config": {}}), &[&layer]);
    assert!(!agree(&s, "self-link", &archive));
    let err = image::prepare(&archive, &s.cache("again-self"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("a hard link to itself"), "{err}");
}

/// As the fixture user: a docker-archive in which GNU tar stored manifest.json twice runs;
/// the OCI archive made the same way is refused, naming the hard link.
#[test]
fn userns_run_takes_a_gnu_tar_duplicate_as_podman_load_does() {
    let Some(s) = Scenario::new("run_dup_member") else {
        return;
    };
    let scratch = Scratch::new("dup_run");
    let layer = scratch.layer(
        "busybox",
        json!([
            {"path": "./", "type": "dir"},
            {"path": "bin/", "type": "dir"},
            {"path": "bin/busybox", "file": "/bin/busybox", "mode": 0o755},
            {"path": "bin/echo", "type": "symlink", "target": "busybox"},
        ]),
    );
    let config = json!({"config": {"Cmd": ["/bin/echo", "ran"]}});
    let docker = scratch.docker_archive("docker", config.clone(), &[&layer]);
    let docker_dir = s.scratch().join("docker-members");
    let mut names = members(&docker, &docker_dir);
    names.push("manifest.json".into());
    let layout = scratch.oci_layout("oci", config, &[&layer]);
    // GNU tar stores a file listed twice as a hard link to itself.
    let gnu_tar = |dir: &Path, out: &Path, names: &[String]| {
        let st = Command::new("tar")
            .arg("-C")
            .arg(dir)
            .arg("-cf")
            .arg(out)
            .args(names)
            .status()
            .unwrap();
        assert!(st.success());
        let listing = Command::new("tar").arg("-tvf").arg(out).output().unwrap();
        let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
        assert!(listing.contains(" link to "), "{listing}");
    };
    let docker_dup = s.scratch().join("docker-dup.tar");
    gnu_tar(&docker_dir, &docker_dup, &names);
    let oci_dup = s.scratch().join("oci-dup.tar");
    let oci_names: Vec<String> = ["oci-layout", "index.json", "index.json", "blobs"]
        .map(String::from)
        .to_vec();
    gnu_tar(&layout, &oci_dup, &oci_names);

    let out = s.run(&["run", path_str(&docker_dup)]);
    assert_eq!(assert_ok(&out), "ran\n");
    let out = s.run(&["run", path_str(&oci_dup)]);
    assert_code(&out, 125);
    let err = stderr(&out);
    assert!(err.contains("index.json is a hard link to itself"), "{err}");
    assert!(!err.contains("missing"), "{err}");
}
