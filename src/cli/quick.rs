//! A parse of the plainest `userns enter` command lines without building clap's
//! `Command`. `userns enter NAME CMD...` is the call scripts repeat in loops, and there
//! clap's set-up (every subcommand's arguments and help, a few dozen heap pages touched)
//! costs about as much as the join itself.
//!
//! Only a line whose meaning cannot differ from clap's is taken: `enter`, a TARGET that
//! is not an option, then nothing or a COMMAND whose first word is not an option and
//! which holds no `--`. Everything else (options, `--`, help, non-UTF-8 words, a TARGET
//! clap would read as an option) goes to clap. The unit tests check that for every line
//! taken, clap gives the same `Cli`.

use crate::cli::args::{Cli, Command, EnterArgs};
use std::ffi::OsString;

/// `Some(cli)` when `args` (with the program name first) is a plain `enter` line.
pub fn plain_enter(args: &[OsString]) -> Option<Cli> {
    let words: Vec<&str> = args
        .iter()
        .skip(1)
        .map(|a| a.to_str())
        .collect::<Option<_>>()?;
    let (&sub, rest) = words.split_first()?;
    if sub != "enter" {
        return None;
    }
    let (&target, command) = rest.split_first()?;
    if target.starts_with('-') || target.is_empty() {
        return None;
    }
    if command.first().is_some_and(|w| w.starts_with('-')) || command.contains(&"--") {
        return None;
    }
    Some(Cli {
        command: Command::Enter(EnterArgs {
            target: target.to_string(),
            mount: false,
            all: false,
            wd: None,
            command: command.iter().map(|w| w.to_string()).collect(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

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
    fn non_utf8_words_go_to_clap() {
        use std::os::unix::ffi::OsStringExt;
        let mut args = line(&["enter", "demo"]);
        args.push(OsString::from_vec(vec![0xff, b'x']));
        assert!(plain_enter(&args).is_none());
    }
}
