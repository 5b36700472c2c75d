//! Registrations still owed, recorded in the lake under
//! `_streamlake/glue/{database}/`: written when the Data Catalog could not
//! be reached within the commit timeout (the group's offsets are then
//! committed, so a replay would not land it again), read back and
//! registered on the next start, deleted once registered. One small
//! object per late group; none while Glue answers.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::store::Landed;

/// One landed group whose partitions are not registered yet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(super) struct Owed {
    /// The table's directory in the lake.
    pub(super) table: String,
    /// Its partition paths holding the group's objects.
    pub(super) partition_paths: Vec<String>,
    /// The group's last position, for the log.
    pub(super) position: String,
}

/// The lake's record of owed registrations for one database.
#[derive(Clone, Debug)]
pub(super) struct Journal {
    lake: Lake,
    prefix: String,
}

impl Journal {
    pub(super) fn new(lake: Lake, database: &str) -> Self {
        Self {
            lake,
            prefix: format!("_streamlake/glue/{database}"),
        }
    }

    /// Records `landed` as owed; returns where.
    pub(super) async fn write(&self, landed: &Landed) -> Result<Path> {
        let owed = Owed {
            table: landed.table.clone(),
            partition_paths: landed.partition_paths.clone(),
            position: landed.position.to_string(),
        };
        let mut hasher = DefaultHasher::new();
        owed.hash(&mut hasher);
        let safe: String = owed
            .position
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(100)
            .collect();
        let path = self.lake.path(&format!(
            "{}/{safe}-{:016x}.json",
            self.prefix,
            hasher.finish()
        ));
        let body = serde_json::to_vec(&owed).expect("an owed registration serializes");
        self.lake
            .store()
            .put(&path, PutPayload::from(body))
            .await
            .map_err(|e| self.lake.scrub(Error::store("put", &path, e)))?;
        Ok(path)
    }

    /// Every owed registration, with where it is recorded.
    pub(super) async fn owed(&self) -> Result<Vec<(Path, Owed)>> {
        let store = self.lake.store();
        let prefix = self.lake.path(&self.prefix);
        let listed: Vec<_> = store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.lake.scrub(Error::store("list", &prefix, e)))?;
        let mut out = Vec::with_capacity(listed.len());
        for meta in listed {
            let scrub = |e| self.lake.scrub(Error::store("get", &meta.location, e));
            let got = store.get(&meta.location).await.map_err(scrub)?;
            let bytes = got.bytes().await.map_err(scrub)?;
            let owed: Owed = serde_json::from_slice(&bytes).map_err(|e| {
                Error::Config(format!(
                    "{} is not an owed registration: {e}",
                    meta.location
                ))
            })?;
            out.push((meta.location, owed));
        }
        Ok(out)
    }

    /// The registration recorded at `path` was made.
    pub(super) async fn settle(&self, path: &Path) -> Result<()> {
        match self.lake.store().delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.lake.scrub(Error::store("delete", path, e))),
        }
    }
}
