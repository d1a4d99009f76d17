//! A subid file cut into lines as shadow 4.13's `commonio_open` cuts it: `fgets` into a
//! buffer, then `strrchr(buf, '\n')` to find the line's end. Both stop at a NUL byte, so
//! a line holding one loses the text after the NUL and has the next line glued on where
//! the NUL was (the loop reads on at `strlen(buf)` until the C string holds a newline);
//! and when nothing follows that newline, `fgets` returns NULL and the whole file fails
//! to open: newuidmap then refuses every range and getsubids lists none. Without a NUL
//! (every sane file) a line is the text between newlines.
//!
//! Not modelled: a NUL inside a line longer than 4095 bytes (`BUFLEN`), where the piece
//! `fgets` stops at also shapes the result; such a line is too long for
//! `subordinate_parse` anyway.

use std::borrow::Cow;

/// One line as shadow reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShadowLine<'a> {
    /// The 1-based number of the physical line it starts on.
    pub line: usize,
    pub text: Cow<'a, [u8]>,
    /// How many following physical lines a NUL glued onto it (0 without a NUL).
    pub glued: usize,
}

/// The lines of `bytes` as shadow reads them, or `Err(line)`: shadow cannot read the file
/// at all, because of the NUL in that (last) line. (A file without NUL needs none of
/// this: its lines are the text between newlines.)
pub(crate) fn shadow_lines(bytes: &[u8]) -> Result<Vec<ShadowLine<'_>>, usize> {
    let pieces: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // Piece i is followed by a newline unless it is the last.
    let ends_line = |i: usize| i + 1 < pieces.len();
    let before_nul = |p: &'_ [u8]| -> usize { p.iter().position(|&b| b == 0).unwrap_or(p.len()) };
    let mut lines = Vec::with_capacity(pieces.len());
    let mut i = 0;
    while i < pieces.len() {
        let piece = pieces[i];
        let start = i + 1;
        if !piece.contains(&0) {
            lines.push(ShadowLine {
                line: start,
                text: Cow::Borrowed(piece),
                glued: 0,
            });
            i += 1;
            continue;
        }
        let mut text = piece[..before_nul(piece)].to_vec();
        let mut more = ends_line(i);
        while more {
            i += 1;
            // The newline before this piece was read; nothing after it: fgets fails.
            if i + 1 == pieces.len() && pieces[i].is_empty() {
                return Err(start);
            }
            let next = pieces[i];
            let cut = before_nul(next);
            text.extend_from_slice(&next[..cut]);
            // A piece without NUL brings its newline (or is the last): the line ends.
            more = cut < next.len() && ends_line(i);
        }
        lines.push(ShadowLine {
            line: start,
            text: Cow::Owned(text),
            glued: i + 1 - start,
        });
        i += 1;
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(bytes: &[u8]) -> Result<Vec<(usize, String, usize)>, usize> {
        shadow_lines(bytes).map(|v| {
            v.into_iter()
                .filter(|l| !l.text.is_empty())
                .map(|l| {
                    (
                        l.line,
                        String::from_utf8_lossy(&l.text).into_owned(),
                        l.glued,
                    )
                })
                .collect()
        })
    }

    #[test]
    fn without_a_nul_lines_are_lines() {
        assert_eq!(
            cut(b"a:1:2\n\nb:3:4"),
            Ok(vec![(1, "a:1:2".into(), 0), (3, "b:3:4".into(), 0)])
        );
    }

    // The cases below were checked against getsubids and newuidmap 4.13 (Debian 12).
    #[test]
    fn a_nul_glues_the_next_line_on() {
        assert_eq!(
            cut(b"ivy:1:5\0junk\n:300000:10\nivy:100000:10\n"),
            Ok(vec![
                (1, "ivy:1:5:300000:10".into(), 1),
                (3, "ivy:100000:10".into(), 0)
            ])
        );
        // A NUL in the glued line too: the gluing goes on.
        assert_eq!(
            cut(b"a\0x\n:1\0y\n:2\nz:1:1\n"),
            Ok(vec![(1, "a:1:2".into(), 2), (4, "z:1:1".into(), 0)])
        );
    }

    #[test]
    fn a_nul_in_the_last_line_fails_the_file_unless_it_ends_without_newline() {
        assert_eq!(cut(b"ivy:100000:10\nivy:1:2\0junk\n"), Err(2));
        assert_eq!(
            cut(b"ivy:100000:10\nivy:1:2\0junk"),
            Ok(vec![
                (1, "ivy:100000:10".into(), 0),
                (2, "ivy:1:2".into(), 0)
            ])
        );
        // Glued onto a last line without newline: EOF ends the line.
        assert_eq!(cut(b"a:1\0x\n:2"), Ok(vec![(1, "a:1:2".into(), 1)]));
    }
}
