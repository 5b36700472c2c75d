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
    objects: impl IntoIterator<Item = (Path, PutPayload, T)>,
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
pub(crate) async fn put_new(
    lake: &Lake,
    key: &Path,
    bytes: impl Into<PutPayload>,
) -> Result<PutOutcome> {
    let bytes = bytes.into();
    let mode = lake.write_mode().await?;
    let multipart = lake
        .part_size()
        .filter(|size| bytes.content_length() > *size);
    if mode == WriteMode::CheckThenPut || multipart.is_some() {
        return check_then_put(lake, key, bytes, multipart).await;
    }
    let options = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    let store = lake.store().as_ref();
    match store.put_opts(key, bytes.clone(), options).await {
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
    bytes: PutPayload,
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
            .put(key, bytes)
            .await
            .map_err(|e| lake.store_error("put", key, e))?;
        return Ok(PutOutcome::Created);
    };
    let mut upload = store
        .put_multipart(key)
        .await
        .map_err(|e| lake.store_error("multipart upload", key, e))?;
    let parts: Vec<_> = in_parts(&bytes, part_size)
        .into_iter()
        .map(|part| upload.put_part(part))
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
async fn compare_existing(lake: &Lake, key: &Path, bytes: &PutPayload) -> Result<PutOutcome> {
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
            bytes.content_length()
        ),
    })
}

/// `payload` in parts of `size` bytes (the last one shorter), sharing its
/// chunks: no copy.
fn in_parts(payload: &PutPayload, size: usize) -> Vec<PutPayload> {
    let (mut parts, mut part, mut filled) = (Vec::new(), Vec::new(), 0);
    for chunk in payload {
        let mut rest = chunk.clone();
        while !rest.is_empty() {
            let piece = rest.split_to(rest.len().min(size - filled));
            filled += piece.len();
            part.push(piece);
            if filled == size {
                parts.push(PutPayload::from_iter(std::mem::take(&mut part)));
                filled = 0;
            }
        }
    }
    if filled > 0 {
        parts.push(PutPayload::from_iter(part));
    }
    parts
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
async fn same_bytes(lake: &Lake, key: &Path, bytes: &PutPayload) -> Result<(bool, usize)> {
    let mut chunks = std::pin::pin!(stored_chunks(lake, key).await?);
    let mut ours = bytes.iter().map(|chunk| &chunk[..]);
    let (mut at, mut same, mut current): (usize, bool, &[u8]) = (0, true, &[]);
    while let Some(chunk) = chunks.try_next().await? {
        at += chunk.len();
        let mut stored = &chunk[..];
        while same && !stored.is_empty() {
            if current.is_empty() {
                match ours.next() {
                    Some(next) => current = next,
                    None => same = false,
                }
                continue;
            }
            let n = stored.len().min(current.len());
            same = stored[..n] == current[..n];
            (stored, current) = (&stored[n..], &current[n..]);
        }
    }
    Ok((same && current.is_empty() && ours.all(<[u8]>::is_empty), at))
}

/// Whether the stored object and `bytes` decompress to the same content,
/// decompressing both in step and keeping only what one is ahead.
async fn same_after_decompression(
    lake: &Lake,
    key: &Path,
    bytes: &PutPayload,
    compression: Compression,
) -> Result<bool> {
    let failed = |e| Error::io(format!("decompressing {key}"), e);
    let decompressor = || compression.stream_decompressor().map_err(failed);
    let (Some(mut stored), Some(mut ours)) = (decompressor()?, decompressor()?) else {
        return Ok(false);
    };
    let mut ours_in = bytes.iter().flat_map(|chunk| chunk.chunks(64 * 1024));
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

    /// `text` in chunks cut at `cuts`.
    fn chunked(text: &[u8], cuts: &[usize]) -> PutPayload {
        let bounds: Vec<usize> = std::iter::once(0).chain(cuts.iter().copied()).collect();
        let ends = cuts.iter().copied().chain(std::iter::once(text.len()));
        bounds
            .iter()
            .zip(ends)
            .map(|(start, end)| Bytes::copy_from_slice(&text[*start..end]))
            .collect()
    }

    #[test]
    fn parts_cut_across_chunks_without_losing_a_byte() {
        let text: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let payload = chunked(&text, &[1, 999, 1000, 4321, 9000]);
        let parts = in_parts(&payload, 1000);
        let sizes: Vec<usize> = parts.iter().map(PutPayload::content_length).collect();
        assert_eq!(sizes, [1000; 10]);
        let joined: Vec<u8> = parts
            .iter()
            .flat_map(|p| p.iter().flatten().copied())
            .collect();
        assert_eq!(joined, text);
        assert_eq!(in_parts(&chunked(&text[..2500], &[7]), 1000).len(), 3);
    }

    #[tokio::test]
    async fn objects_in_chunks_compare_with_what_is_stored_however_cut() {
        let text = b"{\"a\":1}\n".repeat(1000);
        for lake in [Lake::memory(), Lake::memory().with_part_size(1000)] {
            let key = Path::from("t/chunks.jsonl");
            let payload = chunked(&text, &[5, 3000, 3001, 7000]);
            let created = put_new(&lake, &key, payload).await.unwrap();
            assert_eq!(created, PutOutcome::Created);
            let stored = lake.store().get(&key).await.unwrap().bytes().await.unwrap();
            assert_eq!(stored, text);
            let recut = chunked(&text, &[4000]);
            assert_eq!(
                put_new(&lake, &key, recut).await.unwrap(),
                PutOutcome::Identical
            );
            let mut changed = text.clone();
            *changed.last_mut().unwrap() = b' ';
            for other in [chunked(&changed, &[10]), chunked(&text[..7999], &[10])] {
                assert!(matches!(
                    put_new(&lake, &key, other).await,
                    Err(Error::Conflict { .. })
                ));
            }
            let longer = [&text[..], b"x"].concat();
            assert!(matches!(
                put_new(&lake, &key, chunked(&longer, &[8000])).await,
                Err(Error::Conflict { .. })
            ));
        }
    }
}
