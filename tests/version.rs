//! `userns --version` names the version and the commit the binary was built from
//! (build.rs: $USERNS_COMMIT, else git, else "unknown").

use std::process::Command;

fn version(arg: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_userns"))
        .arg(arg)
        .output()
        .expect("run userns");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn version_names_the_version_and_the_commit() {
    // The build script's variable reaches every target of the package, this test too.
    let expected = format!(
        "userns {} (commit {})\n",
        env!("CARGO_PKG_VERSION"),
        env!("USERNS_COMMIT")
    );
    assert_eq!(version("--version"), expected);
    assert_eq!(version("-V"), expected);
}

#[test]
fn the_commit_is_this_checkouts_head() {
    let built = env!("USERNS_COMMIT");
    if let Ok(given) = std::env::var("USERNS_COMMIT") {
        if !given.trim().is_empty() {
            assert_eq!(built, given, "USERNS_COMMIT is set: it must win");
            return;
        }
    }
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let top = git(&["rev-parse", "--show-toplevel"]).and_then(|t| std::fs::canonicalize(t).ok());
    let this = std::fs::canonicalize(env!("CARGO_MANIFEST_DIR")).unwrap();
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(head) if top.as_ref() == Some(&this) => {
            assert_eq!(built, head, "built from {built}, but HEAD is {head}")
        }
        // A tarball (perhaps unpacked inside another repository): nothing to name.
        _ => assert_eq!(built, "unknown"),
    }
}
