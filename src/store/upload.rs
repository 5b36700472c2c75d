//! Creating objects that must not overwrite anything.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::error::{Error, Result};
use crate::format::Compression;
use crate::lake::{Lake, WriteMode};

/// How [`put_new`] succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PutOutcome {
    /// The object did not exist and now does.
    Created,
    /// The object existed with exactly these bytes (a replay).
    Identical,
}

/// Parts of one multipart upload in flight at once.
const PARTS_IN_FLIGHT: usize = 4;

/// Objects of one group uploaded at once.
const UPLOADS_IN_FLIGHT: usize = 8;

/// Creates each of `objects` (its key, its bytes, and what the caller
/// keeps of it) as [`put_new`] does, [`UPLOADS_IN_FLIGHT`] at a time;
/// returns what the caller kept, once every object is in the lake.
pub(crate) async fn put_all_new<T>(
    lake: &Lake,
    objects: impl IntoIterator<Item = (Path, Bytes, T)>,
) -> Result<Vec<T>> {
    futures::stream::iter(objects)
        .map(|(key, bytes, kept)| async move {
            if put_new(lake, &key, bytes).await? == PutOutcome::Identical {
                tracing::debug!("{key}: already in the lake with identical content");
            }
            Ok::<_, Error>(kept)
        })
        .buffer_unordered(UPLOADS_IN_FLIGHT)
        .try_collect()
        .await
}

/// Creates `key` with `bytes` using a conditional put (`If-None-Match: *`
/// on S3, a hard link on a local directory), so a finished object is never
/// overwritten. An existing object with identical content counts as
/// success; one with different content is an [`Error::Conflict`].
///
/// A lake whose store fails the conditional-write probe (and allows
/// unconditional writes) checks, then writes: at-least-once under a
/// concurrent writer. So do objects above the lake's part size, which go
/// up as multipart uploads (object_store's multipart API has no
/// conditional mode).
pub(crate) async fn put_new(lake: &Lake, key: &Path, bytes: Bytes) -> Result<PutOutcome> {
    let mode = lake.write_mode().await?;
    let multipart = lake.part_size().filter(|size| bytes.len() > *size);
    if mode == WriteMode::CheckThenPut || multipart.is_some() {
        return check_then_put(lake, key, bytes, multipart).await;
    }
    let options = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    let store = lake.store().as_ref();
    match store
        .put_opts(key, PutPayload::from(bytes.clone()), options)
        .await
    {
        Ok(_) => Ok(PutOutcome::Created),
        Err(
            object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. },
        ) => compare_existing(lake, key, &bytes).await,
        Err(e) => Err(lake.store_error("put", key, e)),
    }
}

/// An existing object is compared; otherwise the object goes up in one
/// put, or in parts of `part_size` (a few at a time, aborted on failure so
/// no orphaned parts stay behind).
async fn check_then_put(
    lake: &Lake,
    key: &Path,
    bytes: Bytes,
    part_size: Option<usize>,
) -> Result<PutOutcome> {
    let store = lake.store().as_ref();
    match store.head(key).await {
        Ok(_) => return compare_existing(lake, key, &bytes).await,
        Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(lake.store_error("head", key, e)),
    }
    let Some(part_size) = part_size else {
        store
            .put(key, PutPayload::from(bytes))
            .await
            .map_err(|e| lake.store_error("put", key, e))?;
        return Ok(PutOutcome::Created);
    };
    let mut upload = store
        .put_multipart(key)
        .await
        .map_err(|e| lake.store_error("multipart upload", key, e))?;
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
        return Err(lake.store_error("multipart upload", key, e));
    }
    Ok(PutOutcome::Created)
}

/// Identical when the stored object has the same bytes, or (compressed
/// objects written by another build, another compressor version) the same
/// bytes after decompression; else a conflict. Streamed: neither object is
/// decompressed whole.
async fn compare_existing(lake: &Lake, key: &Path, bytes: &[u8]) -> Result<PutOutcome> {
    let compression = Compression::from_file_name(key.as_ref());
    let (same, stored) = same_bytes(lake, key, bytes).await?;
    if same
        || (compression != Compression::None
            && same_after_decompression(lake, key, bytes, compression).await?)
    {
        return Ok(PutOutcome::Identical);
    }
    Err(Error::Conflict {
        key: key.to_string(),
        reason: format!(
            "an object with different content ({stored} bytes, this writer has {}) already \
             exists: another writer is active on the same source partition, or the source \
             changed",
            bytes.len()
        ),
    })
}

/// The stored object's chunks, as they arrive.
async fn stored_chunks<'a>(
    lake: &'a Lake,
    key: &Path,
) -> Result<impl futures::Stream<Item = Result<Bytes>> + use<'a>> {
    let got = lake
        .store()
        .get(key)
        .await
        .map_err(|e| lake.store_error("get", key, e))?;
    let key = key.clone();
    Ok(got
        .into_stream()
        .map(move |chunk| chunk.map_err(|e| lake.store_error("get", &key, e))))
}

/// Whether the stored object is exactly `bytes`, and its size.
async fn same_bytes(lake: &Lake, key: &Path, bytes: &[u8]) -> Result<(bool, usize)> {
    let mut chunks = std::pin::pin!(stored_chunks(lake, key).await?);
    let (mut at, mut same) = (0, true);
    while let Some(chunk) = chunks.try_next().await? {
        same = same && bytes.get(at..at + chunk.len()) == Some(&chunk[..]);
        at += chunk.len();
    }
    Ok((same && at == bytes.len(), at))
}

/// Whether the stored object and `bytes` decompress to the same content,
/// decompressing both in step and keeping only what one is ahead.
async fn same_after_decompression(
    lake: &Lake,
    key: &Path,
    bytes: &[u8],
    compression: Compression,
) -> Result<bool> {
    let failed = |e| Error::io(format!("decompressing {key}"), e);
    let decompressor = || compression.stream_decompressor().map_err(failed);
    let (Some(mut stored), Some(mut ours)) = (decompressor()?, decompressor()?) else {
        return Ok(false);
    };
    let mut ours_in = bytes.chunks(64 * 1024);
    let mut chunks = std::pin::pin!(stored_chunks(lake, key).await?);
    while let Some(chunk) = chunks.try_next().await? {
        for step in chunk.chunks(4096) {
            if stored.write(step).is_err() {
                return Ok(false);
            }
            while ours.output().len() < stored.output().len() {
                match ours_in.next() {
                    Some(next) => ours.write(next).map_err(failed)?,
                    None => break,
                }
            }
            let n = stored.output().len().min(ours.output().len());
            if stored.take(n) != ours.take(n) {
                return Ok(false);
            }
        }
    }
    for next in ours_in {
        ours.write(next).map_err(failed)?;
    }
    Ok(stored
        .finish()
        .is_ok_and(|rest| ours.finish().is_ok_and(|mine| rest == mine)))
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
