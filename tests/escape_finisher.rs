//! The unpacker's finisher (src/image/finisher.rs) against hostile orderings, through the
//! real unpacker inside `userns unshare`, as the unprivileged fixture user (as `userns pull`
//! and `userns run` unpack: in the user namespace, before any pid namespace, where no
//! thread could start).
//!
//! The walking thread makes every name and hands each regular file it created, open, to a
//! second thread that writes its data and gives it its owner, mode, attributes and times.
//! So a layer can change a file's name while the file is still being finished: replace
//! its directory with a symlink (out of the image, to `/`), white the directory out, put
//! a file where it was, link to the file before it is finished, hide it behind an opaque
//! marker. Each layer here is unpacked twice, by the serial unpack
//! (`USERNS_UNPACK_SERIAL=1`: every file finished as it is made, as before the finisher)
//! and by the finisher, and the two trees must be the same to the byte: every path, its
//! type, owner, mode (setuid bits too), times, link count and which paths share an inode,
//! content, symlink target and extended attributes (file capabilities too). Failures must
//! be the same error, naming the same file. Files of 1 MiB go before each hostile step,
//! so the finisher is still busy writing when the walker gets there. Every run checks a
//! canary directory beside the cache that the fixture user could write to.

mod canary_support;
mod common;
mod image_support;

use canary_support::{assert_canary_untouched, scenario};
use common::Scenario;
use image_support::{outside, Scratch};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A docker-archive of busybox and `layers` (lowest first), where the fixture user reads it.
fn archive(scn: &Scenario, s: &Scratch, name: &str, layers: &[Value]) -> PathBuf {
    let mut tars = vec![s.layer(
        "busybox",
        json!([
            {"path": "bin/", "type": "dir"},
            {"path": "bin/busybox", "file": "/bin/busybox", "mode": 0o755},
            {"path": "bin/true", "type": "symlink", "target": "busybox"},
        ]),
    )];
    for (i, spec) in layers.iter().enumerate() {
        tars.push(s.layer(&format!("{name}-{i}"), spec.clone()));
    }
    let refs: Vec<&Path> = tars.iter().map(PathBuf::as_path).collect();
    let built = s.docker_archive(name, json!({"config": {}}), &refs);
    let placed = scn.scratch().join(format!("{name}.tar"));
    std::fs::copy(&built, &placed).unwrap();
    placed
}

/// Files of 1 MiB (the most the finisher is handed as bytes) under `dir`: what keeps the
/// finisher writing while the walker reaches the entries after them.
fn busy(dir: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"path": format!("{dir}/busy{i}"), "data": format!("{i}").repeat(1 << 20)}))
        .collect()
}

/// Everything about one path of an unpacked tree that the finisher sets or could upset.
#[derive(Debug, PartialEq, Eq)]
struct Node {
    kind: &'static str,
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: i64,
    nlink: u64,
    /// The first path (in sorted order) with the same inode.
    same_inode_as: String,
    /// A regular file's bytes, a symlink's target.
    content: Vec<u8>,
    xattrs: BTreeMap<String, Vec<u8>>,
}

/// The unpacked tree but /bin, read as root (owners as the host sees them).
fn snapshot(rootfs: &Path) -> BTreeMap<String, Node> {
    let mut paths = Vec::new();
    walk(rootfs, rootfs, &mut paths);
    paths.sort();
    let mut inodes: HashMap<u64, String> = HashMap::new();
    // Every time an image here gives is years before this.
    let unpacked_after = std::fs::metadata(rootfs).unwrap().mtime() - 3600;
    let mut tree = BTreeMap::new();
    for (rel, path) in paths {
        let m = std::fs::symlink_metadata(&path).unwrap();
        let ft = m.file_type();
        let (kind, content) = if ft.is_symlink() {
            let t = std::fs::read_link(&path).unwrap();
            ("symlink", t.as_os_str().as_bytes().to_vec())
        } else if ft.is_dir() {
            ("dir", Vec::new())
        } else if ft.is_file() {
            ("file", std::fs::read(&path).unwrap())
        } else {
            ("other", Vec::new())
        };
        let same = inodes.entry(m.ino()).or_insert_with(|| rel.clone()).clone();
        // A directory no entry named (made as a parent) keeps the time of the unpack.
        let mtime = match ft.is_dir() && m.mtime() > unpacked_after {
            true => 0,
            false => m.mtime(),
        };
        tree.insert(
            rel,
            Node {
                kind,
                uid: m.uid(),
                gid: m.gid(),
                mode: m.mode() & 0o7777,
                mtime,
                nlink: if ft.is_dir() { 0 } else { m.nlink() },
                same_inode_as: same,
                content,
                xattrs: xattrs(&path),
            },
        );
    }
    tree
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        if rel == "bin" {
            continue;
        }
        out.push((rel, path.clone()));
        if std::fs::symlink_metadata(&path).unwrap().is_dir() {
            walk(root, &path, out);
        }
    }
}

/// Every extended attribute of `path` itself (not a symlink's target).
fn xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut names = vec![0u8; 64 << 10];
    // SAFETY: llistxattr into a buffer of the given length.
    let n = unsafe { libc::llistxattr(p.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    assert!(n >= 0, "llistxattr {}", path.display());
    names.truncate(n as usize);
    let mut out = BTreeMap::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let c = CString::new(name).unwrap();
        let mut value = vec![0u8; 64 << 10];
        // SAFETY: lgetxattr into a buffer of the given length.
        let len = unsafe {
            libc::lgetxattr(
                p.as_ptr(),
                c.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        assert!(len >= 0, "lgetxattr {}", path.display());
        value.truncate(len as usize);
        out.insert(String::from_utf8_lossy(name).into_owned(), value);
    }
    out
}

/// What one unpack into an empty cache did: its error, or the tree it made.
struct Unpacked {
    error: Option<String>,
    tree: Option<BTreeMap<String, Node>>,
}

/// Unpack `archive` into an empty cache inside `userns unshare` (as `userns pull` and
/// `userns run` do, in a namespace without a pid namespace of its own, where the finisher
/// thread can be started), by this test binary's `namespace_helper_prepare`.
fn unpack(scn: &Scenario, archive: &Path, serial: bool) -> Unpacked {
    let images = scn.scratch().join("data/userns/images");
    let exe = scn.scratch().join("escape_finisher");
    if !exe.exists() {
        std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    }
    let out = scn.sh(&format!(
        "rm -rf '{}'\n\
         USERNS_UNPACK_SERIAL={} USERNS_IMAGE_SOURCE='{}' timeout -s KILL 120 \
         \"$USERNS\" unshare '{}' --ignored --exact namespace_helper_prepare --nocapture \
         --test-threads=1",
        images.display(),
        if serial { "1" } else { "0" },
        archive.display(),
        exe.display()
    ));
    let text = common::assert_ok(&out);
    assert!(
        text.contains("THREADS=yes"),
        "the finisher could not have started: {}",
        common::describe(&out)
    );
    let line = |key: &str| {
        text.lines()
            .find_map(|l| l.split_once(key).map(|(_, v)| v.to_string()))
    };
    let error = line("ERROR=");
    let tree = line("ROOTFS=").map(|r| snapshot(Path::new(&r)));
    assert!(
        error.is_some() != tree.is_some(),
        "{}",
        common::describe(&out)
    );
    // A failed unpack leaves no image and no half-made tree in the cache.
    if error.is_some() {
        let left: Vec<_> = std::fs::read_dir(&images)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name())
                    .collect()
            })
            .unwrap_or_default();
        assert!(left.is_empty(), "left in the cache: {left:?}");
    }
    Unpacked { error, tree }
}

/// Unpack serially and with the finisher; both must succeed with the same tree, which
/// is returned.
#[track_caller]
fn same_tree(scn: &Scenario, archive: &Path) -> BTreeMap<String, Node> {
    let serial = unpack(scn, archive, true);
    assert_eq!(serial.error, None);
    assert_canary_untouched(scn);
    let finished = unpack(scn, archive, false);
    assert_eq!(finished.error, None);
    assert_canary_untouched(scn);
    let (serial, finished) = (serial.tree.unwrap(), finished.tree.unwrap());
    for (path, node) in &serial {
        assert_eq!(finished.get(path), Some(node), "{path}, serial vs finisher");
    }
    assert_eq!(
        finished.keys().collect::<Vec<_>>(),
        serial.keys().collect::<Vec<_>>()
    );
    finished
}

/// Unpack serially and with the finisher; both must fail with the same error, leaving
/// nothing in the cache. Returns the error.
#[track_caller]
fn same_error(scn: &Scenario, archive: &Path) -> String {
    let serial = unpack(scn, archive, true)
        .error
        .expect("the serial unpack fails");
    assert_canary_untouched(scn);
    let finished = unpack(scn, archive, false)
        .error
        .expect("the finisher fails");
    assert_canary_untouched(scn);
    assert!(!finished.contains("panicked"), "{finished}");
    assert_eq!(serial, finished, "serial vs finisher");
    finished
}

#[test]
fn directories_replaced_while_their_files_are_finished_give_the_serial_tree() {
    let Some(scn) = scenario("finisher_replaced") else {
        return;
    };
    let s = Scratch::new("finisher_replaced");
    let mut entries = Vec::new();
    // `d` (made as the parent of its files) becomes a symlink out of the image; `e` is
    // whited out and comes back as a symlink to /, and a file is written through it; `g`
    // becomes a regular file. Each right after its files (owned by others, with setuid
    // bits), the finisher behind.
    for (dir, then, through) in [
        (
            "d",
            vec![json!({"path": "d", "type": "symlink", "target": "../../../../../outside"})],
            false,
        ),
        (
            "e",
            vec![
                json!({"path": ".wh.e", "type": "file"}),
                json!({"path": "e", "type": "symlink", "target": "/"}),
            ],
            true,
        ),
        ("g", vec![json!({"path": "g", "data": "now a file"})], false),
    ] {
        entries.extend(busy(&format!("{dir}/b"), 4));
        for i in 0..20 {
            entries.push(
                json!({"path": format!("{dir}/f{i}"), "data": format!("{dir}{i}"),
                                "uid": 5, "gid": 6, "mode": 0o4750}),
            );
        }
        entries.extend(then);
        if through {
            // Written through the new name: where a fresh resolution beneath the root
            // sends it.
            entries.push(json!({"path": format!("{dir}/after"), "data": dir}));
        }
    }
    let archive = archive(&scn, &s, "replaced", &[Value::Array(entries)]);
    let tree = same_tree(&scn, &archive);
    assert_eq!(tree["d"].kind, "symlink");
    assert_eq!(tree["e"].content, b"/");
    assert_eq!(tree["g"].content, b"now a file");
    assert!(!tree.keys().any(|p| p.contains("/f")), "{:?}", tree.keys());
    // `e/after` lands in the image's root.
    assert_eq!(tree["after"].content, b"e");
}

#[test]
fn hard_links_to_files_not_yet_finished_share_their_finished_inode() {
    let Some(scn) = scenario("finisher_links") else {
        return;
    };
    let s = Scratch::new("finisher_links");
    let mut entries = busy("b", 6);
    entries.extend([
        json!({"path": "d/f", "data": "linked", "uid": 7, "gid": 8, "mode": 0o4711,
               "mtime": 1_234_567_890, "xattrs": {"user.note": "kept"}}),
        json!({"path": "l1", "type": "link", "target": "d/f"}),
        json!({"path": "l2", "type": "link", "target": "l1"}),
        // The file's own name goes: the links keep the inode, finished.
        json!({"path": ".wh.d", "type": "file"}),
    ]);
    entries.extend(busy("c", 4));
    entries.extend([
        json!({"path": "k/big", "data": "x".repeat(3 << 20), "uid": 3, "gid": 3, "mode": 0o2750}),
        json!({"path": "lbig", "type": "link", "target": "k/big"}),
        json!({"path": "k", "type": "symlink", "target": "/"}),
    ]);
    let archive = archive(&scn, &s, "links", &[Value::Array(entries)]);
    let tree = same_tree(&scn, &archive);
    let user = scn.uid();
    for l in ["l1", "l2"] {
        let n = &tree[l];
        assert_eq!(n.content, b"linked");
        assert_eq!((n.uid, n.gid), (outside(7, user), outside(8, user)));
        assert_eq!((n.mode, n.mtime, n.nlink), (0o4711, 1_234_567_890, 2));
        assert_eq!(n.same_inode_as, "l1");
        assert_eq!(
            n.xattrs.get("user.note").map(Vec::as_slice),
            Some(&b"kept"[..])
        );
    }
    assert!(!tree.contains_key("d"));
    let big = &tree["lbig"];
    assert_eq!(
        (big.content.len(), big.mode, big.nlink),
        (3 << 20, 0o2750, 1)
    );
    assert_eq!((big.uid, big.gid), (outside(3, user), outside(3, user)));
}

#[test]
fn opaque_markers_and_later_layers_meet_finished_files() {
    let Some(scn) = scenario("finisher_opaque") else {
        return;
    };
    let s = Scratch::new("finisher_opaque");
    let lower = json!([
        {"path": "o/", "type": "dir"},
        {"path": "o/lower", "data": "lower"},
        {"path": "r/f", "data": "lower r", "uid": 9, "gid": 9, "mode": 0o600},
    ]);
    let mut upper = busy("b", 4);
    upper.extend([
        json!({"path": "o/mine", "data": "mine", "uid": 4, "gid": 4, "mode": 0o6755}),
        json!({"path": "o/.wh..wh..opq", "type": "file"}),
    ]);
    let mut top = busy("t", 2);
    // The next layer replaces what the finisher of the one before wrote.
    top.extend([
        json!({"path": "o/mine", "data": "top", "mode": 0o644}),
        json!({"path": "r/f", "data": "top r", "uid": 2, "gid": 2, "mode": 0o640}),
    ]);
    let archive = archive(
        &scn,
        &s,
        "opaque",
        &[lower, Value::Array(upper), Value::Array(top)],
    );
    let tree = same_tree(&scn, &archive);
    assert!(!tree.contains_key("o/lower"));
    assert_eq!(tree["o/mine"].content, b"top");
    assert_eq!(tree["o/mine"].mode, 0o644);
    assert_eq!(tree["r/f"].content, b"top r");
    assert_eq!(tree["r/f"].uid, outside(2, scn.uid()));
}

#[test]
fn setuid_bits_capabilities_and_attributes_survive_as_serially() {
    let Some(scn) = scenario("finisher_modes") else {
        return;
    };
    let s = Scratch::new("finisher_modes");
    // A v2 file capability: cap_net_raw (13) permitted, effective flag set.
    let cap = "hex:0100000200200000000000000000000000000000";
    let mut entries = vec![json!({"path": "m/", "type": "dir"})];
    for i in 0..200u32 {
        let (uid, mode) =
            [(0, 0o4755), (i % 7, 0o2711), (0, 0o644), (i % 3, 0o1777)][i as usize % 4];
        let mut e = json!({"path": format!("m/f{i:03}"), "data": format!("{i}"), "uid": uid,
                           "gid": i % 5, "mode": mode, "mtime": 1_500_000_000 + i});
        if i % 10 == 0 {
            e["xattrs"] = json!({"security.capability": cap, "user.i": format!("{i}")});
        }
        entries.push(e);
    }
    // Walked, not carried: larger than 1 MiB, and sparse, with setuid bits and a capability.
    entries.push(
        json!({"path": "m/big", "data": "b".repeat((1 << 20) + 1), "uid": 0,
                        "mode": 0o4755, "xattrs": {"security.capability": cap}}),
    );
    entries.push(
        json!({"path": "m/sparse", "data": "abc", "uid": 2, "mode": 0o2755,
                        "sparse": {"realsize": 1 << 20, "map": [[4096, 3]]}}),
    );
    let archive = archive(&scn, &s, "modes", &[Value::Array(entries)]);
    let tree = same_tree(&scn, &archive);
    let user = scn.uid();
    let f0 = &tree["m/f000"];
    assert_eq!((f0.uid, f0.mode), (user, 0o4755));
    // Set inside the namespace: a v3 capability owned by its root (the user).
    let stored = &f0.xattrs["security.capability"];
    assert_eq!(
        u32::from_le_bytes(stored[0..4].try_into().unwrap()),
        0x0300_0001
    );
    assert_eq!(u32::from_le_bytes(stored[20..24].try_into().unwrap()), user);
    assert_eq!(tree["m/f001"].mode, 0o2711);
    assert_eq!(tree["m/f001"].uid, outside(1, user));
    assert_eq!(tree["m/f003"].mode, 0o1777);
    assert_eq!(tree["m/big"].mode, 0o4755);
    assert!(tree["m/big"].xattrs.contains_key("security.capability"));
    let sparse = &tree["m/sparse"];
    assert_eq!((sparse.content.len(), sparse.mode), (1 << 20, 0o2755));
    assert_eq!(&sparse.content[4096..4099], b"abc");
}

#[test]
fn a_file_the_finisher_cannot_finish_stops_the_unpack_naming_it() {
    let Some(scn) = scenario("finisher_error") else {
        return;
    };
    let s = Scratch::new("finisher_error");
    // An attribute name longer than any file system takes (XATTR_NAME_MAX is 255): setting
    // it fails with ERANGE, which no rule skips. Files before it and after it.
    let mut entries = busy("b", 4);
    for i in 0..50 {
        entries.push(json!({"path": format!("x/f{i}"), "data": "x"}));
    }
    entries.push(json!({"path": "x/bad", "data": "bad",
                        "xattrs": {format!("user.{}", "n".repeat(300)): "v"}}));
    for i in 0..300 {
        entries.push(json!({"path": format!("y/f{i}"), "data": "y"}));
    }
    let archive = archive(&scn, &s, "error", &[Value::Array(entries)]);
    let err = same_error(&scn, &archive);
    assert!(
        err.contains("cannot unpack \"x/bad\" of layer 2 of 2"),
        "{err}"
    );
    assert!(err.contains("set the attribute user.nnn"), "{err}");
}

/// Run inside `userns unshare` by `unpack` (ignored on its own; it does nothing without
/// USERNS_IMAGE_SOURCE): `image::prepare`, the unpacker `userns pull` runs, which unlike
/// `userns run` does not check the owners against the map first.
#[test]
#[ignore]
fn namespace_helper_prepare() {
    let Some(source) = std::env::var_os("USERNS_IMAGE_SOURCE") else {
        return;
    };
    // The finisher is a thread: say whether this process may start one.
    let threads = std::thread::Builder::new()
        .spawn(|| ())
        .is_ok_and(|t| t.join().is_ok());
    println!("\nTHREADS={}", if threads { "yes" } else { "no" });
    // Inside, uid 0 is the user who entered, with their $HOME.
    let account = userns::users::Account::current();
    let cache = userns::image::ImageCache::for_user(&account);
    match userns::image::prepare(Path::new(&source), &cache) {
        Ok(p) => println!("\nROOTFS={}", p.rootfs.display()),
        Err(e) => println!("\nERROR={}", e.to_string().replace('\n', "\\n")),
    }
}

#[test]
fn an_owner_the_namespace_cannot_map_stops_the_unpack_naming_the_file() {
    let Some(scn) = scenario("finisher_chown") else {
        return;
    };
    let s = Scratch::new("finisher_chown");
    // The map holds 0..65536: uid 70000 cannot be given, and chown fails in the finisher.
    let mut entries = busy("b", 4);
    entries.push(json!({"path": "x/unmapped", "data": "u", "uid": 70000}));
    for i in 0..300 {
        entries.push(json!({"path": format!("y/f{i}"), "data": "y"}));
    }
    let archive = archive(&scn, &s, "chown", &[Value::Array(entries)]);
    let err = same_error(&scn, &archive);
    assert!(err.contains("cannot unpack \"x/unmapped\""), "{err}");
    assert!(err.contains("chown to 70000:0"), "{err}");
    assert!(err.contains("subordinate range"), "{err}");
}
