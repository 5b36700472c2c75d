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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::path::Path;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::GlueCatalog;
use super::journal::{Journal, Owed};
use crate::catalog::{Crawler, Projection};
use crate::error::Result;
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
pub(super) struct Shared {
    pub(super) stats: Mutex<RegistrarStats>,
    pub(super) last_error: Mutex<Option<String>>,
}

#[derive(Debug)]
pub(super) enum Message {
    Landed(Item),
    Finish(oneshot::Sender<()>),
}

/// A landed group waiting to be registered.
#[derive(Debug)]
pub(super) struct Item {
    pub(super) table: String,
    pub(super) partition_paths: Vec<String>,
    pub(super) ticket: Ticket,
    pub(super) since: Instant,
    pub(super) landed: Option<Landed>,
    /// Where it is recorded as owed, once it is.
    pub(super) owed_at: Option<Path>,
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
        let mut worker = super::worker::Worker {
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
