//! CSV file source: rows become JSON-object records keyed by the header
//! names, typed by column, resumable from a checkpoint file.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{BufMut, Bytes, BytesMut};

use super::csv_builder::CsvSourceBuilder;
use super::csv_cell::{CellType, write_typed_cell};
use super::csv_checkpoint::{Checkpoint, FileHead};
use super::csv_reader::{Capped, TOO_LONG, text_cells};
use super::{RecordSource, SourceEvent};
use crate::error::{Error, Result};
use crate::record::{Position, Record};
use crate::rejected::Rejected;
use crate::schema::{Column, ColumnType};
use crate::time::parse_timestamp;

/// Reads a CSV file with a header row, one record per row.
///
/// Each row becomes a JSON object whose keys are the header names exactly
/// (`"Adj Close"` stays `"Adj Close"`). Cells are typed by column: the
/// types are declared ([`CsvSourceBuilder::columns`]) or inferred from the
/// first rows (1,000 by default, as the crawler and DuckDB's
/// `read_csv_auto` do). Numbers are written byte for byte, dates and text
/// as strings, empty cells as `null`; a `bigint` column that meets `1.5`
/// becomes `double`. A cell that does not fit its column (a word where a
/// number or a date belongs) makes the row bad input naming file, line
/// and column. Positions are `{stream}/0@{line}`, with the line where the
/// row starts (the header is line 1). Rows end at `\n` or `\r\n`; a lone
/// `\r` is data (as a record separator it would put two rows on one line).
///
/// A bad row becomes a [`Rejected`] with all of its lines. The exception
/// is a quote that never closes (the row has the wrong number of cells and
/// runs over several lines, runs past the record-size cap, 1 MiB by
/// default, or is still open at the end of the file): then only its first
/// line is rejected (at most the cap of it) and reading goes on at the
/// next line, so one bad quote cannot swallow the rows after it.
///
/// With a checkpoint file, [`commit`](RecordSource::commit) persists the
/// position after the last durable row (atomically: temp file + rename),
/// and opening again resumes there. The checkpoint names the file it was
/// written for (its first bytes): opening another file with it is an
/// error, never a silent skip of rows.
#[derive(Debug)]
pub struct CsvSource {
    pub(super) reader: csv::Reader<Capped>,
    pub(super) raw: File,
    pub(super) path: PathBuf,
    pub(super) head: FileHead,
    pub(super) stream: Arc<str>,
    pub(super) names: Vec<String>,
    /// Header names as JSON object keys: `"name":`.
    pub(super) keys: Vec<Bytes>,
    pub(super) types: Vec<CellType>,
    pub(super) timestamp_column: Option<usize>,
    pub(super) checkpoint: Option<PathBuf>,
    /// Line of each row handed out and not yet committed, with the reader
    /// position just after it.
    pub(super) uncommitted: VecDeque<(i64, csv::Position)>,
    pub(super) record: csv::ByteRecord,
    /// An empty record to stand in for `record` while a row is read as
    /// text (`mem::take` would allocate one per row).
    pub(super) placeholder: Option<csv::ByteRecord>,
    /// Where each row's JSON is written before it is copied out at its
    /// exact size.
    pub(super) json: BytesMut,
}

/// How a row failed: only its first line, or all of it, is rejected.
enum Bad {
    /// A quote that never closes: the first line alone.
    FirstLine(String),
    /// Everything from the row's start to its end.
    Row(String),
}

impl CsvSource {
    /// Options with defaults: stream named after the file, column types
    /// inferred from the first 1,000 rows, no checkpoint, no record
    /// timestamps, records of at most 1 MiB.
    pub fn builder() -> CsvSourceBuilder {
        CsvSourceBuilder::default()
    }

    /// Opens `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::builder().open(path)
    }

    /// The header names, in file order.
    pub fn columns(&self) -> &[String] {
        &self.names
    }

    /// The column types (declared or inferred; widened as rows came).
    /// Columns read cell by cell (no inference) are `string` here.
    pub fn column_types(&self) -> Vec<Column> {
        self.names
            .iter()
            .zip(&self.types)
            .map(|(name, t)| match t {
                CellType::Typed(t) => Column::new(name, *t),
                CellType::Untyped => Column::new(name, ColumnType::String),
            })
            .collect()
    }

    fn next_event(&mut self, max_records: usize) -> Result<SourceEvent> {
        let mut records = Vec::with_capacity(max_records.min(4096));
        let mut rejected = Vec::new();
        while records.len() + rejected.len() < max_records.max(1) {
            let start = self.reader.position().clone();
            self.reader.get_mut().record_starts_at(start.byte());
            let read = self.reader.read_byte_record(&mut self.record);
            let capped = self.reader.get_ref();
            let (start, bad) = match read {
                Ok(false) => break,
                Ok(true) => {
                    let start = capped.content_start(self.record.position().unwrap_or(&start));
                    let end = self.reader.position().byte();
                    if capped.ends_inside_quotes(start.byte(), end) {
                        let why = "a quote that never closes".to_string();
                        rejected.push(self.reject(&start, Bad::FirstLine(why))?);
                        continue;
                    }
                    let crlf = capped.ends_with_crlf(end);
                    if crlf && self.record.len() == 1 && &self.record[0] == b"\r" {
                        continue; // a blank line ending in \r\n
                    }
                    let position = self.position(&start);
                    match self.row_to_record(position, crlf) {
                        Ok(record) => {
                            let next = self.reader.position().clone();
                            self.uncommitted.push_back((start.line() as i64, next));
                            records.push(record);
                            continue;
                        }
                        Err(bad) => (start, bad),
                    }
                }
                Err(e) if e.to_string().contains(TOO_LONG) => {
                    let why = format!("a record longer than {} bytes", capped.cap());
                    (capped.content_start(&start), Bad::FirstLine(why))
                }
                Err(e) => {
                    return Err(Error::io(
                        format!("reading {}", self.path.display()),
                        e.into(),
                    ));
                }
            };
            rejected.push(self.reject(&start, bad)?);
        }
        if records.is_empty() && rejected.is_empty() {
            return Ok(SourceEvent::End);
        }
        Ok(SourceEvent::Records { records, rejected })
    }

    fn position(&self, start: &csv::Position) -> Position {
        Position {
            stream: self.stream.clone(),
            partition: 0,
            offset: start.line() as i64,
        }
    }

    /// A rejected row with its raw lines; reading goes on after them (or,
    /// for a quote that never closes, at the next line).
    fn reject(&mut self, start: &csv::Position, bad: Bad) -> Result<Rejected> {
        let line = start.line() as i64;
        let (next, why) = match bad {
            Bad::FirstLine(why) => (self.seek_to_next_line(start)?, why),
            Bad::Row(why) => (self.reader.position().clone(), why),
        };
        // A line may be far longer than any record (no newline for
        // gigabytes): keep at most the cap of it.
        let cap = self.reader.get_ref().cap();
        let len = next.byte() - start.byte();
        let raw = self.raw_bytes(start.byte(), start.byte() + len.min(cap))?;
        let mut reason = format!("{} line {line}: {why}", self.path.display());
        if len > cap {
            reason.push_str(&format!(" (its first {cap} of {len} bytes are kept)"));
        }
        self.uncommitted.push_back((line, next));
        Ok(Rejected::new(self.position(start), raw, reason))
    }

    /// The record of the row just read (`crlf`: it ended with `\r\n`).
    fn row_to_record(
        &mut self,
        position: Position,
        crlf: bool,
    ) -> std::result::Result<Record, Bad> {
        let multi_line = self.reader.position().line() > position.offset as u64 + 1;
        if self.record.len() != self.keys.len() {
            let why = format!(
                "{} cells where the header has {}",
                self.record.len(),
                self.keys.len()
            );
            // Cells and lines both off: a quote that never closes.
            return Err(if multi_line {
                Bad::FirstLine(why)
            } else {
                Bad::Row(why)
            });
        }
        // The row's text is checked as UTF-8 once, then read cell by cell;
        // its buffer goes back to `self.record` for the next row.
        let placeholder = self.placeholder.take().unwrap_or_default();
        let bytes = std::mem::replace(&mut self.record, placeholder);
        let row = match csv::StringRecord::from_byte_record(bytes) {
            Ok(row) => row,
            Err(e) => {
                let name = &self.names[e.utf8_error().field()];
                self.placeholder = Some(std::mem::replace(&mut self.record, e.into_byte_record()));
                return Err(Bad::Row(format!("column {name:?} is not valid UTF-8")));
            }
        };
        let record = self.typed_record(&row, position, crlf);
        self.placeholder = Some(std::mem::replace(&mut self.record, row.into_byte_record()));
        record
    }

    /// The JSON object of a row, typed by column, with its timestamp.
    fn typed_record(
        &mut self,
        row: &csv::StringRecord,
        position: Position,
        crlf: bool,
    ) -> std::result::Result<Record, Bad> {
        let json = &mut self.json;
        json.clear();
        json.put_u8(b'{');
        // The time column's cell, read as a time while typing it.
        let mut cell_time = None;
        for (i, text) in text_cells(row, crlf).enumerate() {
            if i > 0 {
                json.put_u8(b',');
            }
            json.put_slice(&self.keys[i]);
            let time = write_typed_cell(text, &mut self.types[i], json)
                .map_err(|why| Bad::Row(format!("column {:?}: {why}", self.names[i])))?;
            if Some(i) == self.timestamp_column {
                cell_time = time;
            }
        }
        json.put_u8(b'}');
        // The value is copied out at its exact size: spare room would stay
        // allocated beside every buffered record, uncounted by
        // `Record::size_hint`.
        let value = Bytes::copy_from_slice(json);
        let mut record = Record::new(position, value);
        if let Some(column) = self.timestamp_column {
            // The cell is looked at again only when typing did not read it
            // as a time (an untyped or string column).
            let millis = match cell_time {
                Some(millis) => millis,
                None => {
                    let text = text_cells(row, crlf).nth(column).unwrap_or_default();
                    parse_timestamp(text).ok_or_else(|| {
                        let name = &self.names[column];
                        Bad::Row(format!(
                            "column {name:?} value {text:?} is not a date or timestamp"
                        ))
                    })?
                }
            };
            record.timestamp = Some(millis);
        }
        Ok(record)
    }

    /// Repositions the reader at the line after `start` and returns it.
    fn seek_to_next_line(&mut self, start: &csv::Position) -> Result<csv::Position> {
        let mut file = &self.raw;
        file.seek(SeekFrom::Start(start.byte()))
            .map_err(|e| Error::io(format!("seeking {}", self.path.display()), e))?;
        let mut buf = [0u8; 8192];
        let mut byte = start.byte();
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| Error::io(format!("reading {}", self.path.display()), e))?;
            if n == 0 {
                break;
            }
            if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
                byte += i as u64 + 1;
                break;
            }
            byte += n as u64;
        }
        let mut next = csv::Position::new();
        next.set_byte(byte)
            .set_line(start.line() + 1)
            .set_record(start.record() + 1);
        self.seek(next.clone())?;
        Ok(next)
    }

    fn seek(&mut self, position: csv::Position) -> Result<()> {
        self.reader
            .seek(position)
            .map_err(|e| Error::io(format!("seeking {}", self.path.display()), e.into()))
    }

    fn raw_bytes(&self, from: u64, to: u64) -> Result<Bytes> {
        let mut file = &self.raw;
        let mut raw = vec![0u8; (to - from) as usize];
        file.seek(SeekFrom::Start(from))
            .and_then(|_| file.read_exact(&mut raw))
            .map_err(|e| Error::io(format!("reading {}", self.path.display()), e))?;
        while raw.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
            raw.pop();
        }
        Ok(raw.into())
    }
}

impl CsvSource {
    pub(super) fn resume(&mut self) -> Result<()> {
        let Some(path) = self.checkpoint.clone() else {
            return Ok(());
        };
        let Some(state) = Checkpoint::read(&path, &self.path)? else {
            return Ok(());
        };
        let mut next = csv::Position::new();
        next.set_byte(state.byte)
            .set_line(state.next_line)
            .set_record(state.next_record);
        self.seek(next)
    }
}

#[async_trait]
impl RecordSource for CsvSource {
    async fn poll(&mut self, max_records: usize) -> Result<SourceEvent> {
        self.next_event(max_records)
    }

    async fn commit(&mut self, durable: &[Position]) -> Result<()> {
        let Some(line) = durable
            .iter()
            .filter(|p| p.stream == self.stream)
            .map(|p| p.offset)
            .max()
        else {
            return Ok(());
        };
        let mut last = None;
        while self.uncommitted.front().is_some_and(|(l, _)| *l <= line) {
            last = self.uncommitted.pop_front();
        }
        if let (Some(path), Some((line, next))) = (&self.checkpoint, last) {
            let state = Checkpoint {
                file: self.path.clone(),
                line,
                byte: next.byte(),
                next_line: next.line(),
                next_record: next.record(),
                head: Some(self.head),
            };
            state.write(path)?;
        }
        Ok(())
    }
}
