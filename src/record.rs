//! The unit of data: [`Record`], its [`Headers`] and its source [`Position`].

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

/// Where a record came from: a stream (Kafka topic, CSV file, generator name),
/// a partition of that stream, and the record's offset inside the partition.
///
/// Offsets grow within a partition. For Kafka they are Kafka offsets; for a
/// CSV file the partition is 0 and the offset is the line number where the
/// row starts.
///
/// ```
/// use streamlake::Position;
/// let p = Position::new("stock", 2, 881);
/// assert_eq!(p.to_string(), "stock/2@881");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    /// Stream (topic, file or generator) name. Shared, so cloning is cheap.
    pub stream: Arc<str>,
    /// Partition inside the stream.
    pub partition: i32,
    /// Offset of the record inside the partition.
    pub offset: i64,
}

impl Position {
    /// Builds a position.
    pub fn new(stream: impl Into<Arc<str>>, partition: i32, offset: i64) -> Self {
        Self {
            stream: stream.into(),
            partition,
            offset,
        }
    }

    /// The stream partition this position belongs to.
    pub fn source_partition(&self) -> SourcePartition {
        SourcePartition {
            stream: self.stream.clone(),
            partition: self.partition,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}@{}", self.stream, self.partition, self.offset)
    }
}

/// A map keyed by source partition, looked up for every record the lake
/// sink accepts: hashed with rapidhash (seeded per map) rather than std's
/// SipHash, which took 7 % of a bulk load's instructions.
pub(crate) type PartitionMap<V> =
    std::collections::HashMap<SourcePartition, V, rapidhash::fast::RandomState>;

/// One partition of one stream: the unit that offsets are ordered and
/// committed in.
#[derive(Clone, Debug, Eq, PartialOrd, Ord)]
pub struct SourcePartition {
    /// Stream (topic, file or generator) name.
    pub stream: Arc<str>,
    /// Partition inside the stream.
    pub partition: i32,
}

impl SourcePartition {
    /// Builds a source partition.
    pub fn new(stream: impl Into<Arc<str>>, partition: i32) -> Self {
        Self {
            stream: stream.into(),
            partition,
        }
    }

    /// Whether `position` is in this partition with this very copy of the
    /// stream's name: a check that reads neither name (what a cache of
    /// the last record's partition needs; a copy of the name is a miss).
    pub(crate) fn holds_by_address(&self, position: &Position) -> bool {
        self.partition == position.partition && Arc::ptr_eq(&self.stream, &position.stream)
    }

    /// The position of `offset` inside this partition.
    pub fn at(&self, offset: i64) -> Position {
        Position {
            stream: self.stream.clone(),
            partition: self.partition,
            offset,
        }
    }
}

/// Equal when the partitions and the streams' names are: the names
/// compared by address first (the records of a Kafka source's batch share
/// theirs), by their text only when they are two copies.
impl PartialEq for SourcePartition {
    fn eq(&self, other: &Self) -> bool {
        self.partition == other.partition
            && (Arc::ptr_eq(&self.stream, &other.stream) || self.stream == other.stream)
    }
}

/// Hashes what [`PartialEq`] compares: the name's text and the partition.
impl std::hash::Hash for SourcePartition {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.stream.hash(state);
        self.partition.hash(state);
    }
}

impl fmt::Display for SourcePartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.stream, self.partition)
    }
}

/// One record header: a key and an optional value (Kafka allows null values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Header name.
    pub key: String,
    /// Header value; `None` is a null value.
    pub value: Option<Bytes>,
}

/// Ordered record headers. Keys may repeat, as in Kafka.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Appends a header and returns the headers, for chaining.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.push(key, Some(value.into()));
        self
    }

    /// Appends a header.
    pub fn push(&mut self, key: impl Into<String>, value: Option<Bytes>) {
        self.0.push(Header {
            key: key.into(),
            value,
        });
    }

    /// The value of the first header named `key`.
    pub fn get(&self, key: &str) -> Option<&Bytes> {
        self.0
            .iter()
            .find(|h| h.key == key)
            .and_then(|h| h.value.as_ref())
    }

    /// All headers in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One record: an optional key, a value, headers, an optional timestamp and
/// the position it was read from.
///
/// Values are JSON objects for everything the lake sink partitions and
/// encodes; the type itself carries any bytes. Payloads are [`Bytes`], so
/// cloning a record never copies its data.
///
/// ```
/// use streamlake::{Record, Position};
/// let r = Record::new(Position::new("stock", 0, 7), r#"{"Index":"HSI"}"#)
///     .with_key("HSI")
///     .with_timestamp(536_457_600_000);
/// assert_eq!(r.value.as_ref(), br#"{"Index":"HSI"}"#);
/// assert_eq!(r.position.offset, 7);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Record key (Kafka message key), if any.
    pub key: Option<Bytes>,
    /// Record value.
    pub value: Bytes,
    /// Record headers.
    pub headers: Headers,
    /// Record time in milliseconds since the Unix epoch (UTC), if known.
    pub timestamp: Option<i64>,
    /// Where the record was read from.
    pub position: Position,
}

impl Record {
    /// A record with a value and a position and nothing else.
    pub fn new(position: Position, value: impl Into<Bytes>) -> Self {
        Self {
            key: None,
            value: value.into(),
            headers: Headers::new(),
            timestamp: None,
            position,
        }
    }

    /// Sets the key.
    pub fn with_key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the timestamp (milliseconds since the Unix epoch).
    pub fn with_timestamp(mut self, millis: i64) -> Self {
        self.timestamp = Some(millis);
        self
    }

    /// Sets the headers.
    pub fn with_headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }

    /// Approximate memory this record holds, used for buffer accounting.
    pub fn size_hint(&self) -> usize {
        const OVERHEAD: usize = std::mem::size_of::<Record>();
        let headers: usize = self
            .headers
            .iter()
            .map(|h| h.key.len() + h.value.as_ref().map_or(0, Bytes::len))
            .sum();
        OVERHEAD + self.value.len() + self.key.as_ref().map_or(0, Bytes::len) + headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_partitions_are_equal_by_name_and_partition_whether_shared_or_copied() {
        let shared = SourcePartition::new("stock", 3);
        let copied = SourcePartition::new("stock", 3);
        assert!(!Arc::ptr_eq(&shared.stream, &copied.stream));
        assert_eq!(shared, shared.clone());
        assert_eq!(shared, copied);
        assert_ne!(shared, SourcePartition::new("stock", 4));
        assert_ne!(shared, SourcePartition::new("stocks", 3));
        let mut map = PartitionMap::default();
        map.insert(shared, 1);
        assert_eq!(map.get(&copied), Some(&1));
    }
}
