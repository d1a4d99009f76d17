//! The fix userns offers a user without subordinate ids is right: it names the range
//! `userns subid add` would allocate (first fit after every used range, login.defs
//! bounds), never a fixed 100000-165535 that may be another user's (issue 12).

mod common;

use common::{stderr, stdout, Scenario};

/// alice holds 100000-165535 and bob 165536-231071: ivy's first fit is 231072-296607.
const TAKEN: &str = "alice:100000:65536\nbob:165536:65536\n";

fn scenario(name: &str) -> Option<Scenario> {
    Some(
        Scenario::new(name)?
            .extra_passwd("alice:x:2001:2001::/nonexistent:/bin/sh")
            .extra_passwd("bob:x:2002:2002::/nonexistent:/bin/sh")
            .subuid(TAKEN)
            .subgid("alice:100000:65536\n"),
    )
}

#[test]
fn unshare_suggests_the_range_subid_add_would_allocate() {
    let Some(s) = scenario("fix_unshare") else {
        return;
    };
    let out = s.run(&["unshare", "true"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("usermod --add-subuids 231072-296607 ivy"),
        "unshare's fix must name the first free range:\n{err}"
    );
    assert!(!err.contains("100000-165535"), "{err}");
}

#[test]
fn doctor_suggests_the_range_subid_add_would_allocate() {
    let Some(s) = scenario("fix_doctor") else {
        return;
    };
    let out = s.run(&["doctor", "--no-live"]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("usermod --add-subuids 231072-296607 ivy"),
        "{text}"
    );
    // subgid: only alice's line is taken there.
    assert!(
        text.contains("usermod --add-subgids 165536-231071 ivy"),
        "{text}"
    );
    assert!(!text.contains("100000-165535"), "{text}");
}

#[test]
fn the_suggestion_follows_login_defs() {
    let Some(s) = scenario("fix_login_defs") else {
        return;
    };
    let s = s.file(
        "login.defs",
        "SUB_UID_MIN 500000\nSUB_UID_MAX 600000\nSUB_UID_COUNT 1000\n",
    );
    let out = s.run(&["unshare", "true"]);
    let err = stderr(&out);
    assert!(
        err.contains("usermod --add-subuids 500000-500999 ivy"),
        "{err}"
    );
    // And `subid add` (as root) gives exactly that range.
    let out = s.sh("true");
    assert!(out.status.success());
    let add = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount --bind {etc} /etc && {bin} subid add --uids-only ivy && cat /etc/subuid",
            etc = s.etc().display(),
            bin = s.bin().display()
        ))
        .output()
        .expect("run subid add as root");
    let text = String::from_utf8_lossy(&add.stdout);
    assert!(
        text.contains("ivy:500000:1000"),
        "subid add allocated otherwise:\n{text}\n{}",
        String::from_utf8_lossy(&add.stderr)
    );
}
