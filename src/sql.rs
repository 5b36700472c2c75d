//! SQL over the lake (the Athena step), on DataFusion: every catalog table
//! is registered over the lake's own object store, with its Hive partition
//! keys as typed columns that prune the objects a query reads.
//!
//! ```no_run
//! # async fn demo() -> streamlake::Result<()> {
//! use streamlake::Lake;
//! use streamlake::catalog::crawl;
//! use streamlake::sql::{LakeSql, OutputFormat};
//!
//! let lake = Lake::open("lake")?;
//! let (catalog, _) = crawl(&lake, "").await?;
//! let sql = LakeSql::open(&lake, &catalog).await?; // Delta tables too (feature delta)
//! let batches = sql
//!     .query(r#"SELECT index, count(*) AS n, avg("CloseUSD") AS avg_close_usd
//!               FROM stock WHERE year >= 2000 GROUP BY index ORDER BY index"#)
//!     .await?;
//! let text = OutputFormat::Table.render(&batches)?; // an ASCII table
//! # Ok(()) }
//! ```
//!
//! Identifiers follow DataFusion: unquoted names are lowercased, so data
//! columns with capitals or spaces are quoted (`"Adj Close"`); partition
//! keys are the lowercase directory names (`index`, `year`).

use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

use crate::catalog::{Catalog, Format, Table, TableCompression, TableKind};
use crate::error::{Error, Result};
use crate::format::Compression;
use crate::lake::Lake;
use crate::schema::arrow_type;

/// Where the lake's store is registered inside the query engine.
const LAKE_URL: &str = "streamlake://lake";

/// A query engine with every catalog table of one lake registered.
pub struct LakeSql {
    context: SessionContext,
    /// The lake the tables are in (its secrets stay out of errors).
    lake: Lake,
}

impl LakeSql {
    /// Registers each table of `catalog` (as crawled from `lake`), Delta
    /// tables included (feature `delta`; their log is read, so this is
    /// async). A table whose objects mix compressions is left out with a
    /// warning, and so is a Delta table in a build without `delta`.
    pub async fn open(lake: &Lake, catalog: &Catalog) -> Result<Self> {
        let sql = Self::new(lake, catalog)?;
        for table in catalog.tables().filter(|t| t.kind == TableKind::Delta) {
            sql.register_delta(lake, table).await?;
        }
        Ok(sql)
    }

    #[cfg(feature = "delta")]
    async fn register_delta(&self, lake: &Lake, table: &Table) -> Result<()> {
        let provider =
            crate::table::delta::table_provider(lake, &table.location, &self.context).await?;
        self.context
            .register_table(table.name.as_str(), provider)
            .map_err(|e| sql_error(format!("registering Delta table {}", table.name), e))?;
        Ok(())
    }

    #[cfg(not(feature = "delta"))]
    async fn register_delta(&self, _lake: &Lake, table: &Table) -> Result<()> {
        tracing::warn!(
            "table {} is a Delta table: left out of SQL (build with the delta feature)",
            table.name
        );
        Ok(())
    }

    /// Registers each table of `catalog` (as crawled from `lake`) except
    /// Delta tables (see [`open`](Self::open)); a table whose objects mix
    /// compressions is left out with a warning.
    pub fn new(lake: &Lake, catalog: &Catalog) -> Result<Self> {
        let context = SessionContext::new();
        let url = url::Url::parse(LAKE_URL).expect("a valid URL");
        context.register_object_store(&url, lake.store().clone());
        for table in catalog.tables() {
            if table.kind == TableKind::Delta {
                continue;
            }
            if table.compression == TableCompression::Mixed {
                tracing::warn!(
                    "table {} is left out of SQL: its objects mix compressions",
                    table.name
                );
                continue;
            }
            let listing = listing_table(lake, table)?;
            context
                .register_table(table.name.as_str(), Arc::new(listing))
                .map_err(|e| sql_error(format!("registering table {}", table.name), e))?;
        }
        Ok(Self {
            context,
            lake: lake.clone(),
        })
    }

    /// Runs one SQL statement and collects its result.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let frame = self
            .context
            .sql(sql)
            .await
            .map_err(|e| sql_error(format!("planning {sql:?}"), e))?;
        frame
            .collect()
            .await
            .map_err(|e| self.lake.scrub(sql_error(format!("running {sql:?}"), e)))
    }

    /// The DataFusion session, for anything beyond [`query`](Self::query).
    pub fn context(&self) -> &SessionContext {
        &self.context
    }
}

fn sql_error(context: String, source: DataFusionError) -> Error {
    Error::Sql {
        context,
        source: Box::new(source),
    }
}

/// A listing table over `{lake root}/{table location}/`, reading the
/// catalog's columns and partition keys.
fn listing_table(lake: &Lake, table: &Table) -> Result<ListingTable> {
    let objects = table.compression.objects().ok_or_else(|| {
        sql_error(
            format!("registering table {}", table.name),
            datafusion::error::DataFusionError::Plan(
                "its objects mix compressions; they cannot be queried as one table".into(),
            ),
        )
    })?;
    let compression = match objects {
        Compression::None => FileCompressionType::UNCOMPRESSED,
        Compression::Gzip(_) => FileCompressionType::GZIP,
        Compression::Zstd(_) => FileCompressionType::ZSTD,
    };
    let suffix = objects.suffix();
    let (format, extension): (Arc<dyn FileFormat>, &str) = match table.format {
        Format::JsonLines => (
            Arc::new(JsonFormat::default().with_file_compression_type(compression)),
            json_extension(table),
        ),
        Format::Csv => (
            Arc::new(
                CsvFormat::default()
                    .with_has_header(true)
                    .with_file_compression_type(compression),
            ),
            ".csv",
        ),
        Format::Parquet => (Arc::new(ParquetFormat::default()), ".parquet"),
    };
    let partition_columns = table
        .partition_keys
        .iter()
        .map(|k| (k.name.clone(), arrow_type(k.column_type)))
        .collect();
    let options = ListingOptions::new(format)
        .with_file_extension(format!("{extension}{suffix}"))
        .with_table_partition_cols(partition_columns);
    let schema = Schema::new(
        table
            .columns
            .iter()
            // Formats read by name cannot also carry a partition key's
            // name; CSV is read by position and keeps every column.
            .filter(|c| {
                table.format == Format::Csv
                    || !table.partition_keys.iter().any(|k| k.name == c.name)
            })
            .map(|c| Field::new(&c.name, arrow_type(c.column_type), true))
            .collect::<Vec<_>>(),
    );
    let root = lake.root().as_ref();
    let path = if root.is_empty() {
        format!("{LAKE_URL}/{}/", table.location)
    } else {
        format!("{LAKE_URL}/{root}/{}/", table.location)
    };
    let url = ListingTableUrl::parse(&path)
        .map_err(|e| sql_error(format!("table {} at {path}", table.name), e))?;
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(Arc::new(schema));
    ListingTable::try_new(config).map_err(|e| sql_error(format!("table {}", table.name), e))
}

/// `.jsonl`, `.json` or `.ndjson`: whichever the table's objects use.
fn json_extension(table: &Table) -> &'static str {
    let named = |ext: &str| {
        table
            .objects
            .keys()
            .next()
            .is_some_and(|key| key.contains(&format!(".{ext}")))
    };
    if named("ndjson") {
        ".ndjson"
    } else if named("jsonl") {
        ".jsonl"
    } else {
        ".json"
    }
}

/// How query results are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// An aligned text table.
    #[default]
    Table,
    /// One JSON object per row.
    JsonLines,
    /// CSV with a header row.
    Csv,
}

impl OutputFormat {
    /// The batches as text in this format.
    pub fn render(self, batches: &[RecordBatch]) -> Result<String> {
        let failed = |e: datafusion::arrow::error::ArrowError| {
            sql_error("formatting results".into(), DataFusionError::from(e))
        };
        let mut out = Vec::new();
        match self {
            OutputFormat::Table => {
                let table = datafusion::arrow::util::pretty::pretty_format_batches(batches)
                    .map_err(failed)?;
                out.extend_from_slice(format!("{table}\n").as_bytes());
            }
            OutputFormat::JsonLines => {
                let mut writer = datafusion::arrow::json::LineDelimitedWriter::new(&mut out);
                for batch in batches {
                    writer.write(batch).map_err(failed)?;
                }
                writer.finish().map_err(failed)?;
            }
            OutputFormat::Csv => {
                let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut out);
                for batch in batches {
                    writer.write(batch).map_err(failed)?;
                }
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

impl FromStr for OutputFormat {
    type Err = Error;

    /// `table`, `jsonl` or `csv`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "table" => Ok(OutputFormat::Table),
            "jsonl" => Ok(OutputFormat::JsonLines),
            "csv" => Ok(OutputFormat::Csv),
            other => Err(Error::Config(format!(
                "output {other:?}: expected table, jsonl or csv"
            ))),
        }
    }
}
