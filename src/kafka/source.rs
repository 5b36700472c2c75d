//! [`KafkaSource`]: a consumer-group member that commits only durable offsets.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use super::KafkaConfig;
use super::consumer::{self, Event, SourceContext};
use super::topics::check_topics;
use crate::error::{Error, Result};
use crate::record::{Position, SourcePartition};
use crate::source::{RecordSource, SourceEvent};

/// Where a new consumer group starts reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartFrom {
    /// The oldest retained record (default).
    #[default]
    Earliest,
    /// Only records produced after the group first joins.
    Latest,
}

/// Reads records from Kafka topics as a member of a consumer group.
///
/// - Offsets are committed only through [`commit`](RecordSource::commit),
///   that is, only for records the sink reported durable
///   (`enable.auto.commit` and `enable.auto.offset.store` are off).
/// - On a rebalance the revoke is held until the pipeline has dropped the
///   revoked partitions' buffered records and committed what was durable
///   ([`SourceEvent::Revoked`]); newly assigned partitions resume from the
///   group's committed offset.
/// - Rebalancing is incremental (`partition.assignment.strategy` defaults
///   to `cooperative-sticky`): only partitions that change owner are revoked.
/// - When the pipeline stops pulling, the consumer pauses its partitions
///   and keeps polling (group membership stays alive).
///
/// Records carry the message key, value, headers and timestamp; positions
/// are `{topic}/{partition}@{offset}`.
pub struct KafkaSource {
    consumer: Arc<BaseConsumer<SourceContext>>,
    events: mpsc::Receiver<Event>,
    revoke_ack: Option<std_mpsc::SyncSender<()>>,
    /// Partitions being revoked: committed once more, then forgotten.
    revoking: Vec<SourcePartition>,
    /// Durable positions not yet committed (a failed commit is retried).
    to_commit: BTreeMap<SourcePartition, i64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    brokers: String,
    group: String,
}

/// Options for a [`KafkaSource`].
#[derive(Debug, Clone)]
pub struct KafkaSourceBuilder {
    config: KafkaConfig,
    group: Option<String>,
    topics: Vec<String>,
    start_from: StartFrom,
    batch_size: usize,
    connect_timeout: Duration,
    revoke_timeout: Duration,
}

impl KafkaSource {
    /// Options for a source over the brokers in `config`.
    pub fn builder(config: KafkaConfig) -> KafkaSourceBuilder {
        KafkaSourceBuilder {
            config,
            group: None,
            topics: Vec::new(),
            start_from: StartFrom::Earliest,
            batch_size: 1024,
            connect_timeout: Duration::from_secs(10),
            revoke_timeout: Duration::from_secs(60),
        }
    }

    /// The partitions assigned to this member now.
    pub fn assignment(&self) -> Vec<SourcePartition> {
        self.consumer
            .assignment()
            .map(|list| {
                list.elements()
                    .iter()
                    .map(|e| SourcePartition::new(e.topic(), e.partition()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl KafkaSourceBuilder {
    /// Consumer group id (required).
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Adds a topic; a name starting with `^` is a regular expression.
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topics.push(topic.into());
        self
    }

    /// Where a group without committed offsets starts.
    pub fn start_from(mut self, start: StartFrom) -> Self {
        self.start_from = start;
        self
    }

    /// Most records handed over at once.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// How long to wait for the brokers' metadata when connecting.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Checks that the brokers answer and the topics exist, joins the group
    /// and starts polling.
    pub fn build(self) -> Result<KafkaSource> {
        let group = self
            .group
            .ok_or_else(|| Error::Config("a Kafka source needs a consumer group id".into()))?;
        if self.topics.is_empty() {
            return Err(Error::Config(
                "a Kafka source needs at least one topic".into(),
            ));
        }
        let brokers = self.config.brokers().to_string();
        let (tx, events) = mpsc::channel(8);
        let context = SourceContext {
            events: tx,
            pending: Mutex::new(Vec::new()),
            revoke_timeout: self.revoke_timeout,
            assigned: AtomicBool::new(false),
        };
        let reset = match self.start_from {
            StartFrom::Earliest => "earliest",
            StartFrom::Latest => "latest",
        };
        // Incremental (cooperative) rebalancing: a member joining or leaving
        // moves only the partitions that change owner, instead of stopping
        // every member; it is also what lets tansu 0.6.0 hand a dead member's
        // partitions to the survivors. Any setting the user gave wins.
        let mut client = self.config.client_config_with(&[
            ("auto.offset.reset", reset),
            ("partition.assignment.strategy", "cooperative-sticky"),
        ]);
        client
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        let consumer: BaseConsumer<SourceContext> =
            client
                .create_with_context(context)
                .map_err(|e| Error::Kafka {
                    context: format!("creating a consumer for {brokers}"),
                    source: e,
                })?;
        let named: Vec<&str> = self
            .topics
            .iter()
            .map(String::as_str)
            .filter(|t| !t.starts_with('^'))
            .collect();
        check_topics(&consumer, &brokers, &named, self.connect_timeout)?;
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).map_err(|e| Error::Kafka {
            context: format!("subscribing to {topics:?}"),
            source: e,
        })?;
        let consumer = Arc::new(consumer);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name(format!("kafka-source-{group}"))
            .spawn({
                let (consumer, stop, batch) = (consumer.clone(), stop.clone(), self.batch_size);
                move || consumer::run(consumer, batch, stop)
            })
            .map_err(|e| Error::io("starting the Kafka polling thread", e))?;
        Ok(KafkaSource {
            consumer,
            events,
            revoke_ack: None,
            revoking: Vec::new(),
            to_commit: BTreeMap::new(),
            stop,
            thread: Some(thread),
            brokers,
            group,
        })
    }
}

#[async_trait]
impl RecordSource for KafkaSource {
    async fn poll(&mut self, _max_records: usize) -> Result<SourceEvent> {
        // The pipeline handled the last revoke (committed, dropped): let it
        // complete, and never commit for those partitions again: the new
        // owner may move their offsets further.
        if let Some(ack) = self.revoke_ack.take() {
            for p in self.revoking.drain(..) {
                self.to_commit.remove(&p);
            }
            let _ = ack.send(());
        }
        // Cancel-safe: a batch not received stays in the channel. A member
        // without partitions (still joining) is not idle: keep waiting.
        let event = loop {
            match tokio::time::timeout(Duration::from_millis(500), self.events.recv()).await {
                Err(_) if self.assignment().is_empty() => continue,
                other => break other,
            }
        };
        match event {
            Err(_) => Ok(SourceEvent::Idle),
            Ok(None) => Ok(SourceEvent::End),
            Ok(Some(Event::Records(records))) => Ok(SourceEvent::Records {
                records,
                rejected: Vec::new(),
            }),
            Ok(Some(Event::Revoked(partitions, ack))) => {
                self.revoke_ack = Some(ack);
                self.revoking = partitions.clone();
                Ok(SourceEvent::Revoked(partitions))
            }
            Ok(Some(Event::Error(e))) => Err(Error::Kafka {
                context: format!("consuming from {} (group {})", self.brokers, self.group),
                source: e,
            }),
        }
    }

    async fn commit(&mut self, durable: &[Position]) -> Result<()> {
        for p in durable {
            let entry = self
                .to_commit
                .entry(p.source_partition())
                .or_insert(p.offset);
            *entry = (*entry).max(p.offset);
        }
        if self.to_commit.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for (sp, offset) in &self.to_commit {
            // Kafka commits the next offset to read.
            list.add_partition_offset(&sp.stream, sp.partition, Offset::Offset(offset + 1))
                .map_err(|e| Error::Kafka {
                    context: format!("committing {sp}"),
                    source: e,
                })?;
        }
        let consumer = self.consumer.clone();
        let result = tokio::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync))
            .await
            .map_err(|e| Error::io("committing offsets", std::io::Error::other(e)))?;
        match result {
            Ok(()) => {
                tracing::debug!("kafka committed {:?}", self.to_commit);
                self.to_commit.clear();
            }
            // Durable positions stay queued and are committed next time;
            // until then a restart replays them (idempotent in the lake).
            Err(e) => tracing::warn!(
                "kafka commit of {:?} failed, will retry: {e}",
                self.to_commit
            ),
        }
        Ok(())
    }
}

impl Drop for KafkaSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.events.close();
        if let Some(ack) = self.revoke_ack.take() {
            let _ = ack.send(());
        }
        // Unblock a revoke waiting to hand over its event, then let the thread end.
        while let Ok(event) = self.events.try_recv() {
            if let Event::Revoked(_, ack) = event {
                let _ = ack.send(());
            }
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource")
            .field("brokers", &self.brokers)
            .field("group", &self.group)
            .finish()
    }
}
