//! The consumer group as a whole, as one member can see it: every
//! partition of the subscribed topics, how far the group has committed
//! each (its backlog), and whether this member looks stuck without an
//! assignment (the liveness guard).

use std::collections::{BTreeSet, HashMap};
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

/// The partitions of a group's topics, sorted.
type Partitions = Vec<(String, i32)>;

/// Every partition of `topics` (named topics, plus the topics matching a
/// pattern that this member has been assigned at some time), with the
/// group's committed offset against the partition's end. Only partitions
/// with records left are returned. Blocking: run it off the async runtime.
///
/// A caught-up member's fetch waits at the broker for fetch.wait.max.ms,
/// and requests on that connection queue behind it: one after another,
/// every request costs that wait. So the offsets are asked all at once,
/// and for the partitions the last call found, beside the metadata
/// request that says whether those are still the partitions (asked again
/// when they are not).
pub(super) fn backlog(
    consumer: &BaseConsumer<SourceContext>,
    topics: &BTreeSet<String>,
) -> Result<Vec<Backlog>> {
    let known = consumer.context().known_partitions(topics);
    let (current, guessed) = std::thread::scope(|scope| {
        let guess =
            (!known.is_empty()).then(|| scope.spawn(|| GroupOffsets::read(consumer, &known)));
        let current = partitions(consumer, topics);
        (current, guess.map(joined))
    });
    let current = current?;
    consumer.context().remember_partitions(&current);
    let offsets = match guessed {
        Some(offsets) if current == known => offsets?,
        _ => GroupOffsets::read(consumer, &current)?,
    };
    Ok(offsets.backlog(&current))
}

/// The partitions of `topics`, from a metadata request.
fn partitions(
    consumer: &BaseConsumer<SourceContext>,
    topics: &BTreeSet<String>,
) -> Result<Partitions> {
    let metadata = consumer
        .fetch_metadata(None, REQUEST_TIMEOUT)
        .map_err(|e| kafka_error("reading topic metadata", e))?;
    let mut partitions: Partitions = metadata
        .topics()
        .iter()
        .filter(|t| topics.contains(t.name()))
        .flat_map(|t| {
            t.partitions()
                .iter()
                .map(|p| (t.name().to_string(), p.id()))
        })
        .collect();
    partitions.sort_unstable();
    Ok(partitions)
}

fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle.join().expect("a group request thread panicked")
}

/// What the group committed and where the partitions start and end.
struct GroupOffsets {
    committed: TopicPartitionList,
    starts: HashMap<(String, i32), i64>,
    ends: HashMap<(String, i32), i64>,
}

impl GroupOffsets {
    /// The three requests at once. One ListOffsets request per broker for
    /// all partitions (under read_committed, librdkafka's default, the end
    /// is the last stable offset), not one per partition.
    fn read(consumer: &BaseConsumer<SourceContext>, partitions: &Partitions) -> Result<Self> {
        let mut list = TopicPartitionList::new();
        for (topic, partition) in partitions {
            list.add_partition(topic, *partition);
        }
        let (committed, ends, starts) = std::thread::scope(|scope| {
            let ends = scope.spawn(|| list_offsets(consumer, &list, Offset::End));
            let starts = scope.spawn(|| list_offsets(consumer, &list, Offset::Beginning));
            let committed = consumer.committed_offsets(list.clone(), REQUEST_TIMEOUT);
            (committed, joined(ends), joined(starts))
        });
        Ok(Self {
            committed: committed
                .map_err(|e| kafka_error("reading the group's committed offsets", e))?,
            starts: starts?,
            ends: ends?,
        })
    }

    /// The partitions with records past the group's commit.
    fn backlog(&self, partitions: &Partitions) -> Vec<Backlog> {
        let mut backlog = Vec::new();
        for key in partitions {
            let (topic, partition) = (key.0.as_str(), key.1);
            let (low, end) = (self.starts[key], self.ends[key]);
            let committed = match self
                .committed
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
        backlog
    }
}

/// The offset of every partition of `list` at `at` (`Offset::End`: the
/// end; `Offset::Beginning`: the first retained), in one request per
/// broker (ListOffsets takes -1 and -2 for latest and earliest).
fn list_offsets(
    consumer: &BaseConsumer<SourceContext>,
    list: &TopicPartitionList,
    at: Offset,
) -> Result<HashMap<(String, i32), i64>> {
    let mut query = TopicPartitionList::new();
    for element in list.elements() {
        query
            .add_partition_offset(element.topic(), element.partition(), at)
            .map_err(|e| kafka_error("listing offsets", e))?;
    }
    let answer = consumer
        .offsets_for_times(query, REQUEST_TIMEOUT)
        .map_err(|e| kafka_error("listing partition offsets", e))?;
    let mut offsets = HashMap::new();
    for element in answer.elements() {
        let (topic, partition) = (element.topic(), element.partition());
        let context = || format!("reading the offsets of {topic}/{partition}");
        element.error().map_err(|e| kafka_error(&context(), e))?;
        let Offset::Offset(offset) = element.offset() else {
            return Err(Error::Unavailable {
                what: format!("the leader of {topic}/{partition}"),
                reason: format!("it answered {:?} for its offsets", element.offset()),
            });
        };
        offsets.insert((topic.to_string(), partition), offset);
    }
    for element in list.elements() {
        let key = (element.topic().to_string(), element.partition());
        if !offsets.contains_key(&key) {
            return Err(Error::Unavailable {
                what: format!("the leader of {}/{}", key.0, key.1),
                reason: "no answer for its offsets".into(),
            });
        }
    }
    Ok(offsets)
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
