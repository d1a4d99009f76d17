//! The Debian package, end to end, on the real system: build it with the documented
//! command (`scripts/package`), install it with `dpkg -i`, use what it installed (the man
//! pages through man-db, the bash completion through bash-completion's loader, the binary
//! as the fixture user of tests/common), lint it with lintian, remove it with `dpkg -r`,
//! and check that every path it touched is as it was before.
//!
//! It installs into the host's /usr, so it needs root (and, like the hermetic scenario,
//! is skipped without it, and fails in CI), holds a lock against another run of itself
//! (another checkout's suite on this machine), refuses to run over an installed userns,
//! and removes the package when it fails halfway (`Installed`'s Drop).
//!
//! It builds with `--profile package-test` (Cargo.toml): the same code, unoptimised, so
//! the test costs about a minute of compiling instead of a release build's several.

mod common;

use common::{assert_ok, Scenario};
use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn package_installs_works_passes_lintian_and_removes_cleanly() {
    // Scenario::new decides root-or-skip as every hermetic test does; its fixture user
    // runs the installed binary below.
    let Some(scenario) = Scenario::new("package_e2e") else {
        return;
    };
    let _lock = lock("/run/lock/userns-package-e2e.lock");
    assert!(
        !installed(),
        "a userns package is installed on this machine; this test installs and removes \
         its own: remove it first (dpkg -r userns)"
    );
    assert!(
        !Path::new("/usr/bin/userns").exists(),
        "/usr/bin/userns exists and belongs to no package; this test would replace it"
    );

    let deb = build_package();
    let contents = package_paths(&deb);
    let before = snapshot(&contents);

    let guard = Installed;
    assert_ok(&dpkg(&["-i", &deb.display().to_string()]));
    check_files(&contents);
    check_man_pages();
    check_bash_completion();
    let out = scenario
        .binary(Path::new("/usr/bin/userns"))
        .run(&["unshare", "id"]);
    let id = assert_ok(&out);
    assert!(id.starts_with("uid=0(root) gid=0(root)"), "{id}");
    check_lintian(&deb);

    drop(guard);
    assert!(!installed(), "dpkg -r left userns installed");
    let after = snapshot(&contents);
    for (path, was) in &before {
        assert_eq!(
            &after[path],
            was,
            "{} is not as it was before the package was installed",
            path.display()
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir("/var/lib/dpkg/info")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("userns."))
        .collect();
    assert!(leftovers.is_empty(), "dpkg kept {leftovers:?}");
}

/// The package is installed while this lives; dropping it (also when the test panics)
/// removes it.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        if installed() {
            let out = dpkg(&["-r", "userns"]);
            if !out.status.success() {
                eprintln!("dpkg -r userns failed:\n{}", common::describe(&out));
            }
        }
    }
}

fn installed() -> bool {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Status}", "userns"])
        .output()
        .expect("run dpkg-query");
    // Unknown to dpkg (exit 1) or known but "not-installed" after a removal.
    out.status.success() && String::from_utf8_lossy(&out.stdout) != "not-installed"
}

/// An exclusive flock on `path`, held while the returned file is open.
fn lock(path: &str) -> std::fs::File {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
    // SAFETY: flock on a descriptor this function owns; blocks until the lock is ours.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock {path}: {}", std::io::Error::last_os_error());
    file
}

/// dpkg with `args`, waiting for apt or dpkg run by someone else on this machine (dpkg
/// itself does not wait for its lock; apt's DPkg::Lock::Timeout is apt's).
fn dpkg(args: &[&str]) -> Output {
    let started = Instant::now();
    loop {
        let out = Command::new("dpkg")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .expect("run dpkg");
        let locked = String::from_utf8_lossy(&out.stderr).contains("lock");
        if out.status.success() || !locked || started.elapsed().as_secs() > 300 {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}

fn sh(script: &str) -> Output {
    Command::new("sh")
        .args(["-c", script])
        .current_dir(REPO)
        .output()
        .unwrap_or_else(|e| panic!("cannot run sh -c {script:?}: {e}"))
}

/// `scripts/package --profile package-test`; the path of the .deb it made.
fn build_package() -> PathBuf {
    let started = Instant::now();
    let out = sh("scripts/package --profile package-test");
    assert!(
        out.status.success(),
        "scripts/package failed:\n{}",
        common::describe(&out)
    );
    eprintln!("scripts/package took {:.0?}", started.elapsed());
    let arch = String::from_utf8(sh("dpkg --print-architecture").stdout).unwrap();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(REPO).join("target"));
    let deb = target.join("debian/package-test").join(format!(
        "userns_{}-1_{}.deb",
        env!("CARGO_PKG_VERSION"),
        arch.trim()
    ));
    assert!(deb.is_file(), "scripts/package made no {}", deb.display());
    deb
}

/// Every path in the package, files and directories, as absolute paths.
fn package_paths(deb: &Path) -> Vec<PathBuf> {
    let out = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .output()
        .expect("run dpkg-deb");
    assert!(out.status.success(), "dpkg-deb --fsys-tarfile failed");
    let mut archive = tar::Archive::new(out.stdout.as_slice());
    let mut paths: Vec<PathBuf> = archive
        .entries()
        .expect("read the package's tar")
        .map(|e| {
            let e = e.expect("a tar entry");
            let p = e.path().expect("an entry path").into_owned();
            Path::new("/").join(p.strip_prefix(".").unwrap_or(&p))
        })
        .filter(|p| p != Path::new("/"))
        .collect();
    paths.sort();
    paths
}

/// What is at each path of the package and in each of its directories: the state to
/// return to. Directories are listed, so a stray file left next to ours shows too.
fn snapshot(paths: &[PathBuf]) -> BTreeMap<PathBuf, Option<Vec<String>>> {
    paths
        .iter()
        .map(|p| {
            let state = match std::fs::symlink_metadata(p) {
                Err(_) => None,
                Ok(m) if m.is_dir() => {
                    let mut names: Vec<String> = std::fs::read_dir(p)
                        .unwrap()
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect();
                    names.sort();
                    Some(names)
                }
                Ok(_) => Some(Vec::new()),
            };
            (p.clone(), state)
        })
        .collect()
}

/// The files the package must hold, installed.
fn check_files(contents: &[PathBuf]) {
    let man_pages: Vec<String> = std::fs::read_dir(Path::new(REPO).join("man"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".1"))
        .collect();
    assert!(!man_pages.is_empty());
    let mut expected: Vec<String> = [
        "/usr/bin/userns",
        "/usr/share/bash-completion/completions/userns",
        "/usr/share/zsh/vendor-completions/_userns",
        "/usr/share/fish/vendor_completions.d/userns.fish",
        "/usr/share/doc/userns/README.md",
        "/usr/share/doc/userns/copyright",
        "/usr/share/doc/userns/changelog.Debian.gz",
    ]
    .map(String::from)
    .to_vec();
    expected.extend(
        man_pages
            .iter()
            .map(|p| format!("/usr/share/man/man1/{p}.gz")),
    );
    for path in &expected {
        assert!(
            contents.contains(&PathBuf::from(path)),
            "the package lacks {path}"
        );
        assert!(Path::new(path).is_file(), "{path} was not installed");
    }
    let version = assert_ok(&sh("/usr/bin/userns --version"));
    assert!(
        version.starts_with(&format!("userns {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let copyright = std::fs::read_to_string("/usr/share/doc/userns/copyright").unwrap();
    assert!(
        copyright.starts_with(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
        ),
        "{copyright}"
    );
}

/// man-db finds every page (and so `man userns-unshare` works).
fn check_man_pages() {
    let out = sh("man -w userns-unshare");
    assert_eq!(
        assert_ok(&out).trim(),
        "/usr/share/man/man1/userns-unshare.1.gz"
    );
    assert_ok(&sh(
        "set -e; for p in man/*.1; do p=${p#man/}; man -w \"${p%.1}\" >/dev/null; done",
    ));
}

/// bash completes `userns un<TAB>` to `unshare` through the installed file, loaded on
/// demand by bash-completion as an interactive shell would (not sourced by hand).
fn check_bash_completion() {
    let script = r#"
        source /usr/share/bash-completion/bash_completion
        _completion_loader userns
        spec=$(complete -p userns) || exit 3
        case $spec in *_minimal*) echo "no completion found: $spec" >&2; exit 4 ;; esac
        func=$(printf '%s\n' "$spec" | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
        COMP_WORDS=(userns un)
        COMP_CWORD=1
        COMP_LINE="userns un"
        COMP_POINT=${#COMP_LINE}
        "$func" userns un userns
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", script])
        // Only the system directories: not a completion in root's own ~/.local/share.
        .env("BASH_COMPLETION_USER_DIR", "/nonexistent")
        .env("XDG_DATA_DIRS", "/usr/share")
        .output()
        .expect("run bash");
    let offered = assert_ok(&out);
    assert_eq!(offered.trim(), "unshare", "bash offered {offered:?}");
}

/// lintian: no errors. Its warnings are explained in the README; print them.
fn check_lintian(deb: &Path) {
    let out = Command::new("lintian")
        .arg(deb)
        .output()
        .expect("run lintian (package lintian)");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("lintian:\n{report}");
    let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(errors.is_empty(), "lintian errors:\n{}", errors.join("\n"));
    // lintian exits 2 when it could not run at all; errors alone give 1 (none here).
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "lintian failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
