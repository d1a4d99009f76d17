//! Hostile images through the real `userns run`, as the unprivileged fixture user (issue
//! 11, findings 7, 8, 11 and 12): sparse-file and declared-size bombs, whiteouts that
//! climb, blobs that are links, FIFOs or devices, and digests that are not checked.
//!
//! Every run keeps its image cache on a small tmpfs of its own (XDG_DATA_HOME), mounted in
//! the scenario's private mount namespace: a bomb that gets through fills that, never the
//! machine's disk, and what the run left in the cache is listed before the mount goes.
//! Each run is killed after 30 s, so a hang fails the test instead of stalling it.

mod common;
mod image_support;

use common::Scenario;
use image_support::{compress, path_str, Scratch};
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha512};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const GIB: u64 = 1 << 30;

/// A scenario whose XDG_DATA_HOME is a tmpfs of `mib` MiB owned by the fixture user.
fn scenario(test: &str, mib: u32) -> Option<Scenario> {
    let scn = Scenario::new(test)?;
    let data = scn.scratch().join("data");
    let mount = format!(
        "mkdir -p \"$SCRATCH/data\"\nmount -t tmpfs -o size={mib}m,mode=0700,uid={},gid={} \
         userns-test-cache \"$SCRATCH/data\"",
        scn.uid(),
        scn.gid()
    );
    Some(scn.root_setup(&mount).env("XDG_DATA_HOME", path_str(&data)))
}

/// What one `userns run` did.
struct Run {
    out: Output,
    /// What the container printed.
    stdout: String,
    took: Duration,
    /// The names in the image cache after the run.
    left: Vec<String>,
    /// What `after` printed.
    report: String,
}

impl Run {
    #[track_caller]
    fn refused(&self, needles: &[&str]) {
        let err = common::stderr(&self.out);
        assert!(
            !self.out.status.success(),
            "expected a refusal\n{}",
            common::describe(&self.out)
        );
        assert_ne!(self.out.status.code(), Some(137), "killed: it hung\n{err}");
        for n in needles {
            assert!(err.contains(n), "the error should say {n:?}:\n{err}");
        }
        assert!(err.contains("fix:"), "the error should give a fix:\n{err}");
        assert!(!err.contains("panicked"), "{err}");
        // Shown with --nocapture, to read what users would.
        eprintln!("refused as it should be:\n{err}");
        assert!(self.left.is_empty(), "left in the cache: {:?}", self.left);
        assert!(
            self.took < Duration::from_secs(20),
            "refused only after {:?}",
            self.took
        );
    }
}

/// `userns run SOURCE COMMAND` (COMMAND: shell words), then list the cache and run the
/// shell script `after` ($ROOTFS: the unpacked tree, when there is one).
fn run(scn: &Scenario, source: &Path, command: &str, after: &str) -> Run {
    run_with(scn, "", source, command, after)
}

/// `run` with environment variables (`K=V K2=V2`) for userns.
fn run_with(scn: &Scenario, vars: &str, source: &Path, command: &str, after: &str) -> Run {
    let script = format!(
        "{vars} timeout -s KILL 30 \"$USERNS\" run '{}' {command}\nrc=$?\n\
         echo '--- cache'\nls -A \"$XDG_DATA_HOME/userns/images\" 2>/dev/null\n\
         echo '--- after'\nROOTFS=$(echo \"$XDG_DATA_HOME\"/userns/images/*/rootfs)\n{after}\nexit $rc",
        source.display()
    );
    let started = Instant::now();
    let out = scn.sh(&script);
    let took = started.elapsed();
    let text = common::stdout(&out);
    let (stdout, rest) = text.split_once("--- cache\n").unwrap_or((&text, ""));
    let (cache, report) = rest.split_once("--- after\n").unwrap_or((rest, ""));
    Run {
        stdout: stdout.to_string(),
        left: cache.lines().map(str::to_string).collect(),
        report: report.to_string(),
        took,
        out,
    }
}

/// Copy a source where the fixture user can read it.
fn place(scn: &Scenario, src: &Path) -> PathBuf {
    let dst = scn.scratch().join(src.file_name().unwrap());
    let st = Command::new("cp").arg("-a").arg(src).arg(&dst).status();
    assert!(st.unwrap().success(), "cp -a {}", src.display());
    dst
}

/// busybox and the applets the runs use.
fn busybox_layer(s: &Scratch) -> PathBuf {
    let mut entries = vec![
        json!({"path": "bin/", "type": "dir"}),
        json!({"path": "bin/busybox", "file": "/bin/busybox", "mode": 0o755}),
    ];
    for applet in ["sh", "cat", "true", "head"] {
        entries
            .push(json!({"path": format!("bin/{applet}"), "type": "symlink", "target": "busybox"}));
    }
    s.layer("busybox", Value::Array(entries))
}

/// A file of `len` zero bytes (made sparse; mktar reads it whole).
fn zeros(s: &Scratch, name: &str, len: u64) -> PathBuf {
    let p = s.path(name);
    std::fs::File::create(&p).unwrap().set_len(len).unwrap();
    p
}

// ---- finding 7: sparse files and declared sizes ----

/// A 1 GiB file, holes but for "start" at 0, "hello" at 512 MiB and "end" at its end.
fn sparse_source(s: &Scratch) -> PathBuf {
    use std::os::unix::fs::FileExt;
    let p = s.path("big");
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(GIB).unwrap();
    f.write_all_at(b"start", 0).unwrap();
    f.write_all_at(b"hello", GIB / 2).unwrap();
    f.write_all_at(b"end", GIB - 3).unwrap();
    p
}

/// A layer holding `big` as `name`, written by GNU tar with these format options.
fn gnu_tar_layer(s: &Scratch, big: &Path, name: &str, options: &[&str]) -> PathBuf {
    let dir = s.path(&format!("src-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::hard_link(big, dir.join(name)).unwrap();
    let out = s.path(&format!("{name}.tar"));
    let st = Command::new("tar")
        .arg("--sparse")
        .args(options)
        .args(["--owner=0", "--group=0", "--numeric-owner", "-cf"])
        .arg(&out)
        .arg("-C")
        .arg(&dir)
        .arg(name)
        .status()
        .unwrap();
    assert!(st.success(), "tar {options:?}");
    out
}

const SPARSE_REPORT: &str = r#"python3 - "$ROOTFS" <<'EOF'
import os, sys
for name in sorted(os.listdir(sys.argv[1])):
    if not name.startswith("sparse-"):
        continue
    p = os.path.join(sys.argv[1], name)
    st = os.stat(p)
    with open(p, "rb") as f:
        at = []
        for off in (0, 100 << 20, 1 << 29, (1 << 30) - 3, 2 << 20):
            f.seek(off)
            at.append(f.read(5).hex())
    print(name, st.st_size, st.st_blocks * 512, *at)
EOF"#;

#[test]
fn sparse_files_unpack_with_their_holes_in_every_gnu_format() {
    let Some(scn) = scenario("escape_sparse", 64) else {
        return;
    };
    let s = Scratch::new("escape_sparse");
    let big = sparse_source(&s);
    let mut layers = vec![busybox_layer(&s)];
    // GNU tar's default format (gnu: old 'S' headers), and each PAX sparse version.
    layers.push(gnu_tar_layer(&s, &big, "sparse-gnu", &[]));
    for v in ["0.0", "0.1", "1.0"] {
        let name = format!("sparse-pax{v}");
        let version = format!("--sparse-version={v}");
        layers.push(gnu_tar_layer(
            &s,
            &big,
            &name,
            &["--format=posix", &version],
        ));
    }
    // An old GNU header with six segments: two extension blocks' worth of map.
    let chunks: String = "abcdef"
        .chars()
        .map(|c| c.to_string().repeat(512))
        .collect();
    let map: Vec<[u64; 2]> = [0, 1 << 20, 2 << 20, 3 << 20, 4 << 20, GIB / 2]
        .iter()
        .map(|o| [*o, 512])
        .chain([[GIB, 0]])
        .collect();
    layers.push(s.layer(
        "ext",
        json!([{"path": "sparse-ext", "data": chunks, "sparse": {"realsize": GIB, "map": map}}]),
    ));
    let refs: Vec<&Path> = layers.iter().map(PathBuf::as_path).collect();
    let image = place(&scn, &s.docker_archive("sparse", json!({}), &refs));

    let r = run(&scn, &image, "head -c 5 /sparse-pax1.0", SPARSE_REPORT);
    common::assert_ok(&r.out);
    assert_eq!(r.stdout, "start", "{}", common::describe(&r.out));
    let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut seen = Vec::new();
    for line in r.report.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let (name, size, disk) = (
            f[0],
            f[1].parse::<u64>().unwrap(),
            f[2].parse::<u64>().unwrap(),
        );
        seen.push(name.to_string());
        assert_eq!(size, GIB, "{line}");
        assert!(
            disk <= 1 << 20,
            "{name} takes {disk} bytes on disk: holes were written"
        );
        if name == "sparse-ext" {
            assert_eq!(f[3], hex(b"aaaaa"), "{line}");
            assert_eq!(f[5], hex(b"fffff"), "{line}");
            assert_eq!(f[7], hex(b"ccccc"), "{line}");
        } else {
            assert_eq!(f[3], hex(b"start"), "{line}");
            assert_eq!(f[5], hex(b"hello"), "{line}");
            assert_eq!(f[6], hex(b"end"), "{line}");
        }
        assert_eq!(f[4], hex(&[0; 5]), "a hole reads as zeros: {line}");
    }
    assert_eq!(
        seen,
        [
            "sparse-ext",
            "sparse-gnu",
            "sparse-pax0.0",
            "sparse-pax0.1",
            "sparse-pax1.0"
        ],
        "{}\n{}",
        r.report,
        common::describe(&r.out)
    );
}

#[test]
fn sizes_that_cannot_fit_are_refused_before_anything_is_written() {
    let Some(scn) = scenario("escape_sizes", 32) else {
        return;
    };
    let s = Scratch::new("escape_sizes");
    // 64 MiB of zeros after each header: what an unchecked size writes first (gzip makes
    // the layer small).
    let filler = zeros(&s, "filler", 64 << 20);
    let filler = path_str(&filler);
    let max = u64::MAX;
    let big = 1u64 << 62;
    let bombs = [
        // GNU base-256 size fields, as in the issue: 2^64-1, and 2^62 (which does not
        // overflow when rounded up to a block).
        (
            "base256",
            max,
            json!([{"path": "huge", "format": "gnu", "size": max, "file": filler}]),
        ),
        (
            "base256-62",
            big,
            json!([{"path": "huge", "format": "gnu", "size": big, "file": filler}]),
        ),
        // The same as a PAX record.
        (
            "pax",
            max,
            json!([{"path": "huge", "size": max, "file": filler}]),
        ),
        // A sparse file declaring 2^64-1 bytes, nearly all holes.
        (
            "sparse",
            max,
            json!([{"path": "huge", "data": "x".repeat(512),
                                "sparse": {"realsize": max, "map": [[0, 512], [max, 0]]}}]),
        ),
        // Entries whose data is never written, but would be read to skip it.
        (
            "dir",
            max,
            json!([{"path": "huge", "type": "dir", "size": max, "file": filler}]),
        ),
        (
            "whiteout",
            max,
            json!([{"path": "huge/.wh.x", "size": max, "file": filler}]),
        ),
    ];
    for (name, size, spec) in bombs {
        let layer = compress("gzip", &s.layer(name, spec));
        let image = place(&scn, &s.docker_archive(name, json!({}), &[&layer]));
        let r = run(&scn, &image, "true", "");
        r.refused(&[
            "\"huge",
            "layer 1 of 1",
            &size.to_string(),
            "USERNS_UNPACK_MAX_FILE",
        ]);
    }

    // Over the free space of the cache's file system (32 MiB): refused, not ENOSPC.
    let layer = compress(
        "gzip",
        &s.layer("roomy", json!([{"path": "roomy", "file": filler}])),
    );
    let image = place(&scn, &s.docker_archive("roomy", json!({}), &[&layer]));
    let r = run(&scn, &image, "true", "");
    r.refused(&["\"roomy\"", "67108864", "free", "XDG_DATA_HOME"]);

    // Over a limit given by the environment: per file, then per image.
    let four = zeros(&s, "four", 4 << 20);
    let layer = s.layer(
        "four",
        json!([{"path": "one", "file": path_str(&four)}, {"path": "other", "file": path_str(&four)}]),
    );
    let busybox = busybox_layer(&s);
    let image = place(
        &scn,
        &s.docker_archive("limits", json!({}), &[&busybox, &layer]),
    );
    let with = |vars: &str| run_with(&scn, vars, &image, "true", "");
    with("USERNS_UNPACK_MAX_FILE=3M").refused(&[
        "\"one\"",
        "layer 2 of 2",
        "4194304",
        "USERNS_UNPACK_MAX_FILE",
    ]);
    with("USERNS_UNPACK_MAX_FILE=5M USERNS_UNPACK_MAX_IMAGE=8M").refused(&[
        "\"other\"",
        "layer 2 of 2",
        "USERNS_UNPACK_MAX_IMAGE",
    ]);
    with("USERNS_UNPACK_MAX_FILE=lots").refused(&["USERNS_UNPACK_MAX_FILE", "lots"]);
    let ok = with("USERNS_UNPACK_MAX_FILE=5M USERNS_UNPACK_MAX_IMAGE=12M");
    common::assert_ok(&ok.out);
    assert_eq!(ok.left.len(), 1, "{:?}", ok.left);
}

// ---- finding 8: whiteouts ----

#[test]
fn whiteouts_of_dot_dotdot_or_nothing_are_refused() {
    let Some(scn) = scenario("escape_whiteouts", 32) else {
        return;
    };
    let s = Scratch::new("escape_whiteouts");
    let lower = s.layer(
        "lower",
        json!([{"path": "a/", "type": "dir"}, {"path": "a/kept", "data": "kept"},
               {"path": "top", "data": "top"}]),
    );
    for (i, entry) in [".wh..", ".wh...", ".wh.", "a/.wh...", "a/.wh.."]
        .iter()
        .enumerate()
    {
        let upper = s.layer(&format!("wh{i}"), json!([{"path": entry, "type": "file"}]));
        let image = place(
            &scn,
            &s.docker_archive(&format!("wh{i}"), json!({}), &[&lower, &upper]),
        );
        let r = run(&scn, &image, "true", "");
        r.refused(&["whiteout", &format!("{entry:?}"), "layer 2 of 2"]);
    }
}

// ---- finding 11: blobs that are not regular files ----

/// An OCI layout as the fixture user reads it, and ways to alter it.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn read(&self, rel: &str) -> Value {
        serde_json::from_slice(&std::fs::read(self.dir.join(rel)).unwrap()).unwrap()
    }

    fn blob(&self, digest: &str) -> PathBuf {
        let (alg, hex) = digest.split_once(':').unwrap();
        self.dir.join("blobs").join(alg).join(hex)
    }

    fn manifest_digest(&self) -> String {
        let index = self.read("index.json");
        index["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn manifest(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.blob(&self.manifest_digest())).unwrap()).unwrap()
    }

    fn layer_digest(&self, i: usize) -> String {
        self.manifest()["layers"][i]["digest"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Store bytes as a blob named by `digest` (sha256 of them unless given).
    fn put(&self, bytes: &[u8], digest: Option<String>) -> String {
        let digest = digest.unwrap_or_else(|| format!("sha256:{}", hex(&Sha256::digest(bytes))));
        let path = self.blob(&digest);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
        digest
    }

    /// Make `manifest` the image's, named in index.json by `digest` (default: its sha256).
    fn set_manifest(&self, manifest: &Value, digest: Option<String>) {
        let bytes = manifest.to_string().into_bytes();
        let digest = self.put(&bytes, digest);
        let mut index = self.read("index.json");
        index["manifests"][0]["digest"] = json!(digest);
        index["manifests"][0]["size"] = json!(bytes.len());
        std::fs::write(self.dir.join("index.json"), index.to_string()).unwrap();
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha512_of(bytes: &[u8]) -> String {
    format!("sha512:{}", hex(&Sha512::digest(bytes)))
}

fn layout(scn: &Scenario, s: &Scratch, name: &str) -> Layout {
    let busybox = busybox_layer(s);
    let layer = s.layer(
        &format!("{name}-l"),
        json!([{"path": "f", "data": "content\n"}]),
    );
    let dir = place(scn, &s.oci_layout(name, json!({}), &[&busybox, &layer]));
    Layout { dir }
}

#[test]
fn blobs_that_are_links_fifos_or_directories_are_refused_promptly() {
    let Some(scn) = scenario("escape_blobs", 32) else {
        return;
    };
    let s = Scratch::new("escape_blobs");
    // Each case alters one blob (its content moved beside it, to NAME.orig).
    type Alter = fn(&Path);
    let cases: [(&str, Alter, &str); 6] = [
        ("zero", |p| symlink("/dev/zero", p).unwrap(), "symlink"),
        ("fifo", mkfifo, "not a regular file"),
        (
            "dir",
            |p| std::fs::create_dir(p).unwrap(),
            "not a regular file",
        ),
        // A link to a genuine copy of the blob, outside the layout, is not followed either.
        (
            "copy",
            |p| {
                let copy = p.ancestors().nth(4).unwrap().join("blob-copy");
                std::fs::copy(p.with_extension("orig"), &copy).unwrap();
                symlink(&copy, p).unwrap();
            },
            "symlink",
        ),
        // More bytes than the manifest's size: read no further than it says.
        (
            "longer",
            |p| {
                let mut bytes = std::fs::read(p.with_extension("orig")).unwrap();
                bytes.extend(std::iter::repeat_n(0u8, 1 << 20));
                std::fs::write(p, bytes).unwrap();
            },
            "size",
        ),
        // The manifest itself, a FIFO.
        ("manifest", mkfifo, "not a regular file"),
    ];
    for (name, alter, says) in cases {
        let l = layout(&scn, &s, name);
        let target = match name {
            "manifest" => l.blob(&l.manifest_digest()),
            _ => l.blob(&l.layer_digest(1)),
        };
        std::fs::rename(&target, target.with_extension("orig")).unwrap();
        alter(&target);
        let r = run(&scn, &l.dir, "true", "");
        let shown = target.strip_prefix(&l.dir).unwrap().display().to_string();
        r.refused(&[&shown, says]);
    }
}

fn mkfifo(p: &Path) {
    nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
}

// ---- finding 12: digests ----

#[test]
fn sha512_digests_are_verified_for_layers_manifests_and_diff_ids() {
    let Some(scn) = scenario("escape_sha512", 32) else {
        return;
    };
    let s = Scratch::new("escape_sha512");
    // Layer blob named by its sha512, manifest named by its sha512: accepted.
    let l = layout(&scn, &s, "right");
    let mut manifest = l.manifest();
    let old = l.layer_digest(1);
    let bytes = std::fs::read(l.blob(&old)).unwrap();
    let digest = l.put(&bytes, Some(sha512_of(&bytes)));
    manifest["layers"][1]["digest"] = json!(digest);
    l.set_manifest(&manifest, Some(sha512_of(manifest.to_string().as_bytes())));
    let r = run(&scn, &l.dir, "cat /f", "");
    common::assert_ok(&r.out);
    assert_eq!(r.stdout, "content\n");

    // The same with a wrong sha512 for the layer, then for the manifest: refused.
    let l = layout(&scn, &s, "wrong-layer");
    let mut manifest = l.manifest();
    let bytes = std::fs::read(l.blob(&l.layer_digest(1))).unwrap();
    let wrong = sha512_of(b"something else");
    manifest["layers"][1]["digest"] = json!(l.put(&bytes, Some(wrong.clone())));
    l.set_manifest(&manifest, None);
    run(&scn, &l.dir, "true", "").refused(&["layer 2 of 2", "digest does not match", &wrong]);

    let l = layout(&scn, &s, "wrong-manifest");
    let manifest = l.manifest();
    l.set_manifest(&manifest, Some(sha512_of(b"another manifest")));
    run(&scn, &l.dir, "true", "").refused(&["does not match its digest", "sha512:"]);
}

#[test]
fn layers_without_or_against_their_diff_ids_are_refused() {
    let Some(scn) = scenario("escape_diff_ids", 32) else {
        return;
    };
    let s = Scratch::new("escape_diff_ids");
    let busybox = busybox_layer(&s);
    let layer = s.layer("l", json!([{"path": "f", "data": "content\n"}]));
    let ids = |l: &Path| {
        let bytes = std::fs::read(l).unwrap();
        (
            format!("sha256:{}", hex(&Sha256::digest(&bytes))),
            sha512_of(&bytes),
        )
    };
    let (bb256, _) = ids(&busybox);
    let (l256, l512) = ids(&layer);
    let config = |diff_ids: Value| json!({"rootfs": {"type": "layers", "diff_ids": diff_ids}});
    let docker = |name: &str, config: Value| {
        place(&scn, &s.docker_archive(name, config, &[&busybox, &layer]))
    };

    // sha512 diff_ids are checked too: the right one runs.
    let image = docker("right512", config(json!([bb256, l512])));
    let r = run(&scn, &image, "cat /f", "");
    common::assert_ok(&r.out);
    assert_eq!(r.stdout, "content\n");

    let wrong256 = format!("sha256:{}", hex(&Sha256::digest(b"x")));
    let cases = [
        ("none", json!({"rootfs": {"type": "layers"}}), "diff_id"),
        ("empty", config(json!([])), "diff_id"),
        ("short", config(json!([bb256])), "diff_id"),
        ("wrong", config(json!([bb256, wrong256])), "layer 2 of 2"),
        (
            "wrong512",
            config(json!([bb256, sha512_of(b"x")])),
            "layer 2 of 2",
        ),
        (
            "md5",
            config(json!([bb256, format!("md5:{}", &l256[7..39])])),
            "md5",
        ),
    ];
    for (name, config, says) in cases {
        let image = docker(name, config);
        run(&scn, &image, "true", "").refused(&[says, "diff_id"]);
    }
}
