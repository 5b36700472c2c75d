//! Encoders turn one object's records into bytes: [`JsonLinesEncoder`],
//! [`CsvEncoder`], `ParquetEncoder` (feature `parquet`); [`Compression`]
//! then wraps the whole object. [`Format::encoder`] picks one by format.
//!
//! ```
//! use bytes::BytesMut;
//! use streamlake::{Encoder, JsonLinesEncoder, Position, Record};
//!
//! let records = [Record::new(Position::new("s", 0, 0), r#"{"Index":"HSI","Close":1.5}"#)];
//! let mut out = BytesMut::new();
//! JsonLinesEncoder::new().encode(&records, &mut out).unwrap();
//! assert_eq!(&out[..], b"{\"Index\":\"HSI\",\"Close\":1.5}\n");
//! ```

mod csv;
#[cfg(feature = "parquet")]
mod json_columns;
#[cfg(feature = "parquet")]
mod json_row;
#[cfg(feature = "parquet")]
mod json_values;
mod jsonl;
#[cfg(feature = "parquet")]
mod parquet;

use std::fmt;
use std::sync::Arc;

use bytes::BytesMut;

pub use self::csv::CsvEncoder;
pub use self::jsonl::JsonLinesEncoder;
#[cfg(feature = "parquet")]
pub use self::parquet::{ParquetCompression, ParquetEncoder};
#[cfg(not(feature = "parquet"))]
use crate::error::Error;
use crate::error::Result;
#[cfg(doc)]
use crate::format::Compression;
use crate::format::Format;
use crate::record::Record;
use crate::schema::Column;

/// Encodes the records of one object into a caller-owned buffer.
///
/// Record values are JSON objects. An encoder that cannot encode a record
/// says which one, so the caller can route it to its bad-input policy and
/// encode the rest.
pub trait Encoder: Send + Sync + fmt::Debug {
    /// File extension of encoded objects, without compression (`jsonl`).
    fn extension(&self) -> &str;

    /// Appends the encoding of `records` (one whole object) to `out`.
    fn encode(
        &self,
        records: &[Record],
        out: &mut BytesMut,
    ) -> std::result::Result<(), EncodeError>;

    /// Whether a whole object may be compressed afterwards ([`Compression`]);
    /// false for formats that compress inside (Parquet).
    fn allows_object_compression(&self) -> bool {
        true
    }

    /// Memory that encoding an object takes beside its records, for
    /// `data_bytes` of record values (one separator each): what the lake
    /// sink's memory cap counts for a group while it is committed. The
    /// default is the encoded copy, as large as the values.
    fn working_memory(&self, data_bytes: usize) -> usize {
        data_bytes
    }

    /// Whether [`encode`](Self::encode), given records whose values are
    /// each one line, writes exactly those values, each followed by a line
    /// feed, and refuses none (JSON Lines does). The lake sink, which holds
    /// an object's values that way already, then writes them as they are
    /// instead of calling the encoder. False by default.
    fn writes_lines_as_they_are(&self) -> bool {
        false
    }

    /// Whether [`encode`](Self::encode) refuses every record whose value
    /// is not exactly one JSON object, because it decodes each value whole
    /// (Parquet does). The lake sink then reads a record's partition fields
    /// by a plain scan instead of validating the whole value twice. False
    /// by default: an encoder that copies values through relies on the
    /// sink's check.
    fn checks_values(&self) -> bool {
        false
    }

    /// Every record of `records` this encoder cannot encode, in order: what
    /// the lake sink asks once [`encode`](Self::encode) failed, so that all
    /// bad records of an object are found in one pass. The default encodes
    /// each record alone.
    fn refused(&self, records: &[Record]) -> Vec<EncodeError> {
        let mut scratch = BytesMut::new();
        records
            .iter()
            .enumerate()
            .filter_map(|(index, record)| {
                scratch.clear();
                let e = self
                    .encode(std::slice::from_ref(record), &mut scratch)
                    .err()?;
                Some(EncodeError {
                    index,
                    reason: e.reason,
                })
            })
            .collect()
    }
}

impl Format {
    /// The encoder writing this format: JSON Lines and CSV take their
    /// columns from the records (CSV: the first record of each object);
    /// Parquet (feature `parquet`) writes exactly `columns` (for stock
    /// data, `StockTicks::columns()`).
    ///
    /// ```
    /// use streamlake::{Format, StockTicks};
    /// let encoder = "csv".parse::<Format>()?.encoder(&StockTicks::columns())?;
    /// assert_eq!(encoder.extension(), "csv");
    /// # Ok::<(), streamlake::Error>(())
    /// ```
    pub fn encoder(self, columns: &[Column]) -> Result<Arc<dyn Encoder>> {
        match self {
            Format::JsonLines => Ok(Arc::new(JsonLinesEncoder::new())),
            Format::Csv => Ok(Arc::new(CsvEncoder::new())),
            #[cfg(feature = "parquet")]
            Format::Parquet => Ok(Arc::new(ParquetEncoder::new(columns.to_vec()))),
            #[cfg(not(feature = "parquet"))]
            Format::Parquet => {
                let _ = columns;
                Err(Error::Config(
                    "format parquet needs the `parquet` feature".into(),
                ))
            }
        }
    }
}

/// The encoder for a format name without declared columns.
#[deprecated(note = "use `name.parse::<Format>()?.encoder(&columns)`")]
pub fn encoder_named(name: &str) -> Result<Arc<dyn Encoder>> {
    name.parse::<Format>()?.encoder(&[])
}

/// The encoder for a format name, with columns for Parquet.
#[deprecated(note = "use `name.parse::<Format>()?.encoder(columns)`")]
pub fn encoder_for(name: &str, columns: &[Column]) -> Result<Arc<dyn Encoder>> {
    name.parse::<Format>()?.encoder(columns)
}

/// A record an [`Encoder`] could not encode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("record {index} of the object cannot be encoded: {reason}")]
pub struct EncodeError {
    /// Index of the record in the slice given to [`Encoder::encode`].
    pub index: usize,
    /// What is wrong with it.
    pub reason: String,
}
