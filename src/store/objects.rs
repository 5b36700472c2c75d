//! The encode stage: a closed group as encoded objects, one per partition
//! path. Shared by every commit step (Hive objects today, table formats
//! later); naming and writing the objects is the commit step's business.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};

use super::batch::Group;
use super::builder::SinkSettings;
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
    pub(crate) bytes: Bytes,
    pub(crate) records: usize,
}

/// Encodes every object of `group`; records the encoder refuses go to
/// `refused` (an object left with none is not written).
pub(crate) fn encode_group(
    settings: &SinkSettings,
    group: &Group,
    refused: &mut Vec<Rejected>,
) -> Result<Vec<EncodedObject>> {
    let mut objects = Vec::with_capacity(group.buffers.len());
    for (path, buffer) in &group.buffers {
        if let Some(object) = encode_object(settings, path, &buffer.records, refused)? {
            objects.push(object);
        }
    }
    Ok(objects)
}

fn encode_object(
    settings: &SinkSettings,
    path: &str,
    records: &[Record],
    refused: &mut Vec<Rejected>,
) -> Result<Option<EncodedObject>> {
    let mut records = Cow::Borrowed(records);
    let mut encoded = BytesMut::with_capacity(records.iter().map(|r| r.value.len() + 1).sum());
    while let Err(e) = settings.encoder.encode(&records, &mut encoded) {
        encoded.clear();
        let bad = records.to_mut().remove(e.index);
        refused.push(Rejected::new(bad.position, bad.value, e.reason));
    }
    let Some(first) = records.first() else {
        return Ok(None);
    };
    let bytes = if settings.compression == Compression::None {
        encoded.freeze()
    } else {
        let mut compressed = BytesMut::with_capacity(encoded.len() / 4);
        settings
            .compression
            .compress(&encoded, &mut compressed)
            .map_err(|e| Error::io(format!("compressing an object of {path}"), e))?;
        compressed.freeze()
    };
    Ok(Some(EncodedObject {
        path: path.to_string(),
        first_offset: first.position.offset,
        bytes,
        records: records.len(),
    }))
}
