//! [`LakeSinkBuilder`] and the settings it builds.

use std::sync::Arc;
use std::time::Duration;

use super::commit::{CommitStep, HiveObjects};
use super::landing::LandingListener;
use super::partition::{PartitionTemplate, escape};
use super::rotation::Rotation;
use super::sink::LakeSink;
use crate::encode::{Encoder, JsonLinesEncoder};
use crate::error::{Error, Result};
use crate::format::Compression;
use crate::lake::Lake;
use crate::table::TableFormat;

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
    settings: SinkSettings,
    partition_by: String,
    listener: Option<Arc<dyn LandingListener>>,
}

/// What a lake sink is configured with: filled in by [`LakeSinkBuilder`],
/// checked by its `build`, then owned (shared with the commit stage) by the
/// sink. The one copy of every setting.
#[derive(Debug)]
pub(crate) struct SinkSettings {
    pub(crate) lake: Lake,
    pub(crate) table: String,
    pub(crate) template: PartitionTemplate,
    pub(crate) encoder: Arc<dyn Encoder>,
    pub(crate) compression: Compression,
    pub(crate) rotation: Rotation,
    pub(crate) max_buffered_bytes: usize,
    /// Groups committed at once (one per source partition at most).
    pub(crate) commits_in_flight: usize,
    /// How groups are committed: loose objects, or a table format.
    pub(crate) table_format: TableFormat,
}

impl SinkSettings {
    /// The file extension of data objects: `jsonl`, `csv.gz`, `parquet`.
    pub(crate) fn extension(&self) -> String {
        format!("{}{}", self.encoder.extension(), self.compression.suffix())
    }
}

impl LakeSinkBuilder {
    pub(crate) fn new(lake: Lake) -> Self {
        Self {
            settings: SinkSettings {
                lake,
                table: "records".into(),
                template: PartitionTemplate::none(),
                encoder: Arc::new(JsonLinesEncoder::new()),
                compression: Compression::None,
                rotation: Rotation::default(),
                max_buffered_bytes: 256 << 20,
                commits_in_flight: 4,
                table_format: TableFormat::Hive,
            },
            partition_by: String::new(),
            listener: None,
        }
    }

    /// Table name: the first path level under the lake root (default `records`).
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.settings.table = name.into();
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
        self.settings.encoder = Arc::new(encoder);
        self
    }

    /// Object encoder, shared.
    pub fn encoder_arc(mut self, encoder: Arc<dyn Encoder>) -> Self {
        self.settings.encoder = encoder;
        self
    }

    /// Whole-object compression (default none).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.settings.compression = compression;
        self
    }

    /// All rotation limits at once.
    pub fn rotation(mut self, rotation: Rotation) -> Self {
        self.settings.rotation = rotation;
        self
    }

    /// Most records in one object (default 100,000).
    pub fn max_records_per_object(mut self, n: usize) -> Self {
        self.settings.rotation.max_records = n;
        self
    }

    /// Most value bytes in one object before compression (default 64 MiB).
    pub fn max_bytes_per_object(mut self, n: usize) -> Self {
        self.settings.rotation.max_bytes = n;
        self
    }

    /// Widest spread of record timestamps in one object (default unlimited).
    pub fn max_time_span_per_object(mut self, span: Duration) -> Self {
        self.settings.rotation.max_time_span = Some(span);
        self
    }

    /// Cap on memory held by all open objects together (default 256 MiB).
    /// When it is reached the largest group is written early: the pipeline
    /// stops pulling from the source while it does (backpressure).
    pub fn max_buffered_bytes(mut self, n: usize) -> Self {
        self.settings.max_buffered_bytes = n;
        self
    }

    /// Closed groups committed at once (default 4, at least 1): while they
    /// are encoded and uploaded, the pipeline goes on filling the other
    /// groups. A source partition has at most one group in flight, and
    /// positions are reported durable in offset order; the memory of a
    /// group in flight counts against
    /// [`max_buffered_bytes`](Self::max_buffered_bytes) until it is
    /// durable. Commits run as Tokio tasks: the sink is used inside a
    /// Tokio runtime.
    pub fn max_commits_in_flight(mut self, n: usize) -> Self {
        self.settings.commits_in_flight = n.max(1);
        self
    }

    /// How groups are committed (default [`TableFormat::Hive`]: loose
    /// objects under Hive partition paths). With `TableFormat::Delta`
    /// (feature `delta`) the sink writes a Delta table: Parquet data files
    /// of the declared columns (the encoder set here is replaced), the
    /// partition template's fields as partition columns (the template may
    /// hold only fields, each a declared column), and one commit to the
    /// table's log per group carrying the source position.
    pub fn table_format(mut self, format: TableFormat) -> Self {
        self.settings.table_format = format;
        self
    }

    /// Tells `listener` about every group of objects once it is durable,
    /// and holds the group's position back from the pipeline until the
    /// listener releases it (e.g. the Glue registrar, once the group's
    /// partitions are registered).
    pub fn on_landed(mut self, listener: Arc<dyn LandingListener>) -> Self {
        self.listener = Some(listener);
        self
    }

    /// The settings as they are, unchecked (unit tests of the stages).
    #[cfg(test)]
    pub(crate) fn settings_for_tests(self) -> SinkSettings {
        self.settings
    }

    /// Checks the options and builds the sink.
    pub fn build(self) -> Result<LakeSink> {
        let mut settings = self.settings;
        settings.template = PartitionTemplate::parse(&self.partition_by)?;
        #[cfg(feature = "delta")]
        if let TableFormat::Delta(options) = &settings.table_format {
            options.check(&settings.template)?;
            let fields: Vec<String> = settings.template.fields().map(str::to_string).collect();
            let data = crate::encode::ParquetEncoder::new(options.data_columns(&fields));
            settings.encoder = Arc::new(data);
        }
        if !settings.encoder.allows_object_compression()
            && settings.compression != Compression::None
        {
            return Err(Error::Config(format!(
                "{} objects compress inside; whole-object compression must be none",
                settings.encoder.extension()
            )));
        }
        let rotation = &settings.rotation;
        if rotation.max_records == 0 || rotation.max_bytes == 0 {
            return Err(Error::Config("rotation limits must be at least 1".into()));
        }
        let one_object = rotation.max_bytes.min(1 << 20);
        if settings.max_buffered_bytes < one_object {
            return Err(Error::Config(format!(
                "max_buffered_bytes ({}) must hold at least one object ({one_object} bytes, or 1 MiB)",
                settings.max_buffered_bytes
            )));
        }
        let table = &settings.table;
        if table.is_empty() || table.starts_with(['_', '.']) || escape(table) != *table {
            return Err(Error::Config(format!(
                "table name {table:?} must be non-empty, must not start with '_' or '.', and must \
                 not need escaping"
            )));
        }
        let step = commit_step(settings)?;
        Ok(LakeSink::new(step.0, step.1, self.listener))
    }
}

/// The settings, shared, and the commit step their table format names.
fn commit_step(settings: SinkSettings) -> Result<(Arc<SinkSettings>, Arc<dyn CommitStep>)> {
    let settings = Arc::new(settings);
    let step: Arc<dyn CommitStep> = match &settings.table_format {
        TableFormat::Hive => Arc::new(HiveObjects::new(settings.clone())),
        #[cfg(feature = "delta")]
        TableFormat::Delta(options) => Arc::new(crate::table::delta::DeltaCommit::new(
            settings.clone(),
            options.clone(),
        )?),
    };
    Ok((settings, step))
}
