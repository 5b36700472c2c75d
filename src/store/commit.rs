//! The commit stage: what makes a closed group durable. [`HiveObjects`]
//! creates a group marker, then the group's objects, each with a
//! conditional put. A table format replaces this step (data files, then
//! one commit to the table's log) and reuses routing, rotation and
//! encoding as they are.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use object_store::ObjectStoreExt;
use object_store::path::Path;

use super::batch::Group;
use super::builder::SinkSettings;
use super::keys::{marker_key, object_key};
use super::marker::{self, GroupMarker, MarkerObject};
use super::objects::{EncodedObject, encode_group};
use super::upload::put_all_new;
use crate::error::{Error, Result};
use crate::record::{Position, SourcePartition};
use crate::rejected::Rejected;

/// What committing one group wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Written {
    /// The last source offset the group covers: durable now.
    pub(crate) last_offset: i64,
    pub(crate) objects: u64,
    pub(crate) bytes: u64,
    pub(crate) records: u64,
}

/// The group an earlier run started at the same offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Recorded {
    /// Where it ended: the replay closes exactly there.
    pub(crate) last_offset: i64,
    /// Partition paths whose objects are in the lake: the replay passes
    /// over their records without buffering or writing them (empty when
    /// the marker does not say that the encoder refused none of the
    /// group's records, so that every refused record meets the policy).
    pub(crate) written_paths: HashSet<String>,
    /// Every record up to `last_offset` is in the lake already (a table
    /// whose log holds the source position): the replay passes over them
    /// all and writes nothing.
    pub(crate) all_written: bool,
}

/// Makes closed groups durable.
#[async_trait]
pub(crate) trait CommitStep: Send + Sync + fmt::Debug {
    /// The boundary an earlier run recorded for a group of `sp` starting at
    /// `first_offset`, which a replay must adopt; `None` when there is none
    /// (or when the step needs no reproducible boundaries).
    async fn recorded_boundary(
        &self,
        sp: &SourcePartition,
        first_offset: i64,
    ) -> Result<Option<Recorded>>;

    /// Whether a group can have a recorded boundary when it starts right
    /// after the group of its partition this sink closed last. Group
    /// markers can (a replay meets an earlier run's groups one after
    /// another); a table's log, which records only how far each partition
    /// is, cannot: a replay passes over all it holds at once, and a commit
    /// of another writer's offsets is refused when this sink commits.
    fn records_every_group(&self) -> bool {
        true
    }

    /// The last offsets of `partitions` that earlier runs made durable,
    /// when this step records source positions itself (a table's log);
    /// none otherwise.
    async fn durable_positions(&self, partitions: &[SourcePartition]) -> Result<Vec<Position>> {
        let _ = partitions;
        Ok(Vec::new())
    }

    /// Encodes and writes `group`; records the encoder refuses go to
    /// `refused`. Durable once this returns `Ok`.
    async fn commit(
        &self,
        sp: &SourcePartition,
        group: &Group,
        refused: &mut Vec<Rejected>,
    ) -> Result<Written>;
}

/// Loose objects under Hive partition paths, each group announced by a
/// marker so that a replay rewrites exactly the same objects.
#[derive(Debug)]
pub(crate) struct HiveObjects {
    settings: Arc<SinkSettings>,
}

impl HiveObjects {
    pub(crate) fn new(settings: Arc<SinkSettings>) -> Self {
        Self { settings }
    }

    /// The partition paths whose objects (as a marker names them) are in
    /// the lake.
    async fn written_paths(&self, marker: &GroupMarker) -> Result<HashSet<String>> {
        let lake = &self.settings.lake;
        let mut written = HashSet::new();
        if marker.refused != Some(0) {
            return Ok(written);
        }
        for (path, key) in self.recorded_keys(marker) {
            match lake.store().head(&key).await {
                Ok(_) => written.insert(path),
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(lake.store_error("head", &key, e)),
            };
        }
        Ok(written)
    }

    /// The object keys a marker records, by partition path.
    fn recorded_keys(&self, marker: &GroupMarker) -> HashMap<String, Path> {
        let s = &self.settings;
        let table = format!("{}/", s.lake.key([s.table.as_str()]));
        marker
            .objects
            .iter()
            .filter_map(|o| {
                let rest = o.key.strip_prefix(&table)?;
                let path = rest.rsplit_once('/').map_or("", |(path, _)| path);
                Some((path.to_string(), Path::parse(&o.key).ok()?))
            })
            .collect()
    }
}

#[async_trait]
impl CommitStep for HiveObjects {
    async fn recorded_boundary(
        &self,
        sp: &SourcePartition,
        first_offset: i64,
    ) -> Result<Option<Recorded>> {
        let s = &self.settings;
        let key = marker_key(&s.lake, &s.table, sp, first_offset);
        match marker::read(&s.lake, &key).await? {
            Some(m) if m.last_offset < first_offset => Err(Error::Conflict {
                key: key.to_string(),
                reason: format!(
                    "marker ends at {} before it starts at {first_offset}",
                    m.last_offset
                ),
            }),
            Some(m) => {
                let written_paths = self.written_paths(&m).await?;
                tracing::info!(
                    "{sp}: replaying the object group {first_offset}..={} written before a \
                     restart ({} of its {} objects are in the lake)",
                    m.last_offset,
                    written_paths.len(),
                    m.objects.len()
                );
                Ok(Some(Recorded {
                    last_offset: m.last_offset,
                    written_paths,
                    all_written: false,
                }))
            }
            None => Ok(None),
        }
    }

    async fn commit(
        &self,
        sp: &SourcePartition,
        group: &Group,
        refused: &mut Vec<Rejected>,
    ) -> Result<Written> {
        let s = &self.settings;
        let mut written = Written {
            last_offset: group.boundary(),
            ..Written::default()
        };
        if group.replay_until.is_some() && group.buffers.is_empty() {
            // A replayed group whose objects are all in the lake.
            return Ok(written);
        }
        // A group whose records were all refused still gets its marker: a
        // replay must meet the same boundary.
        let refused_before = refused.len();
        let objects = encode_group(s, group, refused)?;
        let extension = s.extension();
        let key = marker_key(&s.lake, &s.table, sp, group.first_offset);
        // A replay names its objects as the run that wrote the marker did
        // (lakes written before a naming change keep their keys), and
        // keeps that marker.
        let existing = match group.replay_until {
            Some(_) => marker::read(&s.lake, &key).await?,
            None => None,
        };
        let recorded = existing
            .as_ref()
            .map(|m| self.recorded_keys(m))
            .unwrap_or_default();
        let keyed: Vec<_> = objects
            .into_iter()
            .map(|o| {
                let key = recorded.get(&o.path).cloned().unwrap_or_else(|| {
                    object_key(&s.lake, &s.table, &o.path, sp, o.first_offset, &extension)
                });
                (key, o)
            })
            .collect();
        if existing.is_none() {
            let refused = refused.len() - refused_before;
            let marker = new_marker(sp, group, &keyed, refused);
            marker::create(&s.lake, &key, &marker).await?;
        }
        // The group's objects go up concurrently (a few at a time); the
        // group counts as durable only once all of them are in the lake.
        let uploads = keyed.into_iter().map(|(key, o)| (key, o.bytes.clone(), o));
        for object in put_all_new(&s.lake, uploads).await? {
            written.objects += 1;
            written.bytes += object.bytes.content_length() as u64;
            written.records += object.records as u64;
        }
        Ok(written)
    }
}

/// The marker of a group about to be written as `keyed` objects.
fn new_marker(
    sp: &SourcePartition,
    group: &Group,
    keyed: &[(Path, EncodedObject)],
    refused: usize,
) -> GroupMarker {
    GroupMarker {
        stream: sp.stream.to_string(),
        partition: sp.partition,
        first_offset: group.first_offset,
        last_offset: group.boundary(),
        objects: keyed
            .iter()
            .map(|(key, o)| MarkerObject {
                key: key.to_string(),
                records: o.records,
            })
            .collect(),
        refused: Some(refused),
    }
}
