//! Shared by the image tests: a scratch directory, layer tars and archives built by
//! fixtures/images/mktar.py, and the root check (chown to arbitrary ids needs root, or the
//! mapped namespace, which the e2e tests enter through `userns unshare`).

#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::process::Command;

pub const MKTAR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/images/mktar.py");

/// True when root. Otherwise prints a skip line, or panics in CI (CI runs as root, and a
/// skipped unpacker test there would hide a regression).
pub fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{test}: needs root (chown to image owners), and CI is set");
    }
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("{test}: skipped: needs root to give files arbitrary owners\n").as_bytes(),
    );
    false
}

/// A scratch directory under /var/tmp (see TESTING.md: far faster than /tmp here),
/// removed on drop unless USERNS_KEEP_SCRATCH is set.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(test: &str) -> Scratch {
        let dir = PathBuf::from(format!(
            "/var/tmp/userns-image.{test}.{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch");
        Scratch { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A layer tar from a JSON list of entries (see mktar.py for the keys).
    pub fn layer(&self, name: &str, spec: serde_json::Value) -> PathBuf {
        let spec_path = self.path(&format!("{name}.spec.json"));
        std::fs::write(&spec_path, spec.to_string()).expect("write spec");
        let out = self.path(&format!("{name}.tar"));
        mktar(&["layer", path_str(&out), path_str(&spec_path)]);
        out
    }

    /// A docker-archive of these layers (lowest first) with this image config.
    pub fn docker_archive(
        &self,
        name: &str,
        config: serde_json::Value,
        layers: &[&Path],
    ) -> PathBuf {
        let config_path = self.path(&format!("{name}.config.json"));
        std::fs::write(&config_path, config.to_string()).expect("write config");
        let out = self.path(&format!("{name}.tar"));
        let mut args = vec!["docker-archive", path_str(&out), path_str(&config_path)];
        args.extend(layers.iter().map(|l| path_str(l)));
        mktar(&args);
        out
    }

    /// An OCI layout directory of these layers (plain, .gz or .zst).
    pub fn oci_layout(&self, name: &str, config: serde_json::Value, layers: &[&Path]) -> PathBuf {
        let config_path = self.path(&format!("{name}.config.json"));
        std::fs::write(&config_path, config.to_string()).expect("write config");
        let out = self.path(name);
        let mut args = vec!["oci-layout", path_str(&out), path_str(&config_path)];
        args.extend(layers.iter().map(|l| path_str(l)));
        mktar(&args);
        out
    }

    /// An empty image cache in the scratch dir.
    pub fn cache(&self, name: &str) -> userns::image::ImageCache {
        userns::image::ImageCache {
            root: self.path(name),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("USERNS_KEEP_SCRATCH").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("scratch paths are UTF-8")
}

fn mktar(args: &[&str]) {
    let out = Command::new("/usr/bin/python3")
        .arg(MKTAR)
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "mktar.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Compress a file with a CLI tool (gzip or zstd), keeping the original; returns the new path.
pub fn compress(tool: &str, file: &Path) -> PathBuf {
    let ext = if tool == "gzip" { "gz" } else { "zst" };
    let out = PathBuf::from(format!("{}.{ext}", file.display()));
    let status = Command::new(tool)
        .args(["-k", "-f", "-q"])
        .arg(file)
        .status()
        .unwrap_or_else(|e| panic!("run {tool}: {e}"));
    assert!(status.success(), "{tool} failed");
    out
}

/// lstat owner, mode (permission bits incl. setuid) and mtime of a path.
pub fn owner_mode(path: &Path) -> (u32, u32, u32, i64) {
    use std::os::unix::fs::MetadataExt;
    let m =
        std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()));
    (m.uid(), m.gid(), m.mode() & 0o7777, m.mtime())
}

/// podman as root, in a private vfs store under `store`; its stdout, trimmed. The
/// runroot is one per test binary (podman records it in its database, so a store must
/// keep the one it was made with), under /tmp because podman refuses a runroot longer
/// than 50 characters.
pub fn podman(store: &Path, args: &[&str]) -> String {
    let out = Command::new("podman")
        .arg("--root")
        .arg(store.join("root"))
        .arg("--runroot")
        .arg(format!("/tmp/userns-img-rr.{}", std::process::id()))
        .args(["--storage-driver", "vfs"])
        .args(args)
        .output()
        .expect("run podman");
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// An id in the image as the host sees it: 0 is the user, N the N-th subordinate id
/// (the harness's default range 200000:65536).
pub fn outside(id: u32, user: u32) -> u32 {
    if id == 0 {
        user
    } else {
        200_000 + id - 1
    }
}
