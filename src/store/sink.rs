//! [`LakeSink`]: the driver of the lake sink's stages. Each record is
//! routed to its partition path, joins its source partition's group in the
//! [`Batcher`] (the pure stage), and closed groups go to the
//! [`CommitStep`] (encode, then make durable); the positions it reports
//! durable go back to the pipeline.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::LakeSinkBuilder;
use super::batch::{Batcher, Group, Offer};
use super::builder::SinkSettings;
use super::commit::{CommitStep, Written};
use super::in_flight::{self, Finished, InFlight};
use super::keys::{data_object_name, key_too_long, path_always_fits};
use super::landing::{Landing, LandingListener};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::record::{PartitionMap, Position, Record, SourcePartition};
use crate::rejected::Rejected;
use crate::sink::{RecordSink, SinkStats};
use crate::value::scan::KnownKeys;

/// Writes records into a lake as partitioned, rotated, encoded objects.
///
/// Invariants it keeps (see `docs/design.md`):
/// - a position is reported durable only after every object holding it or
///   an earlier record of its source partition exists in full;
/// - object names are pure functions of their records, and rotation
///   depends only on record data; a source partition's open objects close
///   together, and each group's boundary is recorded in a marker created
///   with a conditional put, so a replay rewrites exactly the same objects
///   even after a clock-driven flush;
/// - objects are created whole (conditional put; local: staged file then
///   link) and never overwritten;
/// - buffered memory stays under `max_buffered_bytes`.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use streamlake::{Lake, LakeSink, Position, Record, RecordSink};
/// let lake = Lake::memory();
/// let mut sink = LakeSink::builder(lake.clone()).table("stock").partition_by("index={Index}").build().unwrap();
/// sink.write(vec![Record::new(Position::new("t", 0, 0), r#"{"Index":"HSI"}"#)]).await.unwrap();
/// assert!(sink.take_durable().is_empty()); // buffered, not durable yet
/// sink.flush().await.unwrap();
/// assert_eq!(sink.take_durable(), vec![Position::new("t", 0, 0)]);
/// # });
/// ```
#[derive(Debug)]
pub struct LakeSink {
    settings: Arc<SinkSettings>,
    /// The last offset accepted from each source partition: offsets must
    /// grow (until a revoke).
    accepted: PartitionMap<Accepted>,
    batcher: Batcher,
    in_flight: InFlight,
    /// Groups whose commit failed, retried before anything else.
    failed: BTreeMap<SourcePartition, Group>,
    landing: Landing,
    stats: SinkStats,
    /// The buffer each record's partition path is rendered into.
    path: String,
    /// The keys of the records read so far, for the next to match.
    known_keys: KnownKeys,
    /// The source partition of the last record accepted at once, with
    /// the name as that record carried it: the next record's, nearly
    /// always (see [`LakeSink::source_of`]).
    last_source: Option<(SourcePartition, SourcePartition)>,
}

/// Per source partition: the last offset accepted, and the longest
/// partition path that always fits its object keys
/// ([`path_always_fits`]): both read for every record, with one lookup.
#[derive(Debug)]
struct Accepted {
    last_offset: i64,
    path_fits: usize,
    /// The last offset of the partition's group this sink closed last.
    closed_at: Option<i64>,
}

impl LakeSink {
    /// Options for a sink writing into `lake`.
    pub fn builder(lake: Lake) -> LakeSinkBuilder {
        LakeSinkBuilder::new(lake)
    }

    pub(super) fn new(
        settings: Arc<SinkSettings>,
        step: Arc<dyn CommitStep>,
        listener: Option<Arc<dyn LandingListener>>,
    ) -> Self {
        Self {
            batcher: Batcher::new(settings.rotation, settings.max_buffered_bytes, {
                let encoder = settings.encoder.clone();
                Box::new(move |bytes| encoder.working_memory(bytes))
            }),
            in_flight: InFlight::new(step, settings.commits_in_flight),
            failed: BTreeMap::new(),
            settings,
            accepted: PartitionMap::default(),
            landing: Landing::new(listener),
            stats: SinkStats::default(),
            path: String::new(),
            known_keys: KnownKeys::default(),
            last_source: None,
        }
    }

    /// The lake this sink writes into.
    pub fn lake(&self) -> &Lake {
        &self.settings.lake
    }

    /// Memory held by open objects now.
    pub fn buffered_bytes(&self) -> usize {
        self.batcher.buffered_bytes()
    }

    /// Accepts `record` when that needs no I/O: its group is open and takes
    /// it (no rotation, no recorded boundary), or it has no partition path
    /// and is rejected. Otherwise (false) leaves it and the sink as they
    /// were, for [`accept`](Self::accept). The common case, without the
    /// state of an `async` call for every record; the record is borrowed,
    /// not moved through the calls (each move of one is a copy).
    fn accept_at_once(&mut self, record: &Record, rejected: &mut Vec<Rejected>) -> bool {
        if self.batcher.is_replaying() {
            return false;
        }
        let (carried, sp) = self.source_of(&record.position);
        let accepted = self.accept_from_at_once(&sp, record, rejected);
        self.last_source = Some((carried, sp));
        accepted
    }

    /// The source partition of `position` as the position names it, and
    /// as the sink's maps do: the last record's when the same (by
    /// address), without taking another count of the stream's name (an
    /// atomic operation for every record, twice); else
    /// [`held`](Self::held), once a run.
    fn source_of(&mut self, position: &Position) -> (SourcePartition, SourcePartition) {
        match self.last_source.take() {
            Some((carried, sp)) if carried.holds_by_address(position) => (carried, sp),
            _ => {
                let carried = position.source_partition();
                let sp = self.held(carried.clone());
                (carried, sp)
            }
        }
    }

    /// `sp` named by the copy of its name the sink's maps hold, if they
    /// hold it: each batch of a Kafka source names its topic anew, and a
    /// lookup by another copy compares the text, by address this one.
    fn held(&self, sp: SourcePartition) -> SourcePartition {
        match self.accepted.get_key_value(&sp) {
            Some((held, _)) => held.clone(),
            None => sp,
        }
    }

    /// [`accept_at_once`](Self::accept_at_once) of a record of `sp`.
    fn accept_from_at_once(
        &mut self,
        sp: &SourcePartition,
        record: &Record,
        rejected: &mut Vec<Rejected>,
    ) -> bool {
        let offset = record.position.offset;
        let Some(accepted) = self.accepted.get_mut(sp) else {
            return false;
        };
        if offset <= accepted.last_offset {
            return false; // `accept` says what is wrong
        }
        let path_fits = accepted.path_fits;
        let before = std::mem::replace(&mut accepted.last_offset, offset);
        let mut path = std::mem::take(&mut self.path);
        let taken = match self.route_into(sp, record, path_fits, &mut path) {
            Err(reason) => {
                self.reject_unrouted(sp, record, reason, rejected);
                true
            }
            Ok(()) => match self.batcher.offer(sp, record, &path) {
                Offer::Joined { at_boundary } => {
                    debug_assert!(!at_boundary, "a boundary without a replay");
                    true
                }
                Offer::Open | Offer::Close => false,
            },
        };
        self.path = path;
        if !taken {
            if let Some(accepted) = self.accepted.get_mut(sp) {
                accepted.last_offset = before;
            }
        }
        taken
    }

    async fn accept(&mut self, record: &Record, rejected: &mut Vec<Rejected>) -> Result<()> {
        let sp = self.held(record.position.source_partition());
        let path_fits = self.advance(&sp, &record.position)?;
        if self.batcher.ends_before(&sp, record.position.offset) {
            self.close(&sp, rejected).await?;
        }
        // Rendered into one buffer: a path is copied only when it starts
        // an object.
        let mut path = std::mem::take(&mut self.path);
        if let Err(reason) = self.route_into(&sp, record, path_fits, &mut path) {
            self.path = path;
            self.reject_unrouted(&sp, record, reason, rejected);
            return Ok(());
        }
        let at_boundary = match self.batcher.offer(&sp, record, &path) {
            Offer::Joined { at_boundary } => at_boundary,
            Offer::Open => {
                self.open(&sp, record.position.offset).await?;
                self.batcher.join(&sp, record, &path)
            }
            Offer::Close => {
                self.close(&sp, rejected).await?;
                self.open(&sp, record.position.offset).await?;
                self.batcher.join(&sp, record, &path)
            }
        };
        self.path = path;
        if at_boundary {
            self.close(&sp, rejected).await?;
        }
        self.keep_to_budget(rejected).await
    }

    /// Accepts each record in turn: at once when it needs no I/O, else
    /// through [`accept`](Self::accept). The records are borrowed: their
    /// values are copied into the buffers, and the batch is dropped whole
    /// by the caller afterwards.
    async fn accept_all(&mut self, records: &[Record], rejected: &mut Vec<Rejected>) -> Result<()> {
        for record in records {
            if !self.accept_at_once(record, rejected) {
                self.accept(record, rejected).await?;
            } else if self.batcher.is_over_budget() {
                self.keep_to_budget(rejected).await?;
            }
        }
        Ok(())
    }

    /// Renders the partition path of `record` (of `sp`, whose paths up to
    /// `path_fits` bytes always fit) into `path`, or says why it has none.
    fn route_into(
        &mut self,
        sp: &SourcePartition,
        record: &Record,
        path_fits: usize,
        path: &mut String,
    ) -> std::result::Result<(), String> {
        let template = &self.settings.template;
        let fields = if self.settings.encoder.checks_values() {
            template.scan_fields(&record.value)
        } else {
            template.read_fields(&record.value, &mut self.known_keys)
        };
        fields
            .and_then(|fields| template.render_into(&fields, record.timestamp, path))
            .and_then(|()| match self.key_too_long(sp, path, path_fits) {
                Some(why) => Err(why),
                None => Ok(()),
            })
    }

    /// Rejects `record`, which has no partition path: its offset belongs
    /// to the open group's range, or is passed at once.
    fn reject_unrouted(
        &mut self,
        sp: &SourcePartition,
        record: &Record,
        reason: String,
        rejected: &mut Vec<Rejected>,
    ) {
        if let Some(offset) = self.batcher.pass_over(sp, record.position.offset) {
            self.landing.passed(sp, offset);
        }
        let (position, value) = (record.position.clone(), record.value.clone());
        rejected.push(Rejected::new(position, value, reason));
    }

    /// Past the memory cap, waits for commits in flight to free memory,
    /// and with none in flight writes the largest open group early.
    async fn keep_to_budget(&mut self, rejected: &mut Vec<Rejected>) -> Result<()> {
        while self.batcher.is_over_budget() {
            if let Some(finished) = self.in_flight.wait_any().await? {
                self.finish(finished, rejected)?;
            } else if let Some(largest) = self.batcher.over_budget() {
                self.close(&largest, rejected).await?;
            } else {
                break;
            }
        }
        Ok(())
    }

    /// Offsets of a source partition must grow: a record at or below one
    /// already accepted would be written twice, or reorder a group.
    /// Returns the longest partition path that always fits the
    /// partition's object keys.
    fn advance(&mut self, sp: &SourcePartition, position: &Position) -> Result<usize> {
        if let Some(accepted) = self.accepted.get_mut(sp) {
            if position.offset <= accepted.last_offset {
                return Err(Error::Config(format!(
                    "the source went backwards: {position} after offset {} of the same \
                     partition (offsets must grow; a revoked partition must be discarded first)",
                    accepted.last_offset
                )));
            }
            accepted.last_offset = position.offset;
            return Ok(accepted.path_fits);
        }
        let accepted = self.first_accepted(sp, position.offset);
        let fits = accepted.path_fits;
        self.accepted.insert(sp.clone(), accepted);
        Ok(fits)
    }

    /// What the sink knows of `sp` once its first record, at `offset`, is
    /// accepted.
    fn first_accepted(&self, sp: &SourcePartition, offset: i64) -> Accepted {
        let s = &self.settings;
        let name_len = data_object_name(sp, 0, &s.extension()).len();
        Accepted {
            last_offset: offset,
            path_fits: path_always_fits(&s.lake, &s.table, name_len),
            closed_at: None,
        }
    }

    /// Why an object of `sp` under `path` could not be stored, if it could
    /// not (a key or segment too long for the store); `fits` is the
    /// partition's [`path_always_fits`].
    fn key_too_long(&self, sp: &SourcePartition, path: &str, fits: usize) -> Option<String> {
        if path.len() <= fits {
            return None;
        }
        let s = &self.settings;
        let name_len = data_object_name(sp, 0, &s.extension()).len();
        key_too_long(&s.lake, &s.table, path, name_len)
    }

    /// Opens `sp`'s group at `offset`, adopting the boundary of a group an
    /// earlier run started there (none can follow the group this sink
    /// closed last when the commit step records only how far each
    /// partition is, as a table's log does: no lookup, which would wait
    /// for that group's commit).
    async fn open(&mut self, sp: &SourcePartition, offset: i64) -> Result<()> {
        let step = self.in_flight.step();
        let follows_own = self.accepted.get(sp).and_then(|a| a.closed_at) == Some(offset - 1);
        let boundary = match follows_own && !step.records_every_group() {
            true => None,
            false => step.recorded_boundary(sp, offset).await?,
        };
        self.batcher.open(sp.clone(), offset, boundary);
        Ok(())
    }

    /// Closes `sp`'s group and starts committing it; it is reported
    /// durable once that ends. Waits first for the commit of `sp` still in
    /// flight (a partition's groups are committed in order) and, at the
    /// limit of commits in flight, for any one of them.
    async fn close(&mut self, sp: &SourcePartition, rejected: &mut Vec<Rejected>) -> Result<()> {
        if let Some(finished) = self.in_flight.wait_for(sp).await? {
            self.finish(finished, rejected)?;
        }
        while !self.in_flight.has_room() {
            if let Some(finished) = self.in_flight.wait_any().await? {
                self.finish(finished, rejected)?;
            }
        }
        let runtime = in_flight::runtime()?;
        let Some(group) = self.batcher.take(sp) else {
            return Ok(());
        };
        if let Some(accepted) = self.accepted.get_mut(sp) {
            accepted.closed_at = Some(group.boundary());
        }
        self.landing.committing(sp, group.boundary());
        self.in_flight.start(&runtime, sp.clone(), group);
        Ok(())
    }

    /// A commit ended: reports its group durable, or keeps the group
    /// buffered (its memory counted, its position and every later one of
    /// its partition held back) for a retry and returns the error.
    fn finish(&mut self, finished: Finished, rejected: &mut Vec<Rejected>) -> Result<()> {
        let Finished {
            sp,
            group,
            result,
            mut refused,
        } = finished;
        match result {
            Ok(written) => {
                self.land(&sp, &group, written);
                rejected.append(&mut refused);
                Ok(())
            }
            Err(e) => {
                self.failed.insert(sp, group);
                Err(e)
            }
        }
    }

    /// A group is durable: its memory is free, and its position goes to
    /// the landing stage.
    fn land(&mut self, sp: &SourcePartition, group: &Group, written: Written) {
        self.batcher.written(group);
        let paths = group.partition_paths();
        let table = &self.settings.table;
        self.landing.landed(table, sp, written.last_offset, paths);
        self.stats.objects += written.objects;
        self.stats.bytes += written.bytes;
        self.stats.records += written.records;
    }

    /// Commits that ended since the last call, without waiting.
    fn reap(&mut self, rejected: &mut Vec<Rejected>) -> Result<()> {
        for finished in self.in_flight.finished()? {
            self.finish(finished, rejected)?;
        }
        Ok(())
    }

    /// Waits for every commit in flight.
    async fn drain(&mut self, rejected: &mut Vec<Rejected>) -> Result<()> {
        let mut first_error = None;
        while let Some(finished) = self.in_flight.wait_any().await? {
            if let Err(e) = self.finish(finished, rejected) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Commits again the groups whose commit failed, one at a time, before
    /// anything else: their partitions' later groups wait for them.
    async fn retry_failed(&mut self, rejected: &mut Vec<Rejected>) -> Result<()> {
        if self.failed.is_empty() {
            return Ok(());
        }
        let runtime = in_flight::runtime()?;
        while let Some((sp, group)) = self.failed.pop_first() {
            self.in_flight.start(&runtime, sp.clone(), group);
            if let Some(finished) = self.in_flight.wait_for(&sp).await? {
                self.finish(finished, rejected)?;
            }
        }
        Ok(())
    }

    /// Drops the groups of `sp` in flight or failed (after a revoke): their
    /// positions are forgotten, so a new owner replays them.
    async fn drop_committing(&mut self, sp: &SourcePartition) -> Result<()> {
        if let Some(finished) = self.in_flight.wait_for(sp).await? {
            self.batcher.written(&finished.group);
        }
        if let Some(group) = self.failed.remove(sp) {
            self.batcher.written(&group);
        }
        Ok(())
    }
}

#[async_trait]
impl RecordSink for LakeSink {
    async fn write(&mut self, records: Vec<Record>) -> Result<Vec<Rejected>> {
        let mut rejected = Vec::new();
        self.retry_failed(&mut rejected).await?;
        self.reap(&mut rejected)?;
        let accepted = self.accept_all(&records, &mut rejected).await;
        // Dropped together, after the copies into the buffers: dropping a
        // record gives back its share of the source's payload chunk (and
        // of its stream's name), atomic operations. Values dropped right
        // after each copy waited for the copy's stores to reach the cache:
        // a tenth of the pipeline's CPU time (A/B on the mock cluster,
        // dropping values together: 1.63 s against 1.85 s per million
        // records).
        drop(records);
        accepted.map(|()| rejected)
    }

    async fn flush(&mut self) -> Result<Vec<Rejected>> {
        let mut rejected = Vec::new();
        self.retry_failed(&mut rejected).await?;
        let (ready, held) = self.batcher.flushable();
        for (sp, group) in held {
            // Closing now would make a boundary the earlier run did not
            // make; wait for the records up to the recorded one.
            tracing::warn!(
                "{sp}: not flushing offsets {}..={}: the lake holds a group up to {}",
                group.first_offset,
                group.last_offset,
                group.boundary()
            );
        }
        let mut closed = Ok(());
        for sp in ready {
            closed = self.close(&sp, &mut rejected).await;
            if closed.is_err() {
                break;
            }
        }
        let drained = self.drain(&mut rejected).await;
        closed.and(drained)?;
        Ok(rejected)
    }

    fn take_durable(&mut self) -> Vec<Position> {
        // Commits that ended well land now; one that failed or refused
        // records waits for the next write or flush, which returns them.
        for (sp, group, written) in self.in_flight.finished_clean() {
            self.land(&sp, &group, written);
        }
        self.landing.take()
    }

    /// Waits for the landing listener; call it after [`flush`](RecordSink::flush),
    /// which waits for the commits in flight.
    async fn settle(&mut self) -> Result<()> {
        self.landing.settle().await;
        Ok(())
    }

    async fn discard(&mut self, partitions: &[SourcePartition]) -> Result<()> {
        for sp in partitions {
            self.drop_committing(sp).await?;
            self.batcher.discard(sp);
            self.accepted.remove(sp);
        }
        self.landing.forget(partitions);
        Ok(())
    }

    fn skip(&mut self, position: &Position) {
        let sp = position.source_partition();
        match self.accepted.get_mut(&sp) {
            Some(accepted) => accepted.last_offset = accepted.last_offset.max(position.offset),
            None => {
                let accepted = self.first_accepted(&sp, position.offset);
                self.accepted.insert(sp.clone(), accepted);
            }
        }
        if let Some(offset) = self.batcher.pass_over(&sp, position.offset) {
            self.landing.passed(&sp, offset);
        }
    }

    async fn durable_positions(&mut self, partitions: &[SourcePartition]) -> Result<Vec<Position>> {
        self.in_flight.step().durable_positions(partitions).await
    }

    fn stats(&self) -> SinkStats {
        SinkStats {
            buffered_bytes: self.batcher.buffered_bytes(),
            peak_buffered_bytes: self.batcher.peak_buffered_bytes(),
            ..self.stats
        }
    }
}
