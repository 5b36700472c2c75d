//! [`KafkaSource`]: a consumer-group member that commits only durable offsets.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc as std_mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use super::KafkaConfig;
use super::consumer::{self, Event, SourceContext, names};
use super::group::{self, Liveness, Verdict};
use super::topics::check_topics;
use crate::error::{Error, Result};
use crate::record::{Position, Record, SourcePartition};
use crate::source::{Backlog, RecordSource, SourceEvent};

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
    /// Topics named in the subscription (patterns excluded).
    topics: BTreeSet<String>,
    /// The subscription as given, for a rejoin.
    subscription: Vec<String>,
    liveness: Option<Liveness>,
    rejoin_when_stalled: bool,
    assignment_timeout: Option<Duration>,
    /// Since when this member holds no partitions.
    unassigned_since: Option<Instant>,
    /// Records received but beyond what the last `poll` asked for.
    leftover: Vec<Record>,
    stalls: u64,
}

/// Options for a [`KafkaSource`].
#[derive(Debug, Clone)]
pub struct KafkaSourceBuilder {
    config: KafkaConfig,
    group: Option<String>,
    topics: Vec<String>,
    start_from: StartFrom,
    handover_batch: usize,
    connect_timeout: Duration,
    revoke_timeout: Duration,
    stall_window: Option<Duration>,
    rejoin_when_stalled: bool,
    assignment_timeout: Option<Duration>,
}

impl KafkaSource {
    /// Options for a source over the brokers in `config`.
    pub fn builder(config: KafkaConfig) -> KafkaSourceBuilder {
        KafkaSourceBuilder {
            config,
            group: None,
            topics: Vec::new(),
            start_from: StartFrom::Earliest,
            handover_batch: 1024,
            connect_timeout: Duration::from_secs(10),
            revoke_timeout: Duration::from_secs(60),
            stall_window: Some(Duration::from_secs(60)),
            rejoin_when_stalled: true,
            assignment_timeout: None,
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

    /// Waits until this member holds at least one partition: for programs
    /// that must be in the group before records arrive (a producer in the
    /// same program, [`StartFrom::Latest`]). Fails with [`Error::Stalled`]
    /// naming the group after `timeout`.
    pub async fn wait_for_assignment(&self, timeout: Duration) -> Result<()> {
        let mut holding = self.consumer.context().holding.subscribe();
        match tokio::time::timeout(timeout, holding.wait_for(|n| *n > 0)).await {
            Ok(Ok(_)) => Ok(()),
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

    /// Records the polling thread hands to [`poll`](RecordSource::poll)
    /// at once (default 1024). The channel between them holds 8 such
    /// batches; once 4 batches' worth are waiting the consumer pauses its
    /// partitions (and keeps polling for the group's sake) until they are
    /// taken. `poll(max_records)` returns at most `max_records` of them
    /// and keeps the rest for the next call.
    pub fn handover_batch(mut self, n: usize) -> Self {
        self.handover_batch = n.max(1);
        self
    }

    /// Formerly the hand-over batch; see [`handover_batch`](Self::handover_batch).
    #[deprecated(note = "renamed `handover_batch`; `poll(max_records)` now limits each call")]
    pub fn batch_size(self, n: usize) -> Self {
        self.handover_batch(n)
    }

    /// How long to wait for the brokers' metadata when connecting.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The liveness guard's window (default 60 s; `None` turns it off): a
    /// member that held no partition for this long while some partition's
    /// committed offset lagged its end and did not move is stuck. It logs a
    /// warning naming the lagging partitions and the group state librdkafka
    /// reports, and rejoins the group unless
    /// [`rejoin_when_stalled(false)`](Self::rejoin_when_stalled). A standby
    /// member in a group whose partitions all progress is left alone.
    pub fn stall_window(mut self, window: Option<Duration>) -> Self {
        self.stall_window = window;
        self
    }

    /// Whether the liveness guard rejoins the group (leave, then join as a
    /// new member) when it finds this member stuck (default true).
    pub fn rejoin_when_stalled(mut self, rejoin: bool) -> Self {
        self.rejoin_when_stalled = rejoin;
        self
    }

    /// Fail [`poll`](RecordSource::poll) with [`Error::Stalled`] naming
    /// the group once this member has held no partition for this long
    /// (default: never, as a standby member may wait). For batch jobs that
    /// must not wait forever for an assignment.
    pub fn assignment_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.assignment_timeout = timeout;
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
        let context = SourceContext::new(tx, self.revoke_timeout);
        let reset = match self.start_from {
            StartFrom::Earliest => "earliest",
            StartFrom::Latest => "latest",
        };
        // Incremental (cooperative) rebalancing: a member joining or leaving
        // moves only the partitions that change owner, instead of stopping
        // every member; it is also what lets tansu 0.6.0 hand a dead member's
        // partitions to the survivors. Any setting the user gave wins.
        // Statistics carry the group state the liveness guard reports.
        let mut client = self.config.client_config_with(&[
            ("auto.offset.reset", reset),
            ("partition.assignment.strategy", "cooperative-sticky"),
            ("statistics.interval.ms", "5000"),
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
                let (consumer, stop, batch) = (consumer.clone(), stop.clone(), self.handover_batch);
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
            topics: named.iter().map(|t| t.to_string()).collect(),
            subscription: self.topics.clone(),
            liveness: self.stall_window.map(Liveness::new),
            rejoin_when_stalled: self.rejoin_when_stalled,
            assignment_timeout: self.assignment_timeout,
            unassigned_since: None,
            leftover: Vec::new(),
            stalls: 0,
        })
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
        let assigned = {
            let mut queue = self.consumer.context().assignments.lock();
            let queue = queue.as_mut().expect("assignments poisoned");
            (!queue.is_empty()).then(|| queue.remove(0))
        };
        if let Some(partitions) = assigned {
            return Ok(SourceEvent::Assigned(partitions));
        }
        if !self.leftover.is_empty() {
            return Ok(self.hand_over(Vec::new(), max_records));
        }
        // Cancel-safe: a batch not received stays in the channel.
        let event = tokio::time::timeout(Duration::from_millis(500), self.events.recv()).await;
        if event.is_err() {
            self.check_alive().await?;
        }
        match event {
            Err(_) => Ok(SourceEvent::Idle),
            Ok(None) => Ok(SourceEvent::End),
            Ok(Some(Event::Records(records))) => Ok(self.hand_over(records, max_records)),
            Ok(Some(Event::Revoked(partitions, ack))) => {
                tracing::debug!("handing over the revoke of {}", names(&partitions));
                self.leftover
                    .retain(|r| !partitions.contains(&r.position.source_partition()));
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

    async fn backlog(&mut self) -> Result<Vec<Backlog>> {
        group::backlog_async(&self.consumer, &self.all_topics()).await
    }
}

impl KafkaSource {
    /// At most `max` records: what was left over from the last batch, then
    /// `records`; the rest is kept for the next call.
    fn hand_over(&mut self, records: Vec<Record>, max: usize) -> SourceEvent {
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
        SourceEvent::Records {
            records: batch,
            rejected: Vec::new(),
        }
    }

    /// Named topics and every topic a pattern has brought so far.
    fn all_topics(&self) -> BTreeSet<String> {
        let seen = self
            .consumer
            .context()
            .topics_seen
            .lock()
            .expect("topics poisoned");
        self.topics.iter().chain(seen.iter()).cloned().collect()
    }

    /// On an idle tick: the polling thread must be alive; a member without
    /// partitions is checked by the liveness guard and the assignment
    /// timeout.
    async fn check_alive(&mut self) -> Result<()> {
        if self.thread.as_ref().is_some_and(JoinHandle::is_finished) {
            return Err(Error::Stalled {
                what: format!("Kafka consumer of group {} on {}", self.group, self.brokers),
                reason: "its polling thread ended (it panicked; see the log above)".into(),
            });
        }
        let assigned = !self.assignment().is_empty();
        let now = Instant::now();
        if assigned {
            self.unassigned_since = None;
        }
        let since = *self.unassigned_since.get_or_insert(now);
        if let Some(limit) = self
            .assignment_timeout
            .filter(|l| !assigned && now - since >= *l)
        {
            let backlog = group::backlog_async(&self.consumer, &self.all_topics()).await;
            return Err(Error::Stalled {
                what: format!("Kafka consumer group {} on {}", self.group, self.brokers),
                reason: format!(
                    "this member was assigned no partition within {limit:?} ({}; backlog: {})",
                    self.consumer.context().describe_group_state(),
                    describe_backlog(backlog)
                ),
            });
        }
        self.guard_liveness(assigned, now).await;
        Ok(())
    }

    /// The liveness guard (see [`KafkaSourceBuilder::stall_window`]).
    async fn guard_liveness(&mut self, assigned: bool, now: Instant) {
        let Some(guard) = self.liveness.as_mut() else {
            return;
        };
        if guard.look(assigned, now) != Verdict::ReadBacklog {
            return;
        }
        let backlog = match group::backlog_async(&self.consumer, &self.all_topics()).await {
            Ok(backlog) => backlog,
            Err(e) => {
                tracing::warn!("liveness check of group {} failed: {e}", self.group);
                return;
            }
        };
        let Some(guard) = self.liveness.as_mut() else {
            return;
        };
        let Verdict::Stalled(stuck) = guard.judge(backlog, Instant::now()) else {
            return;
        };
        self.stalls += 1;
        metrics::counter!(crate::pipeline::metric_names::KAFKA_STALLS).increment(1);
        tracing::warn!(
            "group {}: this member has had no partitions while nobody committed {} ({}){}",
            self.group,
            describe_backlog(Ok(stuck)),
            self.consumer.context().describe_group_state(),
            if self.rejoin_when_stalled {
                "; rejoining the group"
            } else {
                ""
            }
        );
        if self.rejoin_when_stalled {
            self.rejoin();
        }
    }

    /// Leaves the group and joins it again as a new member.
    fn rejoin(&self) {
        self.consumer.unsubscribe();
        let topics: Vec<&str> = self.subscription.iter().map(String::as_str).collect();
        if let Err(e) = self.consumer.subscribe(&topics) {
            tracing::warn!("group {}: subscribing again failed: {e}", self.group);
        }
    }
}

fn describe_backlog(backlog: Result<Vec<Backlog>>) -> String {
    match backlog {
        Ok(b) if b.is_empty() => "none".into(),
        Ok(b) => b
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        Err(e) => format!("unknown ({e})"),
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
