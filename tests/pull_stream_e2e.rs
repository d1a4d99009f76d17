//! `userns pull` as it streams: layers downloaded at once, each verified (compressed
//! digest, diff_id) and scanned for its owners as it arrives, against a real registry
//! (Debian's docker-registry, images pushed with skopeo), as the unprivileged fixture
//! user. The shared part of the pull tests is in tests/registry_support.

mod common;
mod image_support;
mod registry_support;

use common::{assert_code, assert_ok, stderr, Scenario};
use image_support::{path_str, Scratch};
use registry_support::{
    busybox_layer, cache_entries, config, images_json, scenario, Registry, Relay, PASSWORD, USER,
};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn random_file(path: &Path, size: u64) {
    let ok = Command::new("head")
        .arg("-c")
        .arg(size.to_string())
        .arg("/dev/urandom")
        .stdout(std::fs::File::create(path).unwrap())
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// A layer of one file of random data (which stays large once skopeo gzips it).
fn random_layer(scratch: &Scratch, name: &str, size: u64) -> PathBuf {
    let data = scratch.path(&format!("{name}.bin"));
    random_file(&data, size);
    let spec = json!([{"path": format!("{name}.bin"), "file": path_str(&data)}]);
    scratch.layer(name, spec)
}

/// Every file and directory under `dir`, recursively.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&path, out);
        }
        out.push(path);
    }
}

/// The `.part` files of the stage of an interrupted pull, with their lengths.
fn parts(scn: &Scenario) -> Vec<(PathBuf, u64)> {
    stage_files(scn, "part")
}

/// The stage's files of this extension, with their lengths.
fn stage_files(scn: &Scenario, extension: &str) -> Vec<(PathBuf, u64)> {
    let mut all = Vec::new();
    walk(&registry_support::cache_dir(scn), &mut all);
    all.into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == extension))
        .map(|p| {
            let len = std::fs::metadata(&p).unwrap().len();
            (p, len)
        })
        .collect()
}

#[test]
fn layers_download_at_once_and_a_registry_that_dies_leaves_parts_that_resume() {
    let scratch = Scratch::new("pull_parallel_dies");
    let mut registry = Registry::start(&scratch.path("registry"));
    let size = 10u64 << 20;
    let base = busybox_layer(&scratch, "base", "parallel", &[]);
    let one = random_layer(&scratch, "one", size);
    let two = random_layer(&scratch, "two", size);
    let archive = scratch.docker_archive("a", config("amd64"), &[&base, &one, &two]);
    registry.push(
        &format!("docker-archive:{}", path_str(&archive)),
        "two:1",
        false,
    );
    // 1 MiB/s per connection through the relay: each big layer takes seconds.
    let relay = Relay::start(registry.port, 1 << 20);
    let addr = relay.addr();
    let Some(scn) = scenario("pull_parallel_dies", &addr, "") else {
        return;
    };
    let creds = format!("{USER}:{PASSWORD}");
    let reference = format!("{addr}/two:1");
    let child = scn.spawn_sh(&format!("exec $USERNS pull --creds {creds} {reference}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    // Both big layers on their way at once: two parts and their two tars growing side
    // by side as the layers stream in.
    let growing = |extension| {
        stage_files(&scn, extension)
            .iter()
            .filter(|(_, len)| *len > 2 << 20)
            .count()
    };
    while growing("part") < 2 || growing("tar-part") < 2 {
        assert!(
            Instant::now() < deadline,
            "two layers were never downloading at once: {:?} {:?}",
            parts(&scn),
            stage_files(&scn, "tar-part")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // No image, nothing run would use: only the stage, with the parts to resume from.
    registry_support::kill_mid_pull(&mut registry, child, &scn);
    let left: Vec<(PathBuf, u64)> = parts(&scn);
    assert!(left.len() >= 2, "{left:?}");
    assert!(left.iter().all(|(_, len)| *len > 2 << 20), "{left:?}");
    let kept: u64 = left.iter().map(|(_, len)| len).sum();
    assert_code(&scn.run(&["run", &reference, "true"]), 125);

    registry.restart();
    relay.rate.store(0, Ordering::Relaxed);
    relay.passed.store(0, Ordering::Relaxed);
    let id = assert_ok(&scn.run(&["pull", "--creds", &creds, &reference]));
    let resumed = relay.passed.load(Ordering::Relaxed);
    // Without a resume it would fetch both big layers whole again (2 x size, and the
    // small one, ~1 MiB): with one, all but the more than 4 MiB kept.
    assert!(
        resumed + kept <= 2 * size + (2 << 20),
        "the second pull fetched {resumed} bytes with {kept} kept: no resume"
    );
    assert_eq!(cache_entries(&scn), vec![id.trim().to_string()]);
    // Both layers whole, as the host has them.
    for name in ["one", "two"] {
        let host = Command::new("sha256sum")
            .arg(scratch.path(&format!("{name}.bin")))
            .output()
            .unwrap();
        let host = String::from_utf8_lossy(&host.stdout).into_owned();
        let out = scn.run(&["run", &reference, "sha256sum", &format!("/{name}.bin")]);
        assert_eq!(
            assert_ok(&out).split_whitespace().next(),
            host.split_whitespace().next()
        );
    }
}

#[test]
fn a_pull_killed_outright_leaves_its_parts_and_the_next_one_resumes() {
    let scratch = Scratch::new("pull_killed");
    let registry = Registry::start(&scratch.path("registry"));
    let size = 8u64 << 20;
    let base = busybox_layer(&scratch, "base", "killed", &[]);
    let big = random_layer(&scratch, "big", size);
    let archive = scratch.docker_archive("a", config("amd64"), &[&base, &big]);
    registry.push(
        &format!("docker-archive:{}", path_str(&archive)),
        "killed:1",
        false,
    );
    let relay = Relay::start(registry.port, 1 << 20);
    let addr = relay.addr();
    let Some(scn) = scenario("pull_killed", &addr, "") else {
        return;
    };
    let creds = format!("{USER}:{PASSWORD}");
    let reference = format!("{addr}/killed:1");
    // The shell's pid is the pull's: it execs userns.
    let pid_file = scn.scratch().join("pull.pid");
    let mut child = scn.spawn_sh(&format!(
        "echo $$ > {}; exec $USERNS pull --creds {creds} {reference}",
        path_str(&pid_file)
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !parts(&scn).iter().any(|(_, len)| *len > 2 << 20) {
        assert!(
            Instant::now() < deadline,
            "the part never grew: {:?}",
            parts(&scn)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL: nothing of userns runs after it, nothing is written on the way out.
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let killed = Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status()
        .unwrap();
    assert!(killed.success());
    let _ = child.wait();
    let left = parts(&scn);
    assert!(left.iter().any(|(_, len)| *len > 2 << 20), "{left:?}");
    let kept: u64 = left.iter().map(|(_, len)| len).sum();
    assert_eq!(images_json(&scn), json!([]));

    relay.rate.store(0, Ordering::Relaxed);
    relay.passed.store(0, Ordering::Relaxed);
    let id = assert_ok(&scn.run(&["pull", "--creds", &creds, &reference]));
    let fetched = relay.passed.load(Ordering::Relaxed);
    // All of the big layer again would be `size` and more: the part was resumed.
    assert!(
        fetched + kept <= size + (2 << 20),
        "the second pull fetched {fetched} bytes with {kept} kept: no resume"
    );
    assert_eq!(cache_entries(&scn), vec![id.trim().to_string()]);
    let host = Command::new("sha256sum")
        .arg(scratch.path("big.bin"))
        .output()
        .unwrap();
    let host = String::from_utf8_lossy(&host.stdout).into_owned();
    let out = scn.run(&["run", &reference, "sha256sum", "/big.bin"]);
    assert_eq!(
        assert_ok(&out).split_whitespace().next(),
        host.split_whitespace().next()
    );
}

#[test]
fn a_layer_whose_tar_is_not_its_diff_id_is_refused_and_leaves_nothing() {
    let scratch = Scratch::new("pull_diff_id");
    let registry = Registry::start(&scratch.path("registry"));
    let addr = registry.addr();
    let layer = busybox_layer(&scratch, "l", "lying config", &[]);
    // The compressed blob is the registry's own, and matches its digest; the config
    // names another tar as the layer's content.
    let wrong = format!("sha256:{}", "5".repeat(64));
    let mut lying = config("amd64");
    lying["rootfs"] = json!({"type": "layers", "diff_ids": [wrong]});
    // From an OCI layout: skopeo sends its gzip blobs as they are (from a docker-archive
    // it would compress the tars itself, checking them against the diff_ids).
    let layout = scratch.oci_layout("a", lying, &[&layer]);
    registry.push(&format!("oci:{}", path_str(&layout)), "lying:1", false);
    let Some(scn) = scenario("pull_diff_id", &addr, "") else {
        return;
    };
    let creds = format!("{USER}:{PASSWORD}");
    let reference = format!("{addr}/lying:1");
    for (verb, code) in [("pull", 1), ("run", 125)] {
        let mut args = vec![verb, "--creds", &creds, &reference];
        if verb == "run" {
            args.push("true");
        }
        let out = scn.run(&args);
        assert_code(&out, code);
        let err = stderr(&out);
        assert!(
            err.contains("does not match its diff_id") && err.contains(&wrong),
            "{verb}: {err}"
        );
        assert!(!err.contains("unpacking"), "{err}");
        assert_eq!(images_json(&scn), json!([]));
        assert_eq!(cache_entries(&scn), Vec::<String>::new());
    }
}

#[test]
fn diff_ids_in_another_algorithm_are_checked_and_one_blob_with_two_diff_ids_is_refused() {
    use sha2::Digest as _;
    let scratch = Scratch::new("pull_diff_id_alg");
    let registry = Registry::start(&scratch.path("registry"));
    let addr = registry.addr();
    let layer = busybox_layer(&scratch, "l", "sha512 diff_id", &[]);
    let tar = std::fs::read(&layer).unwrap();
    let sha512 = format!("sha512:{:x}", sha2::Sha512::digest(&tar));
    let sha256 = format!("sha256:{:x}", sha2::Sha256::digest(&tar));
    // The layer's blob is named in sha256; the config names its tar in sha512 (the tap
    // hashes in the blob's algorithm while the config is still on its way: the tar is
    // hashed again once the config is in).
    let mut other_alg = config("amd64");
    other_alg["rootfs"] = json!({"type": "layers", "diff_ids": [sha512]});
    let layout = scratch.oci_layout("a", other_alg, &[&layer]);
    registry.push(&format!("oci:{}", path_str(&layout)), "sha512:1", false);
    // One blob twice, with two diff_ids: the second cannot be what the config says.
    let wrong = format!("sha256:{}", "6".repeat(64));
    let mut twice = config("amd64");
    twice["rootfs"] = json!({"type": "layers", "diff_ids": [sha256, wrong]});
    let layout = scratch.oci_layout("b", twice, &[&layer, &layer]);
    registry.push(&format!("oci:{}", path_str(&layout)), "twice:1", false);
    let Some(scn) = scenario("pull_diff_id_alg", &addr, "") else {
        return;
    };
    let creds = format!("{USER}:{PASSWORD}");
    let reference = format!("{addr}/sha512:1");
    let out = scn.run(&["run", "--creds", &creds, &reference, "cat", "/marker"]);
    assert_eq!(assert_ok(&out).trim(), "sha512 diff_id");

    let out = scn.run(&["pull", "--creds", &creds, &format!("{addr}/twice:1")]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("layers 1 and 2 are one blob") && err.contains(&wrong),
        "{err}"
    );
    assert!(!err.contains("unpacking"), "{err}");
    assert_eq!(cache_entries(&scn).len(), 1, "{:?}", cache_entries(&scn));
}

/// The directories `userns pull` made, as strace saw them (the process itself: the
/// unpack runs in it, in its user namespace; the setuid map helpers are not traced).
fn made_dirs(scn: &Scenario, creds: &str, reference: &str) -> (std::process::Output, String) {
    let log = scn.home().join("strace.log");
    let out = scn.sh(&format!(
        "exec strace -qq -o {} -e trace=mkdir,mkdirat $USERNS pull --creds {creds} {reference}",
        path_str(&log)
    ));
    let trace = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    (out, trace)
}

#[test]
fn ids_beyond_the_map_are_refused_before_any_directory_of_an_unpack_is_made() {
    let scratch = Scratch::new("pull_ids_first");
    let registry = Registry::start(&scratch.path("registry"));
    let addr = registry.addr();
    let fits = busybox_layer(&scratch, "fits", "fits", &[]);
    // Owners beyond the fixture map (0-65536), in the last of three layers.
    let big = random_layer(&scratch, "big", 2 << 20);
    let beyond = scratch.layer(
        "beyond",
        json!([
            {"path": "opt/", "type": "dir"},
            {"path": "opt/su", "data": "x", "uid": 70000, "gid": 0, "mode": 0o4755},
            {"path": "opt/g", "data": "y", "uid": 0, "gid": 80000},
        ]),
    );
    for (tag, layers) in [
        ("fits:1", vec![&fits]),
        ("beyond:1", vec![&fits, &big, &beyond]),
    ] {
        let layers: Vec<&Path> = layers.iter().map(|p| p.as_path()).collect();
        let archive =
            scratch.docker_archive(tag.split(':').next().unwrap(), config("amd64"), &layers);
        registry.push(
            &format!("docker-archive:{}", path_str(&archive)),
            tag,
            false,
        );
    }
    let Some(scn) = scenario("pull_ids_first", &addr, "") else {
        return;
    };
    let creds = format!("{USER}:{PASSWORD}");

    // The trace sees an unpack's directories when there is one.
    let (out, trace) = made_dirs(&scn, &creds, &format!("{addr}/fits:1"));
    assert_ok(&out);
    assert!(trace.contains(".unpack-"), "{trace}");
    assert_ok(&scn.run(&["rmi", &format!("{addr}/fits:1")]));

    let reference = format!("{addr}/beyond:1");
    let (out, trace) = made_dirs(&scn, &creds, &reference);
    assert_code(&out, 125);
    let err = stderr(&out);
    for want in [
        "uid 70000 (1 entry: /opt/su)",
        "gid 80000 (1 entry: /opt/g)",
        "usermod --add-subuids",
        &format!("userns image check {reference}"),
    ] {
        assert!(err.contains(want), "{want:?} missing:\n{err}");
    }
    // Refused before the unpack made its first directory, and nothing of the image
    // anywhere in the user's data dir: no image, no name, no stage, no file.
    assert!(!trace.contains(".unpack-"), "{trace}");
    assert_eq!(images_json(&scn), json!([]));
    assert_eq!(cache_entries(&scn), Vec::<String>::new());
    let mut files = Vec::new();
    walk(&scn.home().join(".local/share"), &mut files);
    let names = ["su", "busybox", "marker", "big.bin", "opt", "bin"];
    let leftovers: Vec<&PathBuf> = files
        .iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| names.contains(&n.to_string_lossy().as_ref()))
                || p.extension().is_some_and(|x| x == "part")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn an_image_that_names_one_layer_twice_downloads_it_once_and_runs() {
    let scratch = Scratch::new("pull_twice");
    let registry = Registry::start(&scratch.path("registry"));
    let addr = registry.addr();
    let base = busybox_layer(&scratch, "base", "twice", &[]);
    let again = scratch.layer("again", json!([{"path": "again", "data": "again\n"}]));
    let archive = scratch.docker_archive("a", config("amd64"), &[&base, &again, &again]);
    let digest = registry.push(
        &format!("docker-archive:{}", path_str(&archive)),
        "twice:1",
        false,
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(registry.blob_file(&digest)).unwrap()).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    assert_eq!(layers[1]["digest"], layers[2]["digest"]);
    let Some(scn) = scenario("pull_twice", &addr, "") else {
        return;
    };
    let creds = format!("{USER}:{PASSWORD}");
    let reference = format!("{addr}/twice:1");
    // `run` pulls it (its download threads all gone before it makes its namespace,
    // which unshare(2) refuses to a process of several threads), then runs it.
    let out = scn.run(&[
        "run", "--creds", &creds, &reference, "cat", "/again", "/marker",
    ]);
    assert_eq!(assert_ok(&out), "again\ntwice\n");
    let images = images_json(&scn);
    assert_eq!(images.as_array().map(Vec::len), Some(1), "{images}");
    assert_eq!(cache_entries(&scn).len(), 1);
    let out = scn.run(&["run", &reference, "cat", "/again"]);
    assert_eq!(assert_ok(&out), "again\n");
}
