//! # streamlake
//!
//! Stream records from Kafka (or a CSV file, or a generator) into a data
//! lake on S3, a local directory or memory, with exactly-once object keys,
//! and make what landed queryable.
//!
//! The data flow, and the module tree:
//!
//! ```text
//! RecordSource ──► Pipeline ──► RecordSink (LakeSink: partition → rotate → Encoder → object store)
//!      ▲              │                 │
//!      └── commit ◄───┴── durable ◄─────┘
//! ```
//!
//! - [`record`](Record): [`Record`], [`Position`], [`Headers`].
//! - sources: [`RecordSource`]; [`CsvSource`], [`StockTicks`], [`MemorySource`].
//! - sinks: [`RecordSink`]; [`LakeSink`] over a [`Lake`], [`MemorySink`].
//! - encoders: [`Encoder`]; [`JsonLinesEncoder`], [`CsvEncoder`], with [`Compression`].
//! - the runner: [`Pipeline`], with a [`BadInputPolicy`].
//!
//! ## Features
//!
//! | feature   | adds | status |
//! |-----------|------|--------|
//! | (none)    | core traits, JSON Lines and CSV encoders, gzip/zstd, local-directory and in-memory lake sink, CSV/generator/memory sources, pipeline | available |
//! | `kafka`   | [`kafka`]: consumer source, producer sink, mock cluster (rdkafka) | available |
//! | `s3`      | S3 lakes (`s3://bucket/prefix`, `S3Options`) through object_store's AWS backend | available |
//! | `parquet` | `ParquetEncoder` (snappy/zstd), Parquet footers in the crawler | available |
//! | `sql`     | SQL over the catalog's tables (DataFusion), with partition pruning | available |
//!
//! ## Example
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use streamlake::{Compression, Lake, LakeSink, Pipeline, StockTicks};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let lake = Lake::local(dir.path()).unwrap();
//! let sink = LakeSink::builder(lake)
//!     .table("stock")
//!     .partition_by("index={Index}")
//!     .compression(Compression::gzip())
//!     .build()
//!     .unwrap();
//! let stats = Pipeline::new(StockTicks::new(7).count(10_000), sink).run().await.unwrap();
//! assert_eq!(stats.records_out, 10_000);
//! assert!(dir.path().join("stock/index=HSI").is_dir());
//! # });
//! ```

#![warn(missing_docs)]

// In data-flow order: what records are, where they come from, how they
// are encoded and stored, the runner; then the query side.
pub mod catalog;
mod encode;
mod error;
mod format;
#[cfg(feature = "glue")]
pub mod glue;
#[cfg(feature = "kafka")]
pub mod kafka;
mod lake;
mod pipeline;
mod record;
mod rejected;
#[cfg(feature = "s3")]
pub mod s3;
pub mod schema;
mod sink;
mod source;
#[cfg(feature = "sql")]
pub mod sql;
mod store;
pub mod table;
mod time;
mod value;

#[allow(deprecated)]
pub use crate::encode::{
    CsvEncoder, EncodeError, Encoder, JsonLinesEncoder, encoder_for, encoder_named,
};
#[cfg(feature = "parquet")]
pub use crate::encode::{ParquetCompression, ParquetEncoder};
pub use crate::error::{Error, Result};
pub use crate::format::{Compression, Format};
pub use crate::lake::Lake;
#[allow(deprecated)]
pub use crate::pipeline::BadInputChoice;
pub use crate::pipeline::{
    BadInputPolicy, DeadLetterQueue, Pipeline, PipelineEvent, PipelineObserver, PipelineStats,
    metric_names,
};
pub use crate::record::{Header, Headers, Position, Record, SourcePartition};
pub use crate::rejected::Rejected;
#[cfg(feature = "s3")]
pub use crate::s3::{MIN_PART_SIZE, S3Encryption, S3Options};
pub use crate::schema::{Column, ColumnType};
pub use crate::sink::{DurablePositions, MemorySink, RecordSink, SinkStats};
pub use crate::source::{
    Backlog, CsvSource, CsvSourceBuilder, MemorySource, RecordSource, SourceEvent, StockTicks,
};
pub use crate::store::{
    LakeDeadLetters, LakeSink, LakeSinkBuilder, Landed, LandingListener, PartitionTemplate,
    Rotation, Ticket,
};

pub use crate::table::TableFormat;
#[cfg(feature = "delta")]
pub use crate::table::delta::DeltaOptions;

/// Re-export of the object store crate, so users name the same version.
pub use object_store;

/// The README's Rust examples, compiled as doc tests (they use every feature).
#[cfg(all(doctest, feature = "kafka"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
