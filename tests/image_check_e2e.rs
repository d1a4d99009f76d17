//! Ids first, end to end as the unprivileged fixture user (ivy, uid 2000, subordinate ids
//! 200000:65536, so the map holds inside ids 0-65536): `userns image check` lists the
//! owners an image's files have that the map cannot hold, with their paths, the highest
//! id and a usermod range that is free; `userns run` refuses such an image with 125
//! before anything reaches the image cache; hostile layers are errors naming the layer.

mod common;
mod image_support;

use image_support::{compress, podman, Scratch};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The subid fixture: ivy's range, and bob's just above it, so a first fit for ivy must
/// skip bob's.
const SUBIDS: &str = "ivy:200000:65536\nbob:300000:65536\n";

fn scenario(name: &str) -> Option<common::Scenario> {
    Some(
        common::Scenario::new(name)?
            .extra_passwd("bob:x:2001:2001::/nonexistent:/bin/sh")
            .subuid(SUBIDS)
            .subgid(SUBIDS),
    )
}

/// A busybox root that runs, owned by ids the map holds.
fn busybox_layer(s: &Scratch) -> PathBuf {
    let mut entries = vec![
        json!({"path": "./", "type": "dir"}),
        json!({"path": "bin/", "type": "dir"}),
        json!({"path": "bin/busybox", "file": "/bin/busybox", "mode": 0o755}),
        json!({"path": "home/", "type": "dir"}),
        json!({"path": "home/ivy/", "type": "dir", "uid": 1000, "gid": 1000}),
        // The last id the map holds, in each kind.
        json!({"path": "home/ivy/edge", "data": "e", "uid": 65536, "gid": 65536}),
    ];
    for applet in ["sh", "cat", "echo", "stat"] {
        entries
            .push(json!({"path": format!("bin/{applet}"), "type": "symlink", "target": "busybox"}));
    }
    s.layer("busybox-layer", Value::Array(entries))
}

/// A layer whose owners the map cannot hold: a PAX-header uid beyond ustar's octal
/// (> 2^21), a setuid file and its hard link, the first id past the map; and entries
/// that make nothing to own (a whiteout, a device node) with unmapped ids, not counted.
fn beyond_layer(s: &Scratch) -> PathBuf {
    s.layer(
        "beyond-layer",
        json!([
            {"path": "opt/", "type": "dir"},
            {"path": "opt/big", "data": "big", "uid": 3_000_000, "gid": 3_000_001},
            {"path": "opt/su", "data": "#!/bin/sh\n", "mode": 0o4755, "uid": 70_000, "gid": 70_000},
            {"path": "opt/su-again", "type": "link", "target": "opt/su", "uid": 70_000, "gid": 70_000},
            {"path": "opt/edge", "data": "x", "uid": 65_537, "gid": 0},
            {"path": "opt/.wh.gone", "uid": 99_999, "gid": 99_999},
            {"path": "opt/null", "type": "chr", "uid": 88_888, "gid": 88_888},
        ]),
    )
}

/// An archive the fixture user can read: copied into the scenario's scratch dir.
fn reachable(scn: &common::Scenario, src: &Path) -> String {
    let dst = scn.scratch().join(src.file_name().unwrap());
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(&dst)
        .status()
        .unwrap();
    assert!(st.success());
    let st = std::process::Command::new("chown")
        .arg("-R")
        .arg(format!("{}:{}", scn.uid(), scn.gid()))
        .arg(&dst)
        .status()
        .unwrap();
    assert!(st.success());
    dst.display().to_string()
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_str(&common::stdout(out))
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", common::describe(out)))
}

/// (id, paths) of a kind's unmapped ids in a --json report.
fn unmapped(v: &Value, kind: &str) -> Vec<(u64, Vec<String>)> {
    v[kind]["unmapped"]
        .as_array()
        .unwrap_or_else(|| panic!("no {kind}.unmapped in {v}"))
        .iter()
        .map(|u| {
            let paths = u["paths"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
                .collect();
            (u["id"].as_u64().unwrap(), paths)
        })
        .collect()
}

/// The suggested range must be free of every line of the subid fixture and large enough
/// that a map of all ivy's ids, the new ones too, holds `highest`.
fn assert_fix_is_free_and_enough(fix: &Value, kind: &str, highest: u64) {
    assert_eq!(fix["type"], "add_range", "{fix}");
    let (first, last) = (
        fix["first"].as_u64().unwrap(),
        fix["last"].as_u64().unwrap(),
    );
    assert_eq!(
        fix["command"].as_str().unwrap(),
        format!("usermod --add-sub{kind}s {first}-{last} ivy")
    );
    for line in SUBIDS.lines() {
        let f: Vec<u64> = line
            .split(':')
            .skip(1)
            .map(|n| n.parse().unwrap())
            .collect();
        let (start, end) = (f[0], f[0] + f[1] - 1);
        assert!(
            last < start || first > end,
            "{first}-{last} overlaps {line}"
        );
    }
    assert!(first >= 100_000, "below SUB_UID_MIN: {first}");
    // Own id at 0, 65536 ids now, `last - first + 1` more.
    assert!(
        65_536 + (last - first + 1) >= highest,
        "{fix} too small for {highest}"
    );
}

#[test]
fn image_check_lists_the_ids_beyond_the_map_with_their_paths_and_a_free_range() {
    let Some(scn) = scenario("image_check_lists") else {
        return;
    };
    let s = Scratch::new("check_lists");
    let (lower, upper) = (busybox_layer(&s), beyond_layer(&s));
    let config = json!({"config": {"Cmd": ["sh"]}});
    // docker-archive: a plain layer (sought over) and a gzip one.
    let archive = s.docker_archive(
        "beyond",
        config.clone(),
        &[&lower, &compress("gzip", &upper)],
    );
    let archive = reachable(&scn, &archive);
    // OCI layout: the same layers, the upper one zstd.
    let layout = s.oci_layout("beyond-oci", config, &[&lower, &compress("zstd", &upper)]);
    let layout = reachable(&scn, &layout);

    let out = scn.run(&["image", "check", "--json", &archive]);
    common::assert_code(&out, 1);
    let v = json_of(&out);
    assert_eq!(v["fits"], false);
    assert_eq!(v["kind"], "docker-archive");
    assert_eq!(v["layers"], 2);
    assert!(v["id"].as_str().unwrap().starts_with("sha256:"), "{v}");
    let s_ = |p: &[&str]| p.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    assert_eq!(
        unmapped(&v, "uids"),
        [
            (65_537, s_(&["/opt/edge"])),
            (70_000, s_(&["/opt/su", "/opt/su-again"])),
            (3_000_000, s_(&["/opt/big"])),
        ]
    );
    assert_eq!(
        unmapped(&v, "gids"),
        [
            (70_000, s_(&["/opt/su", "/opt/su-again"])),
            (3_000_001, s_(&["/opt/big"])),
        ]
    );
    assert_eq!(v["uids"]["highest"], 3_000_000);
    assert_eq!(v["gids"]["highest"], 3_000_001);
    assert_eq!(
        v["uids"]["map"],
        json!([
            {"inside": 0, "outside": 2000, "count": 1},
            {"inside": 1, "outside": 200000, "count": 65536}
        ])
    );
    assert_fix_is_free_and_enough(&v["uids"]["fix"], "uid", 3_000_000);
    assert_fix_is_free_and_enough(&v["gids"]["fix"], "gid", 3_000_001);
    // Entries that own something: ./ bin bin/busybox home home/ivy edge, 4 applets; and
    // opt, big, su, su-again, edge (not the whiteout nor the device).
    assert_eq!(v["entries"], 10 + 5);

    // The OCI layout with a zstd layer says the same.
    let out = scn.run(&["image", "check", "--json", &layout]);
    common::assert_code(&out, 1);
    let w = json_of(&out);
    assert_eq!(w["kind"], "oci");
    for key in ["uids", "gids", "entries", "fits", "id"] {
        assert_eq!(v[key], w[key], "{key}");
    }

    // The table: each id with its paths, the highest ids and the fixes.
    let out = scn.run(&["image", "check", &archive]);
    common::assert_code(&out, 1);
    let text = common::stdout(&out);
    let fix = v["uids"]["fix"]["command"].as_str().unwrap();
    for want in [
        "KIND",
        "/opt/su, /opt/su-again",
        "3000000",
        "highest uid needed: 3000000",
        "highest gid needed: 3000001",
        fix,
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
    assert!(!text.contains("99999") && !text.contains("88888"), "{text}");
}

/// Every path under `dir` with its type, size, mode, owner and mtime (the test runs as root).
fn tree(dir: &Path) -> BTreeMap<PathBuf, (u32, u64, u32, u32, i64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                stack.push(e.path());
            }
            let key = e.path().strip_prefix(dir).unwrap().to_path_buf();
            out.insert(key, (m.mode(), m.size(), m.uid(), m.gid(), m.mtime()));
        }
    }
    out
}

#[test]
fn run_refuses_an_image_that_does_not_fit_and_leaves_the_cache_as_it_was() {
    let Some(scn) = scenario("image_check_run") else {
        return;
    };
    let s = Scratch::new("check_run");
    let lower = busybox_layer(&s);
    let config = json!({"config": {"Env": ["PATH=/bin"], "Cmd": ["sh", "-c", "echo ran"]}});
    let fits = reachable(&scn, &s.docker_archive("fits", config.clone(), &[&lower]));
    let beyond = s.docker_archive("beyond", config, &[&lower, &beyond_layer(&s)]);
    let beyond = reachable(&scn, &beyond);

    // An image that fits: checked, exit 0, and it runs (owners as in the image).
    let out = scn.run(&["image", "check", &fits]);
    let text = common::assert_ok(&out);
    assert!(text.contains("every owner fits"), "{text}");
    let out = scn.run(&["run", &fits, "stat", "-c", "%u:%g", "/home/ivy/edge"]);
    assert_eq!(common::assert_ok(&out), "65536:65536\n");
    // Now the kept namespace `containers` runs: its live map is what is checked.
    let out = scn.run(&["image", "check", "--json", &fits]);
    common::assert_ok(&out);
    assert_eq!(
        json_of(&out)["map_origin"],
        "the map of the kept namespace containers"
    );

    let cache = scn.home().join(".local/share/userns");
    let before = tree(&cache);
    assert!(before.keys().any(|p| p.starts_with("images")), "{before:?}");
    for mode in ["shared", "private"] {
        let out = scn.run(&["run", "--userns", mode, &beyond, "echo", "must not run"]);
        common::assert_code(&out, 125);
        let err = common::stderr(&out);
        assert!(!common::stdout(&out).contains("must not run"));
        for want in [
            "not unpacked",
            "uid 70000 (2 entries: /opt/su, /opt/su-again)",
            "uid 3000000 (1 entry: /opt/big)",
            "gid 3000001",
            "the highest uid needed is 3000000; the map holds uids 0-65536",
            "usermod --add-subuids",
            "usermod --add-subgids",
        ] {
            assert!(err.contains(want), "{want:?} missing:\n{err}");
        }
        assert!(!err.contains("unpacking"), "{err}");
        // Nothing new in the cache: no image, no staging directory, nothing changed.
        let after = tree(&cache);
        let images = |t: &BTreeMap<PathBuf, _>| -> Vec<PathBuf> {
            t.keys()
                .filter(|p| p.starts_with("images"))
                .cloned()
                .collect()
        };
        assert_eq!(images(&before), images(&after), "--userns {mode}");
        for (path, meta) in &before {
            if path.starts_with("images") {
                assert_eq!(after.get(path), Some(meta), "{} changed", path.display());
            }
        }
    }
    let listed = json_of(&scn.run(&["images", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
}

#[test]
fn a_narrower_map_given_reports_more_ids() {
    let Some(scn) = scenario("image_check_narrow") else {
        return;
    };
    let s = Scratch::new("check_narrow");
    let fits = reachable(
        &scn,
        &s.docker_archive("fits", json!({"config": {}}), &[&busybox_layer(&s)]),
    );
    for mode in ["shared", "private"] {
        // No kept namespace runs: both get the plan of a new one, all ivy's ids.
        let out = scn.run(&["image", "check", "--json", "--userns", mode, &fits]);
        common::assert_ok(&out);
        let v = json_of(&out);
        assert_eq!(v["fits"], true);
        assert_eq!(v["map_origin"], "your map (all your subordinate ids)");
        assert_eq!(v["uids"]["highest"], 65536);
    }
    // Only the own id and 999 subordinate ids for users: 1000 and 65536 are left out.
    let out = scn.run(&[
        "image",
        "check",
        "--json",
        "--map-users",
        "0:2000:1",
        "--map-users",
        "1:200000:999",
        &fits,
    ]);
    common::assert_code(&out, 1);
    let v = json_of(&out);
    let ids: Vec<u64> = unmapped(&v, "uids").into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, [1000, 65536]);
    assert!(unmapped(&v, "gids").is_empty(), "{v}");
    assert_eq!(v["map_origin"], "the map given (--map-users, --map-groups)");
    let then = v["uids"]["fix"]["then"].as_str().unwrap();
    assert!(then.contains("--map-users 1000:"), "{then}");
    // A map the user may not have is a usage error.
    let out = scn.run(&["image", "check", "--map-users", "0:300000:10", &fits]);
    common::assert_code(&out, 2);
}

/// sha256 of a file, as `sha256:HEX`.
fn digest_of(path: &Path) -> String {
    use sha2::Digest as _;
    let bytes = std::fs::read(path).unwrap();
    let hex: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

#[test]
fn hostile_layers_are_errors_naming_the_layer() {
    let Some(scn) = scenario("image_check_hostile") else {
        return;
    };
    let s = Scratch::new("check_hostile");
    let layer = busybox_layer(&s);
    let cut = |src: &Path, name: &str| {
        let bytes = std::fs::read(src).unwrap();
        let out = s.path(name);
        std::fs::write(&out, &bytes[..bytes.len() / 2]).unwrap();
        out
    };
    let truncated_gz = cut(&compress("gzip", &layer), "cut.tar.gz");
    let truncated_zst = cut(&compress("zstd", &layer), "cut.tar.zst");
    let garbage = s.path("garbage.tar");
    std::fs::write(
        &garbage,
        (0..20_000u32)
            .map(|i| (i * 31 + 7) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    // The config names the diff_id itself: the layers cannot be decompressed to compute it.
    let diff_id = format!("sha256:{}", "ab".repeat(32));
    let config = json!({"rootfs": {"type": "layers", "diff_ids": [diff_id]}});
    let cache = scn.home().join(".local/share/userns/images");
    for (name, layer) in [("gz", &truncated_gz), ("garbage", &garbage)] {
        let archive = reachable(&scn, &s.docker_archive(name, config.clone(), &[layer]));
        let out = scn.run(&["image", "check", &archive]);
        common::assert_code(&out, 1);
        let err = common::stderr(&out);
        assert!(
            err.contains(&format!(
                "cannot read layer 1 of 1 ({diff_id}) of {archive}"
            )),
            "{name}:\n{err}"
        );
        assert!(err.contains("fix:") && !err.contains("panicked"), "{err}");
        // run refuses it as well, and leaves no cache behind.
        let out = scn.run(&["run", &archive, "true"]);
        common::assert_code(&out, 125);
        assert!(
            common::stderr(&out).contains(&diff_id),
            "{}",
            common::describe(&out)
        );
        assert!(!cache.exists(), "{}", cache.display());
    }
    // The layers are scanned side by side: of two damaged ones, the lower is reported,
    // as a scan in order reports it, whichever of them fails first.
    let ids: Vec<String> = ["01", "02", "03", "04"]
        .iter()
        .map(|b| format!("sha256:{}", b.repeat(32)))
        .collect();
    let four = json!({"rootfs": {"type": "layers", "diff_ids": ids}});
    let (gz, zst) = (compress("gzip", &layer), compress("zstd", &layer));
    let archive = reachable(
        &scn,
        &s.docker_archive("four", four, &[&gz, &truncated_gz, &zst, &garbage]),
    );
    for _ in 0..3 {
        let out = scn.run(&["image", "check", &archive]);
        common::assert_code(&out, 1);
        let err = common::stderr(&out);
        assert!(
            err.contains(&format!(
                "cannot read layer 2 of 4 ({}) of {archive}",
                ids[1]
            )),
            "{err}"
        );
    }
    // An OCI layout names the layer by the digest of its blob.
    let layout = reachable(&scn, &s.oci_layout("zst", config, &[&truncated_zst]));
    let out = scn.run(&["image", "check", "--json", &layout]);
    common::assert_code(&out, 1);
    let err = common::stderr(&out);
    let digest = digest_of(&truncated_zst);
    assert!(err.contains(&format!("({digest})")), "{err}");
    assert!(
        !err.contains("panicked") && common::stdout(&out).is_empty(),
        "{err}"
    );
    // A directory is no image to check: a usage error.
    let out = scn.run(&["image", "check", &scn.scratch().display().to_string()]);
    common::assert_code(&out, 2);
}

#[test]
fn podman_saved_archives_are_checked_in_both_formats() {
    let Some(scn) = scenario("image_check_podman") else {
        return;
    };
    if std::process::Command::new("podman")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(std::env::var_os("CI").is_none(), "podman is missing in CI");
        eprintln!("skipped: podman is not installed");
        return;
    }
    let s = Scratch::new("check_podman");
    let rootfs = s.layer(
        "rootfs",
        json!([
            {"path": "./", "type": "dir"},
            {"path": "etc/", "type": "dir"},
            {"path": "etc/os-release", "data": "ID=t\n"},
            {"path": "opt/", "type": "dir", "uid": 1000, "gid": 1000},
            {"path": "opt/su", "data": "x", "mode": 0o4755, "uid": 70_000, "gid": 0},
            {"path": "opt/big", "data": "y", "uid": 3_000_000, "gid": 3_000_000},
        ]),
    );
    let store = s.path("podman");
    podman(
        &store,
        &["import", image_support::path_str(&rootfs), "localhost/chk"],
    );
    let mut archives = Vec::new();
    for (format, name) in [("docker-archive", "docker.tar"), ("oci-archive", "oci.tar")] {
        let out = s.path(name);
        podman(
            &store,
            &[
                "save",
                "--format",
                format,
                "-o",
                image_support::path_str(&out),
                "localhost/chk",
            ],
        );
        archives.push((format, reachable(&scn, &out)));
    }
    let _ = std::fs::remove_dir_all(format!("/tmp/userns-chk-rr.{}", std::process::id()));
    for (format, archive) in &archives {
        let out = scn.run(&["image", "check", "--json", archive]);
        common::assert_code(&out, 1);
        let v = json_of(&out);
        assert_eq!(v["kind"], *format);
        let ids: Vec<u64> = unmapped(&v, "uids").into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, [70_000, 3_000_000], "{format}");
        assert_eq!(
            unmapped(&v, "gids")[0],
            (3_000_000, vec!["/opt/big".to_string()])
        );
        assert_eq!(v["entries"], 6, "{format}");
    }
}
