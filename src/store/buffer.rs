//! The records of one open object, held compactly: their values one after
//! another in a few chunks, each followed by a line feed (so that a JSON
//! Lines object is the chunks themselves), and per record only what the
//! values cannot give back (offset and time; key and headers for the rare
//! record that has them).
//!
//! A `Vec<Record>` cost 136 bytes of list slot and one allocation (with
//! its header) per record beside the value, all freed only when the
//! object was written; a record's value is now copied in and its own
//! allocation freed at once, for the next record to reuse. One growing
//! allocation for all of an object's values copied them again each time
//! it moved to grow: past its first few KiB an object's values go into
//! new, larger chunks instead, and no value is copied twice.

use bytes::Bytes;

use super::rotation::data_bytes;
use crate::record::{Headers, Record, SourcePartition};

/// Below this capacity the chunk being filled grows in place (a small
/// copy); from it on, a value that does not fit starts a new chunk twice
/// the size of the last.
const GROWS_IN_PLACE_UNTIL: usize = 16 * 1024;

/// The largest chunk doubling makes (a longer line gets a chunk of its
/// own size).
const MAX_CHUNK: usize = 1024 * 1024;

/// The records of one open object and what rotation needs to know of them.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    /// Chunks filled, in order; each holds whole lines.
    filled: Vec<Bytes>,
    /// Bytes of lines in `filled`.
    filled_len: usize,
    /// Bytes allocated for `filled` (a filled chunk keeps its room).
    filled_capacity: usize,
    /// The chunk being filled (moved to `filled` when [sealed](Self::seal)).
    filling: Vec<u8>,
    sealed: bool,
    slots: Vec<Slot>,
    /// The source partition of the records (a group holds one).
    source: Option<SourcePartition>,
    /// Bytes of record values plus one separator each (what rotation
    /// limits).
    pub(crate) bytes: usize,
    pub(crate) min_ts: Option<i64>,
    pub(crate) max_ts: Option<i64>,
}

/// One record of a buffer, but for its value.
#[derive(Debug)]
struct Slot {
    /// Where its value ends in the lines (all chunks one after another;
    /// its line feed follows).
    end: usize,
    offset: i64,
    timestamp: Option<i64>,
    /// Key and headers, when the record has any.
    extra: Option<Box<(Option<Bytes>, Headers)>>,
}

impl Buffer {
    /// Records held.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The offset of the first record.
    pub(crate) fn first_offset(&self) -> Option<i64> {
        self.slots.first().map(|s| s.offset)
    }

    /// Memory the chunks and the slot list hold.
    fn capacity(&self) -> usize {
        const SLOT: usize = std::mem::size_of::<Slot>();
        self.filled_capacity + self.filling.capacity() + self.slots.capacity() * SLOT
    }

    /// Adds `record` and returns the memory it added: the growth of the
    /// chunks and of the slot list (the list doubles, a new chunk is twice
    /// the last: up to half of them is room not yet used), and a key's and
    /// headers' own allocations. The record is borrowed: its value is
    /// copied, its key and headers (when it has any) shared or cloned.
    pub(crate) fn push_counted(&mut self, record: &Record) -> usize {
        const EXTRA: usize = std::mem::size_of::<(Option<Bytes>, Headers)>();
        let before = self.capacity();
        self.copy_in(record);
        let extra = match self.slots.last().is_some_and(|s| s.extra.is_some()) {
            // What the key and headers hold (the value is in the lines).
            true => record.size_hint() - std::mem::size_of::<Record>() - record.value.len() + EXTRA,
            false => 0,
        };
        (self.capacity() - before) + extra
    }

    /// Adds `record` (tests' shorthand).
    #[cfg(test)]
    pub(crate) fn push(&mut self, record: Record) {
        self.copy_in(&record);
    }

    /// Adds `record`, its value copied into the chunks.
    fn copy_in(&mut self, record: &Record) {
        debug_assert!(!self.sealed, "a sealed buffer takes no records");
        self.bytes += data_bytes(record);
        if self.source.is_none() {
            self.source = Some(record.position.source_partition());
        }
        if let Some(ts) = record.timestamp {
            self.min_ts = Some(self.min_ts.map_or(ts, |m| m.min(ts)));
            self.max_ts = Some(self.max_ts.map_or(ts, |m| m.max(ts)));
        }
        self.make_room(record.value.len() + 1);
        self.filling.extend_from_slice(&record.value);
        let end = self.filled_len + self.filling.len();
        self.filling.push(b'\n');
        let extra = (record.key.is_some() || !record.headers.is_empty())
            .then(|| Box::new((record.key.clone(), record.headers.clone())));
        self.slots.push(Slot {
            end,
            offset: record.position.offset,
            timestamp: record.timestamp,
            extra,
        });
    }

    /// Room for a line of `line` bytes in the chunk being filled: grown in
    /// place while small, else a new chunk (the filled one kept as it is).
    fn make_room(&mut self, line: usize) {
        let capacity = self.filling.capacity();
        if capacity - self.filling.len() >= line {
            return;
        }
        if capacity < GROWS_IN_PLACE_UNTIL {
            self.filling.reserve(line);
            return;
        }
        let next = (2 * capacity).min(MAX_CHUNK).max(line);
        let filled = std::mem::replace(&mut self.filling, Vec::with_capacity(next));
        self.file(filled);
    }

    /// Moves a chunk to the filled ones (no copy: it keeps its allocation).
    fn file(&mut self, chunk: Vec<u8>) {
        self.filled_len += chunk.len();
        self.filled_capacity += chunk.capacity();
        self.filled.push(Bytes::from(chunk));
    }

    /// Ends the buffer's filling: its chunks become shared bytes that the
    /// records are slices of (no copy).
    pub(crate) fn seal(&mut self) {
        if !self.sealed {
            let last = std::mem::take(&mut self.filling);
            if !last.is_empty() {
                self.file(last);
            }
            self.sealed = true;
        }
    }

    /// The chunks of a sealed buffer whose values are each one line: the
    /// JSON Lines text of its records as they are, in order.
    /// (One pass over the object when asked, not a look at every record
    /// as it comes.)
    pub(crate) fn single_lines(&self) -> Option<&[Bytes]> {
        let chunks = &self.filled[..];
        let line_feeds: usize = chunks
            .iter()
            .map(|chunk| memchr::memchr_iter(b'\n', chunk).count())
            .sum();
        let one_line_each = self.sealed
            && line_feeds == self.slots.len()
            && chunks
                .iter()
                .all(|chunk| memchr::memchr(b'\r', chunk).is_none());
        one_line_each.then_some(chunks)
    }

    /// The records, their values slices of the sealed chunks (of a copy
    /// of the chunk being filled when the buffer is not sealed).
    pub(crate) fn records(&self) -> Vec<Record> {
        self.first_records(self.slots.len())
    }

    /// The first `n` records, as [`records`](Self::records) gives them.
    pub(crate) fn first_records(&self, n: usize) -> Vec<Record> {
        let Some(source) = &self.source else {
            return Vec::new();
        };
        let mut chunks = self.filled.clone();
        if !self.filling.is_empty() {
            chunks.push(Bytes::copy_from_slice(&self.filling));
        }
        let mut records = Vec::with_capacity(n.min(self.slots.len()));
        for (chunk, range, slot) in self.lines().take(n) {
            let mut record = Record::new(source.at(slot.offset), chunks[chunk].slice(range));
            record.timestamp = slot.timestamp;
            if let Some(extra) = &slot.extra {
                (record.key, record.headers) = (**extra).clone();
            }
            records.push(record);
        }
        records
    }

    /// The records' values, in order, without building records (what a
    /// table format reads new columns from).
    #[cfg(any(feature = "delta", test))]
    pub(crate) fn values(&self) -> impl Iterator<Item = &[u8]> {
        self.lines()
            .map(|(chunk, range, _)| &self.chunk(chunk)[range])
    }

    /// Chunk `index`: a filled one, or (right after them) the one being
    /// filled.
    fn chunk(&self, index: usize) -> &[u8] {
        match self.filled.get(index) {
            Some(chunk) => chunk,
            None => {
                assert_eq!(index, self.filled.len(), "past the buffer's chunks");
                &self.filling
            }
        }
    }

    /// Each record's slot, with the index of the [chunk](Self::chunk)
    /// that holds its value and where in the chunk it is.
    fn lines(&self) -> impl Iterator<Item = (usize, std::ops::Range<usize>, &Slot)> {
        let (mut chunk, mut chunk_start, mut start) = (0, 0, 0);
        self.slots.iter().map(move |slot| {
            // A line lies whole in one chunk: past this one's end, it is in
            // a later one.
            while start >= chunk_start + self.chunk(chunk).len() {
                chunk_start += self.chunk(chunk).len();
                chunk += 1;
            }
            let range = start - chunk_start..slot.end - chunk_start;
            start = slot.end + 1;
            (chunk, range, slot)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Position;

    #[test]
    fn records_come_back_as_they_went_in() {
        let records = vec![
            Record::new(Position::new("t", 3, 10), r#"{"a":1}"#).with_timestamp(5),
            Record::new(Position::new("t", 3, 11), "{\n \"b\": 2\n}"),
            Record::new(Position::new("t", 3, 12), "")
                .with_key("k")
                .with_headers(Headers::new().with("h", "v")),
        ];
        let mut buffer = Buffer::default();
        for r in &records {
            buffer.push(r.clone());
        }
        assert_eq!(buffer.records(), records, "unsealed: a copy");
        let values: Vec<_> = records.iter().map(|r| &r.value[..]).collect();
        assert!(buffer.values().eq(values.iter().copied()));
        assert_eq!(buffer.single_lines(), None);
        buffer.seal();
        assert_eq!(buffer.records(), records, "sealed: slices");
        assert!(buffer.values().eq(values.iter().copied()));
        assert_eq!(buffer.first_records(1), records[..1]);
        assert_eq!((buffer.len(), buffer.first_offset()), (3, Some(10)));
        assert_eq!(buffer.bytes, 7 + 11 + 3);
        assert_eq!((buffer.min_ts, buffer.max_ts), (Some(5), Some(5)));
    }

    #[test]
    fn single_line_values_are_the_object_as_they_are() {
        let mut buffer = Buffer::default();
        for (offset, value) in [r#"{"a":1}"#, r#"{"b":"x y"}"#].into_iter().enumerate() {
            buffer.push(Record::new(Position::new("t", 0, offset as i64), value));
        }
        assert_eq!(buffer.single_lines(), None, "not sealed yet");
        buffer.seal();
        let lines = buffer.single_lines().unwrap();
        assert_eq!(lines.concat(), b"{\"a\":1}\n{\"b\":\"x y\"}\n");
        for value in ["{\"a\":\r1}", "{\"a\":\n1}", "{\"a\":\r\n1}"] {
            let mut buffer = Buffer::default();
            buffer.push(Record::new(Position::new("t", 0, 0), value));
            buffer.seal();
            assert_eq!(buffer.single_lines(), None, "{value:?} spans lines");
        }
    }

    #[test]
    fn memory_counts_growth_and_what_a_record_holds_beside_its_value() {
        const SLOT: usize = std::mem::size_of::<Slot>();
        let mut buffer = Buffer::default();
        let plain = Record::new(Position::new("t", 0, 0), "x".repeat(100));
        let counted = buffer.push_counted(&plain);
        assert_eq!(
            counted,
            buffer.filling.capacity() + buffer.slots.capacity() * SLOT
        );
        let keyed = Record::new(Position::new("t", 0, 1), "y").with_key("key");
        let before = (buffer.filling.capacity(), buffer.slots.capacity());
        let counted = buffer.push_counted(&keyed);
        let growth =
            (buffer.filling.capacity() - before.0) + (buffer.slots.capacity() - before.1) * SLOT;
        let extra = std::mem::size_of::<(Option<Bytes>, Headers)>();
        assert_eq!(counted, growth + 3 + extra);
    }

    #[test]
    fn a_large_object_fills_chunks_of_whole_lines_and_copies_no_value_twice() {
        let mut buffer = Buffer::default();
        let mut expected = Vec::new();
        let mut counted = 0;
        let mut previous_lines = std::ptr::null();
        for offset in 0..5_000 {
            // Lines of varying length, some longer than a small chunk's room.
            let value = format!(
                "{{\"n\":{offset},\"pad\":\"{}\"}}",
                "x".repeat(offset % 700)
            );
            expected.push(value.clone());
            counted +=
                buffer.push_counted(&Record::new(Position::new("t", 0, offset as i64), value));
            if buffer.filling.capacity() >= GROWS_IN_PLACE_UNTIL && buffer.filled.is_empty() {
                previous_lines = buffer.filling.as_ptr();
            }
        }
        assert!(buffer.filled.len() > 3, "{} chunks", buffer.filled.len());
        let first_chunk = buffer.filled[0].as_ptr();
        assert_eq!(
            first_chunk, previous_lines,
            "the first large chunk was not moved"
        );
        assert!(buffer.filled.iter().all(|c| c.ends_with(b"\n")));
        assert_eq!(counted, buffer.capacity(), "every allocation counted");
        let values: Vec<_> = expected.iter().map(String::as_bytes).collect();
        assert!(
            buffer.values().eq(values.iter().copied()),
            "unsealed values"
        );
        let unsealed: Vec<_> = buffer.records().into_iter().map(|r| r.value).collect();
        assert!(unsealed.iter().map(|v| &v[..]).eq(values.iter().copied()));
        buffer.seal();
        let records = buffer.records();
        assert!(
            records
                .iter()
                .map(|r| &r.value[..])
                .eq(values.iter().copied())
        );
        let offsets: Vec<i64> = records.iter().map(|r| r.position.offset).collect();
        assert_eq!(offsets, (0..5_000).collect::<Vec<i64>>());
        let text = buffer.single_lines().unwrap().concat();
        assert_eq!(text, (expected.join("\n") + "\n").into_bytes());
        assert!(buffer.values().eq(values.iter().copied()), "sealed values");
    }
}
