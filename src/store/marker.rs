//! Group markers: the recorded boundary of each group of objects.
//!
//! A source partition's open objects are closed together as a group. Before
//! its objects are written, the group's marker is created with a
//! conditional put, naming the group's first and last offset and its
//! objects. On replay after a crash, a group that starts at an offset with a
//! marker adopts the marker's last offset as its boundary, even when the
//! first run closed the group by the clock (idle timeout, shutdown) or
//! under memory pressure: the replay rewrites exactly the same objects.

use bytes::Bytes;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use super::upload::put_new;
use crate::error::{Error, Result};
use crate::lake::Lake;

/// What a marker records about one group of objects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GroupMarker {
    pub(crate) stream: String,
    pub(crate) partition: i32,
    pub(crate) first_offset: i64,
    pub(crate) last_offset: i64,
    pub(crate) objects: Vec<MarkerObject>,
    /// How many of the group's records the encoder refused (absent in
    /// markers written before 0.3): a replay passes over a group only when
    /// it knows none were, so no refused record misses the bad-input policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refused: Option<usize>,
}

/// One object of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MarkerObject {
    pub(crate) key: String,
    pub(crate) records: usize,
}

/// The marker at `key`, if there is one.
pub(crate) async fn read(lake: &Lake, key: &Path) -> Result<Option<GroupMarker>> {
    let bytes = match lake.store().get(key).await {
        Ok(got) => got
            .bytes()
            .await
            .map_err(|e| lake.store_error("get", key, e))?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(lake.store_error("get", key, e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::Corrupt {
            what: format!("group marker {key}"),
            reason: e.to_string(),
        })
}

/// Creates the marker, or accepts an identical one already there.
pub(crate) async fn create(lake: &Lake, key: &Path, marker: &GroupMarker) -> Result<()> {
    let bytes = Bytes::from(serde_json::to_vec(marker).expect("marker serializes"));
    put_new(lake, key, bytes).await.map(|_| ())
}
