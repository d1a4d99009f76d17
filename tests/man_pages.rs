//! The man pages in man/ are generated from `args::command()` of src/cli/args.rs (the
//! same clap `Command` the binary parses with, included here as it is) and committed.
//! This test regenerates them in memory and fails when a committed page differs, is
//! missing, or is left over.
//!
//! Regenerate with `scripts/gen-man` (that is `USERNS_UPDATE_MAN=1 cargo test --test
//! man_pages`), which writes the pages instead of comparing them.

// The binary's clap definitions, which need only clap and the library; the parts the
// pages do not use are the binary's.
#[allow(dead_code)]
#[path = "../src/cli/args.rs"]
mod args;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every page: `userns.1` and one per subcommand at any depth (`userns-subid-show.1`),
/// keyed by file name. clap names a subcommand `userns-subid-show` once built.
fn render_pages() -> BTreeMap<String, Vec<u8>> {
    fn walk(cmd: clap::Command, pages: &mut BTreeMap<String, Vec<u8>>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub.clone(), pages);
        }
        // clap_mangen's default footer is the subcommand's own name ("show 0.1.0").
        let source = format!("userns {}", env!("CARGO_PKG_VERSION"));
        let man = clap_mangen::Man::new(cmd).source(source);
        let mut page = Vec::new();
        man.render(&mut page)
            .expect("render a man page into memory");
        pages.insert(man.get_filename(), page);
    }
    let mut cmd = args::command();
    cmd.build();
    let mut pages = BTreeMap::new();
    walk(cmd, &mut pages);
    pages
}

fn man_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("man")
}

fn committed_pages() -> BTreeMap<String, Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(man_dir()) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "1"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read a committed man page"))
        })
        .collect()
}

#[test]
fn committed_man_pages_match_the_cli() {
    let fresh = render_pages();
    if std::env::var_os("USERNS_UPDATE_MAN").is_some() {
        std::fs::create_dir_all(man_dir()).expect("create man/");
        for name in committed_pages().keys() {
            if !fresh.contains_key(name) {
                std::fs::remove_file(man_dir().join(name)).expect("remove a stale page");
            }
        }
        for (name, page) in &fresh {
            std::fs::write(man_dir().join(name), page).expect("write a man page");
        }
        return;
    }
    let committed = committed_pages();
    let mut problems = Vec::new();
    for (name, page) in &fresh {
        match committed.get(name) {
            None => problems.push(format!("man/{name} is missing")),
            Some(old) if old != page => problems.push(format!("man/{name} is out of date")),
            Some(_) => {}
        }
    }
    for name in committed.keys().filter(|n| !fresh.contains_key(*n)) {
        problems.push(format!("man/{name} has no subcommand any more"));
    }
    assert!(
        problems.is_empty(),
        "{}\nThe man pages are generated from src/cli/args.rs. Regenerate them with \
         `scripts/gen-man` (or `USERNS_UPDATE_MAN=1 cargo test --test man_pages`) and commit man/.",
        problems.join("\n")
    );
}

#[test]
fn every_subcommand_has_a_page_that_names_it() {
    let pages = render_pages();
    let root = String::from_utf8(pages["userns.1"].clone()).unwrap();
    let cmd = args::command();
    for sub in cmd.get_subcommands() {
        let name = sub.get_name();
        assert!(
            root.contains(&format!("userns\\-{name}(1)")),
            "userns.1 does not list {name}"
        );
        assert!(
            pages.contains_key(&format!("userns-{name}.1")),
            "no page for {name}"
        );
    }
    let show = String::from_utf8(pages["userns-subid-show.1"].clone()).unwrap();
    assert!(show.contains("\\-\\-json"), "{show}");
}

#[test]
fn pages_render_without_groff_warnings() {
    // groff is part of man-db's dependencies on Debian; -ww turns on every warning, -z
    // discards the output, so anything on stderr is a problem in the page.
    for (name, page) in render_pages() {
        let mut child = std::process::Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("groff (package groff-base) is needed to check man pages");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&page).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "groff failed on {name}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "",
            "groff warns about {name}"
        );
    }
}
