//! The liveness guard: a member that stays without partitions while
//! others' partitions lag and nobody commits them is stuck (a broker that
//! keeps handing back an empty assignment, a member that died holding
//! them); a member without partitions in a group where every partition
//! progresses is a healthy standby and is left alone.

use std::time::{Duration, Instant};

use std::thread::JoinHandle;

use rdkafka::consumer::Consumer;

use super::group;
use super::source::KafkaSource;
use crate::error::{Error, Result};
use crate::source::Backlog;

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

impl KafkaSource {
    /// On an idle tick: the polling thread must be alive; a member without
    /// partitions is checked by the liveness guard and the assignment
    /// timeout.
    pub(super) async fn check_alive(&mut self) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::SourcePartition;

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
