//! [`KafkaSourceBuilder`]: the options of a [`KafkaSource`], and joining
//! the group.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use tokio::sync::mpsc;

use super::KafkaConfig;
use super::consumer::{self, SourceContext};
use super::liveness::Liveness;
use super::source::KafkaSource;
use super::topics::check_topics;
use crate::error::{Error, Result};
#[cfg(doc)]
use crate::source::RecordSource;

/// librdkafka's prefetch queue by default: 16 MiB (librdkafka's own
/// default is 64 MiB).
pub const DEFAULT_PREFETCH_BYTES: usize = 16 << 20;

/// librdkafka's default `message.max.bytes`, the least `fetch.max.bytes`
/// it accepts.
const LIBRDKAFKA_MESSAGE_MAX_BYTES: usize = 1_000_000;

/// Where a new consumer group starts reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartFrom {
    /// The oldest retained record (default).
    #[default]
    Earliest,
    /// Only records produced after the group first joins.
    Latest,
}

/// Options for a [`KafkaSource`].
#[derive(Debug, Clone)]
pub struct KafkaSourceBuilder {
    config: KafkaConfig,
    group: Option<String>,
    topics: Vec<String>,
    start_from: StartFrom,
    handover_batch: usize,
    prefetch_bytes: usize,
    connect_timeout: Duration,
    revoke_timeout: Duration,
    stall_window: Option<Duration>,
    rejoin_when_stalled: bool,
    assignment_timeout: Option<Duration>,
    read_headers: bool,
}

impl KafkaSourceBuilder {
    pub(super) fn new(config: KafkaConfig) -> Self {
        Self {
            config,
            group: None,
            topics: Vec::new(),
            start_from: StartFrom::Earliest,
            handover_batch: 1024,
            prefetch_bytes: DEFAULT_PREFETCH_BYTES,
            connect_timeout: Duration::from_secs(10),
            revoke_timeout: Duration::from_secs(60),
            stall_window: Some(Duration::from_secs(60)),
            rejoin_when_stalled: true,
            assignment_timeout: None,
            read_headers: true,
        }
    }

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

    /// Bytes librdkafka may prefetch ahead of the pipeline
    /// (`queued.max.messages.kbytes`; default [`DEFAULT_PREFETCH_BYTES`],
    /// at least 1 MiB), and the most one fetch response may carry
    /// (`fetch.max.bytes`, librdkafka's 50 MiB otherwise; never below
    /// `message.max.bytes`). librdkafka holds the queue and the response
    /// being decoded into it, so about twice this, more with small
    /// messages (its per-message overhead). This memory comes on top of
    /// the sink's buffers: size it with them, e.g. a sixteenth of the lake
    /// sink's `max_buffered_bytes`. Once the queue is full, fetching
    /// resumes within 10 ms of it draining (`fetch.queue.backoff.ms`;
    /// librdkafka waits a whole second by default, which starves a fast
    /// pipeline). A `queued.max.messages.kbytes`, `fetch.max.bytes` or
    /// `fetch.queue.backoff.ms` given in the [`KafkaConfig`] wins.
    pub fn prefetch_bytes(mut self, n: usize) -> Self {
        self.prefetch_bytes = n.max(1 << 20);
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

    /// Whether records carry their Kafka headers (default true). A
    /// pipeline whose sink does not keep them (the lake sink keeps values
    /// only) can turn this off: librdkafka then skips parsing each
    /// message's header block, which it otherwise does with an allocation
    /// for every message, headers or not (about 6 % of the CPU of Kafka →
    /// JSON Lines). Records then arrive with empty headers.
    pub fn read_headers(mut self, read: bool) -> Self {
        self.read_headers = read;
        self
    }

    /// librdkafka's settings for the consumer but the group's own: the
    /// defaults below, under any setting the user gave.
    fn client_config(&self) -> ClientConfig {
        let reset = match self.start_from {
            StartFrom::Earliest => "earliest",
            StartFrom::Latest => "latest",
        };
        // Incremental (cooperative) rebalancing: a member joining or leaving
        // moves only the partitions that change owner, instead of stopping
        // every member; it is also what lets tansu 0.6.0 hand a dead member's
        // partitions to the survivors. Statistics carry the group state the
        // liveness guard reports. librdkafka's prefetch queue is memory
        // beside the sink's buffers, and so is the fetch response it
        // decodes into the queue (50 MiB by default): both get the prefetch
        // size (a response at least `message.max.bytes`, as librdkafka
        // requires). Its default one-second back-off once the queue is
        // full leaves a fast pipeline idle most of the time. A caught-up
        // consumer's fetch waits at the broker, and the group's offset
        // requests (the drain check) queue behind it on the same
        // connection: 100 ms, not 500.
        let prefetch_kib = (self.prefetch_bytes >> 10).to_string();
        let largest_message = (self.config.get("message.max.bytes"))
            .and_then(|bytes| bytes.parse().ok())
            .unwrap_or(LIBRDKAFKA_MESSAGE_MAX_BYTES);
        let fetch_bytes = self.prefetch_bytes.max(largest_message).to_string();
        self.config.client_config_with(&[
            ("auto.offset.reset", reset),
            ("partition.assignment.strategy", "cooperative-sticky"),
            ("statistics.interval.ms", "5000"),
            ("queued.max.messages.kbytes", &prefetch_kib),
            ("fetch.max.bytes", &fetch_bytes),
            ("fetch.queue.backoff.ms", "10"),
            ("fetch.wait.max.ms", "100"),
        ])
    }

    /// Checks that the brokers answer and the topics exist, joins the group
    /// and starts polling.
    pub fn build(mut self) -> Result<KafkaSource> {
        let Some(group) = self.group.take() else {
            return Err(Error::Config(
                "a Kafka source needs a consumer group id".into(),
            ));
        };
        if self.topics.is_empty() {
            return Err(Error::Config(
                "a Kafka source needs at least one topic".into(),
            ));
        }
        let mut client = self.client_config();
        let brokers = self.config.brokers().to_string();
        let (tx, events) = mpsc::channel(8);
        let context = SourceContext::new(tx, self.revoke_timeout);
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
                let polling = consumer::Polling {
                    batch_size: self.handover_batch,
                    read_headers: self.read_headers,
                };
                let (consumer, stop) = (consumer.clone(), stop.clone());
                move || consumer::run(consumer, polling, stop)
            })
            .map_err(|e| Error::io("starting the Kafka polling thread", e))?;
        Ok(KafkaSource {
            consumer,
            events,
            revoke_ack: None,
            assign_reply: None,
            stashed: Default::default(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fetch_bytes(builder: KafkaSourceBuilder) -> Option<String> {
        builder
            .client_config()
            .get("fetch.max.bytes")
            .map(str::to_owned)
    }

    #[test]
    fn one_fetch_response_is_no_larger_than_the_prefetch_queue() {
        let config = KafkaConfig::new("localhost:9092");
        let builder = KafkaSourceBuilder::new(config.clone());
        let client = builder.client_config();
        assert_eq!(client.get("queued.max.messages.kbytes"), Some("16384"));
        assert_eq!(fetch_bytes(builder), Some((16 << 20).to_string()));
        let small = KafkaSourceBuilder::new(config.clone()).prefetch_bytes(4 << 20);
        assert_eq!(fetch_bytes(small), Some((4 << 20).to_string()));
        // librdkafka refuses a fetch smaller than the largest message.
        let large_messages = config.clone().set("message.max.bytes", "10000000");
        let tiny = KafkaSourceBuilder::new(large_messages).prefetch_bytes(1 << 20);
        assert_eq!(fetch_bytes(tiny), Some("10000000".into()));
        let given = config.set("fetch.max.bytes", "52428800");
        assert_eq!(
            fetch_bytes(KafkaSourceBuilder::new(given)),
            Some("52428800".into())
        );
    }
}
