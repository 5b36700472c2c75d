//! The records of one open object, held compactly: their values one after
//! another in one allocation, each followed by a line feed (so that a JSON
//! Lines object is the buffer itself), and per record only what the
//! values cannot give back (offset and time; key and headers for the rare
//! record that has them).
//!
//! A `Vec<Record>` cost 136 bytes of list slot and one allocation (with
//! its header) per record beside the value, all freed only when the
//! object was written; a record's value is now copied in and its own
//! allocation freed at once, for the next record to reuse.

use bytes::Bytes;

use super::rotation::data_bytes;
use crate::record::{Headers, Record, SourcePartition};

/// The records of one open object and what rotation needs to know of them.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    /// The values, each followed by `\n`, while the object is open.
    lines: Vec<u8>,
    /// The same once [sealed](Self::seal): records are slices of it.
    sealed: Bytes,
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
    /// Where its value ends in the lines (its line feed follows).
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

    /// Adds `record` and returns the memory it added: the growth of the
    /// lines and of the slot list (both double, so up to half of them is
    /// room not yet used), and a key's and headers' own allocations.
    pub(crate) fn push_counted(&mut self, record: Record) -> usize {
        const SLOT: usize = std::mem::size_of::<Slot>();
        const EXTRA: usize = std::mem::size_of::<(Option<Bytes>, Headers)>();
        let (lines, slots) = (self.lines.capacity(), self.slots.capacity());
        // What the key and headers hold (the value is copied into the lines).
        let key_and_headers =
            record.size_hint() - std::mem::size_of::<Record>() - record.value.len();
        self.push(record);
        let extra = match self.slots.last().is_some_and(|s| s.extra.is_some()) {
            true => key_and_headers + EXTRA,
            false => 0,
        };
        (self.lines.capacity() - lines) + (self.slots.capacity() - slots) * SLOT + extra
    }

    pub(crate) fn push(&mut self, record: Record) {
        self.bytes += data_bytes(&record);
        let Record {
            key,
            value,
            headers,
            timestamp,
            position,
        } = record;
        if self.source.is_none() {
            self.source = Some(position.source_partition());
        }
        debug_assert!(self.sealed.is_empty(), "a sealed buffer takes no records");
        if let Some(ts) = timestamp {
            self.min_ts = Some(self.min_ts.map_or(ts, |m| m.min(ts)));
            self.max_ts = Some(self.max_ts.map_or(ts, |m| m.max(ts)));
        }
        self.lines.extend_from_slice(&value);
        let end = self.lines.len();
        self.lines.push(b'\n');
        let extra = (key.is_some() || !headers.is_empty()).then(|| Box::new((key, headers)));
        self.slots.push(Slot {
            end,
            offset: position.offset,
            timestamp,
            extra,
        });
    }

    /// Ends the buffer's filling: its lines become shared bytes that the
    /// records are slices of (no copy).
    pub(crate) fn seal(&mut self) {
        if self.sealed.is_empty() {
            self.sealed = Bytes::from(std::mem::take(&mut self.lines));
        }
    }

    /// The lines of a sealed buffer whose values are each one line: the
    /// JSON Lines text of its records as they are.
    /// (One pass over the object when asked, not a look at every record
    /// as it comes.)
    pub(crate) fn single_lines(&self) -> Option<Bytes> {
        let lines = &self.sealed;
        let one_line_each = self.lines.is_empty()
            && memchr::memchr_iter(b'\n', lines).count() == self.slots.len()
            && memchr::memchr(b'\r', lines).is_none();
        one_line_each.then(|| lines.clone())
    }

    /// The records, their values slices of the sealed lines (of a copy
    /// when the buffer is not sealed).
    pub(crate) fn records(&self) -> Vec<Record> {
        self.first_records(self.slots.len())
    }

    /// The first `n` records, as [`records`](Self::records) gives them.
    pub(crate) fn first_records(&self, n: usize) -> Vec<Record> {
        let lines = match self.lines.is_empty() {
            true => self.sealed.clone(),
            false => Bytes::copy_from_slice(&self.lines),
        };
        let Some(source) = &self.source else {
            return Vec::new();
        };
        let mut records = Vec::with_capacity(n.min(self.slots.len()));
        for (start, slot) in self.starts().take(n) {
            let mut record = Record::new(source.at(slot.offset), lines.slice(start..slot.end));
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
        let text = match self.lines.is_empty() {
            true => &self.sealed[..],
            false => &self.lines[..],
        };
        self.starts().map(|(start, slot)| &text[start..slot.end])
    }

    /// Each record's slot, with where its value starts in the lines.
    fn starts(&self) -> impl Iterator<Item = (usize, &Slot)> {
        let starts = std::iter::once(0).chain(self.slots.iter().map(|s| s.end + 1));
        starts.zip(&self.slots)
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
        assert_eq!(&lines[..], b"{\"a\":1}\n{\"b\":\"x y\"}\n");
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
        let counted = buffer.push_counted(plain);
        assert_eq!(
            counted,
            buffer.lines.capacity() + buffer.slots.capacity() * SLOT
        );
        let keyed = Record::new(Position::new("t", 0, 1), "y").with_key("key");
        let before = (buffer.lines.capacity(), buffer.slots.capacity());
        let counted = buffer.push_counted(keyed);
        let growth =
            (buffer.lines.capacity() - before.0) + (buffer.slots.capacity() - before.1) * SLOT;
        let extra = std::mem::size_of::<(Option<Bytes>, Headers)>();
        assert_eq!(counted, growth + 3 + extra);
    }
}
