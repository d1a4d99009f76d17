//! /etc/login.defs, the shadow configuration that bounds account ids (UID_MIN..UID_MAX)
//! and the subordinate id pool (SUB_UID_MIN, SUB_UID_MAX, SUB_UID_COUNT, and the GID
//! twins) that `useradd` and `usermod` allocate from.
//!
//! The format is shadow's (`lib/getdef.c`): one `KEY value` a line, separated by white
//! space; `#` starts a comment line; a value may be wrapped in double quotes; a later
//! definition of a key replaces an earlier one. Numbers are read as `getdef_ulong` reads
//! them, with `strtoul(…, 0)`: `0x` is hex and a leading `0` is octal. A value that is
//! not a number is ignored in favour of the default, as shadow does after logging
//! "configuration error", and is kept in `invalid` so that `subid check` can say so.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The default path.
pub const LOGIN_DEFS: &str = "/etc/login.defs";

/// shadow's compiled-in defaults for the keys userns reads (login.defs(5), useradd(8)).
const DEFAULTS: &[(&str, u64)] = &[
    ("UID_MIN", 1000),
    ("UID_MAX", 60000),
    ("GID_MIN", 1000),
    ("GID_MAX", 60000),
    ("SUB_UID_MIN", 100_000),
    ("SUB_UID_MAX", 600_100_000),
    ("SUB_UID_COUNT", 65536),
    ("SUB_GID_MIN", 100_000),
    ("SUB_GID_MAX", 600_100_000),
    ("SUB_GID_COUNT", 65536),
];

/// One definition as written, with its line for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Definition {
    value: String,
    line: usize,
}

/// A key whose value shadow could not read as a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvalidNumber {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// The parsed definitions of a login.defs file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginDefs {
    /// The file read, or None for the defaults only.
    pub path: Option<PathBuf>,
    defs: HashMap<String, Definition>,
}

impl LoginDefs {
    /// Only shadow's defaults, as when the file does not exist.
    pub(crate) fn defaults() -> LoginDefs {
        LoginDefs::default()
    }

    /// Read `path`; a missing file means the defaults (shadow runs without one too).
    pub fn read(path: &Path) -> Result<LoginDefs> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let mut defs = LoginDefs::parse(&String::from_utf8_lossy(&bytes));
                defs.path = Some(path.to_path_buf());
                Ok(defs)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LoginDefs::defaults()),
            Err(e) => Err(Error::io("read", path, &e)),
        }
    }

    /// Parse the text of a login.defs file. Never fails: a line without a value is ignored,
    /// as shadow ignores it.
    pub(crate) fn parse(text: &str) -> LoginDefs {
        let mut defs = HashMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(key), Some(value)) = (words.next(), words.next()) else {
                continue;
            };
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            defs.insert(
                key.to_string(),
                Definition {
                    value: value.to_string(),
                    line: index + 1,
                },
            );
        }
        LoginDefs { path: None, defs }
    }

    /// The value of `key` as written, if the file defines it.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.defs.get(key).map(|d| d.value.as_str())
    }

    /// The numeric value of `key`: the file's, when it is a number; else shadow's default
    /// for the keys in `DEFAULTS`; else None.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key)
            .and_then(parse_c_number)
            .or_else(|| default_of(key))
    }

    /// Keys that userns reads whose values are not numbers (shadow falls back to the default).
    pub(crate) fn invalid(&self) -> Vec<InvalidNumber> {
        let mut out: Vec<InvalidNumber> = DEFAULTS
            .iter()
            .filter_map(|(key, _)| {
                let d = self.defs.get(*key)?;
                parse_c_number(&d.value).is_none().then(|| InvalidNumber {
                    key: key.to_string(),
                    value: d.value.clone(),
                    line: d.line,
                })
            })
            .collect();
        out.sort_by_key(|i| i.line);
        out
    }

    /// Where a key's value comes from, for messages: "/etc/login.defs" or "default".
    pub(crate) fn origin(&self, key: &str) -> String {
        match (&self.path, self.get(key).and_then(parse_c_number)) {
            (Some(p), Some(_)) => p.display().to_string(),
            _ => "shadow's default".into(),
        }
    }
}

/// shadow's default for `key`, when userns knows it.
pub(crate) fn default_of(key: &str) -> Option<u64> {
    DEFAULTS.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// A number as C's `strtoul(s, &end, 0)` reads a whole field: `0x`/`0X` hex, a leading
/// `0` octal, otherwise decimal. Signs and trailing text are refused (shadow checks
/// `*endptr`; a negative value would wrap, which no configuration means).
fn parse_c_number(s: &str) -> Option<u64> {
    let (digits, radix) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (hex, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keys_values_and_comments() {
        let d = LoginDefs::parse(
            "# UID_MIN 5\n\tUID_MIN\t\t\t 2000\nUID_MAX 3000 # trailing\nMAIL_DIR /var/mail\nLONELY\n",
        );
        assert_eq!(d.get_u64("UID_MIN"), Some(2000));
        assert_eq!(d.get_u64("UID_MAX"), Some(3000));
        assert_eq!(d.get("MAIL_DIR"), Some("/var/mail"));
        assert_eq!(d.get("LONELY"), None);
        assert!(d.invalid().is_empty());
    }

    #[test]
    fn defaults_fill_what_is_missing() {
        let d = LoginDefs::parse("");
        assert_eq!(d.get_u64("UID_MIN"), Some(1000));
        assert_eq!(d.get_u64("GID_MAX"), Some(60000));
        assert_eq!(d.get_u64("SUB_UID_COUNT"), Some(65536));
        assert_eq!(d.get_u64("SUB_GID_MAX"), Some(600_100_000));
        assert_eq!(d.get_u64("PASS_MAX_DAYS"), None);
    }

    #[test]
    fn numbers_follow_strtoul_base_zero() {
        let d = LoginDefs::parse("UID_MIN 0x3e8\nUID_MAX 0177\nGID_MIN 0\nERASECHAR 010\n");
        assert_eq!(d.get_u64("UID_MIN"), Some(1000));
        assert_eq!(d.get_u64("UID_MAX"), Some(127));
        assert_eq!(d.get_u64("GID_MIN"), Some(0));
        assert_eq!(d.get_u64("ERASECHAR"), Some(8));
    }

    #[test]
    fn later_definitions_win_and_quotes_are_stripped() {
        let d = LoginDefs::parse("UID_MIN 500\nUID_MIN \"1500\"\n");
        assert_eq!(d.get_u64("UID_MIN"), Some(1500));
    }

    #[test]
    fn a_value_that_is_not_a_number_falls_back_and_is_reported() {
        let d = LoginDefs::parse("UID_MIN lots\nGID_MAX -5\nSUB_UID_COUNT 09\n");
        assert_eq!(d.get_u64("UID_MIN"), Some(1000));
        assert_eq!(d.get_u64("GID_MAX"), Some(60000));
        // "09" is an invalid octal number for strtoul(…, 0): it stops at the 9.
        assert_eq!(d.get_u64("SUB_UID_COUNT"), Some(65536));
        let keys: Vec<(String, usize)> = d.invalid().into_iter().map(|i| (i.key, i.line)).collect();
        assert_eq!(
            keys,
            vec![
                ("UID_MIN".into(), 1),
                ("GID_MAX".into(), 2),
                ("SUB_UID_COUNT".into(), 3)
            ]
        );
    }

    #[test]
    fn a_missing_file_means_defaults() {
        let d = LoginDefs::read(Path::new("/nonexistent/login.defs")).unwrap();
        assert_eq!(d, LoginDefs::defaults());
        assert_eq!(d.origin("UID_MIN"), "shadow's default");
    }
}
