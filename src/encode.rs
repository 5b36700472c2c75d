//! Encoders turn one object's records into bytes: [`JsonLinesEncoder`],
//! [`CsvEncoder`]; [`Compression`] then wraps the whole object.
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

pub(crate) mod compression;
mod csv;
mod jsonl;
#[cfg(feature = "parquet")]
pub(crate) mod parquet;

use std::fmt;
use std::sync::Arc;

use bytes::BytesMut;

pub use self::compression::Compression;
pub use self::csv::CsvEncoder;
pub use self::jsonl::JsonLinesEncoder;
#[cfg(feature = "parquet")]
pub use self::parquet::{ParquetCompression, ParquetEncoder};
use crate::record::Record;

/// Encodes the records of one object into a caller-owned buffer.
///
/// Record values are JSON objects. An encoder that cannot encode a record
/// says which one, so the caller can route it to its bad-input policy and
/// encode the rest.
pub trait Encoder: Send + Sync + fmt::Debug {
    /// File extension of encoded objects, without compression (`jsonl`).
    fn extension(&self) -> &str;

    /// Appends the encoding of `records` (one whole object) to `out`.
    fn encode(&self, records: &[Record], out: &mut BytesMut) -> Result<(), EncodeError>;
}

/// The encoder for a format name: `jsonl` or `csv` (columns from the first
/// record of each object). Parquet needs declared columns: build a
/// `ParquetEncoder` (feature `parquet`).
pub fn encoder_named(name: &str) -> crate::error::Result<Arc<dyn Encoder>> {
    match name {
        "jsonl" => Ok(Arc::new(JsonLinesEncoder::new())),
        "csv" => Ok(Arc::new(CsvEncoder::new())),
        "parquet" => Err(crate::error::Error::Config(
            "format \"parquet\" needs declared columns: use ParquetEncoder::new(columns) \
             (feature `parquet`)"
                .into(),
        )),
        other => Err(crate::error::Error::Config(format!(
            "format {other:?}: expected jsonl or csv"
        ))),
    }
}

/// [`encoder_named`], plus `parquet` (feature `parquet`) with these columns
/// and types. For stock data, `StockTicks::columns()`.
pub fn encoder_for(
    name: &str,
    columns: &[crate::catalog::Column],
) -> crate::error::Result<Arc<dyn Encoder>> {
    match name {
        #[cfg(feature = "parquet")]
        "parquet" => Ok(Arc::new(ParquetEncoder::new(columns.to_vec()))),
        other => {
            let _ = columns;
            encoder_named(other)
        }
    }
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
