//! Names the commit a binary is built from, for `userns --version`: $USERNS_COMMIT when
//! set (a build from a tarball, where the packager knows the commit), else `git rev-parse
//! --short HEAD` of this checkout, else "unknown". It reaches the binary as the
//! compile-time variable USERNS_COMMIT, so the version is one constant string and costs
//! nothing at start-up.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=USERNS_COMMIT");
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let from_env = std::env::var("USERNS_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty());
    let commit = from_env
        .or_else(|| git_commit(&manifest_dir))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=USERNS_COMMIT={commit}");
}

/// The short commit of HEAD, when the crate is the top of a git checkout (not a tarball
/// unpacked inside some other repository, whose commit would be a lie), and the files to
/// watch so that a new commit or a checkout reruns this script.
fn git_commit(dir: &Path) -> Option<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    // HEAD names the branch; the branch's ref (a loose file, or a line of packed-refs)
    // names the commit. A worktree keeps HEAD in its own git dir and refs in the common
    // one: --git-path knows which is where.
    let mut watch = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watch.push(branch);
    }
    for name in watch {
        if let Some(path) = git(dir, &["rev-parse", "--git-path", &name]) {
            let path = dir.join(path);
            // A path that does not exist would make cargo rerun this script every build.
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    git(dir, &["rev-parse", "--short", "HEAD"])
}

/// One line of git's output, or None when git is missing or fails.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let line = text.trim();
    (out.status.success() && !line.is_empty()).then(|| line.to_string())
}
