//! Registration as data lands: a [`LandingListener`] for the lake sink
//! that registers each landed group's partitions in the Data Catalog,
//! batched, within a bounded delay, and holds the group's commit until
//! then, or until the commit timeout has passed and the registration is
//! recorded in the lake as owed.
//!
//! Why nothing is lost: a group's offsets are committed only after its
//! partitions are registered or recorded as owed. A crash before that
//! leaves the offsets uncommitted; the restart replays the records, the
//! lake sink passes over the objects that exist and lands the group
//! again, and it is registered then. Owed records are registered on the
//! next start (and deleted). Cost while Glue answers: one
//! `BatchCreatePartition` per batch of up to 100 partitions new to this
//! process; per table and start, one incremental crawl of the table's
//! directory (a LIST) and a `GetTable` (plus `CreateTable`/`UpdateTable`
//! when it changed).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::path::Path;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::GlueCatalog;
use super::journal::{Journal, Owed};
use crate::catalog::layout::unescape;
use crate::catalog::{Crawler, Partition, Projection, Table};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::store::{Landed, LandingListener, Ticket};

/// What the registrar has done.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RegistrarStats {
    /// Partitions registered (new to the Data Catalog or not).
    pub partitions_registered: u64,
    /// Tables created or updated in the Data Catalog.
    pub tables_put: u64,
    /// Landed groups recorded as owed because the Data Catalog did not
    /// answer within the commit timeout.
    pub owed: u64,
    /// Owed registrations from an earlier run made by this one.
    pub recovered: u64,
    /// Registration attempts that failed (and were retried).
    pub failed_attempts: u64,
    /// Glue API calls.
    pub api_calls: u64,
    /// Longest time from landing to registered.
    pub max_latency: Duration,
    /// Sum of the times from landing to registered, over `registered_groups`.
    pub total_latency: Duration,
    /// Landed groups registered.
    pub registered_groups: u64,
}

/// Registers partitions in a [`GlueCatalog`] as a lake sink lands them:
/// attach it with
/// [`LakeSinkBuilder::on_landed`](crate::LakeSinkBuilder::on_landed).
///
/// ```no_run
/// # async fn run(lake: streamlake::Lake, glue: streamlake::glue::GlueCatalog) -> streamlake::Result<()> {
/// use streamlake::LakeSink;
/// use streamlake::glue::GlueRegistrar;
/// let registrar = GlueRegistrar::builder(glue, lake.clone()).start().await?;
/// let sink = LakeSink::builder(lake).on_landed(registrar.clone()).build()?;
/// // ... run the pipeline ...
/// let stats = registrar.finish().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct GlueRegistrar {
    sender: mpsc::UnboundedSender<Message>,
    shared: Arc<Shared>,
}

/// Settings of a [`GlueRegistrar`].
#[derive(Debug)]
pub struct GlueRegistrarBuilder {
    catalog: GlueCatalog,
    lake: Lake,
    max_delay: Duration,
    commit_timeout: Duration,
    projection: Option<Projection>,
    crawler: Crawler,
}

#[derive(Debug, Default)]
struct Shared {
    stats: Mutex<RegistrarStats>,
    last_error: Mutex<Option<String>>,
}

#[derive(Debug)]
enum Message {
    Landed(Item),
    Finish(oneshot::Sender<()>),
}

/// A landed group waiting to be registered.
#[derive(Debug)]
struct Item {
    table: String,
    partition_paths: Vec<String>,
    ticket: Ticket,
    since: Instant,
    landed: Option<Landed>,
    /// Where it is recorded as owed, once it is.
    owed_at: Option<Path>,
}

impl GlueRegistrar {
    /// A registrar into `catalog` for tables of `lake`.
    pub fn builder(catalog: GlueCatalog, lake: Lake) -> GlueRegistrarBuilder {
        GlueRegistrarBuilder {
            catalog,
            lake,
            max_delay: Duration::from_secs(1),
            commit_timeout: Duration::from_secs(60),
            projection: None,
            crawler: Crawler::new(),
        }
    }

    /// What it has done so far.
    pub fn stats(&self) -> RegistrarStats {
        self.shared.stats.lock().unwrap().clone()
    }

    /// The last failed attempt's error, if the last attempt failed.
    pub fn last_error(&self) -> Option<String> {
        self.shared.last_error.lock().unwrap().clone()
    }

    /// Makes a last attempt at everything waiting, records what still
    /// fails as owed (the next start registers it), releases every group
    /// and stops. Landed groups after this are committed unregistered:
    /// call it after the pipeline has stopped.
    pub async fn finish(&self) -> RegistrarStats {
        let (done, finished) = oneshot::channel();
        if self.sender.send(Message::Finish(done)).is_ok() {
            let _ = finished.await;
        }
        self.stats()
    }
}

impl LandingListener for GlueRegistrar {
    fn landed(&self, landed: Landed) -> Ticket {
        let ticket = Ticket::pending();
        let item = Item {
            table: landed.table.clone(),
            partition_paths: landed.partition_paths.clone(),
            ticket: ticket.clone(),
            since: Instant::now(),
            landed: Some(landed),
            owed_at: None,
        };
        if let Err(mpsc::error::SendError(Message::Landed(item))) =
            self.sender.send(Message::Landed(item))
        {
            tracing::warn!(
                "glue registrar finished: {} lands unregistered (run lake_query --glue-database to sync)",
                item.table
            );
            item.ticket.release();
        }
        ticket
    }
}

impl GlueRegistrarBuilder {
    /// The longest a landed group waits to be batched with others before
    /// its partitions are registered (default 1 s).
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The longest a landed group's commit waits for its registration
    /// (default 60 s); after that the registration is recorded as owed in
    /// the lake, the group is committed, and registering goes on.
    pub fn commit_timeout(mut self, timeout: Duration) -> Self {
        self.commit_timeout = timeout;
        self
    }

    /// Athena partition projection instead of registered partitions: the
    /// table's projection properties are updated when a partition lands
    /// that the projection does not cover.
    pub fn projection(mut self, projection: Projection) -> Self {
        self.projection = Some(projection);
        self
    }

    /// The crawl that reads a table's schema on first sight (default
    /// options).
    pub fn crawler(mut self, crawler: Crawler) -> Self {
        self.crawler = crawler;
        self
    }

    /// Creates the database if needed and allowed (an error otherwise:
    /// missing permissions, no database, no endpoint), queues what an
    /// earlier run owes, and starts registering.
    pub async fn start(self) -> Result<Arc<GlueRegistrar>> {
        self.catalog.ensure_database().await?;
        let journal = Journal::new(self.lake.clone(), self.catalog.database());
        let owed = journal.owed().await?;
        let shared = Arc::new(Shared::default());
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut worker = Worker {
            catalog: self.catalog,
            lake: self.lake,
            journal,
            projection: self.projection,
            crawler: self.crawler,
            commit_timeout: self.commit_timeout,
            max_delay: self.max_delay,
            tables: HashMap::new(),
            waiting: Vec::new(),
            shared: shared.clone(),
        };
        for (
            path,
            Owed {
                table,
                partition_paths,
                position,
            },
        ) in owed
        {
            tracing::info!(
                "glue: registering what an earlier run owes for {table} (up to {position})"
            );
            worker.waiting.push(Item {
                table,
                partition_paths,
                ticket: Ticket::released(),
                since: Instant::now(),
                landed: None,
                owed_at: Some(path),
            });
        }
        tokio::spawn(worker.run(receiver));
        Ok(Arc::new(GlueRegistrar { sender, shared }))
    }
}

/// A table as this run knows it: crawled once, partitions registered so
/// far.
#[derive(Debug)]
struct Known {
    table: Table,
    registered: BTreeSet<Vec<String>>,
}

/// The background task.
struct Worker {
    catalog: GlueCatalog,
    lake: Lake,
    journal: Journal,
    projection: Option<Projection>,
    crawler: Crawler,
    commit_timeout: Duration,
    max_delay: Duration,
    tables: HashMap<String, Known>,
    waiting: Vec<Item>,
    shared: Arc<Shared>,
}

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const LAST_BACKOFF: Duration = Duration::from_secs(30);

impl Worker {
    async fn run(mut self, mut receiver: mpsc::UnboundedReceiver<Message>) {
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
                        self.record_overdue().await;
                        next = Some(Instant::now() + backoff);
                        backoff = (backoff * 2).min(LAST_BACKOFF);
                    }
                }
            }
        }
    }

    async fn finish(&mut self) {
        if !self.waiting.is_empty() && !self.attempt().await {
            let owed = Duration::ZERO;
            self.record_older_than(owed).await;
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

    async fn record_overdue(&mut self) {
        let timeout = self.commit_timeout;
        self.record_older_than(timeout).await;
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
