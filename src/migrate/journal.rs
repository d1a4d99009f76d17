//! The journal that makes an interrupted migration finish on the next run, with nothing
//! moved twice and nothing lost half-way.
//!
//! - `migrate.json`, written (atomically) before anything changes and removed once the
//!   run has ended without a failure: the old and new maps and the trees. A run that
//!   finds it resumes with those maps, whatever the plan record says by then (the next
//!   `unshare` records the new map as the newest plan).
//! - `migrate.intents`, appended to before an inode is changed (one write(2) of one line,
//!   O_APPEND): the inode (st_dev, st_ino) and the whole state it is to have: owner,
//!   group, mode, and the new values of the attributes that hold ids. On resume, an inode
//!   listed there is set to exactly that state (setting it twice is setting it once);
//!   an inode not listed was never touched and is translated as usual.
//!
//! Which inodes need a line: those whose change takes more than one step and would lose
//! something if cut between them (chown clears setuid/setgid bits and file capabilities,
//! which are restored after it), and, when the translation is ambiguous (a moved id is
//! also an old id, see `translate.rs`), every inode, since its owner alone cannot say
//! whether it has moved. Otherwise a second pass leaves moved ids alone by itself.

use super::translate::MapsRecord;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const HEADER: &str = "migrate.json";
pub const INTENTS: &str = "migrate.intents";

/// What a migration is doing, so that a second run can finish it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub version: u32,
    /// The user whose trees move.
    pub uid: u32,
    pub old: MapsRecord,
    pub new: MapsRecord,
    pub paths: Vec<PathBuf>,
    /// Seconds since the epoch.
    pub started: u64,
}

/// The state an inode is to have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits (with setuid, setgid, sticky).
    pub mode: u32,
    /// Attribute name and its new value.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

pub type Inode = (u64, u64);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Intent {
    /// One line: `dev ino uid gid mode [name=hex]...`.
    pub fn line(&self, inode: Inode) -> String {
        let mut line = format!(
            "{} {} {} {} {:o}",
            inode.0, inode.1, self.uid, self.gid, self.mode
        );
        for (name, value) in &self.xattrs {
            line.push(' ');
            line.push_str(name);
            line.push('=');
            line.push_str(&hex(value));
        }
        line.push('\n');
        line
    }

    pub fn parse(line: &str) -> Option<(Inode, Intent)> {
        let mut words = line.split_ascii_whitespace();
        let mut num = || words.next()?.parse::<u64>().ok();
        let dev = num()?;
        let ino = num()?;
        let uid = u32::try_from(num()?).ok()?;
        let gid = u32::try_from(num()?).ok()?;
        let mode = u32::from_str_radix(words.next()?, 8).ok()?;
        let xattrs = words
            .map(|w| {
                let (name, value) = w.split_once('=')?;
                Some((name.to_string(), unhex(value)?))
            })
            .collect::<Option<Vec<_>>>()?;
        Some((
            (dev, ino),
            Intent {
                uid,
                gid,
                mode,
                xattrs,
            },
        ))
    }
}

/// An open journal: its header written, its intents file open for appending.
pub struct Journal {
    dir: PathBuf,
    intents: Mutex<File>,
}

impl Journal {
    /// The pending migration's header in `dir`, if there is one.
    pub fn pending(dir: &Path) -> Result<Option<Header>> {
        let path = dir.join(HEADER);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
                Error::failure(format!(
                    "cannot read the migration journal {}",
                    path.display()
                ))
                .because(e.to_string())
                .fix(format!(
                    "remove {} and {} to start over (files already moved stay moved)",
                    path.display(),
                    dir.join(INTENTS).display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", &path, &e)),
        }
    }

    /// The intents a pending migration recorded: the last line for each inode wins (a
    /// line cut short by the interruption is ignored).
    pub fn intents(dir: &Path) -> Result<HashMap<Inode, Intent>> {
        let path = dir.join(INTENTS);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
            Err(e) => return Err(Error::io("read", &path, &e)),
        };
        let mut out = HashMap::new();
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(|e| Error::io("read", &path, &e))?;
            if let Some((inode, intent)) = Intent::parse(&line) {
                out.insert(inode, intent);
            }
        }
        Ok(out)
    }

    /// Start (or continue) the journal in `dir`: the header written first, then the
    /// intents file opened for appending.
    pub fn open(dir: &Path, header: &Header) -> Result<Journal> {
        crate::trusted_dir::ensure_all(dir, crate::trusted_dir::Kind::Private)?;
        let text = serde_json::to_vec_pretty(header)
            .map_err(|e| Error::failure("cannot encode the journal").because(e.to_string()))?;
        crate::idmap::record::write_atomic(dir, HEADER, &text)?;
        let path = dir.join(INTENTS);
        let intents = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| Error::io("open", &path, &e))?;
        Ok(Journal {
            dir: dir.to_path_buf(),
            intents: Mutex::new(intents),
        })
    }

    /// Record what `inode` is to become, before it is changed: one write of one line.
    pub fn intend(&self, inode: Inode, intent: &Intent) -> std::io::Result<()> {
        let line = intent.line(inode);
        let mut f = self.intents.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(line.as_bytes())
    }

    /// The migration ended without a failure: forget it (intents first, so that a
    /// header without intents never claims inodes done that were not).
    pub fn finish(self) -> Result<()> {
        for name in [INTENTS, HEADER] {
            let path = self.dir.join(name);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", &path, &e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_round_trip_and_a_cut_line_is_ignored() {
        let i = Intent {
            uid: 300999,
            gid: 300032,
            mode: 0o4755,
            xattrs: vec![("security.capability".into(), vec![0, 0, 0, 3, 0xff])],
        };
        let line = i.line((64769, 1234));
        assert_eq!(
            line,
            "64769 1234 300999 300032 4755 security.capability=00000003ff\n"
        );
        assert_eq!(Intent::parse(&line), Some(((64769, 1234), i.clone())));
        assert_eq!(Intent::parse("64769 1234 300999"), None);
        assert_eq!(Intent::parse("64769 1234 1 2 755 a=0"), None);

        let t = tempfile::tempdir().unwrap();
        let header = Header {
            version: 1,
            uid: 2000,
            old: MapsRecord {
                uid_map: vec![[0, 2000, 1]],
                gid_map: vec![[0, 2000, 1]],
            },
            new: MapsRecord {
                uid_map: vec![[0, 2000, 1]],
                gid_map: vec![[0, 2000, 1]],
            },
            paths: vec![],
            started: 1,
        };
        let dir = t.path().join("state");
        let j = Journal::open(&dir, &header).unwrap();
        j.intend((1, 2), &i).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join(INTENTS))
            .unwrap()
            .write_all(b"1 3 5")
            .unwrap();
        assert_eq!(Journal::pending(&dir).unwrap(), Some(header));
        let intents = Journal::intents(&dir).unwrap();
        assert_eq!(intents.len(), 1);
        assert_eq!(intents[&(1, 2)], i);
        j.finish().unwrap();
        assert_eq!(Journal::pending(&dir).unwrap(), None);
    }
}
