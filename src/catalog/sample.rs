//! Reading a bounded sample of one object and the columns it shows.

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

use crate::error::{Error, Result};
use crate::format::{Compression, Format, StreamDecompressor};
use crate::schema::ColumnType;
use crate::value::JsonFields;

/// How much of each object the crawler reads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SampleLimits {
    /// Decompressed bytes from the start of the object.
    pub bytes: u64,
    /// Records (lines) from the start of the object.
    pub records: usize,
}

/// What one object's sample shows: columns in first-seen order (`None`
/// while only nulls were seen) and records that could not be read.
#[derive(Debug, Default)]
pub(crate) struct ObjectColumns {
    pub columns: Vec<(String, Option<ColumnType>)>,
    pub bad_records: Vec<String>,
}

impl ObjectColumns {
    fn observe(&mut self, name: &str, seen: Option<ColumnType>) {
        match self.columns.iter_mut().find(|(n, _)| n == name) {
            Some((_, known)) => {
                *known = match (*known, seen) {
                    (Some(a), Some(b)) => Some(a.widen(b)),
                    (a, b) => a.or(b),
                }
            }
            None => self.columns.push((name.to_string(), seen)),
        }
    }
}

/// Reads the columns of one object of `format`.
pub(crate) async fn columns(
    store: &dyn ObjectStore,
    meta: &ObjectMeta,
    format: Format,
    limits: SampleLimits,
) -> Result<ObjectColumns> {
    match format {
        Format::JsonLines => Ok(json_columns(
            &meta.location,
            &text(store, meta, limits).await?,
            limits,
        )),
        Format::Csv => Ok(csv_columns(
            &meta.location,
            &text(store, meta, limits).await?,
            limits,
        )),
        Format::Parquet => parquet_columns(store, meta).await,
    }
}

/// The decompressed start of an object, cut after its last whole line.
async fn text(store: &dyn ObjectStore, meta: &ObjectMeta, limits: SampleLimits) -> Result<Vec<u8>> {
    let key = &meta.location;
    if meta.size == 0 {
        return Ok(Vec::new());
    }
    let decompressor = Compression::from_file_name(key.as_ref())
        .stream_decompressor()
        .map_err(|e| Error::io(format!("decompressing {key}"), e))?;
    let (mut text, cut) = match decompressor {
        Some(decompressor) => decompressed_prefix(store, key, decompressor, limits.bytes).await?,
        None => {
            let end = meta.size.min(limits.bytes);
            let raw = store
                .get_range(key, 0..end)
                .await
                .map_err(|e| Error::store("get", key, e))?;
            (raw.to_vec(), meta.size > limits.bytes)
        }
    };
    if cut {
        let whole = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        text.truncate(whole);
    }
    Ok(text)
}

/// Decompresses a compressed object as it arrives and stops reading once
/// `limit` bytes came out, so sampling a large object costs about `limit`
/// over the compression ratio, not the whole object. True when cut short.
async fn decompressed_prefix(
    store: &dyn ObjectStore,
    key: &Path,
    mut decompressor: StreamDecompressor,
    limit: u64,
) -> Result<(Vec<u8>, bool)> {
    let failed = |e| Error::io(format!("decompressing {key}"), e);
    let mut chunks = store
        .get(key)
        .await
        .map_err(|e| Error::store("get", key, e))?
        .into_stream();
    while let Some(chunk) = chunks
        .try_next()
        .await
        .map_err(|e| Error::store("get", key, e))?
    {
        let limit_bytes = usize::try_from(limit).unwrap_or(usize::MAX);
        if decompressor
            .write_up_to(&chunk, limit_bytes)
            .map_err(failed)?
        {
            let mut out = decompressor.into_output();
            out.truncate(limit as usize);
            return Ok((out, true));
        }
    }
    let mut out = decompressor.finish().map_err(failed)?;
    let cut = out.len() as u64 > limit;
    out.truncate(limit.min(out.len() as u64) as usize);
    Ok((out, cut))
}

fn json_columns(key: &Path, text: &[u8], limits: SampleLimits) -> ObjectColumns {
    let mut out = ObjectColumns::default();
    let lines = text.split(|b| *b == b'\n').enumerate();
    for (i, line) in lines.filter(|(_, l)| !l.is_empty()).take(limits.records) {
        match JsonFields::parse(line) {
            Ok(fields) => {
                for (name, raw) in fields.iter() {
                    out.observe(name, ColumnType::of_json(raw));
                }
            }
            Err(reason) => out
                .bad_records
                .push(format!("{key} line {}: {reason}", i + 1)),
        }
    }
    out
}

fn csv_columns(key: &Path, text: &[u8], limits: SampleLimits) -> ObjectColumns {
    let mut out = ObjectColumns::default();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            out.bad_records
                .push(format!("{key} line 1: no CSV header: {e}"));
            return out;
        }
    };
    for name in &headers {
        out.observe(name, None);
    }
    for row in reader.records().take(limits.records) {
        match row {
            Ok(row) => {
                for (name, cell) in headers.iter().zip(row.iter()) {
                    out.observe(name, ColumnType::of_text(cell));
                }
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                out.bad_records.push(format!("{key} line {line}: {e}"));
            }
        }
    }
    out
}

#[cfg(feature = "parquet")]
async fn parquet_columns(store: &dyn ObjectStore, meta: &ObjectMeta) -> Result<ObjectColumns> {
    super::parquet::footer_columns(store, meta).await
}

#[cfg(not(feature = "parquet"))]
async fn parquet_columns(_store: &dyn ObjectStore, meta: &ObjectMeta) -> Result<ObjectColumns> {
    Err(Error::Config(format!(
        "{}: reading Parquet needs the `parquet` feature",
        meta.location
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ColumnType::*;

    const LIMITS: SampleLimits = SampleLimits {
        bytes: 1 << 20,
        records: 1000,
    };

    #[test]
    fn json_lines_widen_keep_names_and_report_bad_lines() {
        let text = concat!(
            "{\"surnasdasdame\": \"parasdasdmar\"}\n",
            "{\"Index\":\"HSI\",\"Date\":\"1990-01-02\",\"Open\":1,\"Adj Close\":null,\"Volume\":0}\n",
            "not json\n",
            "{\"Index\":\"HSI\",\"Date\":\"1990-01-03\",\"Open\":2.5,\"Adj Close\":3.25,\"Volume\":12}\n",
            "{\"Index\":\"N\\\"YA\",\"Date\":\"1990-01-04T09:30:00\",\"Open\":3,\"Note\":\"a, \\\"b\\\"\"}\n",
        );
        let got = json_columns(&Path::from("t/a.jsonl"), text.as_bytes(), LIMITS);
        assert_eq!(
            got.columns,
            vec![
                ("surnasdasdame".to_string(), Some(String)),
                ("Index".to_string(), Some(String)),
                ("Date".to_string(), Some(Timestamp)),
                ("Open".to_string(), Some(Double)),
                ("Adj Close".to_string(), Some(Double)),
                ("Volume".to_string(), Some(Bigint)),
                ("Note".to_string(), Some(String)),
            ]
        );
        assert_eq!(got.bad_records.len(), 1);
        assert!(
            got.bad_records[0].starts_with("t/a.jsonl line 3: "),
            "{:?}",
            got.bad_records
        );
    }

    #[tokio::test]
    async fn compressed_objects_are_sampled_as_a_bounded_prefix() {
        use bytes::BytesMut;
        use object_store::PutPayload;
        use object_store::memory::InMemory;

        let text = b"{\"a\":1}\n".repeat(100_000);
        let store = InMemory::new();
        for compression in [Compression::gzip(), Compression::zstd()] {
            let mut packed = BytesMut::new();
            compression.compress(&text, &mut packed).unwrap();
            let key = Path::from(format!("t/a.jsonl{}", compression.suffix()));
            store
                .put(&key, PutPayload::from(packed.freeze()))
                .await
                .unwrap();
            let decompressor = || compression.stream_decompressor().unwrap().unwrap();
            let (out, cut) = decompressed_prefix(&store, &key, decompressor(), 1000)
                .await
                .unwrap();
            assert!(cut);
            assert_eq!(out, text[..1000]);
            let (out, cut) = decompressed_prefix(&store, &key, decompressor(), 10 << 20)
                .await
                .unwrap();
            assert!(!cut);
            assert_eq!(out, text);
        }
    }

    #[test]
    fn csv_cells_with_commas_quotes_and_nulls() {
        let text = "Index,Date,Close,Note\nHSI,1990-01-02,1,\"a, \"\"b\"\"\"\nHSI,1990-01-03,,plain\nshort\n";
        let got = csv_columns(&Path::from("t/a.csv"), text.as_bytes(), LIMITS);
        assert_eq!(
            got.columns,
            vec![
                ("Index".to_string(), Some(String)),
                ("Date".to_string(), Some(Date)),
                ("Close".to_string(), Some(Bigint)),
                ("Note".to_string(), Some(String)),
            ]
        );
        assert_eq!(got.bad_records.len(), 1, "{:?}", got.bad_records);
        assert!(
            got.bad_records[0].starts_with("t/a.csv line 4: "),
            "{:?}",
            got.bad_records
        );
    }
}

#[cfg(test)]
mod properties {
    use bytes::BytesMut;
    use object_store::PutPayload;
    use object_store::memory::InMemory;
    use proptest::prelude::*;

    use super::*;

    /// Samples `bytes` stored as `name` with a 512-byte, 8-record limit.
    fn sample(name: &str, bytes: Vec<u8>) -> Result<ObjectColumns> {
        let limits = SampleLimits {
            bytes: 512,
            records: 8,
        };
        let format = Format::from_file_name(name).unwrap();
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async {
                let store = InMemory::new();
                let key = Path::from(name);
                store.put(&key, PutPayload::from(bytes)).await.unwrap();
                let meta = store.head(&key).await.unwrap();
                columns(&store, &meta, format, limits).await
            })
    }

    fn compressed(compression: Compression, bytes: &[u8]) -> Vec<u8> {
        let mut packed = BytesMut::new();
        compression.compress(bytes, &mut packed).unwrap();
        packed.to_vec()
    }

    /// Lines of JSON-ish or CSV-ish text, or anything at all.
    fn text() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..2048),
            "([{}\\[\\]\",:a-c0-9 .\\-]{0,40}\n){0,80}".prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #[test]
        fn any_object_is_sampled_or_refused_without_panicking(
            bytes in text(),
            name in prop::sample::select(vec!["t/a.jsonl", "t/a.csv", "t/a.jsonl.gz", "t/a.csv.zst"]),
        ) {
            if let Ok(found) = sample(name, bytes) {
                prop_assert!(found.bad_records.len() <= 8, "{:?}", found.bad_records);
            }
        }

        #[test]
        fn compressed_objects_sample_the_same_columns_as_plain_ones(
            bytes in text(),
            compression in prop::sample::select(vec![Compression::gzip(), Compression::zstd()]),
            format in prop::sample::select(vec!["jsonl", "csv"]),
        ) {
            let plain = sample(&format!("t/a.{format}"), bytes.clone());
            let packed = sample(
                &format!("t/a.{format}{}", compression.suffix()),
                compressed(compression, &bytes),
            );
            match (plain, packed) {
                (Ok(plain), Ok(packed)) => {
                    prop_assert_eq!(plain.columns, packed.columns);
                    prop_assert_eq!(plain.bad_records.len(), packed.bad_records.len());
                }
                (plain, packed) => prop_assert_eq!(plain.is_ok(), packed.is_ok()),
            }
        }
    }
}
