//! The catalog: which tables a lake holds, their columns, partitions and
//! objects, as a crawler finds them (the Glue crawler + Data Catalog step).
//!
//! [`crawl`] lists a lake, groups objects into tables (the directories
//! above the first `key=value` segment), discovers Hive partitions, infers
//! each table's columns from a bounded sample of every new object, and
//! stores the result as JSON under `_catalog/` in the lake, where any
//! process can [`Catalog::load`] it. [`Table::athena_ddl`] and
//! [`Table::glue_table_input`] export it for AWS.
//!
//! ```
//! # async fn demo() -> streamlake::Result<()> {
//! use streamlake::Lake;
//! use streamlake::catalog::{Catalog, crawl};
//!
//! let lake = Lake::open("lake")?;
//! let (catalog, report) = crawl(&lake, "").await?;
//! tracing::info!("{report}");
//! let ddl: Vec<String> = catalog
//!     .tables()
//!     .map(|table| table.athena_ddl("s3://my-bucket/lake"))
//!     .collect();
//! let again = Catalog::load(&lake).await?; // what crawl saved
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::format::Compression;
use crate::lake::Lake;

pub(crate) mod athena;
mod crawl;
pub(crate) mod glue;
pub(crate) mod layout;
#[cfg(feature = "parquet")]
mod parquet;
mod projection;
pub(crate) mod sample;

pub use crate::format::Format;
pub use crate::schema::{Column, ColumnType};
pub use crawl::{CrawlReport, Crawler, SchemaConflictPolicy, crawl};

pub use projection::{KeyProjection, Projection};

/// Where catalog entries live inside a lake.
pub const CATALOG_DIR: &str = "_catalog";

/// The whole-object compression of a table's objects, stored in the
/// catalog by name: `none`, `gzip`, `zstd`, or `mixed`.
///
/// ```
/// use streamlake::Compression;
/// use streamlake::catalog::TableCompression;
/// assert_eq!(TableCompression::of(Compression::gzip()), TableCompression::Gzip);
/// assert_eq!(serde_json::to_string(&TableCompression::Mixed).unwrap(), "\"mixed\"");
/// assert_eq!(TableCompression::Mixed.objects(), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableCompression {
    /// Objects stored as encoded.
    None,
    /// gzip objects (`.gz`).
    Gzip,
    /// zstd objects (`.zst`).
    Zstd,
    /// The table's objects use different compressions: Athena reads them,
    /// SQL over the lake cannot read them as one table.
    Mixed,
}

impl TableCompression {
    /// The table compression of objects compressed with `compression`.
    pub fn of(compression: Compression) -> Self {
        match compression {
            Compression::None => Self::None,
            Compression::Gzip(_) => Self::Gzip,
            Compression::Zstd(_) => Self::Zstd,
        }
    }

    /// The compression every object has, unless they are mixed.
    pub fn objects(self) -> Option<Compression> {
        match self {
            Self::None => Some(Compression::None),
            Self::Gzip => Some(Compression::gzip()),
            Self::Zstd => Some(Compression::zstd()),
            Self::Mixed => None,
        }
    }

    /// The name stored in the catalog.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
            Self::Mixed => "mixed",
        }
    }
}

impl std::fmt::Display for TableCompression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One Hive partition of a table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// Values of the partition keys, in key order, unescaped.
    pub values: Vec<String>,
    /// Lake-relative directory, e.g. `stock/index=HSI/year=1990`.
    pub location: String,
    /// Objects in the partition.
    pub files: u64,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// What a table directory is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableKind {
    /// Loose objects under Hive partition paths, sampled by the crawler.
    #[default]
    HiveObjects,
    /// A Delta Lake table (a `_delta_log/` directory): its schema,
    /// partitions and files are in its log, so the crawler records only
    /// where it is and reads none of its files.
    Delta,
}

/// One table: a directory of objects of one format, or a Delta table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Catalog name: the lake-relative location, lowercased, with
    /// characters other than letters, digits and `_` made `_`.
    pub name: String,
    /// Lake-relative directory holding the table, e.g. `stock`.
    pub location: String,
    /// Encoding of the objects.
    pub format: Format,
    /// Whole-object compression of the objects.
    pub compression: TableCompression,
    /// Data columns, in first-seen order.
    pub columns: Vec<Column>,
    /// Hive partition keys, outermost first, typed from their values.
    pub partition_keys: Vec<Column>,
    /// Partitions with file counts and sizes (one with no values when the
    /// table is not partitioned).
    pub partitions: Vec<Partition>,
    /// Objects already read (lake-relative key → size): a re-crawl reads
    /// only objects not listed here.
    pub objects: BTreeMap<String, u64>,
    /// Loose objects, or a Delta table (then `columns`, `partitions` and
    /// `objects` are empty: the table's log holds them).
    #[serde(default)]
    pub kind: TableKind,
}

impl Table {
    /// The column named `name` (data columns first, then partition keys).
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .chain(&self.partition_keys)
            .find(|c| c.name == name)
    }

    /// Total bytes of the table's objects.
    pub fn bytes(&self) -> u64 {
        self.partitions.iter().map(|p| p.bytes).sum()
    }
}

/// The tables of one lake.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    tables: BTreeMap<String, Table>,
}

impl Catalog {
    /// Every table, by name.
    pub fn tables(&self) -> impl Iterator<Item = &Table> {
        self.tables.values()
    }

    /// The table called `name`.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.get(name)
    }

    pub(crate) fn table_mut(&mut self, name: &str) -> Option<&mut Table> {
        self.tables.get_mut(name)
    }

    pub(crate) fn insert(&mut self, table: Table) {
        self.tables.insert(table.name.clone(), table);
    }

    pub(crate) fn retain(&mut self, keep: impl FnMut(&String, &mut Table) -> bool) {
        self.tables.retain(keep);
    }

    /// Reads the catalog stored in the lake (`_catalog/{table}.json`); an
    /// empty catalog when nothing was crawled yet.
    pub async fn load(lake: &Lake) -> Result<Catalog> {
        Self::load_from(lake).await.map_err(|e| lake.scrub(e))
    }

    async fn load_from(lake: &Lake) -> Result<Catalog> {
        let dir = lake.key([CATALOG_DIR]);
        let store: &dyn ObjectStore = lake.store().as_ref();
        let metas: Vec<_> = store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(|e| Error::store("list", &dir, e))?;
        let mut catalog = Catalog::default();
        for meta in metas {
            if !meta.location.as_ref().ends_with(".json") {
                continue;
            }
            let bytes = store
                .get(&meta.location)
                .await
                .map_err(|e| Error::store("get", &meta.location, e))?
                .bytes()
                .await
                .map_err(|e| Error::store("get", &meta.location, e))?;
            let table: Table = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                what: format!("catalog entry {}", meta.location),
                reason: e.to_string(),
            })?;
            catalog.insert(table);
        }
        Ok(catalog)
    }

    /// Stores every table as `_catalog/{table}.json` and removes entries of
    /// tables no longer in the catalog. Last writer wins: run one crawler
    /// per lake at a time.
    pub async fn save(&self, lake: &Lake) -> Result<()> {
        self.save_to(lake).await.map_err(|e| lake.scrub(e))
    }

    async fn save_to(&self, lake: &Lake) -> Result<()> {
        let store: &dyn ObjectStore = lake.store().as_ref();
        let dir = lake.key([CATALOG_DIR]);
        let stored: Vec<_> = store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(|e| Error::store("list", &dir, e))?;
        for table in self.tables() {
            let key = lake.key([CATALOG_DIR, &format!("{}.json", table.name)]);
            let body = serde_json::to_vec_pretty(table).expect("tables serialize");
            store
                .put(&key, PutPayload::from(Bytes::from(body)))
                .await
                .map_err(|e| Error::store("put", &key, e))?;
        }
        // Entries of tables no longer in the catalog: only their names are
        // needed, so nothing is read back.
        for meta in stored {
            let name = meta
                .location
                .filename()
                .and_then(|f| f.strip_suffix(".json"));
            if name.is_some_and(|name| self.table(name).is_none()) {
                store
                    .delete(&meta.location)
                    .await
                    .map_err(|e| Error::store("delete", &meta.location, e))?;
            }
        }
        Ok(())
    }
}
