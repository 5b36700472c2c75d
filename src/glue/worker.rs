//! The registrar's background task: batches landed groups, registers
//! them table by table, retries with backoff, and records what stays
//! unregistered past the commit timeout as owed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::GlueCatalog;
use super::journal::Journal;
use super::registrar::{Item, Message, RegistrarStats, Shared};
use crate::catalog::layout::unescape;
use crate::catalog::{Crawler, Partition, Projection, Table, TableKind};
use crate::error::{Error, Result};
use crate::lake::Lake;

/// A table as this run knows it: crawled once, partitions registered so
/// far.
#[derive(Debug)]
pub(super) struct Known {
    table: Table,
    registered: BTreeSet<Vec<String>>,
}

/// The background task.
pub(super) struct Worker {
    pub(super) catalog: GlueCatalog,
    pub(super) lake: Lake,
    pub(super) journal: Journal,
    pub(super) projection: Option<Projection>,
    pub(super) crawler: Crawler,
    pub(super) commit_timeout: Duration,
    pub(super) max_delay: Duration,
    pub(super) tables: HashMap<String, Known>,
    pub(super) waiting: Vec<Item>,
    pub(super) shared: Arc<Shared>,
}

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const LAST_BACKOFF: Duration = Duration::from_secs(30);

impl Worker {
    pub(super) async fn run(mut self, mut receiver: mpsc::UnboundedReceiver<Message>) {
        let mut next = (!self.waiting.is_empty()).then(Instant::now);
        let mut backoff = FIRST_BACKOFF;
        loop {
            let wake = next.map(tokio::time::sleep_until);
            tokio::select! {
                message = receiver.recv() => match message {
                    Some(Message::Landed(item)) => {
                        self.waiting.push(item);
                        next.get_or_insert(Instant::now() + self.max_delay);
                    }
                    Some(Message::Finish(done)) => {
                        self.finish().await;
                        let _ = done.send(());
                        return;
                    }
                    None => return self.finish().await,
                },
                _ = async { wake.unwrap().await }, if wake.is_some() => {
                    if self.attempt().await {
                        backoff = FIRST_BACKOFF;
                        next = None;
                    } else {
                        self.record_older_than(self.commit_timeout).await;
                        next = Some(Instant::now() + backoff);
                        backoff = (backoff * 2).min(LAST_BACKOFF);
                    }
                }
            }
        }
    }

    async fn finish(&mut self) {
        if !self.waiting.is_empty() && !self.attempt().await {
            self.record_older_than(Duration::ZERO).await;
        }
        self.update(|s| s.api_calls = self.catalog.api_calls());
    }

    fn update(&self, change: impl FnOnce(&mut RegistrarStats)) {
        change(&mut self.shared.stats.lock().unwrap());
    }

    /// Registers everything waiting, bounded by the oldest commit's
    /// deadline; true when done.
    async fn attempt(&mut self) -> bool {
        let oldest = self
            .waiting
            .iter()
            .filter(|i| i.owed_at.is_none())
            .map(|i| i.since)
            .min();
        let deadline = oldest.map_or(Instant::now() + self.commit_timeout, |t| {
            t + self.commit_timeout
        });
        let limit = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1));
        let outcome = match tokio::time::timeout(limit, self.register_waiting()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Error::Unavailable {
                what: format!(
                    "glue database {} at {}",
                    self.catalog.database(),
                    self.catalog.endpoint()
                ),
                reason: format!(
                    "registering took longer than the commit timeout ({:?})",
                    self.commit_timeout
                ),
            }),
        };
        self.update(|s| s.api_calls = self.catalog.api_calls());
        match outcome {
            Ok(()) => {
                *self.shared.last_error.lock().unwrap() = None;
                self.release_registered().await;
                true
            }
            Err(e) => {
                tracing::warn!(
                    "glue: registering {} landed groups failed, retrying: {e}",
                    self.waiting.len()
                );
                self.update(|s| s.failed_attempts += 1);
                *self.shared.last_error.lock().unwrap() = Some(e.to_string());
                false
            }
        }
    }

    /// Every waiting group's partitions, registered table by table.
    async fn register_waiting(&mut self) -> Result<()> {
        let mut by_table: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for item in &self.waiting {
            by_table
                .entry(item.table.clone())
                .or_default()
                .extend(item.partition_paths.iter().cloned());
        }
        for (location, paths) in by_table {
            self.register(&location, paths).await?;
        }
        Ok(())
    }

    async fn register(&mut self, location: &str, paths: BTreeSet<String>) -> Result<()> {
        if !self.tables.contains_key(location) {
            let known = self.first_sight(location).await?;
            self.tables.insert(location.to_string(), known);
        }
        let known = self.tables.get_mut(location).expect("inserted above");
        if known.table.kind == TableKind::Delta {
            // Athena reads a Delta table's partitions from its log: the
            // table itself, registered at first sight, is all Glue holds.
            return Ok(());
        }
        let new: Vec<(Vec<String>, String)> = paths
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| {
                (
                    p.split('/').map(value_of).collect::<Vec<_>>(),
                    format!("{location}/{p}"),
                )
            })
            .filter(|(values, _)| !known.registered.contains(values))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        match &self.projection {
            Some(projection) => {
                let projection = projection.for_table(&known.table);
                let uncovered = new.iter().any(|(v, _)| !projection.admits(&known.table, v));
                for (values, location) in &new {
                    known.table.partitions.push(Partition {
                        values: values.clone(),
                        location: location.clone(),
                        files: 0,
                        bytes: 0,
                    });
                }
                if uncovered {
                    self.catalog
                        .put_table(
                            &known.table,
                            Some(&projection_of(&self.projection, &known.table)),
                        )
                        .await?;
                    self.shared.stats.lock().unwrap().tables_put += 1;
                }
            }
            None => {
                self.catalog.add_partitions(&known.table, &new).await?;
            }
        }
        let count = new.len() as u64;
        known
            .registered
            .extend(new.into_iter().map(|(values, _)| values));
        self.update(|s| s.partitions_registered += count);
        Ok(())
    }

    /// Crawls the table's directory (reading only objects new since the
    /// last crawl) and creates or updates its table.
    async fn first_sight(&self, location: &str) -> Result<Known> {
        let (catalog, _) = self
            .crawler
            .clone()
            .prefix(location)
            .run(&self.lake)
            .await?;
        let table = catalog
            .tables()
            .find(|t| t.location == location)
            .cloned()
            .ok_or_else(|| {
                Error::Config(format!(
                    "glue: no objects of table {location} in {}",
                    self.lake
                ))
            })?;
        let projection = self
            .projection
            .as_ref()
            .map(|_| projection_of(&self.projection, &table));
        self.catalog.put_table(&table, projection.as_ref()).await?;
        self.update(|s| s.tables_put += 1);
        let registered = match &self.projection {
            Some(_) => table.partitions.iter().map(|p| p.values.clone()).collect(),
            None => BTreeSet::new(),
        };
        Ok(Known { table, registered })
    }

    /// Releases every waiting group (all registered) and deletes their
    /// owed records.
    async fn release_registered(&mut self) {
        let now = Instant::now();
        for item in std::mem::take(&mut self.waiting) {
            item.ticket.release();
            if let Some(path) = &item.owed_at {
                match self.journal.settle(path).await {
                    Ok(()) => self.update(|s| s.recovered += u64::from(item.landed.is_none())),
                    Err(e) => {
                        tracing::warn!("glue: {path} stays owed (registered again next start): {e}")
                    }
                }
            }
            let latency = now - item.since;
            self.update(|s| {
                s.registered_groups += 1;
                s.total_latency += latency;
                s.max_latency = s.max_latency.max(latency);
            });
        }
    }

    /// Records groups waiting longer than `age` as owed and releases them.
    async fn record_older_than(&mut self, age: Duration) {
        for item in &mut self.waiting {
            if item.owed_at.is_some() || item.since.elapsed() < age {
                continue;
            }
            let Some(landed) = &item.landed else { continue };
            match self.journal.write(landed).await {
                Ok(path) => {
                    tracing::warn!(
                        "glue: {} not registered within {age:?}: recorded as owed at {path}, committing",
                        landed.position
                    );
                    item.owed_at = Some(path);
                    item.ticket.release();
                    self.shared.stats.lock().unwrap().owed += 1;
                }
                Err(e) => tracing::warn!(
                    "glue: {} could be neither registered nor recorded as owed; its commit waits: {e}",
                    landed.position
                ),
            }
        }
    }
}

/// The value of one `key=value` path segment, unescaped.
fn value_of(segment: &str) -> String {
    unescape(segment.split_once('=').map_or(segment, |(_, v)| v))
}

/// The configured projection completed for `table`.
fn projection_of(projection: &Option<Projection>, table: &Table) -> Projection {
    projection.clone().unwrap_or_default().for_table(table)
}
