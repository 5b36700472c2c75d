//! The crawler: lists a lake, groups objects into tables and partitions,
//! and reads only objects it has not read before.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use futures::TryStreamExt;
use object_store::{ObjectMeta, ObjectStore};

use super::layout::{Placement, place, table_name};
use super::sample::{self, SampleLimits};
use super::{Catalog, Column, ColumnType, Format, Partition, Table, TableCompression, TableKind};
use crate::error::{Error, Result};
use crate::format::Compression;
use crate::lake::Lake;

/// What a re-crawl does when an object disagrees with a column's type in
/// the catalog (e.g. a `bigint` column now holds `1.5`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SchemaConflictPolicy {
    /// Keep the catalog's type and report the conflict (default).
    #[default]
    Log,
    /// Widen the column's type (bigint → double → string, date →
    /// timestamp → string) and report the change.
    Update,
}

/// What one crawl found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrawlReport {
    /// Objects listed (tables' objects only).
    pub objects_listed: usize,
    /// Objects read this time (new since the last crawl).
    pub objects_read: usize,
    /// Tables created by this crawl.
    pub new_tables: Vec<String>,
    /// `table.column (type)` added to a table that existed before.
    pub new_columns: Vec<String>,
    /// Type disagreements with the catalog, and what the policy did.
    pub conflicts: Vec<String>,
    /// Records in the sample that could not be read, with key and line.
    pub bad_records: Vec<String>,
    /// Objects left out, with the reason.
    pub skipped: Vec<String>,
}

impl fmt::Display for CrawlReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "crawl: {} objects listed, {} read, {} new tables, {} new columns, {} conflicts, \
             {} bad records, {} skipped",
            self.objects_listed,
            self.objects_read,
            self.new_tables.len(),
            self.new_columns.len(),
            self.conflicts.len(),
            self.bad_records.len(),
            self.skipped.len()
        )?;
        for line in self
            .conflicts
            .iter()
            .chain(&self.bad_records)
            .chain(&self.skipped)
            .take(20)
        {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

/// Options of a crawl; [`crawl`] runs one with the defaults.
#[derive(Clone, Debug)]
pub struct Crawler {
    prefix: String,
    limits: SampleLimits,
    on_conflict: SchemaConflictPolicy,
}

impl Default for Crawler {
    fn default() -> Self {
        Crawler {
            prefix: String::new(),
            limits: SampleLimits {
                bytes: 1 << 20,
                records: 1000,
            },
            on_conflict: SchemaConflictPolicy::Log,
        }
    }
}

/// Crawls the whole lake under `prefix` (`""` for all of it) with the
/// default options, saves the catalog in the lake and returns it.
pub async fn crawl(lake: &Lake, prefix: &str) -> Result<(Catalog, CrawlReport)> {
    Crawler::new().prefix(prefix).run(lake).await
}

impl Crawler {
    /// Defaults: the whole lake, 1 MiB and 1,000 records per object,
    /// conflicts logged.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only objects under this lake-relative prefix.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.trim_matches('/').to_string();
        self
    }

    /// How much of each new object is read: decompressed bytes and records.
    pub fn sample(mut self, bytes: u64, records: usize) -> Self {
        self.limits = SampleLimits {
            bytes: bytes.max(1),
            records: records.max(1),
        };
        self
    }

    /// What to do when an object disagrees with a catalog column's type.
    pub fn on_schema_conflict(mut self, policy: SchemaConflictPolicy) -> Self {
        self.on_conflict = policy;
        self
    }

    /// Loads the lake's catalog, crawls into it, saves it, returns it.
    pub async fn run(&self, lake: &Lake) -> Result<(Catalog, CrawlReport)> {
        let mut catalog = Catalog::load(lake).await?;
        let report = self.update(lake, &mut catalog).await?;
        catalog.save(lake).await?;
        Ok((catalog, report))
    }

    /// Crawls into `catalog` without loading or saving it.
    pub async fn update(&self, lake: &Lake, catalog: &mut Catalog) -> Result<CrawlReport> {
        self.update_from(lake, catalog)
            .await
            .map_err(|e| lake.scrub(e))
    }

    async fn update_from(&self, lake: &Lake, catalog: &mut Catalog) -> Result<CrawlReport> {
        let mut report = CrawlReport::default();
        let store: &dyn ObjectStore = lake.store().as_ref();
        let root = lake.root().as_ref();
        let listed = lake.key([self.prefix.as_str()]);
        let metas: Vec<ObjectMeta> = store
            .list(Some(&listed))
            .try_collect()
            .await
            .map_err(|e| Error::store("list", &listed, e))?;

        let relative = |meta: &ObjectMeta| {
            let key = meta.location.as_ref();
            key.strip_prefix(root)
                .unwrap_or(key)
                .trim_start_matches('/')
                .to_string()
        };
        // A directory holding `_delta_log/` is a Delta table: its files are
        // the log's business (orphans of failed commits among them), so
        // none of them is sampled as a loose object.
        let deltas: BTreeSet<String> = metas
            .iter()
            .filter_map(|m| Some(relative(m).split_once("/_delta_log/")?.0.to_string()))
            .collect();
        let in_delta = |relative: &str| {
            deltas.iter().any(|d| {
                relative
                    .strip_prefix(d.as_str())
                    .is_some_and(|r| r.starts_with('/'))
            })
        };
        // Group the listing by table; partitions come from the listing
        // alone, so they are rebuilt every time.
        let mut tables: BTreeMap<String, Vec<(ObjectMeta, Placement)>> = BTreeMap::new();
        for meta in metas {
            let relative = relative(&meta);
            if in_delta(&relative) {
                continue;
            }
            match place(&relative) {
                Ok(Some(placement)) => tables
                    .entry(placement.location.clone())
                    .or_default()
                    .push((meta, placement)),
                Ok(None) => {}
                Err(reason) => report.skipped.push(format!("{relative}: {reason}")),
            }
        }

        let crawled: HashSet<String> = tables
            .keys()
            .chain(&deltas)
            .map(|l| table_name(l))
            .collect();
        if self.prefix.is_empty() {
            catalog.retain(|name, _| crawled.contains(name));
        }
        // Locations whose names collide once normalised (`Stock`/`stock`,
        // `a-b`/`a_b`) are reported, never merged into one table.
        let mut named: BTreeMap<String, String> = BTreeMap::new();
        for (location, objects) in tables {
            let name = table_name(&location);
            let taken = named.get(&name).cloned().or_else(|| {
                catalog
                    .table(&name)
                    .map(|t| t.location.clone())
                    .filter(|l| *l != location)
            });
            if let Some(other) = taken {
                report.conflicts.push(format!(
                    "{location}: its table name {name} is already the name of {other}; \
                     left out (rename one of the directories)"
                ));
                continue;
            }
            named.insert(name, location.clone());
            self.update_table(lake, catalog, &location, objects, &mut report)
                .await?;
        }
        for location in deltas {
            record_delta_table(catalog, &location, &mut report);
        }
        Ok(report)
    }

    async fn update_table(
        &self,
        lake: &Lake,
        catalog: &mut Catalog,
        location: &str,
        objects: Vec<(ObjectMeta, Placement)>,
        report: &mut CrawlReport,
    ) -> Result<()> {
        let name = table_name(location);
        let (first, placement) = &objects[0];
        let is_new = catalog.table(&name).is_none();
        if is_new {
            catalog.insert(Table {
                name: name.clone(),
                location: location.to_string(),
                format: placement.format,
                compression: TableCompression::of(Compression::from_file_name(
                    first.location.as_ref(),
                )),
                columns: Vec::new(),
                partition_keys: placement
                    .keys
                    .iter()
                    .map(|k| Column {
                        name: k.clone(),
                        column_type: ColumnType::String,
                    })
                    .collect(),
                partitions: Vec::new(),
                objects: BTreeMap::new(),
                kind: TableKind::HiveObjects,
            });
            report.new_tables.push(name.clone());
        }
        let table = catalog.table_mut(&name).expect("inserted above");
        let known_columns = table.columns.len();
        let mut untyped: HashSet<String> = HashSet::new();
        let mut partitions: BTreeMap<String, Partition> = BTreeMap::new();
        let mut seen = BTreeMap::new();
        for (meta, placement) in &objects {
            let key = meta.location.as_ref();
            if placement.format != table.format {
                report.skipped.push(format!(
                    "{key}: {:?} object in a {:?} table",
                    placement.format, table.format
                ));
                continue;
            }
            if placement.keys != key_names(&table.partition_keys) {
                report.skipped.push(format!(
                    "{key}: partition keys {:?} differ from the table's {:?}",
                    placement.keys,
                    key_names(&table.partition_keys)
                ));
                continue;
            }
            if TableCompression::of(Compression::from_file_name(key)) != table.compression {
                table.compression = TableCompression::Mixed;
            }
            report.objects_listed += 1;
            let partition = partitions
                .entry(placement.partition.clone())
                .or_insert_with(|| Partition {
                    values: placement.values.clone(),
                    location: placement.partition.clone(),
                    files: 0,
                    bytes: 0,
                });
            partition.files += 1;
            partition.bytes += meta.size;
            let relative = format!("{}/{}", placement.partition, file_name(key));
            if table.objects.get(&relative) == Some(&meta.size) {
                seen.insert(relative, meta.size);
                continue;
            }
            let columns =
                match sample::columns(lake.store().as_ref(), meta, table.format, self.limits).await
                {
                    Ok(columns) => columns,
                    Err(e) if !e.is_retryable() => {
                        report.skipped.push(format!("{key}: {e}"));
                        continue;
                    }
                    Err(e) => return Err(e),
                };
            report.objects_read += 1;
            seen.insert(relative, meta.size);
            report.bad_records.extend(columns.bad_records);
            // CSV is read by position: every object must list the table's
            // columns in the same order.
            if table.format == Format::Csv && !table.columns.is_empty() {
                let names: Vec<&str> = columns.columns.iter().map(|(n, _)| n.as_str()).collect();
                let known: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
                if !known.starts_with(&names) && !names.starts_with(&known) {
                    report.conflicts.push(format!(
                        "{key}: CSV header {names:?} differs from the table's columns {known:?}"
                    ));
                }
            }
            for (column, found) in columns.columns {
                self.merge(table, known_columns, &mut untyped, column, found, report);
            }
        }
        // A crawl under a prefix inside the table refreshes only that part.
        let inside = |location: &str| {
            self.prefix.is_empty()
                || location == self.prefix
                || location.starts_with(&format!("{}/", self.prefix))
        };
        table.objects.retain(|key, _| !inside(key));
        table.objects.extend(seen);
        table.partitions.retain(|p| !inside(&p.location));
        table.partitions.extend(partitions.into_values());
        table.partitions.sort_by(|a, b| a.location.cmp(&b.location));
        for (i, key) in table.partition_keys.iter_mut().enumerate() {
            key.column_type = table
                .partitions
                .iter()
                .filter_map(|p| ColumnType::of_text(&p.values[i]))
                .reduce(ColumnType::widen)
                .unwrap_or(ColumnType::String);
        }
        Ok(())
    }

    /// Folds one object's view of a column into the table.
    fn merge(
        &self,
        table: &mut Table,
        known_columns: usize,
        untyped: &mut HashSet<String>,
        name: String,
        found: Option<ColumnType>,
        report: &mut CrawlReport,
    ) {
        let Some(index) = table.columns.iter().position(|c| c.name == name) else {
            if known_columns > 0 {
                report.new_columns.push(format!(
                    "{}.{name} ({})",
                    table.name,
                    found.unwrap_or(ColumnType::String).sql_name()
                ));
            }
            if found.is_none() {
                untyped.insert(name.clone());
            }
            table.columns.push(Column {
                name,
                column_type: found.unwrap_or(ColumnType::String),
            });
            return;
        };
        let Some(found) = found else { return };
        let column = &mut table.columns[index];
        if untyped.remove(&name) {
            column.column_type = found;
            return;
        }
        let wider = column.column_type.widen(found);
        if wider == column.column_type {
            return;
        }
        if index >= known_columns {
            // Added by this crawl: files disagreeing is ordinary widening.
            column.column_type = wider;
            return;
        }
        let what = format!(
            "{}.{name}: catalog has {}, an object has {}",
            table.name,
            column.column_type.sql_name(),
            found.sql_name()
        );
        match self.on_conflict {
            SchemaConflictPolicy::Log => {
                tracing::warn!(
                    "schema conflict: {what}; keeping {}",
                    column.column_type.sql_name()
                );
                report
                    .conflicts
                    .push(format!("{what}; kept {}", column.column_type.sql_name()));
            }
            SchemaConflictPolicy::Update => {
                report
                    .conflicts
                    .push(format!("{what}; widened to {}", wider.sql_name()));
                column.column_type = wider;
            }
        }
    }
}

fn key_names(keys: &[Column]) -> Vec<String> {
    keys.iter().map(|k| k.name.clone()).collect()
}

fn file_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// Records the Delta table at `location` (replacing a Hive table of the
/// same name an earlier crawl recorded there): where it is, nothing more.
fn record_delta_table(catalog: &mut Catalog, location: &str, report: &mut CrawlReport) {
    let name = table_name(location);
    if catalog
        .table(&name)
        .is_some_and(|t| t.kind == TableKind::Delta)
    {
        return;
    }
    catalog.insert(Table {
        name: name.clone(),
        location: location.to_string(),
        format: Format::Parquet,
        compression: TableCompression::None,
        columns: Vec::new(),
        partition_keys: Vec::new(),
        partitions: Vec::new(),
        objects: BTreeMap::new(),
        kind: TableKind::Delta,
    });
    report.new_tables.push(name);
}
