//! [`LakeSink`]: buffers records per source partition and partition path,
//! and writes each closed group of objects atomically and idempotently.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};

use super::LakeSinkBuilder;
use super::keys::{marker_key, object_key};
use super::marker::{self, GroupMarker, MarkerObject};
use super::partition::PartitionTemplate;
use super::rotation::{Buffer, Rotation};
use super::upload::{PutOutcome, put_new};
use crate::encode::{Compression, Encoder};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::record::{Position, Record, SourcePartition};
use crate::rejected::Rejected;
use crate::sink::{DurablePositions, RecordSink, SinkStats};
use crate::value::JsonFields;

/// Writes records into a lake as partitioned, rotated, encoded objects.
///
/// Invariants it keeps (see DESIGN.md):
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
    lake: Lake,
    table: String,
    template: PartitionTemplate,
    encoder: Arc<dyn Encoder>,
    compression: Compression,
    extension: String,
    rotation: Rotation,
    max_buffered_bytes: usize,
    groups: HashMap<SourcePartition, Group>,
    buffered_bytes: usize,
    durable: DurablePositions,
    stats: SinkStats,
}

pub(super) struct Parts {
    pub(super) lake: Lake,
    pub(super) table: String,
    pub(super) template: PartitionTemplate,
    pub(super) encoder: Arc<dyn Encoder>,
    pub(super) compression: Compression,
    pub(super) extension: String,
    pub(super) rotation: Rotation,
    pub(super) max_buffered_bytes: usize,
}

/// The open objects of one source partition, closed together.
#[derive(Debug)]
struct Group {
    first_offset: i64,
    last_offset: i64,
    /// Boundary adopted from an existing marker: close exactly here.
    replay_until: Option<i64>,
    buffers: BTreeMap<String, Buffer>,
    memory: usize,
}

/// Objects of one group uploaded at once.
const UPLOADS_IN_FLIGHT: usize = 8;

struct EncodedObject {
    key: object_store::path::Path,
    bytes: Bytes,
    records: usize,
}

impl LakeSink {
    /// Options for a sink writing into `lake`.
    pub fn builder(lake: Lake) -> LakeSinkBuilder {
        LakeSinkBuilder::new(lake)
    }

    pub(super) fn from_parts(p: Parts) -> Self {
        Self {
            lake: p.lake,
            table: p.table,
            template: p.template,
            encoder: p.encoder,
            compression: p.compression,
            extension: p.extension,
            rotation: p.rotation,
            max_buffered_bytes: p.max_buffered_bytes,
            groups: HashMap::new(),
            buffered_bytes: 0,
            durable: DurablePositions::default(),
            stats: SinkStats::default(),
        }
    }

    /// The lake this sink writes into.
    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// Memory held by open objects now.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    async fn accept(&mut self, record: Record, rejected: &mut Vec<Rejected>) -> Result<()> {
        let sp = record.position.source_partition();
        let offset = record.position.offset;
        if let Some(end) = self.groups.get(&sp).and_then(|g| g.replay_until) {
            if offset > end {
                self.close_group(&sp, rejected).await?;
            }
        }
        let path = match JsonFields::parse(&record.value)
            .and_then(|fields| self.template.render(&fields, record.timestamp))
        {
            Ok(path) => path,
            Err(reason) => {
                match self.groups.get_mut(&sp) {
                    Some(group) => group.last_offset = offset,
                    None => {
                        self.durable.advance(sp, offset);
                    }
                }
                rejected.push(Rejected::new(record.position, record.value, reason));
                return Ok(());
            }
        };
        let full = self.groups.get(&sp).is_some_and(|g| {
            g.replay_until.is_none()
                && g.buffers
                    .get(&path)
                    .is_some_and(|b| self.rotation.is_full(b, &record))
        });
        if full {
            self.close_group(&sp, rejected).await?;
        }
        if !self.groups.contains_key(&sp) {
            let group = self.open_group(&sp, offset).await?;
            self.groups.insert(sp.clone(), group);
        }
        let group = self.groups.get_mut(&sp).expect("group was just opened");
        let memory = record.size_hint();
        group.memory += memory;
        group.last_offset = offset;
        group.buffers.entry(path).or_default().push(record);
        self.buffered_bytes += memory;
        if group.replay_until == Some(offset) {
            self.close_group(&sp, rejected).await?;
        }
        while self.buffered_bytes > self.max_buffered_bytes {
            let Some(largest) = self
                .groups
                .iter()
                .filter(|(_, g)| g.replay_until.is_none())
                .max_by_key(|(_, g)| g.memory)
                .map(|(sp, _)| sp.clone())
            else {
                break;
            };
            self.close_group(&largest, rejected).await?;
        }
        Ok(())
    }

    /// Starts a group at `offset`, adopting the boundary of a group a
    /// previous run already started there.
    async fn open_group(&self, sp: &SourcePartition, offset: i64) -> Result<Group> {
        let key = marker_key(&self.lake, &self.table, sp, offset);
        let replay_until = match marker::read(self.lake.store().as_ref(), &key).await? {
            Some(m) if m.last_offset < offset => {
                return Err(Error::Conflict {
                    key: key.to_string(),
                    reason: format!(
                        "marker ends at {} before it starts at {offset}",
                        m.last_offset
                    ),
                });
            }
            Some(m) => {
                tracing::info!(
                    "{sp}: replaying the object group {offset}..={} written before a restart",
                    m.last_offset
                );
                Some(m.last_offset)
            }
            None => None,
        };
        Ok(Group {
            first_offset: offset,
            last_offset: offset,
            replay_until,
            buffers: BTreeMap::new(),
            memory: 0,
        })
    }

    /// Writes the group's objects (marker first) and marks it durable. If
    /// writing fails the group stays buffered, so a retry loses nothing.
    async fn close_group(
        &mut self,
        sp: &SourcePartition,
        rejected: &mut Vec<Rejected>,
    ) -> Result<()> {
        let Some(group) = self.groups.remove(sp) else {
            return Ok(());
        };
        let mut refused = Vec::new();
        match self.write_group(sp, &group, &mut refused).await {
            Ok(last_offset) => {
                self.buffered_bytes -= group.memory;
                self.durable.advance(sp.clone(), last_offset);
                rejected.append(&mut refused);
                Ok(())
            }
            Err(e) => {
                self.groups.insert(sp.clone(), group);
                Err(e)
            }
        }
    }

    async fn write_group(
        &mut self,
        sp: &SourcePartition,
        group: &Group,
        rejected: &mut Vec<Rejected>,
    ) -> Result<i64> {
        let last_offset = group.replay_until.unwrap_or(group.last_offset);
        let mut objects = Vec::with_capacity(group.buffers.len());
        for (path, buffer) in &group.buffers {
            if let Some(object) = self.encode_object(sp, path, &buffer.records, rejected)? {
                objects.push(object);
            }
        }
        if objects.is_empty() {
            return Ok(last_offset);
        }
        let marker = GroupMarker {
            stream: sp.stream.to_string(),
            partition: sp.partition,
            first_offset: group.first_offset,
            last_offset,
            objects: objects
                .iter()
                .map(|o| MarkerObject {
                    key: o.key.to_string(),
                    records: o.records,
                })
                .collect(),
        };
        let key = marker_key(&self.lake, &self.table, sp, group.first_offset);
        marker::create(&self.lake, &key, &marker).await?;
        // The group's objects go up concurrently (a few at a time); the
        // group counts as durable only once all of them are in the lake.
        let lake = &self.lake;
        let mut uploads = futures::stream::iter(objects)
            .map(|object| async move {
                let outcome = put_new(lake, &object.key, object.bytes.clone()).await?;
                if outcome == PutOutcome::Identical {
                    tracing::debug!("{}: already in the lake with identical content", object.key);
                }
                Ok::<_, Error>(object)
            })
            .buffer_unordered(UPLOADS_IN_FLIGHT);
        while let Some(object) = uploads.try_next().await? {
            self.stats.objects += 1;
            self.stats.bytes += object.bytes.len() as u64;
            self.stats.records += object.records as u64;
        }
        Ok(last_offset)
    }

    /// Encodes one object, handing back records the encoder refuses.
    fn encode_object(
        &self,
        sp: &SourcePartition,
        path: &str,
        records: &[Record],
        rejected: &mut Vec<Rejected>,
    ) -> Result<Option<EncodedObject>> {
        let mut records = Cow::Borrowed(records);
        let mut encoded = BytesMut::with_capacity(records.iter().map(|r| r.value.len() + 1).sum());
        while let Err(e) = self.encoder.encode(&records, &mut encoded) {
            encoded.clear();
            let bad = records.to_mut().remove(e.index);
            rejected.push(Rejected::new(bad.position, bad.value, e.reason));
        }
        let Some(first) = records.first() else {
            return Ok(None);
        };
        let key = object_key(
            &self.lake,
            &self.table,
            path,
            sp,
            first.position.offset,
            &self.extension,
        );
        let bytes = if self.compression == Compression::None {
            encoded.freeze()
        } else {
            let mut compressed = BytesMut::with_capacity(encoded.len() / 4);
            self.compression
                .compress(&encoded, &mut compressed)
                .map_err(|e| Error::io(format!("compressing {key}"), e))?;
            compressed.freeze()
        };
        Ok(Some(EncodedObject {
            key,
            bytes,
            records: records.len(),
        }))
    }
}

#[async_trait]
impl RecordSink for LakeSink {
    async fn write(&mut self, records: Vec<Record>) -> Result<Vec<Rejected>> {
        let mut rejected = Vec::new();
        for record in records {
            self.accept(record, &mut rejected).await?;
        }
        Ok(rejected)
    }

    async fn flush(&mut self) -> Result<Vec<Rejected>> {
        let mut rejected = Vec::new();
        let mut open: Vec<_> = self.groups.keys().cloned().collect();
        open.sort();
        for sp in open {
            let group = &self.groups[&sp];
            if let Some(end) = group.replay_until.filter(|end| group.last_offset < *end) {
                // Closing now would make a boundary the earlier run did not
                // make; wait for the records up to the recorded one.
                tracing::warn!(
                    "{sp}: not flushing offsets {}..={}: the lake holds a group up to {end}",
                    group.first_offset,
                    group.last_offset
                );
                continue;
            }
            self.close_group(&sp, &mut rejected).await?;
        }
        Ok(rejected)
    }

    fn take_durable(&mut self) -> Vec<Position> {
        self.durable.take()
    }

    async fn discard(&mut self, partitions: &[SourcePartition]) -> Result<()> {
        for sp in partitions {
            if let Some(group) = self.groups.remove(sp) {
                self.buffered_bytes -= group.memory;
            }
            self.durable.forget(std::slice::from_ref(sp));
        }
        Ok(())
    }

    fn stats(&self) -> SinkStats {
        self.stats
    }
}
