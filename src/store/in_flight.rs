//! The lake sink's I/O stage: closed groups are committed (encoded, then
//! made durable) in tasks of their own, so that the pipeline keeps filling
//! other groups while they upload. At most one commit per source partition
//! is in flight (a partition's groups become durable, and record their
//! boundaries, in offset order) and at most `limit` in all; the memory of a
//! group in flight stays counted against the sink's cap until it is done.

use std::collections::HashMap;
use std::sync::Arc;

use futures::FutureExt;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::batch::Group;
use super::commit::{CommitStep, Written};
use crate::error::{Error, Result};
use crate::record::SourcePartition;
use crate::rejected::Rejected;

/// A commit that ended: its group, and what committing it gave.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) sp: SourcePartition,
    pub(crate) group: Group,
    pub(crate) result: Result<Written>,
    /// Records the encoder refused.
    pub(crate) refused: Vec<Rejected>,
}

/// The commits in flight, one per source partition at most.
#[derive(Debug)]
pub(crate) struct InFlight {
    commit: Arc<dyn CommitStep>,
    tasks: HashMap<SourcePartition, JoinHandle<Finished>>,
    /// Commits that ended but were not taken yet (they still count as in
    /// flight for their partition and for the limit).
    done: HashMap<SourcePartition, Finished>,
    /// A commit task that died, found without waiting: the next call that
    /// can fail reports it.
    dead: Option<Error>,
    limit: usize,
}

impl InFlight {
    pub(crate) fn new(commit: Arc<dyn CommitStep>, limit: usize) -> Self {
        Self {
            commit,
            tasks: HashMap::new(),
            done: HashMap::new(),
            dead: None,
            limit: limit.max(1),
        }
    }

    /// The commit step (for the boundary lookups of the driver).
    pub(crate) fn step(&self) -> &dyn CommitStep {
        self.commit.as_ref()
    }

    /// Whether a commit of `sp` is in flight.
    pub(crate) fn has(&self, sp: &SourcePartition) -> bool {
        self.tasks.contains_key(sp) || self.done.contains_key(sp)
    }

    /// Whether another commit may start.
    pub(crate) fn has_room(&self) -> bool {
        self.tasks.len() + self.done.len() < self.limit
    }

    /// Starts committing `group` of `sp` (none of `sp` may be in flight)
    /// on `runtime` (see [`runtime`]).
    pub(crate) fn start(&mut self, runtime: &Handle, sp: SourcePartition, group: Group) {
        debug_assert!(!self.has(&sp), "{sp}: two commits in flight");
        let commit = self.commit.clone();
        let key = sp.clone();
        let task = runtime.spawn(async move {
            let mut refused = Vec::new();
            let result = commit.commit(&sp, &group, &mut refused).await;
            Finished {
                sp,
                group,
                result,
                refused,
            }
        });
        self.tasks.insert(key, task);
    }

    /// Moves the commits that have ended to `done` (a dead one to
    /// `dead`), without waiting.
    fn collect(&mut self) {
        let ended: Vec<SourcePartition> = self
            .tasks
            .iter()
            .filter(|(_, task)| task.is_finished())
            .map(|(sp, _)| sp.clone())
            .collect();
        for sp in ended {
            let task = self.tasks.remove(&sp).expect("listed above");
            match task.now_or_never().expect("the task has ended") {
                Ok(finished) => {
                    self.done.insert(sp, finished);
                }
                Err(e) => {
                    self.dead.get_or_insert(dead(&sp, e));
                }
            }
        }
    }

    /// The death of a commit task found earlier, once.
    fn check_dead(&mut self) -> Result<()> {
        self.dead.take().map_or(Ok(()), Err)
    }

    /// The commits that have ended, without waiting.
    pub(crate) fn finished(&mut self) -> Result<Vec<Finished>> {
        self.collect();
        self.check_dead()?;
        Ok(self.done.drain().map(|(_, finished)| finished).collect())
    }

    /// The commits that have ended well and refused no record, without
    /// waiting: what can be reported durable outside an async call (a
    /// failure or refused records wait for one, which can return them).
    pub(crate) fn finished_clean(&mut self) -> Vec<(SourcePartition, Group, Written)> {
        self.collect();
        let clean: Vec<SourcePartition> = self
            .done
            .iter()
            .filter(|(_, f)| f.result.is_ok() && f.refused.is_empty())
            .map(|(sp, _)| sp.clone())
            .collect();
        clean
            .into_iter()
            .filter_map(|sp| {
                let finished = self.done.remove(&sp)?;
                Some((sp, finished.group, finished.result.ok()?))
            })
            .collect()
    }

    /// Waits for the commit of `sp`, if one is in flight.
    pub(crate) async fn wait_for(&mut self, sp: &SourcePartition) -> Result<Option<Finished>> {
        self.check_dead()?;
        if let Some(finished) = self.done.remove(sp) {
            return Ok(Some(finished));
        }
        match self.tasks.remove(sp) {
            Some(task) => task.await.map(Some).map_err(|e| dead(sp, e)),
            None => Ok(None),
        }
    }

    /// Waits for whichever commit ends first, if any is in flight.
    pub(crate) async fn wait_any(&mut self) -> Result<Option<Finished>> {
        self.check_dead()?;
        if let Some(sp) = self.done.keys().next().cloned() {
            return Ok(self.done.remove(&sp));
        }
        if self.tasks.is_empty() {
            return Ok(None);
        }
        let (sps, tasks): (Vec<_>, Vec<_>) = self.tasks.iter_mut().unzip();
        let (joined, index, _) = futures::future::select_all(tasks).await;
        let sp = sps[index].clone();
        self.tasks.remove(&sp);
        joined.map(Some).map_err(|e| dead(&sp, e))
    }
}

impl Drop for InFlight {
    /// A sink dropped with commits in flight stops them: nothing of theirs
    /// was reported durable, so a restart replays them.
    fn drop(&mut self) {
        for task in self.tasks.values() {
            task.abort();
        }
    }
}

/// The Tokio runtime commits run on: the stores need one too, so the sink
/// is used inside one; outside, this is the error that says so.
pub(crate) fn runtime() -> Result<Handle> {
    Handle::try_current().map_err(|_| {
        Error::Config("the lake sink commits in Tokio tasks: use it inside a Tokio runtime".into())
    })
}

/// A commit task that panicked or was cancelled: its group is lost to this
/// sink (nothing of it was reported durable; a restart replays it).
fn dead(sp: &SourcePartition, e: tokio::task::JoinError) -> Error {
    Error::io(
        format!("committing a group of {sp}"),
        std::io::Error::other(format!("the commit task died: {e}")),
    )
}
