//! The object-store lake sink: partition → buffer → rotate → encode →
//! conditional put → report durable.
//!
//! One code path for every [`object_store`] backend (local directory,
//! in-memory; S3 with the `s3` feature). Objects are named
//! `{table}/{partition path}/{stream}+{partition}+{first_offset:020}.{ext}`.

mod keys;
mod marker;
mod partition;
mod rotation;
mod sink;
mod upload;

use std::sync::Arc;
use std::time::Duration;

pub use self::partition::PartitionTemplate;
pub(crate) use self::partition::escape;
pub use self::rotation::Rotation;
pub use self::sink::LakeSink;
use crate::encode::{Compression, Encoder, JsonLinesEncoder};
use crate::error::{Error, Result};
use crate::lake::Lake;

/// Options for a [`LakeSink`].
///
/// ```
/// use streamlake::{Compression, CsvEncoder, Lake, LakeSink};
/// let sink = LakeSink::builder(Lake::memory())
///     .table("stock")
///     .partition_by("index={Index}/dt={Date}")
///     .encoder(CsvEncoder::new())
///     .compression(Compression::gzip())
///     .max_records_per_object(50_000)
///     .build()
///     .unwrap();
/// ```
#[derive(Debug)]
pub struct LakeSinkBuilder {
    lake: Lake,
    table: String,
    partition_by: String,
    encoder: Arc<dyn Encoder>,
    compression: Compression,
    rotation: Rotation,
    max_buffered_bytes: usize,
}

impl LakeSinkBuilder {
    pub(crate) fn new(lake: Lake) -> Self {
        Self {
            lake,
            table: "records".into(),
            partition_by: String::new(),
            encoder: Arc::new(JsonLinesEncoder::new()),
            compression: Compression::None,
            rotation: Rotation::default(),
            max_buffered_bytes: 256 << 20,
        }
    }

    /// Table name: the first path level under the lake root (default `records`).
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// Partition path template, e.g. `index={Index}/dt={Date}`
    /// (see [`PartitionTemplate`]). Default: no partitions.
    pub fn partition_by(mut self, template: impl Into<String>) -> Self {
        self.partition_by = template.into();
        self
    }

    /// Object encoder (default JSON Lines).
    pub fn encoder(mut self, encoder: impl Encoder + 'static) -> Self {
        self.encoder = Arc::new(encoder);
        self
    }

    /// Object encoder, shared.
    pub fn encoder_arc(mut self, encoder: Arc<dyn Encoder>) -> Self {
        self.encoder = encoder;
        self
    }

    /// Whole-object compression (default none).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// All rotation limits at once.
    pub fn rotation(mut self, rotation: Rotation) -> Self {
        self.rotation = rotation;
        self
    }

    /// Most records in one object (default 100,000).
    pub fn max_records_per_object(mut self, n: usize) -> Self {
        self.rotation.max_records = n;
        self
    }

    /// Most value bytes in one object before compression (default 64 MiB).
    pub fn max_bytes_per_object(mut self, n: usize) -> Self {
        self.rotation.max_bytes = n;
        self
    }

    /// Widest spread of record timestamps in one object (default unlimited).
    pub fn max_time_span_per_object(mut self, span: Duration) -> Self {
        self.rotation.max_time_span = Some(span);
        self
    }

    /// Cap on memory held by all open objects together (default 256 MiB).
    /// When it is reached the largest group is written early: the pipeline
    /// stops pulling from the source while it does (backpressure).
    pub fn max_buffered_bytes(mut self, n: usize) -> Self {
        self.max_buffered_bytes = n;
        self
    }

    /// Checks the options and builds the sink.
    pub fn build(self) -> Result<LakeSink> {
        if self.encoder.extension() == "parquet" && self.compression != Compression::None {
            return Err(Error::Config(
                "Parquet objects compress inside (ParquetCompression); whole-object \
                 compression must be none"
                    .into(),
            ));
        }
        if self.rotation.max_records == 0 || self.rotation.max_bytes == 0 {
            return Err(Error::Config("rotation limits must be at least 1".into()));
        }
        if self.max_buffered_bytes < self.rotation.max_bytes.min(1 << 20) {
            return Err(Error::Config(format!(
                "max_buffered_bytes ({}) must hold at least one object ({} bytes, or 1 MiB)",
                self.max_buffered_bytes,
                self.rotation.max_bytes.min(1 << 20)
            )));
        }
        if self.table.is_empty()
            || self.table.starts_with(['_', '.'])
            || escape(&self.table) != self.table
        {
            return Err(Error::Config(format!(
                "table name {:?} must be non-empty, must not start with '_' or '.', and must not \
                 need escaping",
                self.table
            )));
        }
        let template = PartitionTemplate::parse(&self.partition_by)?;
        let extension = format!("{}{}", self.encoder.extension(), self.compression.suffix());
        Ok(LakeSink::from_parts(sink::Parts {
            lake: self.lake,
            table: self.table,
            template,
            encoder: self.encoder,
            compression: self.compression,
            extension,
            rotation: self.rotation,
            max_buffered_bytes: self.max_buffered_bytes,
        }))
    }
}
