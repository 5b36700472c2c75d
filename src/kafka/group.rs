//! The consumer group as a whole, as one member can see it: every
//! partition of the subscribed topics, how far the group has committed
//! each (its backlog), and whether this member looks stuck without an
//! assignment (the liveness guard).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// What the liveness guard concluded on one look.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Assigned, or not unassigned for long enough to judge.
    Fine,
    /// Time to read the backlog (the start of an unassigned stretch, or
    /// the end of the window that judges it).
    ReadBacklog,
    /// Unassigned for the whole window while these partitions lagged and
    /// their committed offsets did not move: nobody is reading them.
    Stalled(Vec<Backlog>),
}

/// The liveness guard: a member that stays without partitions while
/// others' partitions lag and nobody commits them is stuck (a broker that
/// keeps handing back an empty assignment, a member that died holding
/// them). A member without partitions in a group where every partition
/// progresses is a healthy standby and is left alone.
#[derive(Debug)]
pub(super) struct Liveness {
    window: Duration,
    /// When this member was last seen without partitions, and the backlog
    /// at the start of that window.
    unassigned: Option<(Instant, Option<Vec<Backlog>>)>,
}

impl Liveness {
    pub(super) fn new(window: Duration) -> Self {
        Self {
            window,
            unassigned: None,
        }
    }

    /// One look at the member: `assigned` is whether it holds partitions.
    pub(super) fn look(&mut self, assigned: bool, now: Instant) -> Verdict {
        if assigned {
            self.unassigned = None;
            return Verdict::Fine;
        }
        match &self.unassigned {
            None => {
                self.unassigned = Some((now, None));
                Verdict::ReadBacklog
            }
            Some((_, None)) => Verdict::ReadBacklog,
            Some((since, Some(_))) if now.duration_since(*since) >= self.window => {
                Verdict::ReadBacklog
            }
            Some(_) => Verdict::Fine,
        }
    }

    /// Takes the backlog read after [`look`](Self::look) asked for it.
    pub(super) fn judge(&mut self, backlog: Vec<Backlog>, now: Instant) -> Verdict {
        let Some((since, baseline)) = &mut self.unassigned else {
            return Verdict::Fine;
        };
        let Some(before) = baseline.take() else {
            *since = now;
            *baseline = Some(backlog);
            return Verdict::Fine;
        };
        let stuck: Vec<Backlog> = backlog
            .into_iter()
            .filter(|b| {
                before
                    .iter()
                    .any(|a| a.partition == b.partition && a.committed == b.committed)
            })
            .collect();
        // Start a new window either way.
        *since = now;
        *baseline = None;
        if stuck.is_empty() {
            Verdict::Fine
        } else {
            Verdict::Stalled(stuck)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lag(partition: i32, committed: i64) -> Backlog {
        Backlog {
            partition: SourcePartition::new("t", partition),
            committed: Some(committed),
            end: 100,
        }
    }

    #[test]
    fn a_member_without_partitions_is_stalled_only_when_the_backlog_does_not_move() {
        let t0 = Instant::now();
        let window = Duration::from_secs(60);
        let at = |secs| t0 + Duration::from_secs(secs);
        let mut guard = Liveness::new(window);
        assert_eq!(guard.look(true, at(0)), Verdict::Fine);
        // Unassigned: read a baseline at once, judge after the window.
        assert_eq!(guard.look(false, at(1)), Verdict::ReadBacklog);
        assert_eq!(
            guard.judge(vec![lag(0, 10), lag(1, 5)], at(1)),
            Verdict::Fine
        );
        assert_eq!(guard.look(false, at(30)), Verdict::Fine);
        assert_eq!(guard.look(false, at(61)), Verdict::ReadBacklog);
        // Partition 1 moved (another member reads it), partition 0 did not.
        assert_eq!(
            guard.judge(vec![lag(0, 10), lag(1, 9)], at(61)),
            Verdict::Stalled(vec![lag(0, 10)])
        );
        // A new window starts.
        assert_eq!(guard.look(false, at(62)), Verdict::ReadBacklog);
        assert_eq!(guard.judge(vec![lag(1, 12)], at(62)), Verdict::Fine);
        assert_eq!(guard.look(false, at(122)), Verdict::ReadBacklog);
        // Everything progressed: a healthy standby.
        assert_eq!(guard.judge(vec![lag(1, 20)], at(122)), Verdict::Fine);
        // Assigned again: the window is forgotten.
        assert_eq!(guard.look(true, at(123)), Verdict::Fine);
        assert_eq!(guard.look(false, at(124)), Verdict::ReadBacklog);
    }
}
