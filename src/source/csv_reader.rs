//! The file under a [`CsvSource`](super::CsvSource)'s parser: a cap on how
//! far one record may reach (one unbalanced quote would otherwise make the
//! parser buffer the rest of the file as a single record), and the raw
//! bytes of the current record, to find where it really starts and ends.
//!
//! Records end at `\n` only (a `\r` before it belongs to the terminator,
//! see [`Capped::ends_with_crlf`]): with the csv crate's default, a lone
//! `\r` would also end a record, and two records would share one line,
//! so positions (lines) would repeat.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// Bytes the parser may read ahead of a record's end (its buffer).
const SLACK: u64 = 64 * 1024;

/// Raw bytes before the current record are dropped once this many pile up.
const COMPACT_AT: usize = 64 * 1024;

/// What [`Capped`] reports when a record reaches past its cap.
pub(super) const TOO_LONG: &str = "streamlake: CSV record longer than the cap";

/// The parser for `file`: flexible (a row's cell count is checked by the
/// source, naming the line), records ending at `\n`.
pub(super) fn reader(file: File, cap: u64) -> csv::Reader<Capped> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(Capped::new(file, cap))
}

/// A file that refuses to be read further than `cap` (plus the parser's
/// buffer) past the start of the current record, keeping the raw bytes
/// read since that start.
#[derive(Debug)]
pub(super) struct Capped {
    file: File,
    pos: u64,
    record_start: u64,
    cap: u64,
    /// Raw bytes from `window_start` up to `pos`.
    window: Vec<u8>,
    window_start: u64,
    /// The file has been read to its end.
    eof: bool,
}

impl Capped {
    fn new(file: File, cap: u64) -> Self {
        Self {
            file,
            pos: 0,
            record_start: 0,
            cap,
            window: Vec::new(),
            window_start: 0,
            eof: false,
        }
    }

    /// The longest record accepted.
    pub(super) fn cap(&self) -> u64 {
        self.cap
    }

    /// The parser is about to read a record starting at `byte`: bytes
    /// before it are no longer needed.
    pub(super) fn record_starts_at(&mut self, byte: u64) {
        self.record_start = byte;
        let dead = usize::try_from(byte.saturating_sub(self.window_start))
            .unwrap_or(usize::MAX)
            .min(self.window.len());
        if dead >= COMPACT_AT {
            self.window.drain(..dead);
            self.window_start += dead as u64;
        }
    }

    fn byte_at(&self, at: u64) -> Option<u8> {
        let i = usize::try_from(at.checked_sub(self.window_start)?).ok()?;
        self.window.get(i).copied()
    }

    /// Where the record the parser reported at `start` really begins: the
    /// parser reports the position before the blank lines it skipped.
    pub(super) fn content_start(&self, start: &csv::Position) -> csv::Position {
        let mut at = start.clone();
        while self.byte_at(at.byte()) == Some(b'\n') {
            let (byte, line) = (at.byte() + 1, at.line() + 1);
            at.set_byte(byte).set_line(line);
        }
        at
    }

    /// Whether the record ending just before `end` ended with `\r\n` (so
    /// the `\r` the parser left in its last cell is the terminator's).
    pub(super) fn ends_with_crlf(&self, end: u64) -> bool {
        end >= 2 && self.byte_at(end - 1) == Some(b'\n') && self.byte_at(end - 2) == Some(b'\r')
    }

    /// Whether the record from `start` to `end` is the file's last and
    /// ends inside a quoted cell: the parser takes the end of the file as
    /// the end of such a record, but its quote never closed.
    pub(super) fn ends_inside_quotes(&self, start: u64, end: u64) -> bool {
        if !self.eof || end != self.pos {
            return false;
        }
        let (mut quoted, mut cell_start) = (false, true);
        let mut bytes = (start..end).filter_map(|at| self.byte_at(at)).peekable();
        while let Some(byte) = bytes.next() {
            match (quoted, byte) {
                (true, b'"') if bytes.next_if_eq(&b'"').is_none() => quoted = false,
                (false, b'"') if cell_start => quoted = true,
                _ => {}
            }
            cell_start = !quoted && byte == b',';
        }
        quoted
    }
}

impl Read for Capped {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos > self.record_start + self.cap + SLACK {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                TOO_LONG,
            ));
        }
        let n = self.file.read(buf)?;
        self.eof = n == 0 && !buf.is_empty();
        self.window.extend_from_slice(&buf[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Capped {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = self.file.seek(to)?;
        self.record_start = self.pos;
        self.window.clear();
        self.window_start = self.pos;
        self.eof = false;
        Ok(self.pos)
    }
}

/// The cells of a record without the `\r` of a `\r\n` terminator (`crlf`),
/// which the parser leaves at the end of the last cell.
pub(super) fn cells(record: &csv::ByteRecord, crlf: bool) -> impl Iterator<Item = &[u8]> {
    let last = record.len().saturating_sub(1);
    record.iter().enumerate().map(move |(i, cell)| match cell {
        [rest @ .., b'\r'] if crlf && i == last => rest,
        _ => cell,
    })
}

/// [`cells`] of a record already checked as UTF-8.
pub(super) fn text_cells(record: &csv::StringRecord, crlf: bool) -> impl Iterator<Item = &str> {
    let last = record.len().saturating_sub(1);
    record.iter().enumerate().map(move |(i, cell)| match cell {
        _ if crlf && i == last => cell.strip_suffix('\r').unwrap_or(cell),
        _ => cell,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn rows(text: &[u8]) -> Vec<(u64, Vec<Vec<u8>>)> {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(text).unwrap();
        file.rewind().unwrap();
        // The first line is the header.
        let mut reader = reader(file, 1 << 20);
        let mut record = csv::ByteRecord::new();
        let mut out = Vec::new();
        loop {
            let start = reader.position().clone();
            reader.get_mut().record_starts_at(start.byte());
            if !reader.read_byte_record(&mut record).unwrap() {
                return out;
            }
            let capped = reader.get_ref();
            let start = capped.content_start(record.position().unwrap());
            let crlf = capped.ends_with_crlf(reader.position().byte());
            out.push((
                start.line(),
                cells(&record, crlf).map(<[u8]>::to_vec).collect(),
            ));
        }
    }

    #[test]
    fn lines_are_where_records_start_whatever_the_line_ends() {
        let cells = |c: &[&str]| c.iter().map(|c| c.as_bytes().to_vec()).collect::<Vec<_>>();
        assert_eq!(
            rows(b"h\r\na,b\r\nc,\"d\r\n\"\r\n\n\ne,f\rg\n\"h\r\"\n"),
            [
                (2, cells(&["a", "b"])),
                (3, cells(&["c", "d\r\n"])),
                (7, cells(&["e", "f\rg"])),
                (8, cells(&["h\r"])),
            ]
        );
    }

    #[test]
    fn a_quote_still_open_at_the_end_of_the_file_is_seen() {
        let open_at_end = |text: &[u8]| {
            let mut file = tempfile::tempfile().unwrap();
            file.write_all(text).unwrap();
            file.rewind().unwrap();
            let mut reader = reader(file, 1 << 20);
            let mut record = csv::ByteRecord::new();
            let mut last = false;
            loop {
                let start = reader.position().clone();
                if !reader.read_byte_record(&mut record).unwrap() {
                    return last;
                }
                let start = reader
                    .get_ref()
                    .content_start(record.position().unwrap_or(&start));
                last = reader
                    .get_ref()
                    .ends_inside_quotes(start.byte(), reader.position().byte());
            }
        };
        assert!(open_at_end(b"h\n,,\"\n"));
        assert!(open_at_end(b"h\nx,\"a\"\"b"));
        assert!(!open_at_end(b"h\nx,\"a\"\"b\""));
        assert!(!open_at_end(b"h\nx,a\"b\n"));
        assert!(!open_at_end(b"h\n\"a\",b\n"));
    }
}
