//! Subordinate ids served by NSS (`subid: NAME` in nsswitch.conf), end to end with a
//! real NSS subid module: tests/nss_module/libsubid_fixture.c, compiled here with cc.
//!
//! libsubid and newuidmap dlopen `libsubid_NAME.so` by name, through the ordinary
//! library search path; newuidmap is setuid, so LD_LIBRARY_PATH is ignored and the
//! module must sit in a system directory. Each scenario therefore mounts a read-only
//! overlay of the scratch dir holding the module over the multiarch library directory,
//! inside its private mount namespace: the host's /usr/lib is never written.
//!
//! The fixture gives ivy 300000:65536 (uids) and 400000:65536 (gids) through NSS,
//! while the scenario's /etc/subuid and /etc/subgid say 200000:65536: which numbers
//! appear tells which source answered.

mod common;

use common::{assert_ok, stderr, stdout, Scenario};
use std::path::PathBuf;
use std::process::Command;

const MODULE: &str = "usernstest";
const FIXTURE: &str = "ivy u 300000 65536\nivy g 400000 65536\n";

/// The directory the dynamic loader searches by default for this architecture.
fn multiarch_libdir() -> PathBuf {
    let out = Command::new("cc")
        .arg("-print-multiarch")
        .output()
        .expect("run cc (package gcc) to build the NSS test module");
    let triple = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dir = PathBuf::from("/usr/lib").join(&triple);
    assert!(
        !triple.is_empty() && dir.is_dir(),
        "no multiarch library directory {}",
        dir.display()
    );
    dir
}

/// Build the module into SCRATCH/nsslib and return that directory.
fn build_module(s: &Scenario) -> PathBuf {
    let dir = s.scratch().join("nsslib");
    std::fs::create_dir_all(&dir).unwrap();
    let source =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/nss_module/libsubid_fixture.c");
    let out = Command::new("cc")
        .args(["-Wall", "-Werror", "-shared", "-fPIC", "-o"])
        .arg(dir.join(format!("libsubid_{MODULE}.so")))
        .arg(&source)
        .output()
        .expect("run cc");
    assert!(
        out.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn nsswitch_with_subid() -> String {
    let host = std::fs::read_to_string("/etc/nsswitch.conf").unwrap_or_default();
    let kept: String = host
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("subid:"))
        .map(|l| format!("{l}\n"))
        .collect();
    format!("{kept}subid:\t{MODULE}\n")
}

/// A scenario whose nsswitch.conf names the test module; with `install`, the module is
/// visible to the loader (an overlay over the multiarch library dir).
fn nss_scenario(name: &str, install: bool) -> Option<Scenario> {
    let s = Scenario::new(name)?
        .file("nsswitch.conf", &nsswitch_with_subid())
        .file("userns-subid-fixture", FIXTURE);
    if !install {
        return Some(s);
    }
    let lower = build_module(&s);
    let libdir = multiarch_libdir();
    Some(s.root_setup(&format!(
        "mount -t overlay overlay -o ro,lowerdir={}:{} {}",
        lower.display(),
        libdir.display(),
        libdir.display()
    )))
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[test]
fn show_and_plan_follow_the_nss_module() {
    let Some(s) = nss_scenario("show_and_plan_follow_the_nss_module", true) else {
        return;
    };
    // shadow's own tool agrees that NSS answers: the overlay and module work.
    let out = assert_ok(&s.sh("getsubids ivy; getsubids -g ivy"));
    assert_eq!(out, "0: ivy 300000 65536\n0: ivy 400000 65536\n");

    let out = s.run(&["subid", "show", "--json"]);
    let v = json(&assert_ok(&out));
    let ranges: Vec<(String, u64, u64, String)> = v["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_string(),
                r["start"].as_u64().unwrap(),
                r["count"].as_u64().unwrap(),
                r["file"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let source = format!("nss:{MODULE}");
    assert_eq!(
        ranges,
        vec![
            ("subuid".into(), 300000, 65536, source.clone()),
            ("subgid".into(), 400000, 65536, source.clone()),
        ]
    );
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    // The table names the source too.
    let table = assert_ok(&s.run(&["subid", "show"]));
    assert!(table.contains(&source), "{table}");

    let plan = assert_ok(&s.run(&["map", "--plan"]));
    assert!(plan.contains("300000") && plan.contains("400000"), "{plan}");
    assert!(!plan.contains("200000"), "the files were read: {plan}");

    // Explicit files bypass NSS.
    let out = assert_ok(&s.run(&["subid", "show", "--subuid", "/etc/subuid", "--json"]));
    let v = json(&out);
    assert_eq!(v["ranges"][0]["start"].as_u64(), Some(200000));
    assert_eq!(v["ranges"][0]["file"].as_str(), Some("/etc/subuid"));
}

#[test]
fn unshare_maps_the_nss_ranges_through_the_real_helpers() {
    let Some(s) = nss_scenario("unshare_maps_the_nss_ranges", true) else {
        return;
    };
    // newuidmap (shadow 4.13) asks the same module through has_range: it must accept.
    let out = assert_ok(
        &s.sh("$USERNS unshare sh -c 'cat /proc/self/uid_map; echo --; cat /proc/self/gid_map'"),
    );
    let normalized: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        normalized,
        vec![
            "0 2000 1",
            "1 300000 65536",
            "--",
            "0 2000 1",
            "1 400000 65536"
        ],
        "{out}"
    );
}

#[test]
fn a_missing_module_warns_and_falls_back_to_the_files() {
    let Some(s) = nss_scenario("a_missing_module_warns", false) else {
        return;
    };
    let out = s.run(&["subid", "show", "--json"]);
    let v = json(&assert_ok(&out));
    assert_eq!(v["ranges"][0]["start"].as_u64(), Some(200000));
    assert_eq!(v["ranges"][0]["file"].as_str(), Some("/etc/subuid"));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("names `subid: {MODULE}`"))
            && err.contains(&format!("libsubid_{MODULE}.so")),
        "{err}"
    );
    // Once, not once per kind.
    assert_eq!(err.matches("warning").count(), 1, "{err}");
}

#[test]
fn a_missing_libsubid_warns_and_falls_back_to_the_files() {
    let Some(s) = nss_scenario("a_missing_libsubid_warns", true) else {
        return;
    };
    // Hide libsubid itself (inside the scenario only): the module is there, the
    // library that would call it is not.
    let libsubid = multiarch_libdir().join("libsubid.so.4");
    let s = s.root_setup(&format!("mount --bind /dev/null {}", libsubid.display()));
    let out = s.run(&["subid", "show", "--json"]);
    let v = json(&assert_ok(&out));
    assert_eq!(v["ranges"][0]["start"].as_u64(), Some(200000));
    let err = stderr(&out);
    assert!(err.contains("libsubid cannot be loaded"), "{err}");
    assert!(err.contains("libsubid4"), "{err}");
    let plan = s.run(&["map", "--plan"]);
    assert!(stdout(&plan).contains("200000"), "{}", stdout(&plan));
}

/// Stale-map detection covers ranges served by NSS: a kept namespace made while the
/// module gave ivy 300000 is stale once the module gives 500000, although /etc/subuid
/// never changed; `ls` and `doctor` say so (issue 12).
#[test]
fn stale_maps_of_nss_ranges_are_found() {
    let Some(s) = nss_scenario("stale_maps_of_nss_ranges", true) else {
        return;
    };
    /// Stops the kept namespace however the test ends.
    struct Stop<'a>(&'a Scenario);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = self.0.run(&["stop", "nsskept"]);
        }
    }
    let stop = Stop(&s);
    assert_ok(&s.run(&["unshare", "--name", "nsskept", "true"]));
    let stale_of = |v: &serde_json::Value| -> Option<String> {
        v.as_array()?
            .iter()
            .find(|n| n["name"] == "nsskept")
            .map(|n| n["stale_map"].as_str().unwrap_or("").to_string())
    };
    let fresh = json(&assert_ok(&s.run(&["ls", "--json"])));
    let before = stale_of(&fresh);
    // The module now serves another range; the files stay as they were.
    std::fs::write(
        s.etc().join("userns-subid-fixture"),
        "ivy u 500000 65536\nivy g 400000 65536\n",
    )
    .unwrap();
    let after = json(&assert_ok(&s.run(&["ls", "--json"])));
    let after = stale_of(&after);
    let doctor = s.run(&["doctor", "--no-live"]);
    drop(stop);
    assert_eq!(
        before.as_deref(),
        Some(""),
        "fresh namespace flagged: {fresh:#}"
    );
    let after = after.expect("nsskept listed");
    assert!(
        after.contains("NSS") && after.contains("0:2000:1,1:500000:65536"),
        "ls does not flag the NSS change: {after:?}"
    );
    let text = format!("{}{}", stdout(&doctor), stderr(&doctor));
    assert!(
        text.contains("nsskept") && text.contains("500000") && text.contains("userns stop nsskept"),
        "{text}"
    );
}

/// A user without ranges from the NSS module is not told to run usermod, which writes
/// the files newuidmap does not read here: the fix names the module (issue 12).
#[test]
fn missing_nss_ranges_name_the_module_not_usermod() {
    let Some(s) = nss_scenario("missing_nss_ranges", true) else {
        return;
    };
    let s = s.file("userns-subid-fixture", "ivy u 300000 65536\n");
    let out = s.run(&["subid", "show"]);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("no subgid ranges from nss:{MODULE}"))
            && err.contains("ask the administrator of the subid module"),
        "{err}"
    );
    assert!(!err.contains("usermod"), "{err}");
    let out = s.run(&["unshare", "true"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "ask the administrator of the subid source {MODULE}"
        )),
        "{err}"
    );
    assert!(!err.contains("usermod"), "{err}");
}
