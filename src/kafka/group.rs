//! The consumer group as a whole, as one member can see it: every
//! partition of the subscribed topics, how far the group has committed
//! each (its backlog), and whether this member looks stuck without an
//! assignment (the liveness guard).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::consumer::SourceContext;
use crate::error::{Error, Result};
use crate::record::SourcePartition;
use crate::source::Backlog;

/// How long one metadata, offset or watermark request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Every partition of `topics` (named topics, plus the topics matching a
/// pattern that this member has been assigned at some time), with the
/// group's committed offset against the partition's end. Only partitions
/// with records left are returned. Blocking: run it off the async runtime.
pub(super) fn backlog(
    consumer: &BaseConsumer<SourceContext>,
    topics: &BTreeSet<String>,
) -> Result<Vec<Backlog>> {
    let metadata = consumer
        .fetch_metadata(None, REQUEST_TIMEOUT)
        .map_err(|e| kafka_error("reading topic metadata", e))?;
    let mut list = TopicPartitionList::new();
    for topic in metadata
        .topics()
        .iter()
        .filter(|t| topics.contains(t.name()))
    {
        for partition in topic.partitions() {
            list.add_partition(topic.name(), partition.id());
        }
    }
    let committed = consumer
        .committed_offsets(list.clone(), REQUEST_TIMEOUT)
        .map_err(|e| kafka_error("reading the group's committed offsets", e))?;
    let mut backlog = Vec::new();
    for element in list.elements() {
        let (topic, partition) = (element.topic(), element.partition());
        // Under read_committed (librdkafka's default) this is the last
        // stable offset.
        let (low, end) = consumer
            .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
            .map_err(|e| kafka_error(&format!("reading the end of {topic}/{partition}"), e))?;
        let committed = match committed
            .find_partition(topic, partition)
            .map(|e| e.offset())
        {
            Some(Offset::Offset(o)) => Some(o),
            _ => None,
        };
        // Nothing committed is fine when nothing is retained.
        if committed.unwrap_or(low) < end {
            backlog.push(Backlog {
                partition: SourcePartition::new(topic, partition),
                committed,
                end,
            });
        }
    }
    Ok(backlog)
}

/// [`backlog`] on a blocking thread.
pub(super) async fn backlog_async(
    consumer: &Arc<BaseConsumer<SourceContext>>,
    topics: &BTreeSet<String>,
) -> Result<Vec<Backlog>> {
    let (consumer, topics) = (consumer.clone(), topics.clone());
    tokio::task::spawn_blocking(move || backlog(&consumer, &topics))
        .await
        .map_err(|e| Error::io("reading the group's backlog", std::io::Error::other(e)))?
}

fn kafka_error(context: &str, source: rdkafka::error::KafkaError) -> Error {
    Error::Kafka {
        context: context.to_string(),
        source,
    }
}
