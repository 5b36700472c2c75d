//! Pipeline counters.

use std::fmt;
use std::time::Duration;

use crate::sink::SinkStats;

/// What a pipeline run did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PipelineStats {
    /// Records read from the source (including rejected ones).
    pub records_in: u64,
    /// Records made durable by the sink.
    pub records_out: u64,
    /// Objects written.
    pub objects: u64,
    /// Bytes written (after compression).
    pub bytes: u64,
    /// Records rejected by the source or the sink.
    pub rejected: u64,
    /// Of those, records written to the dead-letter queue.
    pub dead_lettered: u64,
    /// Commits made to the source.
    pub commits: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Time records were flowing: handling batches, and waiting for the
    /// next one while records kept coming. Joining a group, starting up
    /// and idle waits do not count.
    pub flowing: Duration,
    /// Bytes held in the sink's buffers at the time of the snapshot.
    pub buffered_bytes: usize,
    /// The most bytes the sink's buffers held at once during the run
    /// ([`SinkStats::peak_buffered_bytes`]).
    pub peak_buffered_bytes: usize,
}

impl PipelineStats {
    pub(crate) fn with_sink(mut self, sink: SinkStats) -> Self {
        self.records_out = sink.records;
        self.objects = sink.objects;
        self.bytes = sink.bytes;
        self.buffered_bytes = sink.buffered_bytes;
        self.peak_buffered_bytes = sink.peak_buffered_bytes;
        self
    }

    /// Records read per second while records were flowing (not counting
    /// start-up, group joins and idle waits; see [`flowing`](Self::flowing)).
    pub fn records_per_second(&self) -> f64 {
        self.records_in as f64 / self.flowing.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for PipelineStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} records in ({:.0}/s over {:.2}s flowing), {} written in {} objects ({:.1} MB), \
             {} rejected ({} dead-lettered), {:.1}s in all",
            self.records_in,
            self.records_per_second(),
            self.flowing.as_secs_f64(),
            self.records_out,
            self.objects,
            self.bytes as f64 / 1e6,
            self.rejected,
            self.dead_lettered,
            self.elapsed.as_secs_f64()
        )
    }
}
