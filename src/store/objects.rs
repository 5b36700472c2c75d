//! The encode stage: a closed group as encoded objects, one per partition
//! path. Shared by every commit step (Hive objects today, table formats
//! later); naming and writing the objects is the commit step's business.

use bytes::{Bytes, BytesMut};
use object_store::PutPayload;

use super::batch::Group;
use super::buffer::Buffer;
use super::builder::SinkSettings;
use crate::encode::Encoder;
use crate::error::{Error, Result};
use crate::format::Compression;
use crate::record::Record;
use crate::rejected::Rejected;

/// One encoded (and compressed) object of a group.
#[derive(Debug)]
pub(crate) struct EncodedObject {
    /// Partition path under the table (`index=HSI/dt=1987-01-05`).
    pub(crate) path: String,
    /// Offset of its first record: what its name is made of.
    pub(crate) first_offset: i64,
    /// Its bytes, in one chunk or several (a JSON Lines object is its
    /// buffer's chunks).
    pub(crate) bytes: PutPayload,
    pub(crate) records: usize,
}

/// Encodes every object of `group`; records the encoder refuses go to
/// `refused` (an object left with none is not written).
pub(crate) fn encode_group(
    settings: &SinkSettings,
    group: &Group,
    refused: &mut Vec<Rejected>,
) -> Result<Vec<EncodedObject>> {
    encode_group_with(
        settings.encoder.as_ref(),
        settings,
        group,
        |_| true,
        refused,
    )
}

/// [`encode_group`] with another encoder than the settings' (a table
/// format whose columns grow as new fields arrive), for the partition
/// paths `keep` accepts only.
pub(crate) fn encode_group_with(
    encoder: &dyn Encoder,
    settings: &SinkSettings,
    group: &Group,
    keep: impl Fn(&str) -> bool,
    refused: &mut Vec<Rejected>,
) -> Result<Vec<EncodedObject>> {
    let mut objects = Vec::with_capacity(group.buffers.len());
    for (path, buffer) in group.objects().into_iter().filter(|(path, _)| keep(path)) {
        if let Some(object) = encode_object(encoder, settings, path, buffer, refused)? {
            objects.push(object);
        }
    }
    Ok(objects)
}

fn encode_object(
    encoder: &dyn Encoder,
    settings: &SinkSettings,
    path: &str,
    buffer: &Buffer,
    refused: &mut Vec<Rejected>,
) -> Result<Option<EncodedObject>> {
    // JSON Lines of single-line values: the buffer is the object (asked
    // only of such an encoder: finding out reads the whole object).
    let lines = match encoder.writes_lines_as_they_are() {
        true => buffer.single_lines(),
        false => None,
    };
    let (encoded, first_offset, records) = match (lines, buffer.first_offset()) {
        (Some(lines), Some(first_offset)) => {
            (lines.iter().cloned().collect(), first_offset, buffer.len())
        }
        _ => match encode_records(encoder, path, buffer.records(), refused)? {
            Some((encoded, first_offset, records)) => (encoded.into(), first_offset, records),
            None => return Ok(None),
        },
    };
    Ok(Some(EncodedObject {
        path: path.to_string(),
        first_offset,
        bytes: compress(settings, path, encoded)?,
        records,
    }))
}

/// The encoded records (and the first offset and number of those the
/// encoder took); those it refuses go to `refused`. `None` when it took
/// none.
fn encode_records(
    encoder: &dyn Encoder,
    path: &str,
    mut records: Vec<Record>,
    refused: &mut Vec<Rejected>,
) -> Result<Option<(Bytes, i64, usize)>> {
    let mut encoded = BytesMut::with_capacity(records.iter().map(|r| r.value.len() + 1).sum());
    while let Err(first) = encoder.encode(&records, &mut encoded) {
        encoded.clear();
        // Find every bad record in one pass, not one per attempt.
        let mut bad = encoder.refused(&records);
        if bad.is_empty() {
            bad.push(first);
        }
        let before = records.len();
        let mut errors = bad.into_iter().peekable();
        let mut kept = Vec::with_capacity(before);
        for (index, record) in records.into_iter().enumerate() {
            while errors.next_if(|e| e.index < index).is_some() {}
            match errors.next_if(|e| e.index == index) {
                Some(e) => refused.push(Rejected::new(record.position, record.value, e.reason)),
                None => kept.push(record),
            }
        }
        if kept.len() == before {
            // The encoder named no record it refuses: nothing can be written.
            return Err(Error::Config(format!(
                "the {} encoder refuses an object of {path} without naming a record",
                encoder.extension()
            )));
        }
        records = kept;
    }
    let first_offset = records.first().map(|first| first.position.offset);
    Ok(first_offset.map(|first| (encoded.freeze(), first, records.len())))
}

/// An encoded object, compressed as the settings say.
fn compress(settings: &SinkSettings, path: &str, encoded: PutPayload) -> Result<PutPayload> {
    if settings.compression == Compression::None {
        return Ok(encoded);
    }
    let mut compressed = BytesMut::with_capacity(encoded.content_length() / 4);
    settings
        .compression
        .compress_chunks(encoded.iter().map(|chunk| &chunk[..]), &mut compressed)
        .map_err(|e| Error::io(format!("compressing an object of {path}"), e))?;
    Ok(compressed.freeze().into())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::encode::{EncodeError, Encoder, JsonLinesEncoder};
    use crate::lake::Lake;
    use crate::record::Position;
    use crate::store::batch::Group;

    /// JSON Lines refusing records whose value says "bad", counting calls.
    #[derive(Debug, Default)]
    struct Picky(AtomicUsize);

    impl Encoder for Picky {
        fn extension(&self) -> &str {
            "jsonl"
        }

        fn encode(
            &self,
            records: &[Record],
            out: &mut BytesMut,
        ) -> std::result::Result<(), EncodeError> {
            self.0.fetch_add(1, Ordering::Relaxed);
            if let Some(index) = records.iter().position(|r| &r.value[..] == b"\"bad\"") {
                return Err(EncodeError {
                    index,
                    reason: "bad".into(),
                });
            }
            JsonLinesEncoder::new().encode(records, out)
        }
    }

    /// The JSON Lines object of a sealed buffer holding `values`.
    fn json_lines_object(values: &[&str]) -> (Buffer, EncodedObject) {
        let settings = crate::store::LakeSink::builder(Lake::memory())
            .encoder_arc(Arc::new(JsonLinesEncoder::new()))
            .settings_for_tests();
        let mut buffer = Buffer::default();
        for (offset, value) in values.iter().enumerate() {
            buffer.push(Record::new(
                Position::new("t", 0, offset as i64),
                value.to_string(),
            ));
        }
        buffer.seal();
        let mut group = Group::for_tests(0, values.len() as i64 - 1);
        group.buffers.insert("p".into(), buffer);
        let mut objects = encode_group(&settings, &group, &mut Vec::new()).unwrap();
        let buffer = group.buffers.remove("p").unwrap();
        (buffer, objects.remove(0))
    }

    #[test]
    fn single_line_values_are_written_as_the_buffer_itself() {
        let (buffer, object) = json_lines_object(&[r#"{"a": 1}"#, r#"{"b":"x y"}"#]);
        assert_eq!(
            Bytes::from(object.bytes.clone()),
            "{\"a\": 1}\n{\"b\":\"x y\"}\n"
        );
        let lines = buffer.single_lines().unwrap();
        let chunks: Vec<_> = object.bytes.iter().map(|chunk| chunk.as_ptr()).collect();
        let buffered: Vec<_> = lines.iter().map(|chunk| chunk.as_ptr()).collect();
        assert_eq!(chunks, buffered, "no copy");
        assert_eq!((object.first_offset, object.records), (0, 2));
    }

    #[test]
    fn a_value_spanning_lines_sends_the_object_through_the_encoder() {
        let (_, object) = json_lines_object(&["{\n  \"a\": 1\n}", r#"{"b": 2}"#]);
        assert_eq!(Bytes::from(object.bytes), "{\"a\":1}\n{\"b\": 2}\n");
        assert_eq!(object.records, 2);
    }

    #[test]
    fn many_refused_records_cost_one_pass_not_one_attempt_each() {
        let picky = Arc::new(Picky::default());
        let settings = crate::store::LakeSink::builder(Lake::memory())
            .encoder_arc(picky.clone())
            .settings_for_tests();
        let mut buffer = Buffer::default();
        for offset in 0..2_000 {
            let value = if offset % 2 == 0 { "\"bad\"" } else { "{}" };
            buffer.push(Record::new(Position::new("t", 0, offset), value));
        }
        let mut group = Group::for_tests(0, 1_999);
        group.buffers.insert(String::new(), buffer);
        let mut refused = Vec::new();
        let objects = encode_group(&settings, &group, &mut refused).unwrap();
        assert_eq!(
            (objects.len(), objects[0].records, refused.len()),
            (1, 1_000, 1_000)
        );
        let calls = picky.0.load(Ordering::Relaxed);
        assert!(calls <= 2_000 + 2, "{calls} encode calls for 2,000 records");
    }
}
