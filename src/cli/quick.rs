//! A parse of the plainest `userns enter` command lines without building clap's
//! `Command`. `userns enter NAME CMD...` is the call scripts repeat in loops, and there
//! clap's set-up (every subcommand's arguments and help, a few dozen heap pages touched)
//! costs about as much as the join itself.
//!
//! Only a line whose meaning cannot differ from clap's is taken: `enter`, a TARGET that
//! is not an option, then nothing or a COMMAND whose first word is not an option and
//! which holds no `--`. Everything else (options, `--`, help, a non-UTF-8 TARGET, a TARGET
//! clap would read as an option) goes to clap. COMMAND words are bytes, taken unchanged. `cli::parse` is the one caller. The unit
//! tests check that for every line taken, clap gives the same `Cli`: on chosen lines and
//! on generated ones.

use crate::cli::args::{Cli, Command, EnterArgs, ExecArgs};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

/// `Some(cli)` when `args` (with the program name first) is a plain `enter` line.
pub fn plain_enter(args: &[OsString]) -> Option<Cli> {
    let (sub, rest) = args.get(1..)?.split_first()?;
    if sub != "enter" {
        return None;
    }
    let (target, command) = rest.split_first()?;
    // TARGET is text to clap (a name, a pid or `podman`); COMMAND words are bytes.
    let target = target.to_str()?;
    if target.starts_with('-') || target.is_empty() {
        return None;
    }
    let option_like = |w: &OsString| w.as_bytes().starts_with(b"-");
    if command.first().is_some_and(option_like) || command.iter().any(|w| w == "--") {
        return None;
    }
    Some(Cli {
        command: Command::Enter(EnterArgs {
            target: target.to_string(),
            mount: false,
            all: false,
            wd: None,
            command: command.to_vec(),
        }),
    })
}

/// `Some(cli)` when `args` is a plain `exec` line: `exec`, a CONTAINER that is not an
/// option, then a COMMAND whose first word is not an option and which holds no `--`
/// (`userns exec NAME true`, the call a script repeats, is as hot as `enter`'s).
pub fn plain_exec(args: &[OsString]) -> Option<Cli> {
    let (sub, rest) = args.get(1..)?.split_first()?;
    if sub != "exec" {
        return None;
    }
    let (container, command) = rest.split_first()?;
    // CONTAINER is text to clap (a name or an id); COMMAND words are bytes.
    let container = container.to_str()?;
    if container.starts_with('-') || container.is_empty() {
        return None;
    }
    let first = command.first()?;
    if first.as_bytes().starts_with(b"-") || command.iter().any(|w| w == "--") {
        return None;
    }
    Some(Cli {
        command: Command::Exec(ExecArgs {
            interactive: false,
            tty: false,
            user: None,
            env: Vec::new(),
            env_file: Vec::new(),
            workdir: None,
            container: container.to_string(),
            command: command.to_vec(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use proptest::prelude::*;
    use std::os::unix::ffi::OsStringExt;

    fn line(words: &[&str]) -> Vec<OsString> {
        std::iter::once("userns")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    /// Every line the quick parse takes, clap reads the same way.
    #[test]
    fn taken_lines_match_clap() {
        let taken: &[&[&str]] = &[
            &["enter", "demo"],
            &["enter", "demo", "true"],
            &["enter", "1234", "sh", "-c", "echo hi"],
            &["enter", "podman", "ls", "-l", "--all"],
            &["enter", "demo", "cat", "/proc/self/uid_map"],
            &["enter", "demo", "env", "--mount", "-w", "x"],
        ];
        for words in taken {
            let args = line(words);
            let quick = plain_enter(&args).unwrap_or_else(|| panic!("not taken: {words:?}"));
            let clap = Cli::try_parse_from(&args).expect("clap parses it");
            assert_eq!(format!("{quick:?}"), format!("{clap:?}"), "{words:?}");
        }
    }

    /// Every plain `exec` line the quick parse takes, clap reads the same way; the others
    /// are left to clap.
    #[test]
    fn exec_lines_match_clap_or_go_to_clap() {
        let taken: &[&[&str]] = &[
            &["exec", "web", "true"],
            &["exec", "0123abcd", "sh", "-c", "echo hi"],
            &["exec", "web", "ls", "-l", "-i", "--tty"],
        ];
        for words in taken {
            let args = line(words);
            let quick = plain_exec(&args).unwrap_or_else(|| panic!("not taken: {words:?}"));
            let clap = Cli::try_parse_from(&args).expect("clap parses it");
            assert_eq!(format!("{quick:?}"), format!("{clap:?}"), "{words:?}");
        }
        let left: &[&[&str]] = &[
            &["exec"],
            &["exec", "web"],
            &["exec", "-i", "web", "cat"],
            &["exec", "web", "-t", "sh"],
            &["exec", "web", "--", "sh"],
            &["exec", "web", "sh", "--", "x"],
            &["exec", "--help"],
            &["exec", "", "true"],
            &["enter", "web", "true"],
        ];
        for words in left {
            assert!(plain_exec(&line(words)).is_none(), "taken: {words:?}");
        }
    }

    /// Lines with options, `--`, help or odd words are left to clap.
    #[test]
    fn other_lines_go_to_clap() {
        let left: &[&[&str]] = &[
            &[],
            &["enter"],
            &["enter", "--mount", "demo"],
            &["enter", "demo", "--mount", "sh"],
            &["enter", "demo", "-w", "/tmp", "sh"],
            &["enter", "demo", "--", "sh"],
            &["enter", "demo", "sh", "--", "x"],
            &["enter", "--help"],
            &["enter", "-h"],
            &["enter", "demo", "--help"],
            &["enter", ""],
            &["unshare", "true"],
            &["--version"],
            &["ls"],
        ];
        for words in left {
            assert!(plain_enter(&line(words)).is_none(), "taken: {words:?}");
        }
    }

    #[test]
    fn command_words_are_bytes_and_a_non_utf8_target_goes_to_clap() {
        let odd = OsString::from_vec(vec![0xff, b'x']);
        let mut args = line(&["enter", "demo", "printf"]);
        args.push(odd.clone());
        let quick = plain_enter(&args).expect("taken");
        let Command::Enter(enter) = &quick.command else {
            panic!("{quick:?}")
        };
        assert_eq!(enter.command, [OsString::from("printf"), odd.clone()]);
        let clap = Cli::try_parse_from(&args).expect("clap parses it");
        assert_eq!(format!("{quick:?}"), format!("{clap:?}"));
        let mut args = line(&["enter"]);
        args.push(odd);
        assert!(plain_enter(&args).is_none());
    }

    /// Words a generated command line is made of: `enter`'s options and their look-alikes,
    /// `--`, help, pids, names, commands, odd words. Lines are built mostly from these, so
    /// that the quick parse takes many and the differences that matter are tried.
    const VOCABULARY: &[&str] = &[
        "enter",
        "unshare",
        "ls",
        "--mount",
        "--all",
        "-w",
        "--wd",
        "--wd=/tmp",
        "-w/tmp",
        "/tmp",
        "--",
        "-",
        "--help",
        "-h",
        "help",
        "--version",
        "-V",
        "--bogus",
        "-x",
        "-mw",
        "0",
        "1",
        "1234",
        "007",
        "4294967296",
        "demo",
        "podman",
        "containers",
        "sh",
        "-c",
        "true",
        "echo hi",
        "a=b",
        "",
        " ",
    ];

    fn word() -> impl Strategy<Value = OsString> {
        prop_oneof![
            8 => proptest::sample::select(VOCABULARY).prop_map(OsString::from),
            2 => "[a-z0-9/=._-]{0,5}".prop_map(OsString::from),
            1 => proptest::collection::vec(proptest::num::u8::ANY, 0..4)
                .prop_map(OsString::from_vec),
        ]
    }

    /// `userns`, mostly `enter`, then up to seven words.
    fn command_line() -> impl Strategy<Value = Vec<OsString>> {
        let first = prop_oneof![
            6 => Just(OsString::from("enter")),
            1 => word(),
        ];
        (first, proptest::collection::vec(word(), 0..8)).prop_map(|(first, rest)| {
            std::iter::once(OsString::from("userns"))
                .chain(std::iter::once(first))
                .chain(rest)
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whenever the quick parse takes a line, clap parses it to the same `Cli`; so
        /// `cli::parse` reads every line as clap alone would.
        #[test]
        fn quick_parse_agrees_with_clap(args in command_line()) {
            if let Some(quick) = plain_enter(&args) {
                let clap = Cli::try_parse_from(&args);
                prop_assert!(clap.is_ok(), "clap refuses {:?}: {:?}", args, clap);
                prop_assert_eq!(format!("{quick:?}"), format!("{:?}", clap.unwrap()));
            }
        }
    }
}
