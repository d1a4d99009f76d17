//! One file per subcommand, each a thin layer over the library: it turns its options into
//! the library's spec types, calls the library, and renders the outcome.

pub mod chown;
pub mod clean;
pub mod completions;
pub mod doctor;
pub mod enter;
pub mod images;
pub mod ls;
pub mod map;
pub mod migrate;
pub mod run;
pub mod stat;
pub mod stop;
pub mod subid;
pub mod subid_admin;
pub mod translate;
pub mod unshare;
pub mod whose;

use std::ffi::OsString;
use userns::error::{Error, Result};

/// clap's trailing COMMAND takes an unknown `--option` as the command's name; refuse that
/// unless the user wrote `--` first (util-linux `unshare --bogus` is a usage error too).
/// `words` is the whole command line, as parsed.
pub fn check_command_words(command: &[String], words: &[OsString]) -> Result<()> {
    match command.first() {
        Some(first) if first.starts_with('-') && !words.iter().any(|w| w == "--") => {
            Err(Error::usage(format!("unknown option {first}"))
                .fix("see --help; to run a command whose name starts with '-', put -- before it"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_that_looks_like_an_option_needs_a_double_dash() {
        let words = |w: &[&str]| w.iter().map(OsString::from).collect::<Vec<_>>();
        let bogus = ["--bogus".to_string()];
        let err = check_command_words(&bogus, &words(&["userns", "unshare", "--bogus"]));
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("unknown option --bogus"));
        assert!(
            check_command_words(&bogus, &words(&["userns", "unshare", "--", "--bogus"])).is_ok()
        );
        assert!(check_command_words(&["sh".into()], &words(&["userns", "unshare", "sh"])).is_ok());
    }
}
