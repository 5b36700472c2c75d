//! When an object is closed: limits that depend only on record data.

use std::time::Duration;

use super::buffer::Buffer;
use crate::record::Record;

/// Limits that close an object. They look only at the records (count, byte
/// size, record timestamps), never at the clock, so a replay of the same
/// records closes objects at the same places.
///
/// When any object of a source partition reaches a limit, all of that
/// partition's open objects are closed together, so the committed offset is
/// always a boundary in every partition path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// Most records in one object.
    pub max_records: usize,
    /// Most bytes of record values (plus one separator each) in one object,
    /// before compression.
    pub max_bytes: usize,
    /// Widest spread of record timestamps in one object, if limited.
    pub max_time_span: Option<Duration>,
}

impl Default for Rotation {
    /// 100,000 records, 64 MiB, no time limit.
    fn default() -> Self {
        Self {
            max_records: 100_000,
            max_bytes: 64 << 20,
            max_time_span: None,
        }
    }
}

impl Rotation {
    /// True when `record` may not join `buffer` without breaking a limit.
    pub(crate) fn is_full(&self, buffer: &Buffer, record: &Record) -> bool {
        if buffer.is_empty() {
            return false;
        }
        if buffer.len() >= self.max_records || buffer.bytes + data_bytes(record) > self.max_bytes {
            return true;
        }
        match (
            self.max_time_span,
            record.timestamp,
            buffer.min_ts,
            buffer.max_ts,
        ) {
            (Some(span), Some(ts), Some(lo), Some(hi)) => {
                let spread = hi.max(ts) - lo.min(ts);
                spread > i64::try_from(span.as_millis()).unwrap_or(i64::MAX)
            }
            _ => false,
        }
    }
}

/// The size rotation counts for a record: value bytes plus a separator.
pub(super) fn data_bytes(record: &Record) -> usize {
    record.value.len() + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Position;

    fn record(offset: i64, value: &str, ts: Option<i64>) -> Record {
        let r = Record::new(Position::new("t", 0, offset), value.to_string());
        match ts {
            Some(ts) => r.with_timestamp(ts),
            None => r,
        }
    }

    /// Offsets at which a new object starts, for a stream of records.
    fn boundaries(rotation: Rotation, records: Vec<Record>) -> Vec<i64> {
        let mut buffer = Buffer::default();
        let mut starts = Vec::new();
        for r in records {
            if buffer.is_empty() || rotation.is_full(&buffer, &r) {
                starts.push(r.position.offset);
                buffer = Buffer::default();
            }
            buffer.push(r);
        }
        starts
    }

    #[test]
    fn by_count() {
        let rotation = Rotation {
            max_records: 3,
            ..Rotation::default()
        };
        let records = (0..8).map(|i| record(i, "{}", None)).collect();
        assert_eq!(boundaries(rotation, records), [0, 3, 6]);
    }

    #[test]
    fn by_bytes_counting_separators() {
        // Each record is 9 bytes + 1 separator; 25 bytes hold two.
        let rotation = Rotation {
            max_bytes: 25,
            ..Rotation::default()
        };
        let records = (0..5).map(|i| record(i, r#"{"a":"x"}"#, None)).collect();
        assert_eq!(boundaries(rotation, records), [0, 2, 4]);
        // A record larger than the limit still gets an object of its own.
        let rotation = Rotation {
            max_bytes: 4,
            ..Rotation::default()
        };
        let records = (0..2).map(|i| record(i, r#"{"a":"x"}"#, None)).collect();
        assert_eq!(boundaries(rotation, records), [0, 1]);
    }

    #[test]
    fn by_time_span_of_record_timestamps() {
        let rotation = Rotation {
            max_time_span: Some(Duration::from_secs(60)),
            ..Rotation::default()
        };
        let times = [0, 30_000, 60_000, 60_001, 90_000, 10_000];
        let records = times
            .iter()
            .enumerate()
            .map(|(i, t)| record(i as i64, "{}", Some(*t)))
            .collect();
        // 60_001 is 60.001 s after 0; the late 10_000 widens 60_001..90_000 past 60 s.
        assert_eq!(boundaries(rotation, records), [0, 3, 5]);
    }
}
