//! What the `userns run` tests share: a busybox-static root filesystem built at test time,
//! and running a shell script in it.

#![allow(dead_code)] // each test binary uses a different part

use super::common::Scenario;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

const APPLETS: &[&str] = &[
    "sh", "cat", "id", "hostname", "ls", "mount", "touch", "sleep", "ps", "echo", "grep", "stat",
    "tty", "kill", "true", "env", "pwd", "mkdir", "readlink", "rm", "wc", "head",
];

/// A rootfs of busybox-static, owned by the fixture user (so uid 0 inside owns it, as an
/// image unpacked by podman is owned by the container's root).
pub fn rootfs(s: &Scenario) -> PathBuf {
    let root = s.scratch().join("rootfs");
    for dir in [
        "bin", "etc", "proc", "dev", "sys", "tmp", "root", "home/app",
    ] {
        std::fs::create_dir_all(root.join(dir)).expect("create rootfs dir");
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox"))
        .expect("copy /bin/busybox (apt-get install busybox-static)");
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("applet link");
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\napp:x:1000:\ntty:x:5:\n").unwrap();
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let status = std::process::Command::new("chown")
        .args(["-R", &format!("{}:{}", s.uid(), s.gid())])
        .arg(&root)
        .status()
        .expect("chown");
    assert!(status.success());
    root
}

/// A scenario with a root filesystem in its scratch dir, and that root's path.
pub fn setup(name: &str) -> Option<(Scenario, String)> {
    let s = Scenario::new(name)?;
    let root = rootfs(&s).display().to_string();
    Some((s, root))
}

/// Run `userns run ARGS... ROOTFS sh -c SCRIPT`.
pub fn run_sh(s: &Scenario, root: &str, args: &[&str], script: &str) -> std::process::Output {
    let mut argv = vec!["run"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&[root, "sh", "-c", script]);
    s.run(&argv)
}

/// A root set-up for `Scenario::root_setup`: a /dev/net/tun node of mode MODE bound over
/// the host's in the scenario's private mount namespace (the host's is untouched). This
/// machine's is 0600; pasta and slirp4netns need it 0666, as most distributions ship it.
pub fn tun_with_mode(mode: &str) -> String {
    format!(
        "mknod -m {mode} \"$SCRATCH/tun\" c 10 200 && mount --bind \"$SCRATCH/tun\" /dev/net/tun"
    )
}

/// Whether pasta is here; in CI it must be (scripts/test installs passt).
pub fn pasta_installed() -> bool {
    let here = std::process::Command::new("sh")
        .args(["-c", "command -v pasta"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !here {
        assert!(
            std::env::var("CI").is_err(),
            "pasta is missing in CI: scripts/test installs passt"
        );
        eprintln!("skipped: pasta is not installed (apt-get install passt)");
    }
    here
}
