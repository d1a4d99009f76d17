//! Image sources end to end: real `podman save` archives (docker-archive and oci-archive)
//! of an image made with `podman import` from a tar whose files belong to several ids, an
//! OCI layout, layers with whiteouts and compression, and the cache.
//!
//! The unpacker is called directly as root (root may chown to any id, so owners, modes
//! and links are all checkable without a namespace), and once more as the unprivileged
//! fixture user inside `userns unshare`, where the owners must land on the subordinate ids.

mod common;
mod image_support;

use image_support::{compress, owner_mode, podman, root_or_skip, Scratch};
use serde_json::json;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use userns::image::{self, ImageCache, SourceKind};

/// A root file system whose entries belong to several ids, with setuid, a hard link, a
/// symlink and a device node.
fn rootfs_spec() -> serde_json::Value {
    json!([
        {"path": "./", "type": "dir", "mode": 0o755},
        {"path": "etc/", "type": "dir"},
        {"path": "etc/os-release", "data": "ID=userns-test\n"},
        {"path": "home/", "type": "dir"},
        {"path": "home/ivy/", "type": "dir", "uid": 1000, "gid": 1000, "mode": 0o700},
        {"path": "home/ivy/notes", "data": "hello\n", "uid": 1000, "gid": 1001,
         "mode": 0o640, "mtime": 1_500_000_000},
        {"path": "usr/", "type": "dir"},
        {"path": "usr/bin/", "type": "dir"},
        {"path": "usr/bin/su", "data": "#!/bin/true\n", "mode": 0o4755},
        {"path": "usr/bin/su-again", "type": "link", "target": "usr/bin/su"},
        {"path": "bin", "type": "symlink", "target": "usr/bin", "uid": 7, "gid": 7},
        {"path": "dev/", "type": "dir"},
        {"path": "dev/null", "type": "chr", "major": 1, "minor": 3},
        {"path": "var/", "type": "dir"},
        {"path": "var/www/", "type": "dir", "uid": 33, "gid": 33, "mode": 0o2775},
    ])
}

/// What every unpacked copy of `rootfs_spec` must look like.
fn assert_rootfs(rootfs: &Path) {
    let f = |p: &str| rootfs.join(p);
    assert_eq!(
        std::fs::read_to_string(f("etc/os-release")).unwrap(),
        "ID=userns-test\n"
    );
    assert_eq!(
        owner_mode(&f("home/ivy")),
        (1000, 1000, 0o700, 1_600_000_000)
    );
    assert_eq!(
        owner_mode(&f("home/ivy/notes")),
        (1000, 1001, 0o640, 1_500_000_000)
    );
    assert_eq!(owner_mode(&f("usr/bin/su")).2, 0o4755, "setuid bit kept");
    assert_eq!(
        std::fs::metadata(f("usr/bin/su")).unwrap().ino(),
        std::fs::metadata(f("usr/bin/su-again")).unwrap().ino(),
        "hard link shares the inode"
    );
    assert_eq!(
        std::fs::read_link(f("bin")).unwrap(),
        PathBuf::from("usr/bin")
    );
    assert_eq!(owner_mode(&f("bin")).0, 7, "symlink owned itself (lchown)");
    assert_eq!(owner_mode(&f("var/www")), (33, 33, 0o2775, 1_600_000_000));
    assert!(!f("dev/null").exists(), "device nodes are skipped");
}

/// `podman import` then `podman save` in both formats, in a private store; also the OCI
/// archive unpacked as an OCI layout directory. Returns (image id, [(kind, path)]).
fn podman_sources(s: &Scratch) -> Option<(String, Vec<(SourceKind, PathBuf)>)> {
    if Command::new("podman").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "podman is missing in CI");
        eprintln!("skipped: podman is not installed");
        return None;
    }
    let rootfs = s.layer("rootfs", rootfs_spec());
    let store = s.path("podman");
    let id = podman(
        &store,
        &[
            "import",
            "--change",
            r#"ENTRYPOINT ["/usr/bin/env"]"#,
            "--change",
            r#"CMD ["/bin/sh", "-c", "echo hi"]"#,
            "--change",
            "ENV FOO=bar",
            "--change",
            "WORKDIR /home/ivy",
            "--change",
            "USER 1000",
            image_support::path_str(&rootfs),
            "localhost/userns-test",
        ],
    );
    let id = id.lines().last().unwrap();
    let id = if id.starts_with("sha256:") {
        id.to_string()
    } else {
        format!("sha256:{id}")
    };
    let docker = s.path("docker.tar");
    let oci = s.path("oci.tar");
    podman(
        &store,
        &[
            "save",
            "-o",
            image_support::path_str(&docker),
            "localhost/userns-test",
        ],
    );
    podman(
        &store,
        &[
            "save",
            "--format",
            "oci-archive",
            "-o",
            image_support::path_str(&oci),
            "localhost/userns-test",
        ],
    );
    let _ = std::fs::remove_dir_all(format!("/tmp/userns-img-rr.{}", std::process::id()));
    let layout = s.path("oci-layout");
    std::fs::create_dir_all(&layout).unwrap();
    let st = Command::new("tar")
        .arg("-xf")
        .arg(&oci)
        .arg("-C")
        .arg(&layout)
        .status()
        .unwrap();
    assert!(st.success());
    Some((
        id,
        vec![
            (SourceKind::DockerArchive, docker),
            (SourceKind::OciArchive, oci),
            (SourceKind::OciLayout, layout),
        ],
    ))
}

#[test]
fn podman_saved_images_unpack_with_owners_modes_links_and_config() {
    if !root_or_skip("podman_saved_images_unpack") {
        return;
    }
    let s = Scratch::new("podman_saved");
    let Some((podman_id, sources)) = podman_sources(&s) else {
        return;
    };
    for (i, (kind, source)) in sources.iter().enumerate() {
        assert_eq!(
            image::detect(source).unwrap(),
            *kind,
            "{}",
            source.display()
        );
        let cache = s.cache(&format!("cache{i}"));
        let prepared = image::prepare(source, &cache).unwrap();
        assert_eq!(prepared.id, podman_id, "{kind:?}");
        assert_rootfs(&prepared.rootfs);
        let c = &prepared.config;
        assert_eq!(c.entrypoint, ["/usr/bin/env"]);
        assert_eq!(c.cmd, ["/bin/sh", "-c", "echo hi"]);
        assert!(c.env.iter().any(|e| e == "FOO=bar"), "{:?}", c.env);
        assert_eq!(c.working_dir.as_deref(), Some("/home/ivy"));
        assert_eq!(c.user.as_deref(), Some("1000"));
        let listed = cache.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, prepared.id);
        assert_eq!(listed[0].source, *source);
        assert_eq!(listed[0].kind, kind.name());
        assert_eq!(listed[0].size, "ID=userns-test\n".len() as u64 + 6 + 12);
    }
}

#[test]
fn a_rootfs_directory_is_used_in_place() {
    let s = Scratch::new("rootfs_dir");
    let dir = s.path("rootfs");
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    let cache = s.cache("cache");
    let p = image::prepare(&dir, &cache).unwrap();
    assert_eq!(p.rootfs, dir.canonicalize().unwrap());
    assert!(p.id.starts_with("dir:"));
    assert_eq!(image::prepare(&dir, &cache).unwrap().id, p.id, "stable id");
    assert!(!cache.root.exists(), "nothing cached for a directory");
    let not = s.path("not-an-image");
    std::fs::write(&not, "plain text").unwrap();
    let err = image::detect(&not).unwrap_err().to_string();
    assert!(err.contains("not an image SOURCE"), "{err}");
}

/// Layer 1 puts files in place; layer 2 deletes, hides and replaces some of them.
fn whiteout_layers(s: &Scratch) -> (PathBuf, PathBuf) {
    let lower = s.layer(
        "lower",
        json!([
            {"path": "a/", "type": "dir"},
            {"path": "a/gone", "data": "x"},
            {"path": "a/kept", "data": "kept"},
            {"path": "b/", "type": "dir"},
            {"path": "b/inside", "data": "x"},
            {"path": "opaque/", "type": "dir", "uid": 5},
            {"path": "opaque/old", "data": "old"},
            {"path": "opaque/sub/", "type": "dir"},
            {"path": "opaque/sub/older", "data": "older"},
            {"path": "file-then-dir", "data": "x"},
            {"path": "dir-then-file/", "type": "dir"},
            {"path": "dir-then-file/child", "data": "x"},
            {"path": "shared", "data": "lower data"},
        ]),
    );
    let upper = s.layer(
        "upper",
        json!([
            {"path": "a/.wh.gone", "type": "file"},
            {"path": ".wh.b", "type": "file"},
            {"path": "opaque/new", "data": "new"},
            {"path": "opaque/.wh..wh..opq", "type": "file"},
            {"path": "opaque/sub/", "type": "dir"},
            {"path": "file-then-dir/", "type": "dir", "mode": 0o750},
            {"path": "dir-then-file", "data": "now a file"},
            {"path": "link-to-lower", "type": "link", "target": "shared"},
            {"path": ".wh.never-existed", "type": "file"},
        ]),
    );
    (lower, upper)
}

fn assert_whiteouts_applied(rootfs: &Path) {
    let f = |p: &str| rootfs.join(p);
    assert!(!f("a/gone").exists());
    assert_eq!(std::fs::read_to_string(f("a/kept")).unwrap(), "kept");
    assert!(!f("b").exists(), ".wh.b removed the whole directory");
    let mut opaque: Vec<String> = std::fs::read_dir(f("opaque"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    opaque.sort();
    assert_eq!(opaque, ["new", "sub"], "opaque dir hides the lower entries");
    assert_eq!(std::fs::read_dir(f("opaque/sub")).unwrap().count(), 0);
    assert_eq!(owner_mode(&f("file-then-dir")).2, 0o750);
    assert!(f("file-then-dir").is_dir());
    assert_eq!(
        std::fs::read_to_string(f("dir-then-file")).unwrap(),
        "now a file"
    );
    assert_eq!(
        std::fs::read_to_string(f("link-to-lower")).unwrap(),
        "lower data"
    );
    assert!(!f(".wh.never-existed").exists() && !f("a/.wh.gone").exists());
}

#[test]
fn whiteouts_opaque_dirs_and_replacements_follow_layer_order() {
    if !root_or_skip("whiteouts") {
        return;
    }
    let s = Scratch::new("whiteouts");
    let (lower, upper) = whiteout_layers(&s);
    let archive = s.docker_archive("wh", json!({"config": {}}), &[&lower, &upper]);
    let p = image::prepare(&archive, &s.cache("cache")).unwrap();
    assert_whiteouts_applied(&p.rootfs);
}

#[test]
fn gzip_and_zstd_layers_are_told_by_magic_bytes() {
    if !root_or_skip("compressed_layers") {
        return;
    }
    let s = Scratch::new("compressed");
    let (lower, upper) = whiteout_layers(&s);
    let layout = s.oci_layout(
        "layout",
        json!({"config": {"Cmd": ["/bin/true"]}}),
        &[&compress("gzip", &lower), &compress("zstd", &upper)],
    );
    assert_eq!(image::detect(&layout).unwrap(), SourceKind::OciLayout);
    let p = image::prepare(&layout, &s.cache("cache")).unwrap();
    assert_whiteouts_applied(&p.rootfs);
    assert_eq!(p.config.cmd, ["/bin/true"]);
}

/// A copy of a docker-archive whose layer data differs by one byte (same manifest and
/// config, so the same image id).
fn with_damaged_layer(src: &Path, dst: &Path) {
    let mut out = tar::Builder::new(std::fs::File::create(dst).unwrap());
    let mut archive = tar::Archive::new(std::fs::File::open(src).unwrap());
    let mut damaged = 0;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        let name = entry.path().unwrap().display().to_string();
        if let Some(at) = data.windows(10).position(|w| w == b"lower data") {
            data[at] = b'L';
            damaged += 1;
        }
        out.append_data(&mut header, name, data.as_slice()).unwrap();
    }
    out.finish().unwrap();
    assert_eq!(
        damaged, 1,
        "the lower layer's file data was found and changed"
    );
}

fn entries(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(d) => d
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn cached_image_is_not_unpacked_again_and_a_bad_digest_leaves_nothing() {
    if !root_or_skip("cache_reuse") {
        return;
    }
    let s = Scratch::new("cache_reuse");
    let (lower, upper) = whiteout_layers(&s);
    let archive = s.docker_archive("img", json!({"config": {}}), &[&lower, &upper]);
    let cache = s.cache("cache");
    let first = image::prepare(&archive, &cache).unwrap();
    let record = cache
        .root
        .join(first.id.trim_start_matches("sha256:"))
        .join("image.json");
    let stamp = std::fs::metadata(&record).unwrap().mtime_nsec();
    let damaged = s.path("damaged.tar");
    with_damaged_layer(&archive, &damaged);

    // Same id, cached: the damaged layers are never read, so this can only succeed
    // without unpacking.
    let second = image::prepare(&damaged, &cache).unwrap();
    assert_eq!(
        (second.id.clone(), second.rootfs.clone()),
        (first.id.clone(), first.rootfs)
    );
    assert_eq!(std::fs::metadata(&record).unwrap().mtime_nsec(), stamp);
    assert_eq!(cache.list().unwrap().len(), 1);

    // Not cached: the unpack checks the diff_id, fails, and leaves no image behind.
    let fresh = s.cache("fresh");
    let err = image::prepare(&damaged, &fresh).unwrap_err().to_string();
    assert!(err.contains("digest does not match"), "{err}");
    assert!(
        entries(&fresh.root).is_empty(),
        "{:?}",
        entries(&fresh.root)
    );

    // A record whose tree was removed by hand is no cached image: unpacked again.
    std::fs::remove_dir_all(&second.rootfs).unwrap();
    let third = image::prepare(&archive, &cache).unwrap();
    assert_whiteouts_applied(&third.rootfs);
    assert_ne!(std::fs::metadata(&record).unwrap().mtime_nsec(), stamp);
}

#[test]
fn cache_lives_under_xdg_data_home_or_the_home_directory() {
    let account = userns::users::Account {
        name: Some("ivy".into()),
        uid: 2000,
        gid: 2000,
        home: Some("/home/ivy".into()),
    };
    let cache = ImageCache::for_user(&account);
    match std::env::var_os("XDG_DATA_HOME").map(PathBuf::from) {
        Some(d) if d.is_absolute() => assert_eq!(cache.root, d.join("userns/images")),
        _ => assert_eq!(
            cache.root,
            PathBuf::from("/home/ivy/.local/share/userns/images")
        ),
    }
}

/// Run inside the namespace by `unpacks_inside_the_namespace_onto_subordinate_ids`
/// (ignored on its own; it does nothing without USERNS_IMAGE_SOURCE).
#[test]
#[ignore]
fn namespace_helper_prepare() {
    let Some(source) = std::env::var_os("USERNS_IMAGE_SOURCE") else {
        return;
    };
    // The cache of the user who entered: inside, uid 0 maps to them, and the account
    // is theirs, with their $HOME.
    let account = userns::users::Account::current();
    let cache = ImageCache::for_user(&account);
    let p = image::prepare(Path::new(&source), &cache).unwrap_or_else(|e| panic!("{e}"));
    println!("ROOTFS={}", p.rootfs.display());
}

#[test]
fn unpacks_inside_the_namespace_onto_subordinate_ids() {
    let Some(scn) = common::Scenario::new("image_unpack_in_namespace") else {
        return;
    };
    let s = Scratch::new("in_namespace");
    let rootfs_tar = s.layer("rootfs", rootfs_spec());
    let archive_src = s.docker_archive(
        "img",
        json!({"config": {"Cmd": ["/bin/sh"]}}),
        &[&rootfs_tar],
    );
    // The fixture user must reach the archive and the test binary: copy both into the
    // scenario's scratch dir (it owns it, mode 755).
    let archive = scn.scratch().join("img.tar");
    std::fs::copy(&archive_src, &archive).unwrap();
    let exe = scn.scratch().join("image_e2e");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    let script = format!(
        "USERNS_IMAGE_SOURCE={} $USERNS unshare {} --ignored --exact namespace_helper_prepare \
         --nocapture --test-threads=1",
        archive.display(),
        exe.display()
    );
    let out = scn.sh(&script);
    let stdout = common::assert_ok(&out);
    let stderr = common::stderr(&out);
    assert!(stderr.contains("skipped 1 device node"), "{stderr}");
    assert!(stderr.contains("unpacking"), "{stderr}");
    let rootfs = PathBuf::from(
        stdout
            .lines()
            .find_map(|l| l.split_once("ROOTFS=").map(|(_, p)| p))
            .unwrap_or_else(|| panic!("no ROOTFS line: {}", common::describe(&out))),
    );
    assert!(rootfs.starts_with(scn.home().join(".local/share/userns/images")));
    // Inside 0 → 2000 (the user) and 1..65536 → 200000.. (the fixture subuid range).
    let f = |p: &str| rootfs.join(p);
    assert_eq!(owner_mode(&f("home/ivy/notes")).0, 200_999);
    assert_eq!(owner_mode(&f("home/ivy/notes")).1, 201_000);
    assert_eq!(owner_mode(&f("var/www")).0, 200_032);
    assert_eq!(
        owner_mode(&f("usr/bin/su")),
        (2000, 2000, 0o4755, 1_600_000_000)
    );

    // Listed for the user, with the source it came from.
    let listed = common::assert_ok(&scn.run(&["images", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(v[0]["source"], json!(archive));
    assert_eq!(v[0]["kind"], json!("docker-archive"));
    assert!(v[0]["unpacked"].as_str().unwrap().ends_with('Z'));
    let table = common::assert_ok(&scn.run(&["images"]));
    assert!(
        table.starts_with("REPOSITORY") && table.contains("docker-archive"),
        "{table}"
    );

    // A second run finds it in the cache.
    let again = scn.sh(&script);
    common::assert_ok(&again);
    assert!(
        !common::stderr(&again).contains("unpacking"),
        "{}",
        common::stderr(&again)
    );
}

/// A busybox root file system in two layers: the upper one deletes and adds files.
fn busybox_image(s: &Scratch) -> (PathBuf, PathBuf) {
    let mut lower = vec![
        json!({"path": "bin/", "type": "dir"}),
        json!({"path": "bin/busybox", "file": "/bin/busybox", "mode": 0o755}),
    ];
    for applet in ["sh", "cat", "stat", "test", "echo", "pwd", "ls"] {
        lower
            .push(json!({"path": format!("bin/{applet}"), "type": "symlink", "target": "busybox"}));
    }
    lower.extend([
        json!({"path": "etc/", "type": "dir"}),
        json!({"path": "etc/removed", "data": "x"}),
        json!({"path": "home/ivy/", "type": "dir", "uid": 1000, "gid": 1000, "mode": 0o750}),
        json!({"path": "home/ivy/notes", "data": "n", "uid": 1000, "gid": 1001, "mode": 0o640}),
        json!({"path": "usr/bin/su", "data": "x", "mode": 0o4755}),
        json!({"path": "dev/", "type": "dir"}),
        json!({"path": "dev/null", "type": "chr", "major": 1, "minor": 3}),
    ]);
    let lower = s.layer("bb-lower", serde_json::Value::Array(lower));
    let upper = s.layer(
        "bb-upper",
        json!([
            {"path": "etc/.wh.removed", "type": "file"},
            {"path": "etc/added", "data": "added\n"},
        ]),
    );
    (lower, upper)
}

#[test]
fn userns_run_runs_archives_and_layouts_with_their_owners_whiteouts_and_config() {
    let Some(scn) = common::Scenario::new("image_userns_run") else {
        return;
    };
    let s = Scratch::new("userns_run");
    let (lower, upper) = busybox_image(&s);
    let config = json!({"config": {
        "Env": ["PATH=/bin", "GREETING=hello"],
        "WorkingDir": "/home/ivy",
        "Cmd": ["sh", "-c", "echo $GREETING from $(pwd)"],
    }});
    let archive_src = s.docker_archive("bb", config.clone(), &[&lower, &upper]);
    let archive = scn.scratch().join("bb.tar");
    std::fs::copy(&archive_src, &archive).unwrap();
    let archive = archive.display().to_string();

    // First run: unpacked once, the image's Cmd, Env and WorkingDir apply.
    let out = scn.run(&["run", &archive]);
    assert_eq!(common::assert_ok(&out).trim(), "hello from /home/ivy");
    let err = common::stderr(&out);
    assert!(
        err.contains("unpacking") && err.contains("skipped 1 device node"),
        "{err}"
    );

    // Second run: from the cache; owners as in the image, whiteout applied.
    let out = scn.run(&[
        "run",
        &archive,
        "sh",
        "-c",
        "stat -c %u:%g:%a /home/ivy/notes /usr/bin/su; test -e /etc/removed || echo removed; \
         cat /etc/added",
    ]);
    assert_eq!(
        common::assert_ok(&out),
        "1000:1001:640\n0:0:4755\nremoved\nadded\n"
    );
    assert!(
        !common::stderr(&out).contains("unpacking"),
        "{}",
        common::describe(&out)
    );

    // The same image as an OCI layout (zstd upper layer) runs the same way.
    let layout_src = s.oci_layout("bb-oci", config, &[&lower, &compress("zstd", &upper)]);
    let layout = scn.scratch().join("bb-oci");
    let st = Command::new("cp")
        .arg("-a")
        .arg(&layout_src)
        .arg(&layout)
        .status()
        .unwrap();
    assert!(st.success());
    let out = scn.run(&["run", &layout.display().to_string(), "cat", "/etc/added"]);
    assert_eq!(common::assert_ok(&out), "added\n");
}

/// An attribute of `path` as the host (the test, as root) reads it.
fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: lgetxattr into a buffer of the given length.
    let len =
        unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (len >= 0).then(|| {
        buf.truncate(len as usize);
        buf
    })
}

#[test]
fn extended_attributes_and_file_capabilities_survive_the_unpack() {
    let Some(scn) = common::Scenario::new("image_xattrs") else {
        return;
    };
    let s = Scratch::new("xattrs");
    let (lower, _) = busybox_image(&s);
    // A v2 file capability: cap_net_raw (13) permitted, effective flag set.
    let cap_net_raw = "hex:0100000200200000000000000000000000000000";
    let upper = s.layer(
        "attrs",
        json!([
            {"path": "bin/ping", "data": "x", "mode": 0o755, "xattrs": {
                "user.origin": "image",
                "security.capability": cap_net_raw,
                "user.overlay.opaque": "y",
            }},
            {"path": "data/", "type": "dir", "xattrs": {"user.kind": "dir"}},
        ]),
    );
    let archive = scn.scratch().join("attrs.tar");
    std::fs::copy(
        s.docker_archive("attrs", json!({}), &[&lower, &upper]),
        &archive,
    )
    .unwrap();
    let out = scn.run(&["run", &archive.display().to_string(), "echo", "ran"]);
    common::assert_ok(&out);
    let err = common::stderr(&out);
    assert!(err.contains("skipped 1 extended attribute"), "{err}");
    let listed = common::assert_ok(&scn.run(&["images", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let rootfs = PathBuf::from(v[0]["rootfs"].as_str().expect("rootfs in images --json"));

    let ping = rootfs.join("bin/ping");
    assert_eq!(xattr(&ping, "user.origin").as_deref(), Some(&b"image"[..]));
    assert_eq!(
        xattr(&rootfs.join("data"), "user.kind").as_deref(),
        Some(&b"dir"[..])
    );
    // The image may not steer the container's overlay.
    assert_eq!(xattr(&ping, "user.overlay.opaque"), None);
    // Written inside the namespace, the capability is stored as v3 with the namespace's
    // root (the fixture user, 2000) as its owner: valid in there, nowhere else.
    let cap = xattr(&ping, "security.capability").expect("file capability kept");
    assert_eq!(cap.len(), 24, "{cap:?}");
    assert_eq!(
        u32::from_le_bytes(cap[0..4].try_into().unwrap()),
        0x0300_0001
    );
    assert_eq!(u32::from_le_bytes(cap[4..8].try_into().unwrap()), 1 << 13);
    assert_eq!(u32::from_le_bytes(cap[20..24].try_into().unwrap()), 2000);
}
