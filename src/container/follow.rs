//! Reading a container's log for `userns logs`: both files (the rotated half first), the
//! last N lines, and with `follow` what comes next until the container has ended.

use super::log::{self, Stream};
use super::record::ContainerRecord;
use super::store::Store;
use crate::error::{Error, Result};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

/// How often `logs -f` looks for more.
const POLL: Duration = Duration::from_millis(100);

/// Where the two streams go.
pub struct Output<'a> {
    pub stdout: &'a mut dyn Write,
    pub stderr: &'a mut dyn Write,
}

impl Output<'_> {
    fn emit(&mut self, entries: &[log::Entry]) -> std::io::Result<()> {
        for e in entries {
            let w: &mut dyn Write = match e.stream {
                Stream::Stdout => self.stdout,
                Stream::Stderr => self.stderr,
            };
            w.write_all(e.content)?;
            if e.full {
                w.write_all(b"\n")?;
            }
        }
        self.stdout.flush()?;
        self.stderr.flush()
    }
}

fn read_from(path: &Path, offset: u64) -> std::io::Result<(Vec<u8>, u64)> {
    let mut file = std::fs::File::open(path)?;
    let inode = file.metadata()?.ino();
    file.seek(std::io::SeekFrom::Start(offset))?;
    let mut out = Vec::new();
    file.read_to_end(&mut out)?;
    Ok((out, inode))
}

/// Print container `rec`'s log; with `follow`, keep printing until it has ended.
pub fn print(
    store: &Store,
    rec: &ContainerRecord,
    tail: Option<usize>,
    follow: bool,
    out: &mut Output,
) -> Result<()> {
    let path = store.log_of(&rec.id);
    let failed = |e: std::io::Error| Error::io("read the log", &path, &e);
    let older = match std::fs::read(log::rotated(&path)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(failed(e)),
    };
    let (newer, mut inode) = match read_from(&path, 0) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !rec.detached => {
            return Err(Error::failure(format!("container {} has no log", rec.name))
                .because("it ran in the foreground: its output went to the terminal"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), 0),
        Err(e) => return Err(failed(e)),
    };
    let mut text = older;
    // Only whole lines are printed; a torn last line waits for its end.
    let whole = newer.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    text.extend_from_slice(&newer[..whole]);
    let mut offset = whole as u64;
    out.emit(&log::entries(&text, tail)).map_err(failed)?;
    if !follow {
        return Ok(());
    }
    let mut last_round = false;
    loop {
        match read_from(&path, offset) {
            Ok((more, now_inode)) if now_inode == inode || inode == 0 => {
                inode = now_inode;
                let whole = more.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                out.emit(&log::entries(&more[..whole], None))
                    .map_err(failed)?;
                offset += whole as u64;
            }
            Ok((_, now_inode)) => {
                // Rotated: the rest of the old file is now the rotated one.
                if let Ok((rest, _)) = read_from(&log::rotated(&path), offset) {
                    out.emit(&log::entries(&rest, None)).map_err(failed)?;
                }
                inode = now_inode;
                offset = 0;
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(failed(e)),
        }
        if last_round {
            return Ok(());
        }
        // Once it has ended (or is gone: --rm), one more read gets what the monitor
        // wrote last.
        let running = match store.read(&rec.id)? {
            Some(now) => !store.refresh(now).ended_for_good(),
            None => false,
        };
        if !running {
            last_round = true;
            continue;
        }
        std::thread::sleep(POLL);
    }
}
