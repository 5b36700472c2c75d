//! After the commit step: which partitions a durable group landed in, told
//! to a [`LandingListener`] (a catalog registering partitions, such as the
//! Glue registrar), and the group's position held back from the pipeline
//! until the listener releases it. The last stage of the lake sink.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use crate::record::{Position, SourcePartition};
use crate::sink::DurablePositions;

/// A group of objects that is durable in the lake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Landed {
    /// The table (its directory under the lake) the objects are in.
    pub table: String,
    /// The last position the group covers.
    pub position: Position,
    /// The partition paths under the table (`index=HSI/dt=1987-01-05`;
    /// empty for an unpartitioned table) holding the group's objects,
    /// including objects an earlier run wrote and a replay passed over.
    pub partition_paths: Vec<String>,
}

/// Told about every group of objects once it is durable, before the
/// pipeline may commit its position: the hook for catalogs that register
/// partitions as data lands.
///
/// [`landed`](LandingListener::landed) must not block; it returns a
/// [`Ticket`] that the listener releases once the group may be committed
/// (for a catalog: its partitions are registered, or recorded for a later
/// retry). Until then the sink reports neither that group nor any later
/// one of its source partition durable.
pub trait LandingListener: Send + Sync + fmt::Debug {
    /// `landed` is durable; returns when it may be committed.
    fn landed(&self, landed: Landed) -> Ticket;
}

/// Whether a landed group may be committed: released once, by the
/// [`LandingListener`] that issued it.
#[derive(Clone, Debug, Default)]
pub struct Ticket(Arc<TicketState>);

#[derive(Debug, Default)]
struct TicketState {
    released: AtomicBool,
    changed: Notify,
}

impl Ticket {
    /// A ticket to release later.
    pub fn pending() -> Self {
        Self::default()
    }

    /// A ticket released already.
    pub fn released() -> Self {
        let ticket = Self::default();
        ticket.release();
        ticket
    }

    /// The group may be committed.
    pub fn release(&self) {
        self.0.released.store(true, Ordering::Release);
        self.0.changed.notify_waiters();
    }

    /// Whether [`release`](Self::release) was called.
    pub fn is_released(&self) -> bool {
        self.0.released.load(Ordering::Acquire)
    }

    /// Returns once the ticket is released.
    pub async fn wait(&self) {
        loop {
            let changed = self.0.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            if self.is_released() {
                return;
            }
            changed.await;
        }
    }
}

/// Positions on their way to the pipeline: durable, and (with a listener)
/// released by it, in offset order per source partition.
#[derive(Debug, Default)]
pub(crate) struct Landing {
    listener: Option<Arc<dyn LandingListener>>,
    /// Per source partition, in offset order: each group's last offset and
    /// its ticket (`None` while the group is still being committed).
    held: HashMap<SourcePartition, VecDeque<(i64, Option<Ticket>)>>,
    durable: DurablePositions,
}

impl Landing {
    pub(crate) fn new(listener: Option<Arc<dyn LandingListener>>) -> Self {
        Self {
            listener,
            ..Self::default()
        }
    }

    /// The group of `table` ending at `last_offset` of `sp` is durable,
    /// with objects under `partition_paths`.
    pub(crate) fn landed(
        &mut self,
        table: &str,
        sp: &SourcePartition,
        last_offset: i64,
        partition_paths: Vec<String>,
    ) {
        let ticket = match &self.listener {
            Some(listener) => listener.landed(Landed {
                table: table.to_string(),
                position: sp.at(last_offset),
                partition_paths,
            }),
            None => Ticket::released(),
        };
        let queue = self.held.entry(sp.clone()).or_default();
        match queue
            .iter_mut()
            .find(|(offset, ticket)| *offset == last_offset && ticket.is_none())
        {
            Some((_, placeholder)) => *placeholder = Some(ticket),
            None => queue.push_back((last_offset, Some(ticket))),
        }
        self.release(sp);
    }

    /// The group ending at `last_offset` of `sp` is being committed: later
    /// positions of `sp` wait for it, which [`landed`](Self::landed) ends.
    pub(crate) fn committing(&mut self, sp: &SourcePartition, last_offset: i64) {
        let queue = self.held.entry(sp.clone()).or_default();
        queue.push_back((last_offset, None));
    }

    /// Everything up to `offset` of `sp` needs no object (rejected records
    /// with no group open): durable once the groups before it are.
    pub(crate) fn passed(&mut self, sp: &SourcePartition, offset: i64) {
        self.hold(sp, offset, Ticket::released());
    }

    fn hold(&mut self, sp: &SourcePartition, offset: i64, ticket: Ticket) {
        let queue = self.held.entry(sp.clone()).or_default();
        queue.push_back((offset, Some(ticket)));
        self.release(sp);
    }

    fn release(&mut self, sp: &SourcePartition) {
        let Some(queue) = self.held.get_mut(sp) else {
            return;
        };
        while let Some((offset, _)) = queue
            .front()
            .filter(|(_, t)| t.as_ref().is_some_and(Ticket::is_released))
        {
            self.durable.advance(sp.clone(), *offset);
            queue.pop_front();
        }
        if queue.is_empty() {
            self.held.remove(sp);
        }
    }

    /// The positions durable and released since the last call.
    pub(crate) fn take(&mut self) -> Vec<Position> {
        let held: Vec<SourcePartition> = self.held.keys().cloned().collect();
        for sp in &held {
            self.release(sp);
        }
        self.durable.take()
    }

    /// Waits until every landed group is released by the listener (which
    /// releases each within its commit timeout); groups still being
    /// committed are the sink's to wait for.
    pub(crate) async fn settle(&mut self) {
        let tickets: Vec<Ticket> = self
            .held
            .values()
            .flatten()
            .filter_map(|(_, ticket)| ticket.clone())
            .collect();
        for ticket in tickets {
            ticket.wait().await;
        }
    }

    /// Forgets revoked partitions.
    pub(crate) fn forget(&mut self, partitions: &[SourcePartition]) {
        for sp in partitions {
            self.held.remove(sp);
        }
        self.durable.forget(partitions);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<(Landed, Ticket)>>);

    impl LandingListener for Recorder {
        fn landed(&self, landed: Landed) -> Ticket {
            let ticket = Ticket::pending();
            self.0.lock().unwrap().push((landed, ticket.clone()));
            ticket
        }
    }

    #[test]
    fn positions_wait_for_their_tickets_in_offset_order() {
        let recorder = Arc::new(Recorder::default());
        let mut landing = Landing::new(Some(recorder.clone()));
        let sp = SourcePartition::new("t", 0);
        landing.landed("stock", &sp, 9, vec!["index=HSI".into()]);
        landing.landed("stock", &sp, 19, vec!["index=NYA".into()]);
        landing.passed(&sp, 20);
        assert!(landing.take().is_empty(), "nothing released yet");
        let tickets: Vec<Ticket> = recorder
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, t)| t.clone())
            .collect();
        tickets[1].release();
        assert!(landing.take().is_empty(), "the earlier group still holds");
        tickets[0].release();
        assert_eq!(landing.take(), vec![sp.at(20)]);
        assert!(landing.held.is_empty());
        let (first, _) = &recorder.0.lock().unwrap()[0];
        assert_eq!(first.position, sp.at(9));
        assert_eq!(first.partition_paths, ["index=HSI"]);
    }

    #[test]
    fn a_group_being_committed_holds_back_later_positions() {
        let mut landing = Landing::new(None);
        let sp = SourcePartition::new("t", 0);
        landing.committing(&sp, 9);
        landing.committing(&sp, 19);
        landing.passed(&sp, 20);
        landing.landed("stock", &sp, 19, vec![]);
        assert!(landing.take().is_empty(), "the first group is not durable");
        landing.landed("stock", &sp, 9, vec![]);
        assert_eq!(landing.take(), vec![sp.at(20)]);
    }

    #[test]
    fn without_a_listener_positions_are_durable_at_once() {
        let mut landing = Landing::new(None);
        let sp = SourcePartition::new("t", 0);
        landing.landed("stock", &sp, 9, vec![]);
        assert_eq!(landing.take(), vec![sp.at(9)]);
    }
}
