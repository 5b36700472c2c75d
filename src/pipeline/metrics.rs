//! Counters and gauges through the `metrics` facade: plug in the exporter
//! you already run (Prometheus, StatsD, ...) and these appear. Without an
//! installed recorder they cost next to nothing.

use std::time::Duration;

use crate::sink::SinkStats;

/// The names of the metrics streamlake records.
pub mod names {
    /// Counter: records read from sources (including rejected ones).
    pub const RECORDS_IN: &str = "streamlake_records_in_total";
    /// Counter: records made durable by sinks.
    pub const RECORDS_DURABLE: &str = "streamlake_records_durable_total";
    /// Counter: records that went to the bad-input policy.
    pub const RECORDS_REJECTED: &str = "streamlake_records_rejected_total";
    /// Counter: of those, records written to the dead-letter queue.
    pub const RECORDS_DEAD_LETTERED: &str = "streamlake_records_dead_lettered_total";
    /// Counter: objects (or messages) written.
    pub const OBJECTS_WRITTEN: &str = "streamlake_objects_written_total";
    /// Counter: bytes written, after compression.
    pub const BYTES_WRITTEN: &str = "streamlake_bytes_written_total";
    /// Gauge: bytes held in sink buffers (the memory cap's subject).
    pub const BUFFERED_BYTES: &str = "streamlake_buffered_bytes";
    /// Counter: commits of durable positions to sources.
    pub const COMMITS: &str = "streamlake_commits_total";
    /// Histogram: seconds one commit to the source took.
    pub const COMMIT_SECONDS: &str = "streamlake_commit_seconds";
    /// Gauge, labels `topic` and `partition`: the consumer lag librdkafka
    /// reports for each assigned partition (feature `kafka`).
    pub const KAFKA_CONSUMER_LAG: &str = "streamlake_kafka_consumer_lag";
    /// Counter: times the Kafka liveness guard found its member stuck.
    pub const KAFKA_STALLS: &str = "streamlake_kafka_stalls_total";
}

pub(super) fn records_in(n: u64) {
    metrics::counter!(names::RECORDS_IN).increment(n);
}

pub(super) fn rejected() {
    metrics::counter!(names::RECORDS_REJECTED).increment(1);
}

pub(super) fn dead_lettered() {
    metrics::counter!(names::RECORDS_DEAD_LETTERED).increment(1);
}

pub(super) fn committed(took: Duration) {
    metrics::counter!(names::COMMITS).increment(1);
    metrics::histogram!(names::COMMIT_SECONDS).record(took.as_secs_f64());
}

/// What the sink made durable since it was last looked at.
pub(super) fn sink_progress(before: &SinkStats, now: &SinkStats) {
    let grew = |a: u64, b: u64| b.saturating_sub(a);
    metrics::counter!(names::RECORDS_DURABLE).increment(grew(before.records, now.records));
    metrics::counter!(names::OBJECTS_WRITTEN).increment(grew(before.objects, now.objects));
    metrics::counter!(names::BYTES_WRITTEN).increment(grew(before.bytes, now.bytes));
    metrics::gauge!(names::BUFFERED_BYTES).set(now.buffered_bytes as f64);
}
