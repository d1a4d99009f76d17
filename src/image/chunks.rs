//! Bytes that arrive in chunks over a channel, read as one stream (BufRead: in place,
//! not copied first): a pull's blob as it downloads, to its layer's scan
//! (`registry::layertap`), and an archive's layer as its decoder makes it plain, to the
//! walker (`image::decoder`).

use std::io::{self, BufRead, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// What a chunk's sender sends: the next bytes, or why there are none (then it stops).
type Sent = io::Result<Vec<u8>>;

/// A channel of `in_flight` chunks, with the way back for the chunks read: the sender
/// fills those again rather than fresh memory for every chunk (page faults and zeroing
/// on its thread, one of the busiest of a pull or an unpack).
pub(crate) fn channel(in_flight: usize) -> (ChunkSender, ChunkReader) {
    let (tx, rx) = sync_channel::<Sent>(in_flight);
    let (used, spare) = sync_channel::<Vec<u8>>(in_flight + 2);
    let reader = ChunkReader {
        rx,
        used,
        chunk: Vec::new(),
        at: 0,
    };
    (ChunkSender { tx, spare }, reader)
}

/// The sending end.
pub(crate) struct ChunkSender {
    tx: SyncSender<Sent>,
    spare: Receiver<Vec<u8>>,
}

impl ChunkSender {
    /// Send the next bytes (or why there are none); false when the reader is gone.
    pub(crate) fn send(&self, sent: Sent) -> bool {
        self.tx.send(sent).is_ok()
    }

    /// A chunk the reader is done with, to be filled again (None: make one).
    pub(crate) fn spare(&self) -> Option<Vec<u8>> {
        self.spare.try_recv().ok()
    }
}

/// A chunk of `size` bytes to fill: `spare` when there is one, else a new one.
pub(crate) fn to_fill(spare: Option<Vec<u8>>, size: usize) -> Vec<u8> {
    let mut chunk = spare.unwrap_or_default();
    chunk.resize(size, 0);
    chunk
}

/// The receiving end. The stream ends when the sender is gone.
pub(crate) struct ChunkReader {
    rx: Receiver<Sent>,
    /// Where chunks read go back to the sender, to be filled again, when it takes them.
    used: SyncSender<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl BufRead for ChunkReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(next)) => {
                    let read = std::mem::replace(&mut self.chunk, next);
                    self.at = 0;
                    if read.capacity() > 0 {
                        let _ = self.used.try_send(read);
                    }
                }
                Ok(Err(e)) => return Err(e),
                // The sender is done (or gone): the end of the stream.
                Err(_) => return Ok(&[]),
            }
        }
        Ok(&self.chunk[self.at..])
    }

    fn consume(&mut self, n: usize) {
        self.at = (self.at + n).min(self.chunk.len());
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = buf.len().min(available.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// Read into `chunk` until it is full or the stream ends or breaks: how much was read,
/// and why it broke (a chunk not full without an error: the stream ended).
pub(crate) fn fill(from: &mut dyn Read, chunk: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut n = 0;
    while n < chunk.len() {
        match from.read(&mut chunk[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}
