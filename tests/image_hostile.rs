//! Hostile layers: no entry of a layer may write, link or delete outside the cache.
//!
//! Each test puts a canary directory beside the cache and feeds the unpacker a layer built
//! with Python's tarfile holding `../` names, absolute names, absolute and relative
//! symlinks pointing out followed by entries written through them, hard links to host
//! files, and whiteouts aimed outside. Every such entry must be contained (resolved
//! beneath the root, as openat2's RESOLVE_IN_ROOT does) or refused, and the canary must
//! be untouched. Run as root, which could write anywhere: the confinement is the
//! unpacker's, not the permissions'.

mod image_support;

use image_support::{root_or_skip, Scratch};
use serde_json::json;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use userns::image;

/// A directory outside the cache with a canary file in it.
struct Canary {
    dir: PathBuf,
}

impl Canary {
    fn new(s: &Scratch) -> Canary {
        let dir = s.path("outside");
        std::fs::create_dir_all(dir.join("dir")).unwrap();
        std::fs::write(dir.join("canary"), "untouched").unwrap();
        Canary { dir }
    }

    /// The outside dir's absolute path without its leading `/`, for `../` names.
    fn rel(&self) -> String {
        self.dir
            .display()
            .to_string()
            .trim_start_matches('/')
            .to_string()
    }

    fn abs(&self) -> String {
        self.dir.display().to_string()
    }

    #[track_caller]
    fn assert_untouched(&self) {
        let canary = self.dir.join("canary");
        assert_eq!(std::fs::read_to_string(&canary).unwrap(), "untouched");
        assert_eq!(
            std::fs::metadata(&canary).unwrap().nlink(),
            1,
            "no hard link to it"
        );
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["canary", "dir"], "nothing new outside");
        assert_eq!(std::fs::read_dir(self.dir.join("dir")).unwrap().count(), 0);
    }
}

fn archive_of(s: &Scratch, name: &str, entries: serde_json::Value) -> PathBuf {
    let layer = s.layer(name, entries);
    s.docker_archive(&format!("{name}-image"), json!({"config": {}}), &[&layer])
}

fn passwd_links() -> u64 {
    std::fs::metadata("/etc/passwd").unwrap().nlink()
}

#[test]
fn escaping_names_links_and_whiteouts_are_contained() {
    if !root_or_skip("escaping_contained") {
        return;
    }
    let s = Scratch::new("contained");
    let canary = Canary::new(&s);
    let (rel, abs) = (canary.rel(), canary.abs());
    let passwd_before = passwd_links();
    let hostile = s.layer(
        "hostile",
        json!([
            {"path": format!("../../../../../../../../{rel}/dotdot-file"), "data": "a"},
            {"path": format!("{abs}/abs-file"), "data": "b"},
            {"path": "etc/", "type": "dir"},
            {"path": "etc/passwd", "data": "image passwd\n"},
            {"path": "pw", "type": "link", "target": "/etc/passwd"},
            {"path": "pw2", "type": "link", "target": "../../../../etc/passwd"},
            {"path": "etc-link", "type": "symlink", "target": "/etc"},
            {"path": "etc-link/written-through", "data": "c"},
            {"path": "up", "type": "symlink", "target": "../../../../../../../.."},
            {"path": "up/b", "type": "symlink", "target": "/"},
            {"path": "up/b/c/d", "data": "d"},
            {"path": "canary-link", "type": "symlink", "target": format!("{abs}/canary")},
            {"path": "canary-link2", "type": "symlink", "target": format!("{abs}/canary")},
            {"path": "hl", "type": "link", "target": "canary-link2"},
            {"path": format!("../../../../../../{rel}/.wh.canary"), "type": "file"},
            {"path": "dev/", "type": "dir"},
            {"path": "dev/sda", "type": "blk", "major": 8, "minor": 0},
            {"path": "dev/tty", "type": "chr", "major": 5, "minor": 0},
            {"path": "run/fifo", "type": "fifo", "mode": 0o620},
        ]),
    );
    // A layer above replaces the symlink (within one layer a path named twice is refused,
    // as podman refuses it: tests/image_e2e.rs).
    let upper = s.layer(
        "upper",
        json!([{"path": "canary-link", "data": "replaces the symlink"}]),
    );
    let archive = s.docker_archive("hostile-image", json!({"config": {}}), &[&hostile, &upper]);
    let p = image::prepare(&archive, &s.cache("cache")).unwrap();
    let r = |path: &str| p.rootfs.join(path.trim_start_matches('/'));

    canary.assert_untouched();
    assert_eq!(passwd_links(), passwd_before, "host /etc/passwd not linked");
    assert!(!Path::new("/etc/written-through").exists());

    // `..` and absolute names land beneath the root, at their cleaned path.
    assert_eq!(
        std::fs::read_to_string(r(&format!("{abs}/dotdot-file"))).unwrap(),
        "a"
    );
    assert_eq!(
        std::fs::read_to_string(r(&format!("{abs}/abs-file"))).unwrap(),
        "b"
    );
    // Hard links to /etc/passwd link the image's own file.
    let image_passwd = std::fs::metadata(r("etc/passwd")).unwrap().ino();
    for link in ["pw", "pw2"] {
        assert_eq!(std::fs::metadata(r(link)).unwrap().ino(), image_passwd);
    }
    // Symlinks are kept as written, and writes through them stay inside.
    assert_eq!(
        std::fs::read_link(r("etc-link")).unwrap(),
        PathBuf::from("/etc")
    );
    assert_eq!(
        std::fs::read_to_string(r("etc/written-through")).unwrap(),
        "c"
    );
    assert_eq!(std::fs::read_to_string(r("c/d")).unwrap(), "d");
    // A file replacing a symlink replaces the link, never writes through it.
    let replaced = std::fs::symlink_metadata(r("canary-link")).unwrap();
    assert!(replaced.is_file());
    // A hard link to a symlink links the symlink itself.
    let hl = std::fs::symlink_metadata(r("hl")).unwrap();
    assert!(hl.file_type().is_symlink());
    assert_eq!(
        hl.ino(),
        std::fs::symlink_metadata(r("canary-link2")).unwrap().ino()
    );
    // Devices skipped, the FIFO made with its mode.
    assert!(!r("dev/sda").exists() && !r("dev/tty").exists());
    let fifo = std::fs::symlink_metadata(r("run/fifo")).unwrap();
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.mode() & 0o7777, 0o620);
}

/// An error naming the entry, nothing outside touched, nothing left in the cache.
fn assert_refused(s: &Scratch, archive: &Path, entry: &str, canary: &Canary) {
    let cache = s.cache("cache");
    let err = image::prepare(archive, &cache).unwrap_err().to_string();
    assert!(err.contains(entry), "the error names {entry}: {err}");
    canary.assert_untouched();
    let left: Vec<_> = std::fs::read_dir(&cache.root)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "half-unpacked image left behind: {left:?}");
}

#[test]
fn a_file_under_a_symlink_to_an_outside_directory_is_refused() {
    if !root_or_skip("symlink_dir_out") {
        return;
    }
    let s = Scratch::new("symlink_dir_out");
    let canary = Canary::new(&s);
    // Absolute: the target does not exist beneath the root, so nothing can be made there.
    let archive = archive_of(
        &s,
        "abs",
        json!([
            {"path": "out", "type": "symlink", "target": format!("{}/dir", canary.abs())},
            {"path": "out/x", "data": "escaped?"},
        ]),
    );
    assert_refused(
        &s,
        &archive,
        "/out is a symlink to a directory that is not",
        &canary,
    );
    // Relative, climbing far enough to reach the host's copy of the directory.
    let archive = archive_of(
        &s,
        "rel",
        json!([
            {"path": "rel", "type": "symlink",
             "target": format!("../../../../../../../../../../{}/dir", canary.rel())},
            {"path": "rel/x", "data": "escaped?"},
        ]),
    );
    assert_refused(&s, &archive, "\"rel/x\"", &canary);
}

#[test]
fn a_hard_link_to_a_host_file_missing_from_the_image_is_refused() {
    if !root_or_skip("hardlink_host") {
        return;
    }
    let s = Scratch::new("hardlink_host");
    let canary = Canary::new(&s);
    let before = passwd_links();
    let archive = archive_of(
        &s,
        "hl",
        json!([{"path": "pw", "type": "link", "target": "/etc/passwd"}]),
    );
    assert_refused(&s, &archive, "pw", &canary);
    let archive = archive_of(
        &s,
        "hl2",
        json!([{"path": "c", "type": "link", "target": format!("{}/canary", canary.abs())}]),
    );
    assert_refused(&s, &archive, "\"c\"", &canary);
    assert_eq!(passwd_links(), before);
}

#[test]
fn a_manifest_naming_a_blob_outside_the_layout_is_refused() {
    if !root_or_skip("manifest_escape") {
        return;
    }
    let s = Scratch::new("manifest_escape");
    let layer = s.layer("l", json!([{"path": "f", "data": "x"}]));
    let layout = s.oci_layout("layout", json!({"config": {}}), &[&layer]);
    // Point the manifest's layer digest at a path outside: refused before any read.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest_path = layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    manifest["layers"][0]["digest"] = json!("sha256:../../../../etc/passwd");
    let altered = manifest.to_string();
    std::fs::write(&manifest_path, &altered).unwrap();
    // As is, the manifest no longer has the size (nor the digest) the index names.
    let err = image::prepare(&layout, &s.cache("cache"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("does not have the size the image gives it"),
        "{err}"
    );
    // Stored under its new digest and size and named so by the index, the bad layer digest
    // itself is what is refused.
    let hex = sha256_hex(altered.as_bytes());
    std::fs::write(layout.join("blobs/sha256").join(&hex), &altered).unwrap();
    let mut index = index;
    index["manifests"][0]["digest"] = json!(format!("sha256:{hex}"));
    index["manifests"][0]["size"] = json!(altered.len());
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    let err = image::prepare(&layout, &s.cache("cache"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unusable digest"), "{err}");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
