//! Creating objects that must not overwrite anything.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::error::{Error, Result};
use crate::format::Compression;
use crate::lake::Lake;

/// How [`put_new`] succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PutOutcome {
    /// The object did not exist and now does.
    Created,
    /// The object existed with exactly these bytes (a replay).
    Identical,
}

static WARNED_NO_CONDITIONAL_PUT: AtomicBool = AtomicBool::new(false);

/// Parts of one multipart upload in flight at once.
const PARTS_IN_FLIGHT: usize = 4;

/// Creates `key` with `bytes` using a conditional put (`If-None-Match: *`
/// on S3, a hard link on a local directory), so a finished object is never
/// overwritten. An existing object with identical bytes counts as success;
/// one with different bytes is a [`Error::Conflict`].
///
/// Stores without conditional writes fall back to check-then-put, which a
/// concurrent writer can race: there the lake is at-least-once. So do
/// objects above the lake's part size, which go up as multipart uploads
/// (object_store's multipart API has no conditional mode).
pub(crate) async fn put_new(lake: &Lake, key: &Path, bytes: Bytes) -> Result<PutOutcome> {
    let store = lake.store().as_ref();
    if let Some(part_size) = lake.part_size().filter(|size| bytes.len() > *size) {
        return put_new_multipart(store, key, bytes, part_size).await;
    }
    let options = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    match store
        .put_opts(key, PutPayload::from(bytes.clone()), options)
        .await
    {
        Ok(_) => Ok(PutOutcome::Created),
        Err(
            object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. },
        ) => compare_existing(store, key, &bytes).await,
        Err(object_store::Error::NotImplemented { .. }) => {
            if !WARNED_NO_CONDITIONAL_PUT.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "object store {store} has no conditional put: objects are checked, then \
                     written, and a concurrent writer can race (at-least-once)"
                );
            }
            match store.head(key).await {
                Ok(_) => compare_existing(store, key, &bytes).await,
                Err(object_store::Error::NotFound { .. }) => {
                    store
                        .put(key, PutPayload::from(bytes))
                        .await
                        .map_err(|e| Error::store("put", key, e))?;
                    Ok(PutOutcome::Created)
                }
                Err(e) => Err(Error::store("head", key, e)),
            }
        }
        Err(e) => Err(Error::store("put", key, e)),
    }
}

/// Check-then-upload in parts: an existing object is compared as in
/// [`put_new`]; otherwise the parts go up, a few at a time, and a failed
/// upload is aborted so no orphaned parts are left behind.
async fn put_new_multipart(
    store: &dyn ObjectStore,
    key: &Path,
    bytes: Bytes,
    part_size: usize,
) -> Result<PutOutcome> {
    match store.head(key).await {
        Ok(_) => return compare_existing(store, key, &bytes).await,
        Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(Error::store("head", key, e)),
    }
    let mut upload = store
        .put_multipart(key)
        .await
        .map_err(|e| Error::store("multipart upload", key, e))?;
    let parts: Vec<_> = (0..bytes.len())
        .step_by(part_size)
        .map(|start| {
            let part = bytes.slice(start..(start + part_size).min(bytes.len()));
            upload.put_part(PutPayload::from(part))
        })
        .collect();
    let uploaded = futures::stream::iter(parts)
        .buffer_unordered(PARTS_IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await;
    let completed = match uploaded {
        Ok(_) => upload.complete().await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = completed {
        if let Err(abort) = upload.abort().await {
            tracing::warn!("{key}: aborting the failed multipart upload failed too: {abort}");
        }
        return Err(Error::store("multipart upload", key, e));
    }
    Ok(PutOutcome::Created)
}

/// A compressed object written by another build (another compressor
/// version) differs in bytes but not in content; that is still a replay.
fn same_after_decompression(key: &Path, a: &[u8], b: &[u8]) -> bool {
    let compression = Compression::from_file_name(key.as_ref());
    compression != Compression::None
        && matches!(
            (compression.decompress(a), compression.decompress(b)),
            (Ok(a), Ok(b)) if a == b
        )
}

async fn compare_existing(store: &dyn ObjectStore, key: &Path, bytes: &[u8]) -> Result<PutOutcome> {
    let existing = store
        .get(key)
        .await
        .map_err(|e| Error::store("get", key, e))?
        .bytes()
        .await
        .map_err(|e| Error::store("get", key, e))?;
    if existing == bytes || same_after_decompression(key, &existing, bytes) {
        Ok(PutOutcome::Identical)
    } else {
        Err(Error::Conflict {
            key: key.to_string(),
            reason: format!(
                "an object with different content ({} bytes, this writer has {}) already exists: \
                 another writer is active on the same source partition, or the source changed",
                existing.len(),
                bytes.len()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;

    fn gzip(level: u32, text: &[u8]) -> Bytes {
        let mut out = BytesMut::new();
        Compression::Gzip(level).compress(text, &mut out).unwrap();
        out.freeze()
    }

    #[tokio::test]
    async fn replays_compare_content_not_compressor_output() {
        let store = Lake::memory();
        let key = Path::from("t/a.jsonl.gz");
        let text = b"{\"a\":1}\n".repeat(500);
        assert_eq!(
            put_new(&store, &key, gzip(1, &text)).await.unwrap(),
            PutOutcome::Created
        );
        let other_build = gzip(9, &text);
        assert_ne!(other_build, gzip(1, &text));
        assert_eq!(
            put_new(&store, &key, other_build).await.unwrap(),
            PutOutcome::Identical
        );
        let changed = gzip(1, b"{\"a\":2}\n");
        assert!(matches!(
            put_new(&store, &key, changed).await,
            Err(Error::Conflict { .. })
        ));
        let plain = Path::from("t/a.jsonl");
        put_new(&store, &plain, Bytes::from_static(b"x\n"))
            .await
            .unwrap();
        assert!(matches!(
            put_new(&store, &plain, Bytes::from_static(b"y\n")).await,
            Err(Error::Conflict { .. })
        ));
    }

    #[tokio::test]
    async fn large_objects_go_up_in_parts_and_replays_still_compare() {
        let lake = Lake::memory().with_part_size(1000);
        let key = Path::from("t/big.jsonl");
        let body = Bytes::from(b"{\"a\":1}\n".repeat(1000)); // 8 kB: 9 parts
        assert_eq!(
            put_new(&lake, &key, body.clone()).await.unwrap(),
            PutOutcome::Created
        );
        let stored = lake.store().get(&key).await.unwrap().bytes().await.unwrap();
        assert_eq!(stored, body);
        assert_eq!(
            put_new(&lake, &key, body).await.unwrap(),
            PutOutcome::Identical
        );
        let other = Bytes::from(b"{\"a\":2}\n".repeat(1000));
        assert!(matches!(
            put_new(&lake, &key, other).await,
            Err(Error::Conflict { .. })
        ));
    }
}
