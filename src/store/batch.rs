//! The lake sink's pure stage: which open group a record joins, when a
//! group closes (rotation, or the boundary an earlier run recorded), and
//! which group to write early under memory pressure. No I/O: the driver
//! ([`LakeSink`](super::LakeSink)) asks, does the I/O, and reports back.
//!
//! A source partition's records are buffered in one *group*: one open
//! object per partition path. Groups close whole, so a committed offset is
//! always a boundary in every partition path (DESIGN invariant 2).

use std::collections::{HashMap, HashSet};

use super::buffer::Buffer;
use super::commit::Recorded;
use super::rotation::Rotation;
use crate::record::{PartitionMap, Record, SourcePartition};

/// The open objects of one source partition, closed together.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) first_offset: i64,
    pub(crate) last_offset: i64,
    /// The boundary an earlier run recorded for a group starting at
    /// `first_offset`: close exactly there.
    pub(crate) replay_until: Option<i64>,
    /// Partition paths whose objects the earlier run wrote in full: their
    /// records are passed over, not buffered (only the missing objects of
    /// a replayed group are rebuilt).
    pub(crate) written_paths: HashSet<String>,
    /// Every record up to `replay_until` is in the lake: all are passed over.
    pub(crate) all_written: bool,
    /// Partition path → the object's records (hashed: every record looks
    /// its path up; [`objects`](Self::objects) gives them in path order).
    pub(crate) buffers: PathMap<Buffer>,
    pub(crate) memory: usize,
}

/// A map keyed by partition path, looked up for every record a group
/// takes: hashed with rapidhash (a `BTreeMap` compared the path with a
/// few others per lookup, three lookups a record).
pub(crate) type PathMap<V> = HashMap<String, V, rapidhash::fast::RandomState>;

impl Group {
    /// An empty group covering `first..=last` (unit tests of the stages).
    #[cfg(test)]
    pub(crate) fn for_tests(first_offset: i64, last_offset: i64) -> Self {
        Self {
            first_offset,
            last_offset,
            replay_until: None,
            written_paths: HashSet::new(),
            all_written: false,
            buffers: PathMap::default(),
            memory: 0,
        }
    }

    /// The group's objects in partition path order (encoding, refusals and
    /// new table columns follow it, so that a replay repeats them).
    pub(crate) fn objects(&self) -> Vec<(&str, &Buffer)> {
        let mut objects: Vec<_> = self
            .buffers
            .iter()
            .map(|(path, buffer)| (path.as_str(), buffer))
            .collect();
        objects.sort_unstable_by_key(|(path, _)| *path);
        objects
    }

    /// The last offset the group covers once written.
    pub(crate) fn boundary(&self) -> i64 {
        self.replay_until.unwrap_or(self.last_offset)
    }

    /// The partition paths of the group's objects: those it buffered and
    /// those an earlier run wrote in full.
    pub(crate) fn partition_paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .buffers
            .keys()
            .chain(&self.written_paths)
            .cloned()
            .collect();
        paths.sort_unstable();
        paths.dedup();
        paths
    }

    /// Whether closing now would cut short a boundary an earlier run made.
    pub(crate) fn short_of_replay(&self) -> bool {
        self.replay_until.is_some_and(|end| self.last_offset < end)
    }
}

/// What became of a record offered to its source partition's group.
#[derive(Debug)]
pub(crate) enum Offer {
    /// It joined the open group; `at_boundary` when the group has reached
    /// its recorded boundary and must be written now.
    Joined { at_boundary: bool },
    /// No group is open: open one at the record's offset (after looking up
    /// whether an earlier run recorded a boundary there), then
    /// [`join`](Batcher::join).
    Open,
    /// The open group ends before this record (rotation, or the recorded
    /// boundary): write it, open the next, then [`join`](Batcher::join).
    Close,
}

/// Memory encoding an object takes beside its records, for so many bytes
/// of record values ([`Encoder::working_memory`](crate::Encoder::working_memory)).
pub(crate) type EncodingRoom = Box<dyn Fn(usize) -> usize + Send + Sync>;

/// The open groups of one sink and the memory they hold.
pub(crate) struct Batcher {
    rotation: Rotation,
    max_buffered_bytes: usize,
    encoding_room: EncodingRoom,
    groups: PartitionMap<Group>,
    /// Open groups that end at a recorded boundary (replays): none, and
    /// no record needs its group looked up before it is routed.
    replaying: usize,
    buffered_bytes: usize,
    /// The most `buffered_bytes` has been.
    peak_buffered_bytes: usize,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("rotation", &self.rotation)
            .field("max_buffered_bytes", &self.max_buffered_bytes)
            .field("groups", &self.groups)
            .field("buffered_bytes", &self.buffered_bytes)
            .field("peak_buffered_bytes", &self.peak_buffered_bytes)
            .finish()
    }
}

impl Batcher {
    /// Every buffered record counts its memory and the room encoding it
    /// will take (`encoding_room` of its value's bytes): a group written
    /// under the cap has that room when it is committed.
    pub(crate) fn new(
        rotation: Rotation,
        max_buffered_bytes: usize,
        encoding_room: EncodingRoom,
    ) -> Self {
        Self {
            rotation,
            max_buffered_bytes,
            encoding_room,
            groups: PartitionMap::default(),
            replaying: 0,
            buffered_bytes: 0,
            peak_buffered_bytes: 0,
        }
    }

    /// Memory held by open groups.
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    /// The most memory open and committing groups have held at once.
    pub(crate) fn peak_buffered_bytes(&self) -> usize {
        self.peak_buffered_bytes
    }

    /// Whether an open group ends at a boundary an earlier run recorded.
    pub(crate) fn is_replaying(&self) -> bool {
        self.replaying > 0
    }

    /// Whether the open group of `sp` ends before `offset` (at a recorded
    /// boundary that was never reached).
    pub(crate) fn ends_before(&self, sp: &SourcePartition, offset: i64) -> bool {
        self.replaying > 0
            && self
                .groups
                .get(sp)
                .and_then(|g| g.replay_until)
                .is_some_and(|end| offset > end)
    }

    /// Opens `sp`'s group at `first_offset`, ending where an earlier run
    /// that started a group there recorded (and passing over the records
    /// of the objects that run wrote in full).
    pub(crate) fn open(
        &mut self,
        sp: SourcePartition,
        first_offset: i64,
        recorded: Option<Recorded>,
    ) {
        let (replay_until, written_paths, all_written) = match recorded {
            Some(r) => (Some(r.last_offset), r.written_paths, r.all_written),
            None => (None, HashSet::new(), false),
        };
        let group = Group {
            first_offset,
            last_offset: first_offset,
            replay_until,
            written_paths,
            all_written,
            buffers: PathMap::default(),
            memory: 0,
        };
        self.replaying += usize::from(replay_until.is_some());
        let replaced = self.groups.insert(sp, group);
        self.forget(replaced.as_ref());
    }

    /// Offers `record`, bound for partition path `path`, to its source
    /// partition's open group: it joins when the group may take it, with
    /// one lookup of the group and one of the path.
    pub(crate) fn offer(&mut self, sp: &SourcePartition, record: &Record, path: &str) -> Offer {
        let Some(group) = self.groups.get_mut(sp) else {
            return Offer::Open;
        };
        let offset = record.position.offset;
        if group.replay_until.is_some_and(|end| offset > end) {
            return Offer::Close;
        }
        let at_boundary = group.replay_until == Some(offset);
        if group.all_written || group.written_paths.contains(path) {
            group.last_offset = offset;
            return Offer::Joined { at_boundary };
        }
        let room = (self.encoding_room)(record.value.len() + 1);
        let memory = match group.buffers.get_mut(path) {
            Some(buffer)
                if group.replay_until.is_none() && self.rotation.is_full(buffer, record) =>
            {
                return Offer::Close;
            }
            Some(buffer) => buffer.push_counted(record),
            // The path is copied only for a new object.
            None => {
                let mut buffer = Buffer::default();
                let memory = buffer.push_counted(record);
                group.buffers.insert(path.to_owned(), buffer);
                memory
            }
        } + room;
        group.last_offset = offset;
        group.memory += memory;
        self.buffered_bytes += memory;
        self.peak_buffered_bytes = self.peak_buffered_bytes.max(self.buffered_bytes);
        Offer::Joined { at_boundary }
    }

    /// Adds a record to the group just opened (or to an open group it
    /// belongs in). True when the group has reached its recorded boundary
    /// and must be written now.
    pub(crate) fn join(&mut self, sp: &SourcePartition, record: &Record, path: &str) -> bool {
        match self.offer(sp, record, path) {
            Offer::Joined { at_boundary } => at_boundary,
            Offer::Open | Offer::Close => panic!("{sp}: no open group takes the record"),
        }
    }

    /// A record at `offset` of `sp` that is not routed (rejected): it
    /// belongs to the open group's range, or, with no group open, is done
    /// at once. Returns the offset to report durable at once, if any.
    pub(crate) fn pass_over(&mut self, sp: &SourcePartition, offset: i64) -> Option<i64> {
        match self.groups.get_mut(sp) {
            Some(group) => {
                group.last_offset = offset;
                None
            }
            None => Some(offset),
        }
    }

    /// Whether the memory held (by open groups and groups being written)
    /// is past the cap.
    pub(crate) fn is_over_budget(&self) -> bool {
        self.buffered_bytes > self.max_buffered_bytes
    }

    /// Past the memory cap: the group to write early (the largest one that
    /// may close now), if any.
    pub(crate) fn over_budget(&self) -> Option<SourcePartition> {
        if !self.is_over_budget() {
            return None;
        }
        self.groups
            .iter()
            .filter(|(_, g)| g.replay_until.is_none())
            .max_by_key(|(_, g)| g.memory)
            .map(|(sp, _)| sp.clone())
    }

    /// Open groups in partition order: those that may close now, and those
    /// held back because closing them would cut short a recorded boundary.
    pub(crate) fn flushable(&self) -> (Vec<SourcePartition>, Vec<(&SourcePartition, &Group)>) {
        let mut open: Vec<_> = self.groups.iter().collect();
        open.sort_by(|a, b| a.0.cmp(b.0));
        let (held, ready): (Vec<_>, Vec<_>) =
            open.into_iter().partition(|(_, g)| g.short_of_replay());
        (ready.into_iter().map(|(sp, _)| sp.clone()).collect(), held)
    }

    /// Takes a group out to write it; its memory (room for encoding it
    /// included) stays counted until [`written`](Self::written) (a group
    /// whose write failed stays with the driver for a retry).
    pub(crate) fn take(&mut self, sp: &SourcePartition) -> Option<Group> {
        let mut group = self.groups.remove(sp);
        self.forget(group.as_ref());
        for buffer in group.iter_mut().flat_map(|g| g.buffers.values_mut()) {
            buffer.seal();
        }
        group
    }

    /// A group left the open ones: it no longer counts as replaying.
    fn forget(&mut self, group: Option<&Group>) {
        if group.is_some_and(|g| g.replay_until.is_some()) {
            self.replaying -= 1;
        }
    }

    /// A taken group is durable (or dropped): its memory is free.
    pub(crate) fn written(&mut self, group: &Group) {
        self.buffered_bytes -= group.memory;
    }

    /// Drops a revoked partition's group.
    pub(crate) fn discard(&mut self, sp: &SourcePartition) {
        if let Some(group) = self.take(sp) {
            self.buffered_bytes -= group.memory;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Position;

    fn record(partition: i32, offset: i64, index: &str) -> Record {
        Record::new(
            Position::new("t", partition, offset),
            format!(r#"{{"Index":"{index}","pad":"xxxxxxxxxx"}}"#),
        )
    }

    fn recorded(last_offset: i64, written_paths: &[&str]) -> Recorded {
        Recorded {
            last_offset,
            written_paths: written_paths.iter().map(|p| p.to_string()).collect(),
            all_written: false,
        }
    }

    fn batcher(max_records: usize, max_buffered_bytes: usize) -> Batcher {
        let rotation = Rotation {
            max_records,
            ..Rotation::default()
        };
        Batcher::new(rotation, max_buffered_bytes, Box::new(|_| 0))
    }

    /// Feeds records through the state machine as the sink does, writing a
    /// group whenever it says so; returns the groups written as
    /// (partition, first offset, boundary, paths).
    fn run(batcher: &mut Batcher, records: Vec<Record>) -> Vec<(i32, i64, i64, Vec<String>)> {
        let mut written = Vec::new();
        let mut write = |b: &mut Batcher, sp: &SourcePartition| {
            let group = b.take(sp).unwrap();
            b.written(&group);
            written.push((
                sp.partition,
                group.first_offset,
                group.boundary(),
                group
                    .objects()
                    .iter()
                    .map(|(path, _)| path.to_string())
                    .collect(),
            ));
        };
        for r in records {
            let sp = r.position.source_partition();
            let path = format!("index={}", &r.value[10..13].escape_ascii());
            let at_boundary = match batcher.offer(&sp, &r, &path) {
                Offer::Joined { at_boundary } => at_boundary,
                Offer::Open => {
                    batcher.open(sp.clone(), r.position.offset, None);
                    batcher.join(&sp, &r, &path)
                }
                Offer::Close => {
                    write(batcher, &sp);
                    batcher.open(sp.clone(), r.position.offset, None);
                    batcher.join(&sp, &r, &path)
                }
            };
            if at_boundary {
                write(batcher, &sp);
            }
            while let Some(sp) = batcher.over_budget() {
                write(batcher, &sp);
            }
        }
        written
    }

    #[test]
    fn a_partition_closes_all_its_objects_together_and_others_stay_open() {
        let mut b = batcher(2, 1 << 20);
        let records = vec![
            record(0, 0, "HSI"),
            record(0, 1, "NYA"),
            record(1, 0, "HSI"),
            record(0, 2, "NYA"),
            record(0, 3, "NYA"), // NYA of partition 0 is full: the whole group closes
            record(0, 4, "HSI"),
        ];
        let written = run(&mut b, records);
        assert_eq!(
            written,
            [(
                0,
                0,
                2,
                vec!["index=HSI".to_string(), "index=NYA".to_string()]
            )]
        );
        let (ready, held) = b.flushable();
        assert_eq!(
            ready,
            [SourcePartition::new("t", 0), SourcePartition::new("t", 1)]
        );
        assert!(held.is_empty());
    }

    #[test]
    fn buffered_records_are_copies_holding_no_share_of_the_records() {
        let mut b = batcher(100, 1 << 20);
        let sp = SourcePartition::new("t", 0);
        b.open(sp.clone(), 0, None);
        let records = [
            record(0, 0, "HSI"),
            record(0, 1, "NYA"),
            record(0, 2, "HSI"),
        ];
        let value = records[0].value.clone();
        for r in &records {
            assert!(matches!(b.offer(&sp, r, "index=x"), Offer::Joined { .. }));
        }
        drop(records);
        assert!(value.is_unique(), "only the copy in the buffer is left");
        assert_eq!(b.groups[&sp].buffers["index=x"].len(), 3);
    }

    #[test]
    fn a_recorded_boundary_is_adopted_exactly() {
        let mut b = batcher(100, 0);
        let sp = SourcePartition::new("t", 0);
        // An earlier run closed 10..=12 by the clock; the replay must too.
        let first = record(0, 10, "HSI");
        let Offer::Open = b.offer(&sp, &first, "index=HSI") else {
            panic!("no group is open");
        };
        b.open(sp.clone(), 10, Some(recorded(12, &[])));
        assert!(!b.join(&sp, &first, "index=HSI"));
        assert!(!b.join(&sp, &record(0, 11, "NYA"), "index=NYA"));
        // Flushing now would cut the recorded group short: held back.
        let (ready, held) = b.flushable();
        assert!(ready.is_empty() && held.len() == 1);
        // Over the memory cap, a replayed group is not a candidate either.
        assert!(b.buffered_bytes() > 0);
        assert_eq!(b.over_budget(), None);
        assert!(
            b.join(&sp, &record(0, 12, "HSI"), "index=HSI"),
            "closes at 12"
        );
        let group = b.take(&sp).unwrap();
        assert_eq!((group.first_offset, group.boundary()), (10, 12));
        // A record past a boundary that was never reached closes it first.
        b.open(sp.clone(), 13, Some(recorded(14, &[])));
        assert!(b.ends_before(&sp, 15) && !b.ends_before(&sp, 14));
        let before = b.buffered_bytes();
        let offered = b.offer(&sp, &record(0, 15, "HSI"), "index=HSI");
        assert!(matches!(offered, Offer::Close), "{offered:?}");
        assert_eq!(b.buffered_bytes(), before, "the record did not join");
        b.take(&sp);
        assert!(!b.ends_before(&sp, 15), "no group is open");
    }

    #[test]
    fn a_range_the_table_holds_is_passed_over_whole() {
        let mut b = batcher(100, 0);
        let sp = SourcePartition::new("t", 0);
        let all_in_table = Recorded {
            all_written: true,
            ..recorded(11, &[])
        };
        b.open(sp.clone(), 10, Some(all_in_table));
        assert!(!b.join(&sp, &record(0, 10, "HSI"), "index=HSI"));
        assert!(b.join(&sp, &record(0, 11, "NYA"), "index=NYA"));
        assert_eq!(b.buffered_bytes(), 0, "nothing is buffered again");
        let group = b.take(&sp).unwrap();
        assert!(group.buffers.is_empty());
        assert_eq!(group.boundary(), 11);
    }

    #[test]
    fn memory_pressure_writes_the_largest_group_early() {
        // What the first and the second record of an object's buffer add
        // (its lines and slot list grow in steps).
        let mut buffer = Buffer::default();
        let first = buffer.push_counted(&record(0, 0, "HSI"));
        let second = buffer.push_counted(&record(0, 1, "HSI"));
        let mut b = batcher(100, 2 * first + second);
        let records = vec![
            record(0, 0, "HSI"),
            record(1, 0, "HSI"),
            record(0, 1, "HSI"),
            record(0, 2, "NYA"), // 4 records buffered: over the cap of 3
            record(1, 1, "HSI"),
        ];
        let written = run(&mut b, records);
        assert_eq!(
            written,
            [(
                0,
                0,
                2,
                vec!["index=HSI".to_string(), "index=NYA".to_string()]
            )]
        );
        assert_eq!(b.buffered_bytes(), first + second);
    }

    #[test]
    fn each_record_counts_room_for_encoding_it() {
        let rotation = Rotation::default();
        let mut b = Batcher::new(rotation, 1 << 20, Box::new(|bytes| 2 * bytes));
        let mut plain = batcher(100, 1 << 20);
        let sp = SourcePartition::new("t", 0);
        b.open(sp.clone(), 0, None);
        plain.open(sp.clone(), 0, None);
        let records = [record(0, 0, "HSI"), record(0, 1, "NYA")];
        let values: usize = records.iter().map(|r| r.value.len() + 1).sum();
        for r in records {
            let path = format!("index={}", &r.value[10..13].escape_ascii());
            plain.join(&sp, &r, &path);
            b.join(&sp, &r, &path);
        }
        assert_eq!(b.buffered_bytes(), plain.buffered_bytes() + 2 * values);
        let group = b.take(&sp).unwrap();
        assert_eq!(b.buffered_bytes(), group.memory, "counted until written");
        b.written(&group);
        assert_eq!(b.buffered_bytes(), 0);
        assert_eq!(b.peak_buffered_bytes(), group.memory, "the peak stays");
    }

    #[test]
    fn rejected_records_extend_the_open_group_or_are_done_at_once() {
        let mut b = batcher(100, 1 << 20);
        let sp = SourcePartition::new("t", 0);
        assert_eq!(b.pass_over(&sp, 0), Some(0));
        b.open(sp.clone(), 1, None);
        b.join(&sp, &record(0, 1, "HSI"), "index=HSI");
        assert_eq!(b.pass_over(&sp, 2), None);
        assert_eq!(b.take(&sp).unwrap().boundary(), 2);
    }

    #[test]
    fn records_of_objects_already_written_are_passed_over() {
        let mut b = batcher(1000, 1 << 20);
        let sp = SourcePartition::new("t", 0);
        b.open(sp.clone(), 0, Some(recorded(2, &["index=HSI"])));
        assert!(!b.join(&sp, &record(0, 0, "HSI"), "index=HSI"));
        assert_eq!(b.buffered_bytes(), 0, "its object is in the lake");
        assert!(!b.join(&sp, &record(0, 1, "NYA"), "index=NYA"));
        assert!(b.buffered_bytes() > 0, "its object is missing");
        assert!(b.join(&sp, &record(0, 2, "HSI"), "index=HSI"), "boundary");
        let group = b.take(&sp).unwrap();
        let paths: Vec<_> = group.objects().iter().map(|(path, _)| *path).collect();
        assert_eq!(paths, ["index=NYA"]);
        assert_eq!((group.first_offset, group.boundary()), (0, 2));
    }
}
