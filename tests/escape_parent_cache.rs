//! Attacks on the parent directory the unpacker keeps from one entry to the next
//! (src/image/parents.rs), through the real `userns run` as the unprivileged fixture user.
//!
//! The kept directory is the parent of the last entry, used again only by an entry with
//! the same parent components. So the sharpest attack changes what those components mean
//! from inside that directory: `l -> d/c/..` means `d` while `d/c` is a directory, and the
//! root once an entry `l/c` (same parent as `l/x`) swaps `d/c` for a symlink to `/q`; a
//! whiteout, an opaque marker, a hard link or a file there makes `l` lead nowhere. Other
//! tests swap the directory itself, or a directory or symlink on the way to it, for a
//! symlink to `/`, to `../..` or out of the image (directly, by a whiteout, by an opaque
//! marker, in the next layer), and write through the old path again. Every write must go
//! where a fresh resolution beneath the root sends it, never into the kept directory,
//! never outside the root; or, where the path now leads nowhere or out of the image, be
//! refused. Every run checks the whole unpacked tree and a canary directory beside the
//! cache that the fixture user could write to, so a write that escaped would show.

mod canary_support;
mod common;
mod image_support;

use canary_support::{assert_canary_untouched, scenario};
use common::Scenario;
use image_support::Scratch;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// busybox's `true`, so that `userns run ARCHIVE true` has something to run.
fn busybox_layer(s: &Scratch) -> PathBuf {
    s.layer(
        "busybox",
        json!([
            {"path": "bin/", "type": "dir"},
            {"path": "bin/busybox", "file": "/bin/busybox", "mode": 0o755},
            {"path": "bin/true", "type": "symlink", "target": "busybox"},
        ]),
    )
}

/// A docker-archive of busybox and `layers` (lowest first), where the fixture user reads it.
fn archive(scn: &Scenario, s: &Scratch, name: &str, layers: &[Value]) -> PathBuf {
    let mut tars = vec![busybox_layer(s)];
    for (i, spec) in layers.iter().enumerate() {
        tars.push(s.layer(&format!("{name}-{i}"), spec.clone()));
    }
    let refs: Vec<&Path> = tars.iter().map(PathBuf::as_path).collect();
    let built = s.docker_archive(name, json!({"config": {}}), &refs);
    let placed = scn.scratch().join(format!("{name}.tar"));
    std::fs::copy(&built, &placed).unwrap();
    placed
}

/// What `userns run ARCHIVE true` left in an empty image cache: its output, and every path of the unpacked tree
/// but /bin (`path type [-> target | = content]`), sorted.
struct Unpacked {
    out: std::process::Output,
    tree: Vec<String>,
}

fn unpack(scn: &Scenario, archive: &Path) -> Unpacked {
    let script = format!(
        "rm -rf \"$XDG_DATA_HOME/userns/images\"\n\
         timeout -s KILL 60 \"$USERNS\" run '{}' true\nrc=$?\necho '--- tree'\n\
         for r in \"$XDG_DATA_HOME\"/userns/images/*/rootfs; do\n\
           [ -d \"$r\" ] || continue\n\
           cd \"$r\" && find . -path ./bin -prune -o ! -name . -print | sort | while read -r p; do\n\
             if [ -L \"$p\" ]; then echo \"$p l -> $(readlink \"$p\")\";\n\
             elif [ -d \"$p\" ]; then echo \"$p d\";\n\
             else echo \"$p f = $(cat \"$p\")\"; fi\n\
           done\n\
         done\nexit $rc",
        archive.display()
    );
    let out = scn.sh(&script);
    let text = common::stdout(&out);
    let tree = text
        .split_once("--- tree\n")
        .map(|(_, t)| t.lines().map(str::to_string).collect())
        .unwrap_or_default();
    Unpacked { out, tree }
}

#[track_caller]
fn assert_tree(scn: &Scenario, archive: &Path, expected: &[&str]) {
    let u = unpack(scn, archive);
    common::assert_ok(&u.out);
    assert_eq!(
        u.tree,
        expected,
        "the unpacked tree of {}",
        archive.display()
    );
    assert_canary_untouched(scn);
}

#[track_caller]
fn assert_refused(scn: &Scenario, archive: &Path, entry: &str) {
    let u = unpack(scn, archive);
    let err = common::stderr(&u.out);
    assert_eq!(
        u.out.status.code(),
        Some(125),
        "{}",
        common::describe(&u.out)
    );
    assert!(err.contains(entry), "the error names {entry}:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(u.tree.is_empty(), "left in the cache: {:?}", u.tree);
    assert_canary_untouched(scn);
}

#[test]
fn a_directory_swapped_for_a_symlink_in_one_layer_is_resolved_afresh() {
    let Some(scn) = scenario("parent_cache_swap") else {
        return;
    };
    let s = Scratch::new("parent_cache_swap");
    // `a`, `b` and `d` come into being as the parents of their first file (never named,
    // so naming them once more is no duplicate); then each is replaced, by an entry of
    // its own or by a whiteout and an entry, and a file is written through its name.
    let swapped = archive(
        &scn,
        &s,
        "swapped",
        &[json!([
            {"path": "a/x", "data": "ax"},
            {"path": "a/x2", "data": "ax2"},
            {"path": "a", "type": "symlink", "target": "../.."},
            {"path": "a/y", "data": "through a"},
            {"path": "b/x", "data": "bx"},
            {"path": "b", "type": "symlink", "target": "/"},
            {"path": "b/z", "data": "through b"},
            {"path": "d/x", "data": "dx"},
            {"path": ".wh.d", "type": "file"},
            {"path": "d", "type": "symlink", "target": "../../.."},
            {"path": "d/v", "data": "through d"},
        ])],
    );
    assert_tree(
        &scn,
        &swapped,
        &[
            "./a l -> ../..",
            "./b l -> /",
            "./d l -> ../../..",
            "./v f = through d",
            "./y f = through a",
            "./z f = through b",
        ],
    );
}

#[test]
fn a_symlink_whose_target_is_swapped_is_resolved_afresh() {
    let Some(scn) = scenario("parent_cache_chain") else {
        return;
    };
    let s = Scratch::new("parent_cache_chain");
    // `l/x` lands in m/n, kept as the parent of `l`. Then m goes (whiteout) and comes back
    // as a symlink to /: `l/y` now means /n/y. No name on the way is a prefix of `l`.
    let chain = archive(
        &scn,
        &s,
        "chain",
        &[json!([
            {"path": "n/", "type": "dir"},
            {"path": "m/n/x0", "data": "x0"},
            {"path": "l", "type": "symlink", "target": "m/n"},
            {"path": "l/x", "data": "lx"},
            {"path": ".wh.m", "type": "file"},
            {"path": "m", "type": "symlink", "target": "/"},
            {"path": "l/y", "data": "ly"},
        ])],
    );
    assert_tree(
        &scn,
        &chain,
        &["./l l -> m/n", "./m l -> /", "./n d", "./n/y f = ly"],
    );
}

#[test]
fn a_directory_swapped_in_the_next_layer_or_by_an_opaque_marker_is_resolved_afresh() {
    let Some(scn) = scenario("parent_cache_layers") else {
        return;
    };
    let s = Scratch::new("parent_cache_layers");
    let lower = json!([
        {"path": "a/", "type": "dir"},
        {"path": "a/x", "data": "ax"},
        {"path": "o/p/x", "data": "opx"},
        {"path": "q/", "type": "dir"},
    ]);
    // The upper layer writes in `a` (kept), replaces it with a symlink to `/` and writes
    // through it; writes in `o/p` (kept) and hides `o`'s lower content, `o/p` included,
    // with an opaque marker, then makes `o/p` a symlink to /q and writes through it.
    let upper = json!([
        {"path": "a/z", "data": "az"},
        {"path": "a", "type": "symlink", "target": "/"},
        {"path": "a/y", "data": "through a"},
        {"path": "o/p/k", "data": "opk"},
        {"path": "o/.wh..wh..opq", "type": "file"},
        {"path": "o/p", "type": "symlink", "target": "/q"},
        {"path": "o/p/k2", "data": "through o/p"},
    ]);
    let layers = archive(&scn, &s, "layers", &[lower, upper]);
    assert_tree(
        &scn,
        &layers,
        &[
            "./a l -> /",
            "./o d",
            "./o/p l -> /q",
            "./q d",
            "./q/k2 f = through o/p",
            "./y f = through a",
        ],
    );
}

#[test]
fn a_kept_directory_swapped_for_a_way_out_is_refused() {
    let Some(scn) = scenario("parent_cache_out") else {
        return;
    };
    let s = Scratch::new("parent_cache_out");
    let outside = scn.scratch().join("outside");
    let abs = outside.display().to_string();
    let rel = format!("../../../../../../../../../..{abs}");
    // A symlink out of the image: beneath the root its target does not exist, so the
    // write through it is refused, as it is without a kept directory.
    for (name, target) in [("abs", abs.as_str()), ("rel", rel.as_str())] {
        let out = archive(
            &scn,
            &s,
            &format!("out-{name}"),
            &[json!([
                {"path": "a/x", "data": "ax"},
                {"path": "a", "type": "symlink", "target": format!("{target}/dir")},
                {"path": "a/escaped", "data": "escaped?"},
            ])],
        );
        assert_refused(&scn, &out, "a/escaped");
    }
    // The directory replaced by a hard link to a file, or by a file in the next layer.
    let linked = archive(
        &scn,
        &s,
        "linked",
        &[json!([
            {"path": "f", "data": "f"},
            {"path": "h/x", "data": "hx"},
            {"path": "h", "type": "link", "target": "f"},
            {"path": "h/y", "data": "y"},
        ])],
    );
    assert_refused(&scn, &linked, "h/y");
    let filed = archive(
        &scn,
        &s,
        "filed",
        &[
            json!([{"path": "e/", "type": "dir"}, {"path": "e/x", "data": "ex"}]),
            json!([
                {"path": "e/w", "data": "ew"},
                {"path": "e", "data": "a file now"},
                {"path": "e/y", "data": "y"},
            ]),
        ],
    );
    assert_refused(&scn, &filed, "e/y");
}

/// The lower entries of the `l -> d/c/..` attacks: `l` means `d` while `d/c` is a directory.
fn dotdot_setup() -> Vec<Value> {
    vec![
        json!({"path": "q/", "type": "dir"}),
        json!({"path": "d/c/x0", "data": "x0"}),
        json!({"path": "l", "type": "symlink", "target": "d/c/.."}),
    ]
}

fn layer_of(entries: Vec<Value>) -> Value {
    Value::Array(entries)
}

#[test]
fn a_kept_directory_whose_meaning_changes_from_inside_it_is_resolved_afresh() {
    let Some(scn) = scenario("parent_cache_inside") else {
        return;
    };
    let s = Scratch::new("parent_cache_inside");
    let through = [
        json!({"path": "l/x", "data": "lx"}),
        json!({"path": "l/c", "type": "symlink", "target": "/q"}),
        json!({"path": "l/y", "data": "ly"}),
    ];
    // `l/x` lands in d (kept as `l`); `l/c` replaces d/c with a symlink to /q, so `l` now
    // means /q/.., the root: `l/y` is /y, not d/y. In one layer, and in the next one.
    let expected = [
        "./d d",
        "./d/c l -> /q",
        "./d/x f = lx",
        "./l l -> d/c/..",
        "./q d",
        "./y f = ly",
    ];
    let mut one = dotdot_setup();
    one.extend(through.iter().cloned());
    let one = archive(&scn, &s, "inside-one", &[layer_of(one)]);
    assert_tree(&scn, &one, &expected);
    let two = archive(
        &scn,
        &s,
        "inside-two",
        &[layer_of(dotdot_setup()), layer_of(through.to_vec())],
    );
    assert_tree(&scn, &two, &expected);
}

#[test]
fn a_kept_directory_that_leads_nowhere_any_more_is_refused() {
    let Some(scn) = scenario("parent_cache_nowhere") else {
        return;
    };
    let s = Scratch::new("parent_cache_nowhere");
    let outside = scn.scratch().join("outside");
    // Each swaps d/c (from inside `l`, after `l/x` landed in d) for something `l ->
    // d/c/..` cannot be resolved through; `l/y` must then fail as it would with no kept
    // directory, not land in d.
    let swaps = [
        ("whiteout", json!({"path": "l/.wh.c", "type": "file"})),
        ("opaque", json!({"path": "l/.wh..wh..opq", "type": "file"})),
        ("file", json!({"path": "l/c", "data": "a file now"})),
        (
            "link",
            json!({"path": "l/c", "type": "link", "target": "q/f"}),
        ),
        (
            "out",
            json!({"path": "l/c", "type": "symlink",
                   "target": format!("{}/dir", outside.display())}),
        ),
    ];
    for (name, swap) in swaps {
        let mut lower = dotdot_setup();
        lower.push(json!({"path": "q/f", "data": "qf"}));
        let upper = vec![
            json!({"path": "l/x", "data": "lx"}),
            swap,
            json!({"path": "l/y", "data": "ly"}),
        ];
        // The opaque marker hides only what lower layers put there: a layer of its own.
        let (layers, what) = if name == "opaque" {
            (vec![layer_of(lower), layer_of(upper)], "two layers")
        } else {
            let mut all = lower;
            all.extend(upper);
            (vec![layer_of(all)], "one layer")
        };
        eprintln!("{name} ({what})");
        let archive = archive(&scn, &s, &format!("nowhere-{name}"), &layers);
        assert_refused(&scn, &archive, "l/y");
    }
}
