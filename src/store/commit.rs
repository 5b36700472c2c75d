//! The commit stage: what makes a closed group durable. [`HiveObjects`]
//! creates a group marker, then the group's objects, each with a
//! conditional put. A table format replaces this step (data files, then
//! one commit to the table's log) and reuses routing, rotation and
//! encoding as they are.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;

use super::batch::Group;
use super::builder::SinkSettings;
use super::keys::{marker_key, object_key};
use super::marker::{self, GroupMarker, MarkerObject};
use super::objects::encode_group;
use super::upload::{PutOutcome, put_new};
use crate::error::{Error, Result};
use crate::record::SourcePartition;
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
    ) -> Result<Option<i64>>;

    /// Encodes and writes `group`; records the encoder refuses go to
    /// `refused`. Durable once this returns `Ok`.
    async fn commit(
        &self,
        sp: &SourcePartition,
        group: &Group,
        refused: &mut Vec<Rejected>,
    ) -> Result<Written>;
}

/// Objects of one group uploaded at once.
const UPLOADS_IN_FLIGHT: usize = 8;

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

    /// The object keys the marker of a group records, by partition path.
    async fn recorded_keys(
        &self,
        sp: &SourcePartition,
        first_offset: i64,
    ) -> Result<HashMap<String, Path>> {
        let s = &self.settings;
        let key = marker_key(&s.lake, &s.table, sp, first_offset);
        let Some(marker) = marker::read(&s.lake, &key).await? else {
            return Ok(HashMap::new());
        };
        let table = format!("{}/", s.lake.key([s.table.as_str()]));
        Ok(marker
            .objects
            .iter()
            .filter_map(|o| {
                let rest = o.key.strip_prefix(&table)?;
                let path = rest.rsplit_once('/').map_or("", |(path, _)| path);
                Some((path.to_string(), Path::parse(&o.key).ok()?))
            })
            .collect())
    }
}

#[async_trait]
impl CommitStep for HiveObjects {
    async fn recorded_boundary(
        &self,
        sp: &SourcePartition,
        first_offset: i64,
    ) -> Result<Option<i64>> {
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
                tracing::info!(
                    "{sp}: replaying the object group {first_offset}..={} written before a restart",
                    m.last_offset
                );
                Ok(Some(m.last_offset))
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
        // A group whose records were all refused still gets its marker: a
        // replay must meet the same boundary.
        let objects = encode_group(s, group, refused)?;
        let extension = s.extension();
        // A replay names its objects as the run that wrote the marker did
        // (lakes written before a naming change keep their keys).
        let recorded = match group.replay_until {
            Some(_) => self.recorded_keys(sp, group.first_offset).await?,
            None => HashMap::new(),
        };
        let keyed: Vec<_> = objects
            .into_iter()
            .map(|o| {
                let key = recorded.get(&o.path).cloned().unwrap_or_else(|| {
                    object_key(&s.lake, &s.table, &o.path, sp, o.first_offset, &extension)
                });
                (key, o)
            })
            .collect();
        let marker = GroupMarker {
            stream: sp.stream.to_string(),
            partition: sp.partition,
            first_offset: group.first_offset,
            last_offset: written.last_offset,
            objects: keyed
                .iter()
                .map(|(key, o)| MarkerObject {
                    key: key.to_string(),
                    records: o.records,
                })
                .collect(),
        };
        let key = marker_key(&s.lake, &s.table, sp, group.first_offset);
        marker::create(&s.lake, &key, &marker).await?;
        // The group's objects go up concurrently (a few at a time); the
        // group counts as durable only once all of them are in the lake.
        let lake = &s.lake;
        let mut uploads = futures::stream::iter(keyed)
            .map(|(key, object)| async move {
                if put_new(lake, &key, object.bytes.clone()).await? == PutOutcome::Identical {
                    tracing::debug!("{key}: already in the lake with identical content");
                }
                Ok::<_, Error>(object)
            })
            .buffer_unordered(UPLOADS_IN_FLIGHT);
        while let Some(object) = uploads.try_next().await? {
            written.objects += 1;
            written.bytes += object.bytes.len() as u64;
            written.records += object.records as u64;
        }
        Ok(written)
    }
}
