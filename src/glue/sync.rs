//! `GlueCatalog::sync`: the crawler → Data Catalog step for a whole lake,
//! like a Glue crawler run: every table created or updated, every
//! partition the lake holds and the Data Catalog lacks registered (or,
//! with projection, the projection properties set).

use std::collections::BTreeSet;
use std::fmt;

use super::GlueCatalog;
use crate::catalog::{Catalog, Projection};
use crate::error::Result;

/// What [`GlueCatalog::put_table`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableChange {
    /// The table did not exist and was created.
    Created,
    /// The table existed and was updated.
    Updated {
        /// `table.column (type)` added.
        new_columns: Vec<String>,
        /// Type disagreements and what the conflict policy did.
        conflicts: Vec<String>,
    },
    /// The table existed and already said everything the lake does.
    Unchanged {
        /// Type disagreements the conflict policy kept.
        conflicts: Vec<String>,
    },
}

/// What one [`GlueCatalog::sync`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Whether the database was created.
    pub database_created: bool,
    /// Tables created.
    pub tables_created: Vec<String>,
    /// Tables updated.
    pub tables_updated: Vec<String>,
    /// `table.column (type)` added to existing tables.
    pub new_columns: Vec<String>,
    /// Type disagreements and what the conflict policy did.
    pub conflicts: Vec<String>,
    /// Partitions registered by this sync.
    pub partitions_added: usize,
    /// Partitions the Data Catalog had already.
    pub partitions_present: usize,
    /// Glue API calls made.
    pub api_calls: u64,
}

impl fmt::Display for SyncReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "glue sync: {} tables created, {} updated, {} new columns, {} partitions added \
             ({} present), {} conflicts, {} API calls",
            self.tables_created.len(),
            self.tables_updated.len(),
            self.new_columns.len(),
            self.partitions_added,
            self.partitions_present,
            self.conflicts.len(),
            self.api_calls
        )
    }
}

impl GlueCatalog {
    /// Makes the Data Catalog say what `catalog` (a crawl of the lake)
    /// says: the database (created when missing and allowed), every table
    /// created or updated additively, and every partition registered; with
    /// `projection`, projection properties instead of partitions. Running
    /// it again changes nothing. Cost: a `GetTable` per table, a
    /// `GetPartitions` per 1,000 registered partitions, a
    /// `BatchCreatePartition` per 100 missing ones.
    pub async fn sync(
        &self,
        catalog: &Catalog,
        projection: Option<&Projection>,
    ) -> Result<SyncReport> {
        let calls_before = self.api_calls();
        let mut report = SyncReport {
            database_created: self.ensure_database().await?,
            ..SyncReport::default()
        };
        for table in catalog.tables() {
            match self.put_table(table, projection).await? {
                TableChange::Created => report.tables_created.push(table.name.clone()),
                TableChange::Updated {
                    new_columns,
                    conflicts,
                } => {
                    report.tables_updated.push(table.name.clone());
                    report.new_columns.extend(new_columns);
                    report.conflicts.extend(conflicts);
                }
                TableChange::Unchanged { conflicts } => report.conflicts.extend(conflicts),
            }
            if projection.is_some() || table.partition_keys.is_empty() {
                continue;
            }
            let held: BTreeSet<Vec<String>> =
                self.partitions(&table.name).await?.into_iter().collect();
            let missing: Vec<(Vec<String>, String)> = table
                .partitions
                .iter()
                .filter(|p| !held.contains(&p.values))
                .map(|p| (p.values.clone(), p.location.clone()))
                .collect();
            report.partitions_present += table.partitions.len() - missing.len();
            report.partitions_added += self.add_partitions(table, &missing).await?;
        }
        report.api_calls = self.api_calls() - calls_before;
        Ok(report)
    }
}
