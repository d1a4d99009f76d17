//! `userns run` options spelt as podman spells them: `--entrypoint` (with podman's rule for
//! the image's Entrypoint and Cmd) and `--network` (podman's name for `--net`). The real
//! binary, as the fixture user ivy of the hermetic scenario (tests/common), on a
//! busybox-static root filesystem and an image made from it by the real podman.

mod common;
mod run_support;

use common::{assert_code, assert_ok, stderr, Scenario};
use run_support::{run_sh, setup};

/// An image of the busybox root with ENTRYPOINT ["/bin/echo", "ep"] and
/// CMD ["/bin/echo", "cmd"], saved by podman as a docker-archive; its path.
fn echo_image(s: &Scenario, root: &str) -> String {
    let tar = s.scratch().join("rootfs.tar");
    let image = s.scratch().join("echo-image.tar");
    let out = s.sh(&format!(
        "tar -C {root} -cf {tar} . && \
         podman import --change 'ENTRYPOINT [\"/bin/echo\", \"ep\"]' \
           --change 'CMD [\"/bin/echo\", \"cmd\"]' {tar} localhost/userns-ep-test >/dev/null && \
         podman save -q -o {image} localhost/userns-ep-test",
        tar = tar.display(),
        image = image.display()
    ));
    assert_ok(&out);
    image.display().to_string()
}

/// What `userns run [--entrypoint EP] IMAGE [COMMAND...]` prints.
fn run_with(s: &Scenario, image: &str, entrypoint: Option<&str>, command: &[&str]) -> String {
    let mut args = vec!["run"];
    if let Some(ep) = entrypoint {
        args.extend(["--entrypoint", ep]);
    }
    args.push(image);
    args.extend_from_slice(command);
    assert_ok(&s.run(&args))
}

/// Each expected line is what podman 4.3's `podman create` made of the same options for
/// the same image (its container's command, as `podman inspect` shows it): podman reads
/// `--entrypoint` as a JSON array or else one word (pkg/specgenutil), and uses the image's
/// Cmd only when no `--entrypoint` gave words (pkg/specgen/generate/oci.go, makeCommand).
#[test]
fn entrypoint_replaces_the_images_as_podmans_does() {
    let Some((s, root)) = setup("run_entrypoint") else {
        return;
    };
    let image = echo_image(&s, &root);
    let cases: &[(Option<&str>, &[&str], &str)] = &[
        // No --entrypoint: the image's Entrypoint, then COMMAND or else its Cmd.
        (None, &[], "ep /bin/echo cmd\n"),
        (None, &["x"], "ep x\n"),
        // JSON null is as if --entrypoint were not given.
        (Some("null"), &[], "ep /bin/echo cmd\n"),
        // One word replaces the Entrypoint, and the image's Cmd is no longer used.
        (Some("/bin/echo"), &[], "\n"),
        (Some("/bin/echo"), &["x", "y"], "x y\n"),
        // A JSON array is the words.
        (Some(r#"["/bin/echo", "a b"]"#), &["c"], "a b c\n"),
        // "" clears the Entrypoint: COMMAND alone.
        (Some(""), &["/bin/echo", "only"], "only\n"),
        // '[]' clears it too, and (no words given) the image's Cmd is used.
        (Some("[]"), &[], "cmd\n"),
    ];
    for (entrypoint, command, expected) in cases {
        assert_eq!(
            run_with(&s, &image, *entrypoint, command),
            *expected,
            "--entrypoint {entrypoint:?} {command:?}"
        );
    }
    // "" and no COMMAND leave nothing to run: podman refuses it ("no command or entrypoint
    // provided"), and so does userns, as a usage error.
    let out = s.run(&["run", "--entrypoint", "", &image]);
    assert_code(&out, 125);
    assert!(stderr(&out).contains("nothing to run"), "{}", stderr(&out));
}

/// A root filesystem directory has no image config: --entrypoint comes before COMMAND.
#[test]
fn entrypoint_prefixes_the_command_for_a_root_filesystem() {
    let Some((s, root)) = setup("run_entrypoint_dir") else {
        return;
    };
    let out = s.run(&["run", "--entrypoint", "/bin/echo", &root, "pre", "x"]);
    assert_eq!(assert_ok(&out), "pre x\n");
    let out = s.run(&[
        "run",
        "--entrypoint",
        r#"["/bin/sh", "-c", "echo $0-$1"]"#,
        &root,
        "zero",
        "one",
    ]);
    assert_eq!(assert_ok(&out), "zero-one\n");
    // CMD is bytes, as any command: one not UTF-8 is looked for as it is (and not found).
    let out = s.sh(&format!(
        "$USERNS run --entrypoint \"$(printf '/bin/\\377')\" {root} x"
    ));
    assert_code(&out, 127);
    assert!(
        stderr(&out).contains("command not found"),
        "{}",
        stderr(&out)
    );
    // Without --entrypoint nothing changes: COMMAND alone, else /bin/sh.
    let out = s.run(&["run", &root, "echo", "plain"]);
    assert_eq!(assert_ok(&out), "plain\n");
}

/// `--network MODE` (and `--network=MODE`) is `--net MODE`, as in podman, where `--net`
/// is the alias of `--network`.
#[test]
fn network_is_podmans_spelling_of_net() {
    let Some((s, root)) = setup("run_network") else {
        return;
    };
    let list = "ls /sys/class/net";
    let none = assert_ok(&run_sh(&s, &root, &["--network", "none"], list));
    assert_eq!(none, "lo\n");
    let host_by_net = assert_ok(&run_sh(&s, &root, &["--net", "host"], list));
    let host = assert_ok(&run_sh(&s, &root, &["--network=host"], list));
    assert_eq!(host, host_by_net);
    // The host's own interfaces, not a namespace of loopback only.
    let mut interfaces: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    interfaces.sort();
    assert_eq!(host.lines().collect::<Vec<_>>(), interfaces, "{host}");
    // A mode userns does not have is a usage error under either name.
    for option in ["--network", "--net"] {
        let out = run_sh(&s, &root, &[option, "bridge"], "true");
        assert_code(&out, 125);
        assert!(stderr(&out).contains("bridge"), "{}", stderr(&out));
    }
}
