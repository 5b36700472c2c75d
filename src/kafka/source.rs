//! [`KafkaSource`]: a consumer-group member that commits only durable offsets.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc as std_mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use super::KafkaConfig;
use super::consumer::{Event, Polled, SourceContext, names};
use super::group;
use super::liveness::Liveness;
use super::source_builder::KafkaSourceBuilder;
use crate::error::{Error, Result};
use crate::record::{Position, SourcePartition};
use crate::source::{Backlog, RecordSource, SourceEvent};

/// Reads records from Kafka topics as a member of a consumer group.
///
/// - Offsets are committed only through [`commit`](RecordSource::commit),
///   that is, only for records the sink reported durable
///   (`enable.auto.commit` and `enable.auto.offset.store` are off).
/// - On a rebalance the revoke is held until the pipeline has dropped the
///   revoked partitions' buffered records and committed what was durable
///   ([`SourceEvent::Revoked`]); newly assigned partitions resume from the
///   group's committed offset, or after the sink's durable position when
///   that is ahead ([`RecordSource::resume_after`]: a table that holds
///   what a crashed run did not commit to Kafka).
/// - Rebalancing is incremental (`partition.assignment.strategy` defaults
///   to `cooperative-sticky`): only partitions that change owner are revoked.
/// - When the pipeline stops pulling, the consumer pauses its partitions
///   and keeps polling (group membership stays alive).
/// - [`backlog`](RecordSource::backlog) looks at the whole group: every
///   partition of the topics whose committed offset is behind its end, so
///   a pipeline that [stops when idle](crate::Pipeline::stop_when_idle)
///   stops only when the topic is drained, not when this member is.
/// - A **liveness guard** watches a member that holds no partitions while
///   other partitions lag and nobody commits them (a member that died
///   holding them, a coordinator that keeps handing back an empty
///   assignment): it logs a warning with the group state it sees and, by
///   default, rejoins the group ([`stall_window`](KafkaSourceBuilder::stall_window)).
///   With an [`assignment_timeout`](KafkaSourceBuilder::assignment_timeout),
///   `poll` fails with [`Error::Stalled`] naming the group once the member
///   has held no partition for that long.
///
/// Records carry the message key, value, headers and timestamp; positions
/// are `{topic}/{partition}@{offset}`. Values up to 4 KiB are copied out
/// of librdkafka into shared chunks of 32 KiB (one allocation for a run of
/// records, not one each): a sink that keeps a record's value long after
/// writing it keeps its chunk alive, and should copy the value
/// (`Bytes::copy_from_slice`) to hold it alone.
pub struct KafkaSource {
    pub(super) consumer: Arc<BaseConsumer<SourceContext>>,
    pub(super) events: mpsc::Receiver<Event>,
    pub(super) revoke_ack: Option<std_mpsc::SyncSender<()>>,
    /// The assignment waiting for the sink's durable positions.
    pub(super) assign_reply: Option<std_mpsc::SyncSender<Vec<Position>>>,
    /// Events taken from the polling thread before the pipeline polled
    /// (by [`wait_for_assignment`](Self::wait_for_assignment)): handed
    /// over first.
    pub(super) stashed: VecDeque<Event>,
    /// Partitions being revoked: committed once more, then forgotten.
    pub(super) revoking: Vec<SourcePartition>,
    /// Durable positions not yet committed (a failed commit is retried).
    pub(super) to_commit: BTreeMap<SourcePartition, i64>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) thread: Option<JoinHandle<()>>,
    pub(super) brokers: String,
    pub(super) group: String,
    /// Topics named in the subscription (patterns excluded).
    pub(super) topics: BTreeSet<String>,
    /// The subscription as given, for a rejoin.
    pub(super) subscription: Vec<String>,
    pub(super) liveness: Option<Liveness>,
    pub(super) rejoin_when_stalled: bool,
    pub(super) assignment_timeout: Option<Duration>,
    /// Since when this member holds no partitions.
    pub(super) unassigned_since: Option<Instant>,
    /// Messages received but beyond what the last `poll` asked for.
    pub(super) leftover: Vec<Polled>,
    pub(super) stalls: u64,
}

impl KafkaSource {
    /// Options for a source over the brokers in `config`.
    pub fn builder(config: KafkaConfig) -> KafkaSourceBuilder {
        KafkaSourceBuilder::new(config)
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

    /// Waits until this member holds at least one partition: for programs
    /// that must be in the group before records arrive (a producer in the
    /// same program, [`StartFrom::Latest`](super::StartFrom::Latest)). Fails with [`Error::Stalled`]
    /// naming the group after `timeout`.
    ///
    /// Nothing asks the sink while this waits: partitions assigned now
    /// resume from the group's committed offsets, not after a sink's
    /// [durable positions](RecordSource::resume_after) (a Delta sink passes
    /// over what its table holds instead). The assignment and whatever
    /// else arrived are handed to the pipeline by the next
    /// [`poll`](RecordSource::poll).
    pub async fn wait_for_assignment(&mut self, timeout: Duration) -> Result<()> {
        let mut holding = self.consumer.context().holding.subscribe();
        let waited = tokio::time::timeout(timeout, async {
            loop {
                let event = tokio::select! {
                    held = holding.wait_for(|n| *n > 0) => return held.is_ok(),
                    event = self.events.recv() => event,
                };
                match event {
                    Some(Event::Assigned(partitions, Some(reply))) => {
                        let _ = reply.send(Vec::new());
                        self.stashed.push_back(Event::Assigned(partitions, None));
                    }
                    Some(event) => self.stashed.push_back(event),
                    None => return false,
                }
            }
        });
        match waited.await {
            Ok(true) => Ok(()),
            _ => Err(Error::Stalled {
                what: format!("Kafka consumer group {} on {}", self.group, self.brokers),
                reason: format!(
                    "this member was assigned no partition within {timeout:?} ({})",
                    self.consumer.context().describe_group_state()
                ),
            }),
        }
    }

    /// How often the liveness guard found this member stuck: without
    /// partitions while others lagged and nobody committed them.
    pub fn stalls_detected(&self) -> u64 {
        self.stalls
    }
}

#[async_trait]
impl RecordSource for KafkaSource {
    async fn poll(&mut self, max_records: usize) -> Result<SourceEvent> {
        // The pipeline handled the last revoke (committed, dropped): let it
        // complete, and never commit for those partitions again: the new
        // owner may move their offsets further.
        if let Some(ack) = self.revoke_ack.take() {
            for p in self.revoking.drain(..) {
                self.to_commit.remove(&p);
            }
            let _ = ack.send(());
        }
        // The pipeline did not ask the sink about the last assignment: it
        // resumes from the group's committed offsets.
        if let Some(reply) = self.assign_reply.take() {
            let _ = reply.send(Vec::new());
        }
        self.commit_resumed().await?;
        if !self.leftover.is_empty() {
            return Ok(self.hand_over(Vec::new(), max_records));
        }
        // Cancel-safe: a batch not received stays in the channel.
        let event = match self.stashed.pop_front() {
            Some(event) => Ok(Some(event)),
            None => tokio::time::timeout(Duration::from_millis(500), self.events.recv()).await,
        };
        // A polling thread holding back (the channel was full) may go on.
        if let Some(thread) = &self.thread {
            thread.thread().unpark();
        }
        if event.is_err() {
            self.check_alive().await?;
        }
        match event {
            Err(_) => Ok(SourceEvent::Idle),
            Ok(None) => Ok(SourceEvent::End),
            Ok(Some(Event::Records(records))) => Ok(self.hand_over(records, max_records)),
            Ok(Some(Event::Assigned(partitions, reply))) => {
                self.assign_reply = reply;
                Ok(SourceEvent::Assigned(partitions))
            }
            Ok(Some(Event::Revoked(partitions, ack))) => {
                tracing::debug!("handing over the revoke of {}", names(&partitions));
                self.leftover.retain(|p| {
                    let at = p.as_ref().map_or_else(|r| &r.position, |r| &r.position);
                    !partitions.contains(&at.source_partition())
                });
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
            // Kafka commits the next offset to read (past any offsets
            // that hold no records for us).
            let next = self.consumer.context().commit_offset(sp, *offset);
            list.add_partition_offset(&sp.stream, sp.partition, Offset::Offset(next))
                .map_err(|e| Error::Kafka {
                    context: format!("committing {sp}"),
                    source: e,
                })?;
        }
        let consumer = self.consumer.clone();
        let result = tokio::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync))
            .await
            .map_err(|e| Error::io("committing offsets", std::io::Error::other(e)))?;
        let positions = self
            .to_commit
            .iter()
            .map(|(sp, offset)| sp.at(*offset).to_string())
            .collect::<Vec<_>>()
            .join(", ");
        match result {
            Ok(()) => {
                tracing::debug!("kafka committed {positions}");
                self.to_commit.clear();
            }
            // Durable positions stay queued and are committed next time;
            // until then a restart replays them (idempotent in the lake).
            Err(e) => tracing::warn!("kafka commit of {positions} failed, will retry: {e}"),
        }
        Ok(())
    }

    async fn backlog(&mut self) -> Result<Vec<Backlog>> {
        group::backlog_async(&self.consumer, &self.all_topics()).await
    }

    /// Completes the assignment just reported: its partitions start after
    /// the sink's positions where those are ahead of the group's commit.
    async fn resume_after(&mut self, durable: &[Position]) -> Result<()> {
        if let Some(reply) = self.assign_reply.take() {
            let _ = reply.send(durable.to_vec());
        }
        Ok(())
    }
}

impl KafkaSource {
    /// Commits the positions an assignment started after (durable in the
    /// sink, ahead of the group's commit), so that the group's committed
    /// offsets reach them even when no record follows.
    async fn commit_resumed(&mut self) -> Result<()> {
        let resumed = std::mem::take(
            &mut *self
                .consumer
                .context()
                .resumed
                .lock()
                .expect("resumed poisoned"),
        );
        if resumed.is_empty() {
            return Ok(());
        }
        self.commit(&resumed).await
    }

    /// At most `max` records: what was left over from the last batch, then
    /// `records`; the rest is kept for the next call.
    fn hand_over(&mut self, records: Vec<Polled>, max: usize) -> SourceEvent {
        let mut batch = if self.leftover.is_empty() {
            records
        } else {
            let mut batch = std::mem::take(&mut self.leftover);
            batch.extend(records);
            batch
        };
        if batch.len() > max.max(1) {
            self.leftover = batch.split_off(max.max(1));
        }
        // One pass, the records' list sized at once (`partition` then
        // `filter_map` moved each record twice, growing two lists).
        let mut records = Vec::with_capacity(batch.len());
        let mut rejected = Vec::new();
        for polled in batch {
            match polled {
                Ok(record) => records.push(record),
                Err(refused) => rejected.push(refused),
            }
        }
        SourceEvent::Records { records, rejected }
    }

    /// Named topics and every topic a pattern has brought so far.
    pub(super) fn all_topics(&self) -> BTreeSet<String> {
        let seen = self
            .consumer
            .context()
            .topics_seen
            .lock()
            .expect("topics poisoned");
        self.topics.iter().chain(seen.iter()).cloned().collect()
    }
}

impl Drop for KafkaSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.events.close();
        if let Some(ack) = self.revoke_ack.take() {
            let _ = ack.send(());
        }
        self.assign_reply = None;
        // Unblock a revoke waiting to hand over its event, then let the thread end.
        let stashed = std::mem::take(&mut self.stashed);
        for event in stashed
            .into_iter()
            .chain(std::iter::from_fn(|| self.events.try_recv().ok()))
        {
            if let Event::Revoked(_, ack) = event {
                let _ = ack.send(());
            }
        }
        if let Some(thread) = self.thread.take() {
            // It may be parked, holding back while the pipeline drains.
            thread.thread().unpark();
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
