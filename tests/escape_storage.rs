//! The escape suite for what userns stores (issue 11, findings 3, 4, 9 and 10), each
//! attack performed for real: the victim is the fixture user ivy (2000) running the real
//! binary; the attacker is a second local user, mallory (2100, no subordinate ids), whose
//! steps the test runs as root through `setpriv --reuid=2100` (TESTING.md, "Another
//! local user").
//!
//! Every scenario gets a /tmp of its own (a root-owned 1777 directory of the scratch dir
//! bound over /tmp in its mount namespace) and an empty /run/user, so that what the
//! attacker plants in "/tmp" reaches this scenario and no other test on the machine.

mod common;
mod image_support;
mod run_support;

use common::{assert_code, assert_ok, describe, stderr, Scenario};
use image_support::Scratch;
use serde_json::json;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ATTACKER: u32 = 2100;

/// A scenario with the attacker in passwd, a private /tmp and no /run/user/UID.
fn scenario(name: &str) -> Option<Scenario> {
    let s = Scenario::new(name)?;
    let tmp = s.scratch().join("tmp");
    std::fs::create_dir(&tmp).expect("create the scenario's /tmp");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    Some(
        s.extra_passwd(&format!(
            "mallory:x:{ATTACKER}:{ATTACKER}::/nonexistent:/bin/sh"
        ))
        .root_setup("mount --bind \"$SCRATCH/tmp\" /tmp")
        .root_setup("if [ -d /run/user ]; then mount -t tmpfs -o mode=755 tmpfs /run/user; fi"),
    )
}

/// Run `sh -c script` as the attacker, in the host's mount namespace ($SCRATCH set; the
/// scenario's /tmp is $SCRATCH/tmp there).
fn as_attacker(s: &Scenario, script: &str) -> Output {
    Command::new("setpriv")
        .args([
            &format!("--reuid={ATTACKER}"),
            &format!("--regid={ATTACKER}"),
            "--clear-groups",
            "/bin/sh",
            "-c",
            script,
        ])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("SCRATCH", s.scratch())
        .env("HOME", s.home())
        .current_dir("/")
        .output()
        .expect("run setpriv")
}

/// Run userns as the victim with `vars` set over the scenario's environment.
fn run_env(s: &Scenario, vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut script: String = vars.iter().map(|(k, v)| format!("{k}='{v}' ")).collect();
    script.push_str("exec \"$USERNS\"");
    for a in args {
        script.push_str(&format!(" '{a}'"));
    }
    s.sh(&script)
}

/// Kills, when dropped, what runs with an XDG_RUNTIME_DIR in the scratch dir other than
/// the scenario's own left behind (a pause process kept in a runtime dir that should
/// have been refused): `Scenario`'s own clean-up looks for its XDG_RUNTIME_DIR only.
struct KillLeftovers(PathBuf);

impl Drop for KillLeftovers {
    fn drop(&mut self) {
        let marker = format!("XDG_RUNTIME_DIR={}", self.0.display());
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
            if environ
                .split(|&b| b == 0)
                .any(|v| v.starts_with(marker.as_bytes()))
            {
                // SAFETY: kill(2) with a pid read from /proc; a vanished pid is harmless.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

#[track_caller]
fn assert_ok_attacker(out: &Output) {
    assert!(out.status.success(), "attacker step failed: {}", text(out));
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The attacker tries to stat `path` and to execute it (as busybox's `id`, through a
/// link of theirs named so): both must fail with EACCES.
#[track_caller]
fn assert_out_of_reach(s: &Scenario, path: &Path) {
    let out = as_attacker(
        s,
        &format!(
            "stat -c %a '{0}' && echo REACHED; d=$(mktemp -d); ln -s '{0}' $d/id; \
             $d/id -u && echo RAN; rm -rf $d; exit 0",
            path.display()
        ),
    );
    let t = text(&out);
    assert!(
        !t.contains("REACHED") && !t.contains("RAN"),
        "another user reached {}:\n{t}",
        path.display()
    );
    assert!(t.contains("Permission denied"), "{}: {t}", path.display());
}

/// Every setuid or setgid file under `dir`, found as root (lstat, no link followed).
fn setid_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() && m.mode() & 0o6000 != 0 {
                found.push(e.path());
            }
        }
    }
    found.sort();
    found
}

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()))
        .mode()
        & 0o7777
}

/// A busybox image (docker-archive) with setuid and setgid copies of busybox owned by
/// the container's root and by container user 1000, copied into the scenario.
fn setuid_image(s: &Scenario, scratch: &Scratch) -> String {
    let mut entries = vec![
        json!({"path": "bin/", "type": "dir"}),
        json!({"path": "bin/busybox", "file": "/bin/busybox", "mode": 0o755}),
        json!({"path": "usr/", "type": "dir"}),
        json!({"path": "usr/bin/", "type": "dir"}),
        json!({"path": "usr/bin/suid-root", "file": "/bin/busybox", "mode": 0o4755}),
        json!({"path": "usr/bin/suid-app", "file": "/bin/busybox", "mode": 0o6755,
               "uid": 1000, "gid": 1000}),
        json!({"path": "etc/", "type": "dir"}),
        json!({"path": "tmp/", "type": "dir", "mode": 0o1777}),
    ];
    for applet in ["sh", "true", "echo", "cat", "ls"] {
        entries
            .push(json!({"path": format!("bin/{applet}"), "type": "symlink", "target": "busybox"}));
    }
    let layer = scratch.layer("suid", serde_json::Value::Array(entries));
    let config = json!({"config": {"Env": ["PATH=/bin:/usr/bin"], "Cmd": ["true"]}});
    let built = scratch.docker_archive("suid-image", config, &[&layer]);
    let archive = s.scratch().join("suid-image.tar");
    std::fs::copy(built, &archive).unwrap();
    archive.display().to_string()
}

/// Finding 3: a setuid file unpacked from an image, or made by a `--keep` container (as
/// the container's root or as a container user, i.e. a subordinate id), is reachable by
/// no other user: the storage is private from its top.
#[test]
fn setuid_files_from_images_and_kept_layers_are_out_of_other_users_reach() {
    let Some(s) = scenario("escape_setuid") else {
        return;
    };
    let scratch = Scratch::new("escape_setuid");
    let archive = setuid_image(&s, &scratch);
    let root = run_support::rootfs(&s).display().to_string();
    assert_ok(&s.run(&["run", &archive, "true"]));
    assert_ok(&s.run(&[
        "run",
        "--keep",
        "dev",
        &root,
        "sh",
        "-c",
        "busybox cp /bin/busybox /bin/made-suid && busybox chmod 4755 /bin/made-suid && \
         busybox cp /bin/busybox /bin/made-suid-app && busybox chown 1000:1000 /bin/made-suid-app && \
         busybox chmod 6755 /bin/made-suid-app",
    ]));
    let data = s.home().join(".local/share/userns");
    let run = s.scratch().join("run/userns");
    let mut files = setid_files(&data);
    files.extend(setid_files(&run));
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for name in ["suid-root", "suid-app", "made-suid", "made-suid-app"] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} not found in {files:?}"
        );
    }
    for file in &files {
        assert_out_of_reach(&s, file);
    }
    assert_eq!(mode_of(&data) & 0o077, 0, "{}", data.display());
    assert_eq!(mode_of(&run) & 0o077, 0, "{}", run.display());
    // The attacker cannot even list the tops.
    for top in [&data, &run] {
        let out = as_attacker(&s, &format!("ls '{}'", top.display()));
        assert!(!out.status.success(), "{}", text(&out));
    }
}

/// Finding 3: an install made by an older userns (data dir mode 0755, a setuid file in a
/// kept layer) is made private by the first command that uses it; a data dir that is a
/// symbolic link, or another user's, is refused rather than used.
#[test]
fn an_open_data_dir_is_made_private_on_first_use_and_a_foreign_one_refused() {
    let Some(s) = scenario("escape_old_install") else {
        return;
    };
    let root = run_support::rootfs(&s).display().to_string();
    let data = s.home().join(".local/share/userns");
    let suid = data.join("kept/old/upper/bin/suid");
    for first_use in [vec!["run", &root, "true"], vec!["images"]] {
        assert_ok(&s.sh(&format!(
            "mkdir -p '{0}/kept/old/upper/bin' && cp /bin/busybox '{1}' && chmod 4755 '{1}' && \
             chmod 755 '{0}'",
            data.display(),
            suid.display()
        )));
        let out = as_attacker(&s, &format!("stat -c %a '{}'", suid.display()));
        assert!(out.status.success(), "precondition: {}", text(&out));
        assert_ok(&s.run(&first_use));
        assert_eq!(mode_of(&data), 0o700, "after `userns {first_use:?}`");
        assert_out_of_reach(&s, &suid);
    }

    // A data dir that is the attacker's own (open to all), or the attacker's symlink to
    // a directory of theirs: refused, nothing is kept there.
    for (i, (setup, why)) in [
        ("mkdir -m 777 \"$D/userns\"", "owned by uid 2100"),
        (
            "mkdir -m 777 \"$D/elsewhere\" && ln -s elsewhere \"$D/userns\"",
            "symbolic link",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let shared = s.scratch().join(format!("tmp/shared-data-{i}"));
        let d = shared.display().to_string();
        assert_ok_attacker(&as_attacker(
            &s,
            &format!("mkdir -m 777 '{d}' && {}", setup.replace("$D", &d)),
        ));
        let out = run_env(
            &s,
            &[("XDG_DATA_HOME", &d)],
            &["run", "--keep", "dev", &root, "true"],
        );
        assert_code(&out, 125);
        let err = stderr(&out);
        assert!(
            err.contains(&shared.join("userns").display().to_string())
                && err.contains(why)
                && err.contains("fix:"),
            "{}",
            describe(&out)
        );
        let leaked = as_attacker(&s, &format!("ls -R '{d}'"));
        assert!(!text(&leaked).contains("upper"), "{}", text(&leaked));
    }
}

/// Finding 4: with no XDG_RUNTIME_DIR and no /run/user/UID, podman's runtime dir is
/// /tmp/storage-run-UID. Whatever another user plants there (a symlink to the victim's
/// ~/.config, a directory of theirs, open or not) makes `clean` refuse, with the reason
/// and the fix; the victim's ~/.config/containers survives. So does a link planted on the
/// way to a graphroot that storage.conf puts under /tmp.
#[test]
fn a_runtime_dir_planted_in_tmp_by_another_user_is_refused_by_clean() {
    let Some(s) = scenario("escape_planted_runtime") else {
        return;
    };
    // An administrator's shared storage location, as storage.conf allows.
    let s = s.env("XDG_RUNTIME_DIR", "").file(
        "containers/storage.conf",
        "[storage]\ndriver = \"vfs\"\nrootless_storage_path = \"/tmp/$USER/storage\"\n",
    );
    let config = s.home().join(".config/containers");
    assert_ok(&s.sh(&format!(
        "mkdir -p '{0}' && echo keep > '{0}/registries.conf'",
        config.display()
    )));
    let planted = s.scratch().join("tmp/storage-run-2000");
    let home = s.home().display().to_string();
    for plant in [
        format!("ln -s '{home}/.config' '{}'", planted.display()),
        format!(
            "mkdir -m 777 '{0}' && ln -s '{home}/.config/containers' '{0}/containers'",
            planted.display()
        ),
        format!("mkdir -m 755 '{0}' '{0}/containers'", planted.display()),
    ] {
        assert_ok_attacker(&as_attacker(&s, &plant));
        for args in [["clean", "--dry-run"], ["clean", "--yes"]] {
            let out = s.run(&args);
            assert_code(&out, 1);
            let err = stderr(&out);
            assert!(
                err.contains("refusing to use the runtime directory /tmp/storage-run-2000")
                    && (err.contains("symbolic link") || err.contains("owned by uid 2100"))
                    && err.contains("fix:"),
                "{plant}: {}",
                describe(&out)
            );
        }
        assert_eq!(
            std::fs::read_to_string(config.join("registries.conf")).unwrap_or_default(),
            "keep\n",
            "{plant}: the victim's ~/.config/containers was touched"
        );
        assert_ok_attacker(&as_attacker(&s, &format!("rm -rf '{}'", planted.display())));
    }

    // The graphroot /tmp/ivy/storage: the attacker makes /tmp/ivy a link to the victim's
    // ~/.config, where a directory named storage is the victim's own.
    let precious = s.home().join(".config/storage/precious");
    assert_ok(&s.sh(&format!(
        "mkdir -p \"$(dirname '{0}')\" && echo keep > '{0}'",
        precious.display()
    )));
    let shared = s.scratch().join("tmp/ivy");
    assert_ok_attacker(&as_attacker(
        &s,
        &format!("ln -s '{home}/.config' '{}'", shared.display()),
    ));
    for args in [["clean", "--dry-run"], ["clean", "--yes"]] {
        let out = s.run(&args);
        assert_code(&out, 1);
        let err = stderr(&out);
        assert!(
            err.contains("refusing to use the container storage /tmp/ivy/storage")
                && err.contains("/tmp/ivy on the way to it")
                && err.contains("owned by uid 2100")
                && err.contains("fix:"),
            "{}",
            describe(&out)
        );
    }
    assert!(
        precious.exists(),
        "the victim's ~/.config/storage was removed"
    );
}

/// Finding 4, the class: every runtime directory userns trusts ($XDG_RUNTIME_DIR, and
/// /tmp/userns-UID, the registry of kept namespaces without it) must be the user's and
/// closed to writes by others, for every command that uses it.
#[test]
fn runtime_dirs_owned_by_others_or_open_to_them_are_refused() {
    let Some(s) = scenario("escape_runtime_dirs") else {
        return;
    };
    let _leftovers = KillLeftovers(s.scratch().to_path_buf());
    let root = run_support::rootfs(&s).display().to_string();
    let tmp = s.scratch().join("tmp");
    let theirs = tmp.join("xdg-theirs");
    let link = tmp.join("xdg-link");
    let open = s.scratch().join("xdg-open");
    let group = s.scratch().join("xdg-group");
    assert_ok_attacker(&as_attacker(
        &s,
        &format!(
            "mkdir -m 755 '{0}' && ln -s '{1}' '{2}'",
            theirs.display(),
            s.scratch().join("run").display(),
            link.display()
        ),
    ));
    assert_ok(&s.sh(&format!(
        "mkdir -m 777 '{0}' && mkdir -m 770 '{1}' && chmod 777 '{0}' && chmod 770 '{1}' && \
         mkdir -m 700 '{0}/containers' '{1}/containers'",
        open.display(),
        group.display()
    )));
    let cases = [
        (&theirs, "owned by uid 2100"),
        (&link, "symbolic link"),
        (&open, "writable by others"),
        (&group, "writable by others"),
    ];
    for (dir, why) in cases {
        let xdg = dir.display().to_string();
        for (args, code) in [
            (vec!["run", &root, "true"], 125),
            (vec!["unshare", "--name", "dev", "true"], 125),
            (vec!["enter", "dev", "true"], 125),
            (vec!["enter", "podman", "true"], 125),
            (vec!["stop", "dev"], 1),
            (vec!["clean", "--dry-run"], 1),
        ] {
            let out = run_env(&s, &[("XDG_RUNTIME_DIR", &xdg)], &args);
            assert_code(&out, code);
            let err = stderr(&out);
            assert!(
                err.contains(&dir.display().to_string())
                    && err.contains(why)
                    && err.contains("fix:"),
                "XDG_RUNTIME_DIR={} {args:?}: {}",
                dir.display(),
                describe(&out)
            );
        }
    }
    // Without XDG_RUNTIME_DIR, the registry is /tmp/userns-UID: another user's is refused.
    let s = s.env("XDG_RUNTIME_DIR", "");
    let registry = tmp.join("userns-2000");
    for plant in [
        format!("mkdir -m 777 '{}'", registry.display()),
        format!("ln -s '{}' '{}'", theirs.display(), registry.display()),
    ] {
        assert_ok_attacker(&as_attacker(&s, &plant));
        let out = s.run(&["unshare", "--name", "dev", "true"]);
        assert_code(&out, 125);
        assert!(
            stderr(&out).contains("/tmp/userns-2000") && stderr(&out).contains("fix:"),
            "{plant}: {}",
            describe(&out)
        );
        assert_ok_attacker(&as_attacker(
            &s,
            &format!("rm -rf '{}'", registry.display()),
        ));
    }
}

/// A snapshot of a tree as root: every path with its mode, size and mtime.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u32, u64, i64, i64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let m = e.path().symlink_metadata().unwrap();
            out.push((e.path(), m.mode(), m.size(), m.mtime(), m.mtime_nsec()));
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Finding 9: `--rootfs-rw` on an image archive or OCI layout would write into the
/// shared image cache for good: refused as a usage error (125) with the cache unchanged;
/// on a directory the user gave it still writes through.
#[test]
fn rootfs_rw_is_refused_for_cached_images_and_kept_for_directories() {
    let Some(s) = scenario("escape_rootfs_rw") else {
        return;
    };
    let scratch = Scratch::new("escape_rootfs_rw");
    let archive = setuid_image(&s, &scratch);
    let layer = scratch.path("suid.tar");
    let layout_src =
        scratch.oci_layout("suid-oci", json!({"config": {"Cmd": ["true"]}}), &[&layer]);
    let layout = s.scratch().join("suid-oci");
    let st = Command::new("cp")
        .arg("-a")
        .arg(&layout_src)
        .arg(&layout)
        .status()
        .unwrap();
    assert!(st.success());
    std::os::unix::fs::chown(&layout, Some(s.uid()), Some(s.gid())).unwrap();
    let layout = layout.display().to_string();
    assert_ok(&s.run(&["run", &archive, "true"]));
    assert_ok(&s.run(&["run", &layout, "true"]));
    let cache = s.home().join(".local/share/userns/images");
    let before = snapshot(&cache);
    assert!(!before.is_empty());
    for source in [&archive, &layout] {
        let out = s.run(&[
            "run",
            "--rootfs-rw",
            source,
            "sh",
            "-c",
            "echo x > /planted; rm -f /bin/ls",
        ]);
        assert_code(&out, 125);
        let err = stderr(&out);
        assert!(
            err.contains("--rootfs-rw") && err.contains("fix:"),
            "{}",
            describe(&out)
        );
        assert_eq!(
            snapshot(&cache),
            before,
            "the cache changed: {}",
            describe(&out)
        );
    }
    let root = run_support::rootfs(&s);
    let dir = root.display().to_string();
    assert_ok(&s.run(&["run", "--rootfs-rw", &dir, "sh", "-c", "echo x > /planted"]));
    assert!(root.join("planted").exists());
}

/// Finding 10: the home guard of `clean` and `chown -R` takes the home from the passwd
/// database too, so a HOME pointing elsewhere (or nowhere) does not expose the real one
/// or what contains it.
#[test]
fn clean_and_chown_guard_the_passwd_home_whatever_home_says() {
    let Some(s) = scenario("escape_home_guard") else {
        return;
    };
    let home = s.home().display().to_string();
    let parent = s.scratch().display().to_string();
    let elsewhere = s.scratch().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::chown(&elsewhere, Some(s.uid()), Some(s.gid())).unwrap();
    std::fs::write(s.home().join("precious"), "x").unwrap();
    for fake in [
        "/tmp",
        "/",
        "/nonexistent",
        "",
        &elsewhere.display().to_string(),
    ] {
        for (args, why) in [
            (vec!["clean", "--dry-run", &home], "your home directory"),
            (
                vec!["clean", "--dry-run", &parent],
                "contains your home directory",
            ),
            (
                vec!["chown", "-R", "1000:1000", &home],
                "your home directory",
            ),
            (
                vec!["chown", "-R", "1000:1000", &parent],
                "contains your home directory",
            ),
        ] {
            let out = run_env(&s, &[("HOME", fake)], &args);
            assert_code(&out, 1);
            assert!(
                stderr(&out).contains(why),
                "HOME={fake:?} {args:?}: {}",
                describe(&out)
            );
        }
        assert_eq!(std::fs::metadata(s.home()).unwrap().uid(), s.uid());
        assert!(s.home().join("precious").exists());
    }
}
