//! A polled message as a record: its payload, key and headers copied out
//! of librdkafka (which frees the message once it is dropped), its topic
//! name shared with the other records of the topic.

use std::collections::HashSet;
use std::ffi::CStr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::consumer::Polled;
use super::message_queue::NativeMessage;
use crate::record::{Headers, PartitionMap, Position, Record, SourcePartition};
use crate::rejected::Rejected;

/// Turns polled messages into records.
///
/// The records of a batch share their topic's name, but not with the
/// records of the batches before it ([`Messages::next_batch`]): every
/// record holds a reference to its name, counted atomically, and the
/// pipeline drops the references of one batch on its thread while this
/// thread takes references for the next. Sharing one count across the
/// two threads moved its cache line between the two cores for every
/// record (`perf annotate`: the count's increment was 61 % of
/// [`Messages::record`], its decrement 74 % of the buffer's push).
#[derive(Debug)]
pub(super) struct Messages {
    /// The names of the topics polled since the last batch was handed
    /// over (rapidhash, not std's SipHash).
    topics: HashSet<Arc<str>, rapidhash::fast::RandomState>,
    /// The topic of the last message: the next one nearly always shares
    /// it, and is then neither checked for UTF-8 again nor looked up.
    last_topic: Option<Arc<str>>,
    payloads: PayloadChunks,
    read_headers: bool,
}

impl Messages {
    /// Records with their headers when `read_headers`.
    pub(super) fn new(read_headers: bool) -> Self {
        Self {
            topics: HashSet::default(),
            last_topic: None,
            payloads: PayloadChunks::default(),
            read_headers,
        }
    }

    /// The message as a record (with its headers when asked), or rejected
    /// (with its bytes) when it cannot be one: a header whose key is not
    /// UTF-8.
    pub(super) fn record(&mut self, message: NativeMessage<'_>) -> Polled {
        let position = Position {
            stream: self.topic_named(message.topic()),
            partition: message.partition(),
            offset: message.offset(),
        };
        let value = self.payloads.copy(message.payload());
        let headers = match self.read_headers.then(|| headers_of(message)) {
            None => Headers::new(),
            Some(Ok(headers)) => headers,
            Some(Err(reason)) => return Err(Rejected::new(position, value, reason)),
        };
        Ok(Record {
            key: message.key().map(Bytes::copy_from_slice),
            value,
            headers,
            timestamp: message.timestamp(),
            position,
        })
    }

    /// Records polled from now on go to a later batch than those polled
    /// so far: they get their topic's name anew, a count of their own.
    pub(super) fn next_batch(&mut self) {
        self.topics.clear();
        self.last_topic = None;
    }

    /// The topic named `name`: the last message's when the bytes are the
    /// same, else looked up (or added). Kafka names topics in ASCII; a
    /// name that is not UTF-8 would be read lossily, not panic.
    fn topic_named(&mut self, name: &CStr) -> Arc<str> {
        if let Some(last) = &self.last_topic {
            if last.as_bytes() == name.to_bytes() {
                return last.clone();
            }
        }
        let name = name.to_string_lossy();
        let topic = match self.topics.get(&*name) {
            Some(topic) => topic.clone(),
            None => {
                let topic: Arc<str> = name.into();
                self.topics.insert(topic.clone());
                topic
            }
        };
        self.last_topic = Some(topic.clone());
        topic
    }
}

/// Payloads copied into shared chunks: one allocation per chunk instead of
/// one per message (and one free, once every record of the chunk is
/// dropped). A payload of more than an eighth of a chunk gets its own.
///
/// The lake sink copies values into its object buffers and drops the
/// records at once; a sink that keeps a record's value for long keeps its
/// chunk with it (at most [`CHUNK`] bytes).
#[derive(Debug, Default)]
struct PayloadChunks {
    /// The unused rest of the current chunk.
    rest: BytesMut,
}

/// Bytes per chunk of payloads.
const CHUNK: usize = 32 * 1024;

impl PayloadChunks {
    fn copy(&mut self, payload: &[u8]) -> Bytes {
        if payload.is_empty() {
            return Bytes::new();
        }
        if payload.len() > CHUNK / 8 {
            return Bytes::copy_from_slice(payload);
        }
        if payload.len() > self.rest.capacity() {
            self.rest = BytesMut::with_capacity(CHUNK);
        }
        // Within the capacity: no reallocation, the slice shares the chunk.
        self.rest.extend_from_slice(payload);
        self.rest.split().freeze()
    }
}

/// The offset of the last record polled from each partition. Messages come
/// in runs from one partition (a fetch's batch): the run's partition is
/// kept aside and goes to the map when the run ends, one lookup per run.
#[derive(Debug, Default)]
pub(super) struct LastPolled {
    earlier: PartitionMap<i64>,
    run: Option<(SourcePartition, i64)>,
}

impl LastPolled {
    /// A record polled at `at`.
    pub(super) fn note(&mut self, at: &Position) {
        match &mut self.run {
            Some((sp, offset)) if sp.holds_by_address(at) => {
                *offset = at.offset;
            }
            run => {
                if let Some((sp, offset)) = run.replace((at.source_partition(), at.offset)) {
                    self.earlier.insert(sp, offset);
                }
            }
        }
    }

    /// The last offset polled of every partition polled.
    pub(super) fn all(&mut self) -> &PartitionMap<i64> {
        if let Some((sp, offset)) = self.run.take() {
            self.earlier.insert(sp, offset);
        }
        &self.earlier
    }
}

/// The message's headers. rdkafka's own iterator panics on a key that is
/// not UTF-8 (any non-Java producer can send one), so they are read here
/// from librdkafka directly.
fn headers_of(message: NativeMessage<'_>) -> std::result::Result<Headers, String> {
    use rdkafka::bindings as rd;
    let mut headers = Headers::new();
    let mut native = std::ptr::null_mut();
    // SAFETY: the message pointer is valid while `message` is;
    // librdkafka keeps the headers with the message.
    let err = unsafe { rd::rd_kafka_message_headers(message.ptr(), &mut native) };
    if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || native.is_null() {
        return Ok(headers);
    }
    let count = unsafe { rd::rd_kafka_header_cnt(native) };
    for idx in 0..count {
        let (mut name, mut value, mut size) = (std::ptr::null(), std::ptr::null(), 0);
        // SAFETY: `idx` < count; the out pointers stay valid with the message.
        let err =
            unsafe { rd::rd_kafka_header_get_all(native, idx, &mut name, &mut value, &mut size) };
        if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
            continue;
        }
        let key = unsafe { std::ffi::CStr::from_ptr(name) }.to_bytes();
        let key = std::str::from_utf8(key)
            .map_err(|_| format!("header {idx} has a key that is not UTF-8 (bytes {key:02x?})"))?;
        let value = (!value.is_null()).then(|| {
            Bytes::copy_from_slice(unsafe { std::slice::from_raw_parts(value.cast::<u8>(), size) })
        });
        headers.push(key, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_share_a_chunk_and_come_back_whole() {
        let mut chunks = PayloadChunks::default();
        let payloads: Vec<Vec<u8>> = (0..2000u32)
            .map(|i| format!(r#"{{"n":{i},"pad":"{}"}}"#, "x".repeat(i as usize % 97)).into())
            .collect();
        let copies: Vec<Bytes> = payloads.iter().map(|p| chunks.copy(p)).collect();
        for (copy, payload) in copies.iter().zip(&payloads) {
            assert_eq!(&copy[..], &payload[..]);
        }
        // Neighbours within a chunk are adjacent in memory.
        let adjacent = copies
            .windows(2)
            .filter(|w| w[0].as_ptr().wrapping_add(w[0].len()) == w[1].as_ptr())
            .count();
        let total: usize = payloads.iter().map(Vec::len).sum();
        assert!(
            adjacent >= copies.len() - 1 - total / CHUNK - 1,
            "{adjacent}"
        );
    }

    #[test]
    fn a_large_or_empty_payload_takes_no_room_in_the_chunk() {
        let mut chunks = PayloadChunks::default();
        let small = chunks.copy(b"{}");
        let large = chunks.copy(&vec![b'7'; CHUNK]);
        assert_eq!(large.len(), CHUNK);
        assert!(chunks.copy(b"").is_empty());
        let next = chunks.copy(b"[]");
        assert_eq!(small.as_ptr().wrapping_add(2), next.as_ptr());
    }

    #[test]
    fn a_batch_shares_each_topic_name_but_not_with_the_batch_before() {
        let mut messages = Messages::new(false);
        let (a, b) = (c"stocks", c"quotes");
        let first = messages.topic_named(a);
        assert!(Arc::ptr_eq(&first, &messages.topic_named(a)));
        assert_eq!(&*messages.topic_named(b), "quotes");
        // Back to a topic seen earlier in the batch: the same name again.
        assert!(Arc::ptr_eq(&first, &messages.topic_named(a)));
        messages.next_batch();
        let next = messages.topic_named(a);
        assert_eq!(next, first);
        assert!(!Arc::ptr_eq(&next, &first), "a new batch, a new count");
        assert!(Arc::ptr_eq(&next, &messages.topic_named(a)));
    }

    #[test]
    fn the_last_offset_of_each_partition_survives_runs() {
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let at = |topic: &Arc<str>, partition, offset| Position {
            stream: topic.clone(),
            partition,
            offset,
        };
        let mut last = LastPolled::default();
        for p in [
            at(&a, 0, 1),
            at(&a, 0, 2),
            at(&a, 1, 7),
            at(&b, 1, 3),
            at(&a, 0, 3),
        ] {
            last.note(&p);
        }
        let all = last.all();
        assert_eq!(all.len(), 3);
        assert_eq!(all[&SourcePartition::new("a", 0)], 3);
        assert_eq!(all[&SourcePartition::new("a", 1)], 7);
        assert_eq!(all[&SourcePartition::new("b", 1)], 3);
    }
}
