//! CSV file source: rows become JSON-object records keyed by the header
//! names, resumable from a checkpoint file.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use super::csv_cell::write_cell;
use super::{RecordSource, SourceEvent};
use crate::error::{Error, Result};
use crate::record::{Position, Record};
use crate::rejected::Rejected;
use crate::time::parse_timestamp;

/// Reads a CSV file with a header row, one record per row.
///
/// Each row becomes a JSON object whose keys are the header names exactly
/// (`"Adj Close"` stays `"Adj Close"`). Cells that are JSON numbers
/// (`2568.300049`, `-3`, `1e5`, but not `007` or `1,000`) are written as
/// numbers, byte for byte; empty cells as `null`; everything else as a
/// string. Positions are `{stream}/0@{line}`, with the line where the row
/// starts (the header is line 1).
///
/// A row with the wrong number of cells or invalid UTF-8 becomes a
/// [`Rejected`] naming the file and line; if such a row spans several lines
/// (an unbalanced quote), only its first line is rejected and reading goes
/// on at the next line, so one bad quote cannot swallow the rows after it.
///
/// With a checkpoint file, [`commit`](RecordSource::commit) persists the
/// position after the last durable row (atomically: temp file + rename), and
/// opening again resumes there.
#[derive(Debug)]
pub struct CsvSource {
    reader: csv::Reader<File>,
    raw: File,
    path: PathBuf,
    stream: Arc<str>,
    names: Vec<String>,
    /// Header names as JSON object keys: `"name":`.
    columns: Vec<Bytes>,
    timestamp_column: Option<usize>,
    checkpoint: Option<PathBuf>,
    /// Line of each row handed out and not yet committed, with the reader
    /// position just after it.
    uncommitted: VecDeque<(i64, csv::Position)>,
    record: csv::ByteRecord,
}

/// Options for opening a [`CsvSource`].
#[derive(Clone, Debug, Default)]
pub struct CsvSourceBuilder {
    stream: Option<String>,
    checkpoint: Option<PathBuf>,
    timestamp_column: Option<String>,
}

impl CsvSource {
    /// Options with defaults: stream named after the file, no checkpoint, no
    /// record timestamps.
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

    fn next_event(&mut self, max_records: usize) -> Result<SourceEvent> {
        let mut records = Vec::with_capacity(max_records.min(4096));
        let mut rejected = Vec::new();
        while records.len() + rejected.len() < max_records.max(1) {
            let start = self.reader.position().clone();
            let more = self
                .reader
                .read_byte_record(&mut self.record)
                .map_err(|e| Error::io(format!("reading {}", self.path.display()), e.into()))?;
            if !more {
                break;
            }
            let start = self.record.position().cloned().unwrap_or(start);
            let line = start.line() as i64;
            let position = Position {
                stream: self.stream.clone(),
                partition: 0,
                offset: line,
            };
            let mut next = self.reader.position().clone();
            match self.row_to_record(position.clone()) {
                Ok(record) => records.push(record),
                Err(reason) => {
                    if next.line() > start.line() + 1 {
                        // A multi-line bad row: reject only its first line.
                        next = self.seek_to_next_line(&start)?;
                    }
                    let raw = self.raw_bytes(start.byte(), next.byte())?;
                    let reason = format!("{} line {line}: {reason}", self.path.display());
                    rejected.push(Rejected::new(position, raw, reason));
                }
            }
            self.uncommitted.push_back((line, next));
        }
        if records.is_empty() && rejected.is_empty() {
            return Ok(SourceEvent::End);
        }
        Ok(SourceEvent::Records { records, rejected })
    }

    fn row_to_record(&self, position: Position) -> Result<Record, String> {
        let row = &self.record;
        if row.len() != self.columns.len() {
            return Err(format!(
                "{} cells where the header has {}",
                row.len(),
                self.columns.len()
            ));
        }
        let mut json = BytesMut::with_capacity(row.as_slice().len() + self.columns.len() * 16);
        json.put_u8(b'{');
        for (i, (key, cell)) in self.columns.iter().zip(row.iter()).enumerate() {
            if i > 0 {
                json.put_u8(b',');
            }
            json.put_slice(key);
            let text = std::str::from_utf8(cell)
                .map_err(|_| format!("column {} is not valid UTF-8", i + 1))?;
            write_cell(text, &mut json);
        }
        json.put_u8(b'}');
        let mut record = Record::new(position, json.freeze());
        if let Some(column) = self.timestamp_column {
            let text = std::str::from_utf8(&row[column]).unwrap_or("");
            let millis = parse_timestamp(text).ok_or_else(|| {
                let name = &self.names[column];
                format!("column {name:?} value {text:?} is not a date or timestamp")
            })?;
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

    fn write_checkpoint(&self, checkpoint: &Path, line: i64, next: &csv::Position) -> Result<()> {
        let state = Checkpoint {
            file: self.path.clone(),
            line,
            byte: next.byte(),
            next_line: next.line(),
            next_record: next.record(),
        };
        let tmp = checkpoint.with_extension("tmp");
        let context = || format!("writing checkpoint {}", checkpoint.display());
        let mut file = File::create(&tmp).map_err(|e| Error::io(context(), e))?;
        file.write_all(&serde_json::to_vec(&state).expect("checkpoint serializes"))
            .and_then(|_| file.sync_all())
            .and_then(|_| std::fs::rename(&tmp, checkpoint))
            .map_err(|e| Error::io(context(), e))
    }
}

impl CsvSourceBuilder {
    /// Stream name in positions and object keys (default: the file name).
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.stream = Some(name.into());
        self
    }

    /// Checkpoint file: read on open to resume, written on commit.
    pub fn checkpoint(mut self, path: impl Into<PathBuf>) -> Self {
        self.checkpoint = Some(path.into());
        self
    }

    /// Column whose date (`YYYY-MM-DD`) or timestamp becomes the record
    /// timestamp. A row whose cell does not parse is rejected.
    pub fn timestamp_column(mut self, name: impl Into<String>) -> Self {
        self.timestamp_column = Some(name.into());
        self
    }

    /// Opens the file, reads the header, and resumes from the checkpoint if
    /// one exists.
    pub fn open(self, path: impl AsRef<Path>) -> Result<CsvSource> {
        let path = path.as_ref().to_path_buf();
        let context = || format!("opening {}", path.display());
        let file = File::open(&path).map_err(|e| Error::io(context(), e))?;
        let raw = File::open(&path).map_err(|e| Error::io(context(), e))?;
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
        let headers = reader
            .headers()
            .map_err(|e| Error::io(format!("reading header of {}", path.display()), e.into()))?
            .clone();
        let columns = headers
            .iter()
            .map(|h| Bytes::from(format!("{}:", serde_json::Value::from(h))))
            .collect();
        let timestamp_column = match &self.timestamp_column {
            None => None,
            Some(name) => Some(headers.iter().position(|h| h == name).ok_or_else(|| {
                Error::Config(format!(
                    "timestamp column {name:?} is not in the header of {}",
                    path.display()
                ))
            })?),
        };
        let stream = self.stream.unwrap_or_else(|| {
            path.file_name()
                .map_or_else(|| "csv".into(), |n| n.to_string_lossy().into_owned())
        });
        let mut source = CsvSource {
            reader,
            raw,
            path,
            stream: stream.into(),
            names: headers.iter().map(str::to_owned).collect(),
            columns,
            timestamp_column,
            checkpoint: self.checkpoint,
            uncommitted: VecDeque::new(),
            record: csv::ByteRecord::new(),
        };
        if let Some(checkpoint) = source.checkpoint.clone() {
            source.resume(&checkpoint)?;
        }
        Ok(source)
    }
}

impl CsvSource {
    fn resume(&mut self, checkpoint: &Path) -> Result<()> {
        let bytes = match std::fs::read(checkpoint) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(format!("reading {}", checkpoint.display()), e)),
        };
        let state: Checkpoint = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            what: format!("checkpoint {}", checkpoint.display()),
            reason: e.to_string(),
        })?;
        let mut next = csv::Position::new();
        next.set_byte(state.byte)
            .set_line(state.next_line)
            .set_record(state.next_record);
        self.seek(next)
    }
}

#[derive(Serialize, Deserialize)]
struct Checkpoint {
    file: PathBuf,
    /// Last committed line.
    line: i64,
    byte: u64,
    next_line: u64,
    next_record: u64,
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
        if let (Some(checkpoint), Some((line, next))) = (&self.checkpoint, last) {
            self.write_checkpoint(checkpoint, line, &next)?;
        }
        Ok(())
    }
}
