//! userns inside userns: root of a `userns unshare` namespace maps every id of it into a
//! nested namespace itself (no helpers), keeps to the kernel's one-parent-line rule, and
//! `map --plan` and `doctor` say they are nested. The real binary, kernel and helpers (for
//! the outer namespace), as the unprivileged fixture user.

mod common;

use common::{assert_code, assert_ok, describe, stderr, stdout, Scenario};

/// Two ranges, so that the outer namespace has three map lines.
const SUBIDS: &str = "ivy:200000:65536\nivy:400000:1000\n";

fn scenario(name: &str) -> Option<Scenario> {
    Scenario::new(name).map(|s| s.subuid(SUBIDS).subgid(SUBIDS))
}

/// `inside outside count` triples of a map file's text.
fn triples(text: &str) -> Vec<(u64, u64, u64)> {
    text.lines()
        .filter_map(|l| {
            let n: Vec<u64> = l
                .split_whitespace()
                .map(|w| w.parse().ok())
                .collect::<Option<_>>()?;
            (n.len() == 3).then(|| (n[0], n[1], n[2]))
        })
        .collect()
}

/// The ids as a sorted, merged list of half-open runs.
fn runs(mut r: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    r.sort();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (a, b) in r {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Runs the outer and the nested namespace's maps; returns (outer, inner) map texts of
/// `file`, read inside each.
fn outer_and_inner(s: &Scenario, file: &str, extra: &str) -> (String, String) {
    let out = assert_ok(&s.sh(&format!(
        "$USERNS unshare sh -c 'cat /proc/self/{file}; echo --; \
         \"$USERNS\" unshare {extra} cat /proc/self/{file}'"
    )));
    let (outer, inner) = out.split_once("--\n").expect("separator");
    (outer.to_string(), inner.to_string())
}

#[test]
fn nested_unshare_maps_every_id_of_the_enclosing_namespace() {
    let Some(s) = scenario("nested_maps_every_id") else {
        return;
    };
    for file in ["uid_map", "gid_map"] {
        let (outer, inner) = outer_and_inner(&s, file, "");
        let outer = triples(&outer);
        let inner = triples(&inner);
        assert_eq!(outer.len(), 3, "{outer:?}");
        // The nested map's outside ids are exactly the ids of the enclosing namespace.
        let enclosing = runs(outer.iter().map(|&(i, _, c)| (i, i + c)).collect());
        let used = runs(inner.iter().map(|&(_, o, c)| (o, o + c)).collect());
        assert_eq!(used, enclosing, "{file}: inner {inner:?}, outer {outer:?}");
        // Root stays root, and no line crosses two lines of the enclosing map.
        assert_eq!(inner, [(0, 0, 1), (1, 1, 65536), (65537, 65537, 1000)]);
    }
    // userns unshare userns unshare id: root inside, with the groups and names it had.
    let out = assert_ok(&s.run(&["unshare", "--", s.bin().to_str().unwrap(), "unshare", "id"]));
    assert!(out.starts_with("uid=0(root) gid=0(root)"), "{out}");
    // A third level works the same way.
    let out = assert_ok(&s.sh(
        "$USERNS unshare \"$USERNS\" unshare \"$USERNS\" unshare sh -c 'id -u; cat /proc/self/uid_map'",
    ));
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("0"));
    assert_eq!(
        triples(&lines.collect::<Vec<_>>().join("\n")),
        [(0, 0, 1), (1, 1, 65536), (65537, 65537, 1000)]
    );
}

#[test]
fn nested_explicit_map_across_parent_lines_is_refused_with_the_rule() {
    let Some(s) = scenario("nested_explicit_map") else {
        return;
    };
    let out = s.sh("$USERNS unshare \"$USERNS\" unshare --map-users 0:0:65537 true");
    assert_code(&out, 125);
    let err = stderr(&out);
    for words in [
        "cannot map uid 0:0:65537",
        "span 2 lines of this namespace's uid_map",
        "0-0, 1-65536",
        "single line of its parent's map",
        "--map-users 0:0:1 --map-users 1:1:65536",
    ] {
        assert!(err.contains(words), "missing {words:?}\n{}", describe(&out));
    }
    // The split the fix names is accepted, and is what the kernel then holds.
    let (_, inner) = outer_and_inner(
        &s,
        "uid_map",
        "--map-users 0:0:1 --map-users 1:1:65536 --map-users 70000:65537:1000",
    );
    assert_eq!(
        triples(&inner),
        [(0, 0, 1), (1, 1, 65536), (70000, 65537, 1000)]
    );
    // Ids the enclosing namespace does not have are named as such.
    let out = s.sh("$USERNS unshare \"$USERNS\" unshare --map-users 0:70000:5 true");
    assert_code(&out, 125);
    assert!(
        stderr(&out).contains("70000-70004 not mapped here"),
        "{}",
        describe(&out)
    );
}

#[test]
fn nested_map_plan_and_doctor_say_they_are_nested() {
    let Some(s) = scenario("nested_plan_doctor") else {
        return;
    };
    let out = s.sh("$USERNS unshare \"$USERNS\" map --plan");
    let text = assert_ok(&out);
    assert!(
        text.contains(
            "nested: inside a user namespace (uid_map 0:2000:1,1:200000:65536,65537:400000:1000"
        ),
        "{text}"
    );
    assert!(text.contains("all 66537 uids"), "{text}");
    assert!(!text.contains("identity"), "{text}");
    assert!(
        text.contains("writes /proc/PID/uid_map itself: 0 0 1; 1 1 65536; 65537 65537 1000"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&assert_ok(
        &s.sh("$USERNS unshare \"$USERNS\" map --plan --json"),
    ))
    .expect("json");
    assert!(json["nested"].as_str().unwrap().starts_with("nested:"));
    assert_eq!(json["plans"][0]["entries"].as_array().unwrap().len(), 3);

    let out = s.sh("$USERNS unshare \"$USERNS\" doctor");
    let text = stdout(&out);
    assert_code(&out, 0);
    assert!(!text.contains("FAIL"), "{}", describe(&out));
    for words in [
        "nested ",
        "userns maps all 66537 uids and 66537 gids of it itself",
        "not needed: root here writes nested maps itself",
        "live test",
        "namespace created with the planned maps",
    ] {
        assert!(
            text.contains(words),
            "missing {words:?}\n{}",
            describe(&out)
        );
    }
}

#[test]
fn inside_userns_unshare_the_image_cache_is_the_users_not_roots() {
    let Some(s) = scenario("nested_cache") else {
        return;
    };
    let rootfs = s.home().join("rootfs");
    assert_ok(&s.sh(&format!(
        "mkdir -p {0}/bin && cp /bin/busybox {0}/bin/ && ln -s busybox {0}/bin/true",
        rootfs.display()
    )));
    // Root inside the namespace is the user outside: their $HOME, not /root (passwd's
    // home of uid 0, the host's, closed to them), as podman inside `podman unshare`.
    let out = s.sh("$USERNS unshare \"$USERNS\" images --json; echo \"home=$HOME\"");
    let text = assert_ok(&out);
    let err = common::stderr(&out);
    assert!(text.contains("[]"), "{text}\n{err}");
    assert!(!err.contains("/root"), "{err}");
}
