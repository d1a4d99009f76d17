//! What the container may see of the kernel. The files podman hides and protects: masked
//! paths read empty, read-only paths refuse writes, with the host's network (a bound host
//! /sys) as with a network of its own, checked for each path this kernel has. And with
//! -t, the terminal is the console.

mod common;
mod run_support;

use common::{assert_ok, Scenario};
use run_support::{run_sh, setup};
use userns::run::masks::{MASKED, READ_ONLY};

/// A script that prints, per path, `PATH masked` when a file reads empty or a directory
/// lists empty, and `PATH ro` when the path's own mount is read-only.
fn script() -> String {
    let mut s = String::new();
    for p in MASKED.iter().filter(|p| std::path::Path::new(p).exists()) {
        s.push_str(&format!(
            "if [ -d {p} ]; then [ -z \"$(ls -A {p})\" ] && echo '{p} masked'; \
             else [ \"$(wc -c < {p})\" = 0 ] && echo '{p} masked'; fi; "
        ));
    }
    for p in READ_ONLY
        .iter()
        .filter(|p| std::path::Path::new(p).exists())
    {
        s.push_str(&format!(
            "grep -q ' {p} ro,' /proc/self/mountinfo && echo '{p} ro'; "
        ));
    }
    s.push_str("echo 1 > /proc/sys/kernel/hostname 2>/dev/null || echo refused; true");
    s
}

fn check(s: &Scenario, root: &str, args: &[&str]) {
    let out = assert_ok(&run_sh(s, root, args, &script()));
    let mut expected = 0;
    for p in MASKED.iter().filter(|p| std::path::Path::new(p).exists()) {
        assert!(
            out.contains(&format!("{p} masked\n")),
            "{p} not masked ({args:?}):\n{out}"
        );
        expected += 1;
    }
    for p in READ_ONLY
        .iter()
        .filter(|p| std::path::Path::new(p).exists())
    {
        assert!(
            out.contains(&format!("{p} ro\n")),
            "{p} not read-only ({args:?}):\n{out}"
        );
        expected += 1;
    }
    // /proc/sys exists on every Linux: the check above is never empty.
    assert!(expected >= 1, "{out}");
    assert!(out.ends_with("refused\n"), "{out}");
}

#[test]
fn kernel_files_are_masked_and_read_only_as_under_podman() {
    let Some((s, root)) = setup("run_masks") else {
        return;
    };
    check(&s, &root, &[]);
    check(&s, &root, &["--net", "host"]);
    // The host's own files stay as they were.
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!host.contains(" /proc/sys ro,"), "host /proc/sys changed");
}

/// With -t the terminal is also /dev/console (runc's rule): writes to it reach the user.
#[test]
fn tty_is_also_the_console() {
    let Some((s, root)) = setup("run_console") else {
        return;
    };
    // script(1) gives userns a terminal.
    let out = s.sh(&format!(
        "script -qec \"$USERNS run -t {root} sh -c 'echo via-console-$((6*7)) > /dev/console; \
         stat -c %t:%T /dev/console; stat -c %t:%T \\$(tty)'\" /dev/null"
    ));
    let text = assert_ok(&out);
    assert!(text.contains("via-console-42"), "{text}");
    let numbers: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.contains(':') && !l.contains("via"))
        .collect();
    assert_eq!(numbers.len(), 2, "{text}");
    assert_eq!(
        numbers[0], numbers[1],
        "/dev/console is not the terminal: {text}"
    );
    // Without -t the container has no console.
    let out = run_sh(
        &s,
        &root,
        &[],
        "test -e /dev/console && echo console || echo none",
    );
    assert_eq!(assert_ok(&out), "none\n");
}
