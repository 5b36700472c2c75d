//! The file under a [`CsvSource`](super::CsvSource)'s parser, with a cap on
//! how far one record may reach: one unbalanced quote would otherwise make
//! the parser buffer the rest of the file as a single record.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// Bytes the parser may read ahead of a record's end (its buffer).
const SLACK: u64 = 64 * 1024;

/// What [`Capped`] reports when a record reaches past its cap.
pub(super) const TOO_LONG: &str = "streamlake: CSV record longer than the cap";

/// A file that refuses to be read further than `cap` (plus the parser's
/// buffer) past the start of the current record.
#[derive(Debug)]
pub(super) struct Capped {
    file: File,
    pos: u64,
    record_start: u64,
    cap: u64,
}

impl Capped {
    pub(super) fn new(file: File, cap: u64) -> Self {
        Self {
            file,
            pos: 0,
            record_start: 0,
            cap,
        }
    }

    /// The longest record accepted.
    pub(super) fn cap(&self) -> u64 {
        self.cap
    }

    /// The parser is about to read a record starting at `byte`.
    pub(super) fn record_starts_at(&mut self, byte: u64) {
        self.record_start = byte;
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
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Capped {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = self.file.seek(to)?;
        self.record_start = self.pos;
        Ok(self.pos)
    }
}
