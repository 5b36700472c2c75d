//! The polling thread behind [`KafkaSource`](super::KafkaSource).
//!
//! librdkafka must be polled regularly to stay in the consumer group, even
//! while the pipeline is busy. A dedicated thread polls, turns messages into
//! records and hands batches over a bounded channel. When the channel is
//! full it pauses its partitions (backpressure) and keeps polling, so group
//! membership and rebalances are served without buffering without bound.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::statistics::{ConsumerGroup, Statistics};
use tokio::sync::mpsc;

use super::message_queue::MessageQueue;
use super::reader::Reader;
use crate::record::{PartitionMap, Position, Record, SourcePartition};
use crate::rejected::Rejected;

/// One polled message: a record, or why it cannot be one (for the
/// bad-input policy).
pub(super) type Polled = std::result::Result<Record, Rejected>;

/// The position of a polled message.
pub(super) fn position(polled: &Polled) -> &Position {
    match polled {
        Ok(record) => &record.position,
        Err(rejected) => &rejected.position,
    }
}

/// What the polling thread hands to the source.
pub(super) enum Event {
    Records(Vec<Polled>),
    /// Partitions are being assigned; the assignment completes when the
    /// sender is answered with the sink's durable positions among them
    /// (or dropped). No sender: answered already (with none).
    Assigned(
        Vec<SourcePartition>,
        Option<std_mpsc::SyncSender<Vec<Position>>>,
    ),
    /// Partitions are being revoked; the revoke completes when the sender
    /// is answered (or dropped).
    Revoked(Vec<SourcePartition>, std_mpsc::SyncSender<()>),
    Error(rdkafka::error::KafkaError),
}

/// Consumer context: hands each rebalance to the pipeline and waits for it
/// (see `rebalance.rs`).
pub(super) struct SourceContext {
    pub(super) events: mpsc::Sender<Event>,
    /// Records polled but not yet handed over.
    pub(super) pending: Mutex<VecDeque<Polled>>,
    /// The polling thread's queue, which assigned partitions forward their
    /// messages to (null when the thread does not run).
    pub(super) message_queue: AtomicPtr<rdkafka::bindings::rd_kafka_queue_t>,
    pub(super) revoke_timeout: Duration,
    /// Set when partitions were added: a paused consumer pauses them too
    /// (incremental rebalancing adds partitions without resuming the rest).
    pub(super) assigned: AtomicBool,
    /// How many partitions this member holds, after each rebalance.
    pub(super) holding: tokio::sync::watch::Sender<usize>,
    /// Every topic ever assigned to this member (for pattern subscriptions).
    pub(super) topics_seen: Mutex<BTreeSet<String>>,
    /// Positions an assignment started after (the sink held them durably
    /// beyond the group's commit), not yet committed.
    pub(super) resumed: Mutex<Vec<Position>>,
    /// The group state librdkafka last reported (statistics).
    pub(super) group_state: Mutex<Option<ConsumerGroup>>,
    /// Per partition: the offset of the last record polled and the
    /// consumer's position seen right after it, when that position skips
    /// offsets that hold no records for us (transaction markers, aborted or
    /// compacted records). Committing up to that record commits the
    /// position, so a drained partition's committed offset reaches its end.
    pub(super) skips: Mutex<HashMap<SourcePartition, (i64, i64)>>,
    /// The partitions of the group's topics the last backlog read found.
    partitions: Mutex<Vec<(String, i32)>>,
}

impl SourceContext {
    pub(super) fn new(events: mpsc::Sender<Event>, revoke_timeout: Duration) -> Self {
        Self {
            events,
            pending: Mutex::new(VecDeque::new()),
            message_queue: AtomicPtr::new(std::ptr::null_mut()),
            revoke_timeout,
            assigned: AtomicBool::new(false),
            holding: tokio::sync::watch::Sender::new(0),
            topics_seen: Mutex::new(BTreeSet::new()),
            resumed: Mutex::new(Vec::new()),
            group_state: Mutex::new(None),
            skips: Mutex::new(HashMap::new()),
            partitions: Mutex::new(Vec::new()),
        }
    }

    /// The partitions of `topics` the last backlog read found, sorted.
    pub(super) fn known_partitions(&self, topics: &BTreeSet<String>) -> Vec<(String, i32)> {
        let known = self.partitions.lock().expect("partitions poisoned");
        known
            .iter()
            .filter(|(topic, _)| topics.contains(topic))
            .cloned()
            .collect()
    }

    /// Keeps the partitions a backlog read found.
    pub(super) fn remember_partitions(&self, partitions: &[(String, i32)]) {
        *self.partitions.lock().expect("partitions poisoned") = partitions.to_vec();
    }

    /// The group state as librdkafka last reported it, for a diagnosis.
    pub(super) fn describe_group_state(&self) -> String {
        match &*self.group_state.lock().expect("group state poisoned") {
            Some(g) => format!(
                "librdkafka group state {}, join state {}, {} rebalances, last {} ms ago ({}), \
                 {} partitions assigned",
                g.state,
                g.join_state,
                g.rebalance_cnt,
                g.rebalance_age,
                if g.rebalance_reason.is_empty() {
                    "no reason given"
                } else {
                    &g.rebalance_reason
                },
                g.assignment_size
            ),
            None => "no group statistics from librdkafka yet".into(),
        }
    }

    /// The offset to commit after the durable record at `offset` of `sp`:
    /// the next one, or further when nothing but skipped offsets follow.
    pub(super) fn commit_offset(&self, sp: &SourcePartition, offset: i64) -> i64 {
        match self.skips.lock().expect("skips poisoned").get(sp) {
            Some((last, position)) if *last == offset => *position,
            _ => offset + 1,
        }
    }
}

impl ClientContext for SourceContext {
    /// Client-wide errors (brokers down, authentication): reported, while
    /// librdkafka keeps retrying.
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        tracing::warn!("kafka brokers unreachable or failing ({error}): {reason}");
    }

    /// Keeps the group state for diagnoses and reports each assigned
    /// partition's lag (`statistics.interval.ms`).
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in t.partitions.iter().filter(|(p, _)| **p >= 0) {
                if p.consumer_lag >= 0 {
                    metrics::gauge!(
                        crate::pipeline::metric_names::KAFKA_CONSUMER_LAG,
                        "topic" => topic.clone(),
                        "partition" => partition.to_string()
                    )
                    .set(p.consumer_lag as f64);
                }
            }
        }
        *self.group_state.lock().expect("group state poisoned") = statistics.cgrp;
    }
}

/// `stock/0, stock/1`: partitions as a log line names them.
pub(super) fn names(partitions: &[SourcePartition]) -> String {
    if partitions.is_empty() {
        return "no partitions".into();
    }
    partitions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The partitions of a list librdkafka handed over.
pub(super) fn partitions(list: &TopicPartitionList) -> Vec<SourcePartition> {
    list.elements()
        .iter()
        .map(|e| SourcePartition::new(e.topic(), e.partition()))
        .collect()
}

/// What the polling thread is asked to do.
pub(super) struct Polling {
    /// Records handed over at once.
    pub(super) batch_size: usize,
    /// Whether records carry their headers.
    pub(super) read_headers: bool,
}

/// How long the polling thread blocks in librdkafka with nothing to hand
/// over: also how long dropping the source may wait for the thread to see
/// its stop flag (librdkafka cannot be woken from a poll), so short; an
/// idle member wakes 50 times a second.
const IDLE_POLL: Duration = Duration::from_millis(20);

/// Polls until `stop` is set or the source is dropped.
///
/// Backpressure: once `HOLD_AT` batches wait to be handed over, the thread
/// stops taking messages out of librdkafka and waits for the pipeline to
/// take a batch (it unparks this thread); librdkafka's prefetch queue,
/// bounded by the builder's `prefetch_bytes`, then fills and stops
/// fetching. Only a pipeline stalled for `PAUSE_AFTER` gets the partitions
/// paused, so that polling (rebalance callbacks, `max.poll.interval.ms`)
/// can go on: pausing makes librdkafka drop what it prefetched and fetch
/// it again, which costs a fast pipeline about a second each time.
pub(super) fn run(
    consumer: Arc<BaseConsumer<SourceContext>>,
    polling: Polling,
    stop: Arc<AtomicBool>,
) {
    let Polling {
        batch_size,
        read_headers,
    } = polling;
    const HOLD_AT: usize = 4;
    const PAUSE_AFTER: Duration = Duration::from_secs(5);
    let events = consumer.context().events.clone();
    let mut reader = Reader::new(
        MessageQueue::new(consumer.clone()),
        read_headers,
        batch_size,
    );
    let (mut paused, mut channel_full) = (false, false);
    let mut held_since: Option<Instant> = None;
    // Records in `pending` when this thread last looked (it alone adds
    // and takes them; a revoke, which drops some, runs inside its poll).
    let mut waiting = 0;
    while !stop.load(Ordering::Relaxed) {
        if waiting < HOLD_AT * batch_size {
            held_since = None;
        } else if !paused {
            if held_since.get_or_insert_with(Instant::now).elapsed() < PAUSE_AFTER {
                std::thread::park_timeout(Duration::from_millis(50));
                match reader.hand_over(&consumer, &events, batch_size) {
                    Some(left) => (channel_full, waiting) = left,
                    None => return, // the source was dropped
                }
                continue;
            }
            set_paused(&consumer, true);
            paused = true;
        }
        // Block for messages when there is nothing to hand over or when
        // paused; wait briefly while the pipeline drains a full channel;
        // otherwise fill the batch without waiting.
        let timeout = match (waiting, paused, channel_full) {
            (0, _, _) | (_, true, _) => IDLE_POLL,
            (_, false, true) => Duration::from_millis(2),
            _ => Duration::ZERO,
        };
        let Some((got, now_waiting)) = reader.read(&consumer, &events, timeout, batch_size) else {
            return; // the source was dropped
        };
        waiting = now_waiting;
        if got > 0 && waiting < batch_size && !channel_full {
            continue;
        }
        // Caught up (a blocking read found nothing), not merely between
        // two fetches.
        if got == 0 && waiting == 0 {
            note_skips(&consumer, reader.last_polled());
        }
        match reader.hand_over(&consumer, &events, batch_size) {
            Some(left) => (channel_full, waiting) = left,
            None => return, // the source was dropped
        }
        // Newly assigned partitions get this thread's state, resumed too:
        // librdkafka keeps a partition's pause across losing and regaining
        // it, and between the revoke (here: a session lost in a broker
        // outage) and the assignment this thread may have resumed an
        // empty assignment, leaving the regained partitions paused for good.
        if consumer.context().assigned.swap(false, Ordering::Relaxed) {
            set_paused(&consumer, paused);
        }
        if paused && waiting == 0 {
            set_paused(&consumer, false);
            paused = false;
        }
    }
}

/// Caught up (nothing polled): where the consumer's position is past the
/// last record polled plus one, the offsets between held nothing for us.
fn note_skips(consumer: &BaseConsumer<SourceContext>, last_polled: &PartitionMap<i64>) {
    if last_polled.is_empty() {
        return;
    }
    let Ok(positions) = consumer.position() else {
        return;
    };
    let mut skips = consumer.context().skips.lock().expect("skips poisoned");
    for e in positions.elements() {
        let Offset::Offset(position) = e.offset() else {
            continue;
        };
        let sp = SourcePartition::new(e.topic(), e.partition());
        if let Some(&last) = last_polled.get(&sp) {
            if position > last + 1 {
                skips.insert(sp, (last, position));
            }
        }
    }
}

fn set_paused(consumer: &BaseConsumer<SourceContext>, pause: bool) {
    let Ok(assignment) = consumer.assignment() else {
        return;
    };
    let result = if pause {
        consumer.pause(&assignment)
    } else {
        consumer.resume(&assignment)
    };
    match result {
        Ok(()) => tracing::debug!(
            "{} {} partitions",
            if pause { "paused" } else { "resumed" },
            assignment.count()
        ),
        Err(e) => tracing::warn!(
            "cannot {} partitions: {e}",
            if pause { "pause" } else { "resume" }
        ),
    }
}
