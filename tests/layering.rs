//! The library must not see the command line: arrows point from the binary (src/main.rs,
//! src/cli/) down to the library, never back (docs/ARCHITECTURE.md). The compiler already
//! refuses a library path into the binary's modules; this test catches the ways back that
//! it would let through: the library depending on clap again, or declaring or naming a
//! `cli` or `cmd` module of its own.

use std::path::{Path, PathBuf};

/// Every .rs file of the library: all of src/ but the binary's main.rs and src/cli/.
fn library_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                if path != src().join("cli") {
                    walk(&path, out);
                }
            } else if path.extension().is_some_and(|x| x == "rs") && path != src().join("main.rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&src(), &mut files);
    files
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The library's ways back up in one file's text, one line each: `clap` (or clap_*) as an
/// identifier, a `crate::cli` or `crate::cmd` path, a `mod cli` or `mod cmd`. Comments are
/// left out: prose may name the command line.
fn ways_up(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let tokens: Vec<&str> = code
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .filter(|t| !t.is_empty())
            .collect();
        let names_clap = tokens.iter().any(|t| {
            t.split("::")
                .any(|part| part == "clap" || part.starts_with("clap_"))
        });
        let names_cli = tokens.iter().any(|t| {
            let parts: Vec<&str> = t.split("::").collect();
            parts
                .windows(2)
                .any(|w| w[0] == "crate" && (w[1] == "cli" || w[1] == "cmd"))
        });
        let declares_cli = tokens
            .windows(2)
            .any(|w| w[0] == "mod" && (w[1] == "cli" || w[1] == "cmd"));
        if names_clap || names_cli || declares_cli {
            found.push((n + 1, line.trim().to_string()));
        }
    }
    found
}

#[test]
fn the_library_does_not_name_the_command_line() {
    let files = library_files();
    for expected in ["lib.rs", "keep/mod.rs", "run/mod.rs", "unshare/spec.rs"] {
        assert!(
            files.contains(&src().join(expected)),
            "src/{expected} is not among the library files scanned"
        );
    }
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read a library file");
        let shown = file
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(file);
        for (line, code) in ways_up(&text) {
            problems.push(format!("{}:{line}: {code}", shown.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "the library names the command line (clap, crate::cli, crate::cmd):\n{}\n\
         The library takes plain spec types (unshare::NsSpec, run::RunSpec...); clap types \
         and the subcommands live in the binary, under src/cli/, which builds those specs \
         from its options (see docs/ARCHITECTURE.md).",
        problems.join("\n")
    );
}

#[test]
fn the_check_sees_code_and_skips_prose() {
    let text = "use clap::Parser;\n\
                // clap is the command line's parser\n\
                /// see crate::cli::args\n\
                let x = crate::cmd::unshare::enter(a);\n\
                pub mod cli;\n\
                #[derive(clap_complete::Shell)]\n\
                let clapper = crate::client::x; // crate::cli\n";
    let lines: Vec<usize> = ways_up(text).into_iter().map(|(n, _)| n).collect();
    assert_eq!(lines, [1, 4, 5, 6]);
}
