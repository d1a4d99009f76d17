//! The man pages in man/ are generated from `args::command()` of src/cli/args/ (the
//! same clap `Command` the binary parses with, included here as it is), with the EXIT
//! STATUS, ENVIRONMENT, EXAMPLES and SEE ALSO of src/cli/man.rs, and committed. This
//! test regenerates them in memory and fails when a committed page differs, is missing,
//! or is left over, and when a command has no entry in src/cli/man.rs.
//!
//! Regenerate with `scripts/gen-man` (that is `USERNS_UPDATE_MAN=1 cargo test --test
//! man_pages`), which writes the pages instead of comparing them.

// The binary's clap definitions, which need only clap and the library; the parts the
// pages do not use are the binary's.
#[allow(dead_code)]
#[path = "../src/cli/args/mod.rs"]
mod args;

// The sections clap does not know of (data only).
#[path = "../src/cli/man.rs"]
mod man;

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
        let words = command_words(&cmd);
        let has_args = cmd.get_arguments().any(|a| !a.is_hide_set());
        let has_subcommands = cmd.get_subcommands().any(|s| !s.is_hide_set());
        let man = clap_mangen::Man::new(cmd).source(source);
        let mut page = Vec::new();
        // clap_mangen's own order (Man::render), with ours before VERSION.
        let render = |page: &mut Vec<u8>| -> std::io::Result<()> {
            man.render_title(page)?;
            man.render_name_section(page)?;
            man.render_synopsis_section(page)?;
            man.render_description_section(page)?;
            if has_args {
                man.render_options_section(page)?;
            }
            if has_subcommands {
                man.render_subcommands_section(page)?;
            }
            if let Some(extra) = man::page(&words) {
                page.extend_from_slice(extra_sections(&words, &extra).as_bytes());
            }
            man.render_version_section(page)
        };
        render(&mut page).expect("render a man page into memory");
        let page = quotes_to_bold(&String::from_utf8(page).expect("a UTF-8 page"));
        pages.insert(man.get_filename(), page.into_bytes());
    }
    let mut cmd = args::command();
    cmd.build();
    let mut pages = BTreeMap::new();
    walk(cmd, &mut pages);
    pages
}

/// A built command's words after `userns`: "subid show"; "" for userns itself.
fn command_words(cmd: &clap::Command) -> String {
    let bin = cmd.get_bin_name().unwrap_or_else(|| cmd.get_name());
    bin.strip_prefix("userns").unwrap_or(bin).trim().to_string()
}

/// Text for roff: backslashes and hyphens escaped, a leading control character defused.
fn roff(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with(['.', '\'']) {
        format!("\\&{text}")
    } else {
        text
    }
}

/// EXIT STATUS, ENVIRONMENT, EXAMPLES and SEE ALSO of one page, as roff.
fn extra_sections(words: &str, page: &man::Page) -> String {
    let mut out = String::from(".SH \"EXIT STATUS\"\n");
    let mut item = |tag: &str, text: &str| {
        out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", roff(tag), roff(text)));
    };
    match page.exit {
        man::Exit::Inspect { problems } => {
            item("0", "Success.");
            item("1", &format!("Failure: {problems}; or a failed write to standard output (a reader that closed the pipe ends it quietly)."));
            item(
                "2",
                "The command line is wrong (an unknown option, a bad value).",
            );
        }
        man::Exit::Program => {
            item("125", "userns itself failed, or the command line is wrong (an unknown option before COMMAND: only `--` or COMMAND's first word ends the options).");
            item("126", "COMMAND was found but could not be run.");
            item("127", "COMMAND was not found.");
            item("other", "COMMAND's own exit status; 128+N when signal N ended it (as podman and the shell report).");
        }
    }
    out.push_str(".SH ENVIRONMENT\n");
    let shown = if words.is_empty() {
        "userns".to_string()
    } else {
        format!("userns {words}")
    };
    let describe = |name: &str| {
        man::VARIABLES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| *text)
            .unwrap_or_else(|| {
                panic!("src/cli/man.rs: `{shown}` names {name}, which VARIABLES does not describe")
            })
    };
    if page.reads.is_empty() {
        out.push_str(&format!(
            "{} reads no environment variables.\n",
            roff(&shown)
        ));
    }
    for name in page.reads {
        out.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{}\n",
            roff(name),
            roff(describe(name))
        ));
    }
    if !page.sets.is_empty() {
        out.push_str(".PP\nCOMMAND runs with these set:\n");
        for name in page.sets {
            out.push_str(&format!(
                ".TP\n\\fB{}\\fR\n{}\n",
                roff(name),
                roff(describe(name))
            ));
        }
    }
    out.push_str(".SH EXAMPLES\n");
    for (line, what) in page.examples {
        out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", roff(line), roff(what)));
    }
    out.push_str(".SH \"SEE ALSO\"\n");
    let refs: Vec<String> = page
        .see_also
        .iter()
        .map(|r| {
            let (name, section) = r
                .split_once('(')
                .unwrap_or_else(|| panic!("{r}: not name(section)"));
            format!("\\fB{}\\fR({section}", roff(name))
        })
        .collect();
    out.push_str(&refs.join(", "));
    out.push('\n');
    out
}

/// The doc comments quote commands and values in `backticks`, which a man page would
/// print as they are: they become bold, and in the NAME line (read by whatis and
/// apropos) plain. The apostrophe preamble each of clap_mangen's section renderers
/// writes is kept once, at the top.
fn quotes_to_bold(page: &str) -> String {
    let mut out = String::new();
    let mut in_name = false;
    for (i, line) in page.lines().enumerate() {
        if i >= 2 && (line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq")) {
            continue;
        }
        if line.starts_with(".SH") {
            in_name = line == ".SH NAME";
        }
        let parts: Vec<&str> = line.split('`').collect();
        if parts.len() % 2 == 1 {
            for (i, part) in parts.iter().enumerate() {
                if i % 2 == 1 && !in_name {
                    out.push_str(&format!("\\fB{part}\\fR"));
                } else {
                    out.push_str(part);
                }
            }
        } else {
            // An unpaired backtick stays (every_page_has_the_sections_and_no_backticks fails).
            out.push_str(line);
        }
        out.push('\n');
    }
    out
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
        "{}\nThe man pages are generated from src/cli/args/. Regenerate them with \
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

#[test]
fn every_page_has_the_sections_and_no_backticks() {
    let mut cmd = args::command();
    cmd.build();
    fn walk(cmd: &clap::Command, missing: &mut Vec<String>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, missing);
        }
        let words = command_words(cmd);
        if man::page(&words).is_none() {
            missing.push(format!("userns {words}").trim().to_string());
        }
    }
    let mut missing = Vec::new();
    walk(&cmd, &mut missing);
    assert!(
        missing.is_empty(),
        "no EXIT STATUS, ENVIRONMENT, EXAMPLES and SEE ALSO for {}: add an arm to `page` in \
         src/cli/man.rs (see docs/ARCHITECTURE.md, Adding a command)",
        missing.join(", ")
    );
    for (name, page) in render_pages() {
        let text = String::from_utf8(page).unwrap();
        for section in [
            ".SH \"EXIT STATUS\"",
            ".SH ENVIRONMENT",
            ".SH EXAMPLES",
            ".SH \"SEE ALSO\"",
        ] {
            assert!(text.contains(section), "{name} has no {section}");
        }
        assert!(!text.contains('`'), "{name} prints a backtick:\n{text}");
    }
}

/// Every variable the source reads is described and on userns(1); every one described
/// is on some page.
#[test]
fn every_environment_variable_read_is_documented() {
    let read = variables_read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    for must in [
        "USERNS_CLEAN_WORKERS",
        "USERNS_UNPACK_MAX_FILE",
        "XDG_RUNTIME_DIR",
        "SHELL",
    ] {
        assert!(read.contains(must), "the scan misses {must}: {read:?}");
    }
    let top = man::page("").expect("userns(1)");
    for name in &read {
        assert!(
            man::VARIABLES.iter().any(|(n, _)| n == name) && top.reads.contains(&name.as_str()),
            "the source reads {name}: describe it in VARIABLES of src/cli/man.rs and name it \
             in the pages of userns and of the commands that read it"
        );
    }
    let mut cmd = args::command();
    cmd.build();
    let mut named = std::collections::BTreeSet::new();
    fn collect(cmd: &clap::Command, named: &mut std::collections::BTreeSet<&'static str>) {
        for sub in cmd.get_subcommands() {
            collect(sub, named);
        }
        if let Some(page) = man::page(&command_words(cmd)) {
            named.extend(page.reads.iter().chain(page.sets));
        }
    }
    collect(&cmd, &mut named);
    for (name, _) in man::VARIABLES {
        assert!(named.contains(name), "{name} is described but on no page");
    }
}

/// Names of environment variables read in `dir`'s Rust files, outside unit tests:
/// `var("NAME")`, `var_os("NAME")`, `env("NAME")` (the lookups of storage and seccomp)
/// and `..._VAR: &str = "NAME"` constants.
fn variables_read(dir: &Path) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy();
            if !name.ends_with(".rs") || name.ends_with("_tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for opener in ["var(\"", "var_os(\"", "env(\"", "_VAR: &str = \""] {
                for (at, _) in code.match_indices(opener) {
                    let rest = &code[at + opener.len()..];
                    let end = rest.find('"').unwrap_or(0);
                    let var = &rest[..end];
                    if !var.is_empty() && var.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
                        names.insert(var.to_string());
                    }
                }
            }
        }
    }
    names
}

#[test]
fn map_users_auto_is_documented() {
    let pages = render_pages();
    let unshare = String::from_utf8(pages["userns-unshare.1"].clone()).unwrap();
    assert!(
        unshare.contains("\\fBauto\\fR asks for the plan"),
        "{unshare}"
    );
}
