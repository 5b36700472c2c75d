//! [`CsvSourceBuilder`]: how a [`CsvSource`] is opened and its columns typed.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::csv_cell::{CellType, infer};
use super::csv_checkpoint::FileHead;
use super::csv_file::CsvSource;
use super::csv_reader::{Capped, cells, reader};
use crate::error::{Error, Result};
use crate::schema::Column;

/// Options for opening a [`CsvSource`].
#[derive(Clone, Debug)]
pub struct CsvSourceBuilder {
    stream: Option<String>,
    checkpoint: Option<PathBuf>,
    timestamp_column: Option<String>,
    columns: Vec<Column>,
    infer_rows: usize,
    max_record_bytes: u64,
}

impl Default for CsvSourceBuilder {
    fn default() -> Self {
        Self {
            stream: None,
            checkpoint: None,
            timestamp_column: None,
            columns: Vec::new(),
            infer_rows: 1000,
            max_record_bytes: 1 << 20,
        }
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

    /// Declared column types, by header name (for stock data,
    /// `StockTicks::columns()`); columns not named are inferred.
    pub fn columns(mut self, columns: Vec<Column>) -> Self {
        self.columns = columns;
        self
    }

    /// Rows read ahead to infer column types (default 1,000); `0` reads
    /// each cell for itself instead (a number as written, else a string).
    pub fn infer_rows(mut self, rows: usize) -> Self {
        self.infer_rows = rows;
        self
    }

    /// Longest record accepted (default 1 MiB): past it the record's first
    /// line is rejected as an unbalanced quote, and reading goes on.
    pub fn max_record_bytes(mut self, bytes: u64) -> Self {
        self.max_record_bytes = bytes.max(1);
        self
    }

    /// Opens the file, reads the header, types the columns, and resumes
    /// from the checkpoint if one exists.
    pub fn open(self, path: impl AsRef<Path>) -> Result<CsvSource> {
        let path = path.as_ref().to_path_buf();
        let open =
            || File::open(&path).map_err(|e| Error::io(format!("opening {}", path.display()), e));
        let mut reader = reader(open()?, self.max_record_bytes);
        let headers = reader
            .headers()
            .map_err(|e| Error::io(format!("reading header of {}", path.display()), e.into()))?;
        let mut names: Vec<String> = headers.iter().map(str::to_owned).collect();
        if let Some(last) = names.last_mut().filter(|name| name.ends_with('\r')) {
            last.pop(); // a header line ending in \r\n
        }
        let types = self.types(&names, open()?)?;
        let keys = names
            .iter()
            .map(|h| Bytes::from(format!("{}:", serde_json::Value::from(h.as_str()))))
            .collect();
        let timestamp_column = match &self.timestamp_column {
            None => None,
            Some(name) => Some(names.iter().position(|h| h == name).ok_or_else(|| {
                Error::Config(format!(
                    "timestamp column {name:?} is not in the header of {}",
                    path.display()
                ))
            })?),
        };
        let stream = self.stream.clone().unwrap_or_else(|| {
            path.file_name()
                .map_or_else(|| "csv".into(), |n| n.to_string_lossy().into_owned())
        });
        let mut source = CsvSource {
            reader,
            raw: open()?,
            head: FileHead::of(&path)?,
            path,
            stream: stream.into(),
            names,
            keys,
            types,
            timestamp_column,
            checkpoint: self.checkpoint,
            uncommitted: VecDeque::new(),
            record: csv::ByteRecord::new(),
            placeholder: None,
            json: bytes::BytesMut::new(),
        };
        source.resume()?;
        Ok(source)
    }

    /// Each column's type: declared, else inferred from the first rows.
    fn types(&self, names: &[String], file: File) -> Result<Vec<CellType>> {
        if self.infer_rows == 0 {
            return Ok(vec![CellType::Untyped; names.len()]);
        }
        let rows = sample_rows(
            reader(file, self.max_record_bytes),
            names.len(),
            self.infer_rows,
        );
        let mut types = infer(
            names.len(),
            rows.iter().map(|r| r.iter().map(String::as_str).collect()),
        );
        for (name, t) in names.iter().zip(types.iter_mut()) {
            if let Some(declared) = self.columns.iter().find(|c| &c.name == name) {
                *t = CellType::Typed(declared.column_type);
            }
        }
        Ok(types)
    }
}

/// Up to `limit` rows of `width` UTF-8 cells from the start of a file,
/// for type inference. Rows that do not fit are left out; reading stops
/// at the first record past the cap.
fn sample_rows(mut reader: csv::Reader<Capped>, width: usize, limit: usize) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut record = csv::ByteRecord::new();
    while rows.len() < limit {
        let start = reader.position().byte();
        reader.get_mut().record_starts_at(start);
        if !matches!(reader.read_byte_record(&mut record), Ok(true)) {
            break;
        }
        let crlf = reader.get_ref().ends_with_crlf(reader.position().byte());
        let row: Option<Vec<String>> = cells(&record, crlf)
            .map(|cell| std::str::from_utf8(cell).ok().map(str::to_owned))
            .collect();
        rows.extend(row.filter(|row| row.len() == width));
    }
    rows
}
