//! Synthetic stock ticks with the columns of the classic stock-index dataset.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{RecordSource, SourceEvent};
use crate::error::Result;
use crate::record::{Position, Record};
use crate::schema::{Column, ColumnType};
use crate::time::{MILLIS_PER_DAY, days_from_civil, format_date};

/// The indexes of the classic dataset, with a starting level and the
/// currency-to-USD rate that turns `Close` into `CloseUSD`.
const INDEXES: [(&str, f64, f64); 12] = [
    ("NYA", 2_000.0, 1.0),
    ("IXIC", 1_000.0, 1.0),
    ("HSI", 2_500.0, 0.13),
    ("000001.SS", 1_200.0, 0.16),
    ("GSPTSE", 4_000.0, 0.79),
    ("399001.SZ", 3_000.0, 0.16),
    ("NSEI", 1_100.0, 0.014),
    ("GDAXI", 1_500.0, 1.17),
    ("KS11", 600.0, 0.0009),
    ("SSMI", 1_700.0, 1.09),
    ("TWII", 5_000.0, 0.036),
    ("N225", 13_000.0, 0.0091),
];

/// A deterministic generator of stock-index rows with the columns
/// `Index, Date, Open, High, Low, Close, Adj Close, Volume, CloseUSD`.
///
/// The same seed always yields the same rows. Each index follows its own
/// random walk over trading days (weekdays from 1990-01-02), and every row
/// is realistic: `Low <= Open, Close <= High`, `CloseUSD = Close × rate`
/// for the index's currency. Record timestamps are the row's date at
/// midnight UTC; positions are `{stream}/0@{n}` for row `n` from 0.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use streamlake::{RecordSource, SourceEvent, StockTicks};
/// let mut ticks = StockTicks::new(42).count(3);
/// let SourceEvent::Records { records, .. } = ticks.poll(10).await.unwrap() else { panic!() };
/// assert_eq!(records.len(), 3);
/// let row: serde_json::Value = serde_json::from_slice(&records[0].value).unwrap();
/// assert!(row["Low"].as_f64() <= row["Open"].as_f64());
/// assert!(matches!(ticks.poll(10).await.unwrap(), SourceEvent::End));
/// # });
/// ```
#[derive(Debug)]
pub struct StockTicks {
    stream: Arc<str>,
    rng: SplitMix64,
    state: Vec<IndexState>,
    next_offset: i64,
    count: Option<u64>,
    rate: Option<f64>,
    started: Option<Instant>,
    emitted_since_start: u64,
    committed: Option<i64>,
}

#[derive(Debug, Clone)]
struct IndexState {
    close: f64,
    day: i64,
}

impl StockTicks {
    /// An endless generator for `seed`, on stream `synthetic`.
    pub fn new(seed: u64) -> Self {
        let start = days_from_civil(1990, 1, 2).expect("a valid date");
        Self {
            stream: "synthetic".into(),
            rng: SplitMix64(seed),
            state: INDEXES
                .iter()
                .map(|(_, level, _)| IndexState {
                    close: *level,
                    day: start - 1,
                })
                .collect(),
            next_offset: 0,
            count: None,
            rate: None,
            started: None,
            emitted_since_start: 0,
            committed: None,
        }
    }

    /// Stops after `n` rows in total.
    pub fn count(mut self, n: u64) -> Self {
        self.count = Some(n);
        self
    }

    /// Emits at most `per_second` rows per second (default: as fast as asked).
    pub fn rate(mut self, per_second: f64) -> Self {
        self.rate = (per_second > 0.0).then_some(per_second);
        self
    }

    /// Names the stream (default `synthetic`).
    pub fn stream(mut self, name: impl Into<Arc<str>>) -> Self {
        self.stream = name.into();
        self
    }

    /// Skips the first `offset` rows, so that a restart after a commit of
    /// `offset - 1` continues with the same rows it would have produced.
    pub fn start_at(mut self, offset: i64) -> Self {
        while self.next_offset < offset {
            self.next_row();
        }
        self
    }

    /// The last offset committed, if any.
    pub fn committed(&self) -> Option<i64> {
        self.committed
    }

    /// The columns of the rows, typed as the crawler infers them: `Index`
    /// string, `Date` date, the prices, `Volume` and `CloseUSD` double
    /// (e.g. the schema of a `ParquetEncoder` for stock data).
    pub fn columns() -> Vec<Column> {
        use ColumnType::{Date, Double, String};
        [
            ("Index", String),
            ("Date", Date),
            ("Open", Double),
            ("High", Double),
            ("Low", Double),
            ("Close", Double),
            ("Adj Close", Double),
            ("Volume", Double),
            ("CloseUSD", Double),
        ]
        .into_iter()
        .map(|(name, column_type)| Column {
            name: name.into(),
            column_type,
        })
        .collect()
    }

    /// The next `n` rows.
    pub fn rows(&mut self, n: usize) -> Vec<Record> {
        (0..n).map(|_| self.next_row()).collect()
    }

    /// The next row as a record.
    pub fn next_row(&mut self) -> Record {
        let offset = self.next_offset;
        self.next_offset += 1;
        let which = (offset as usize) % INDEXES.len();
        let (name, _, rate) = INDEXES[which];
        let rng = &mut self.rng;
        let state = &mut self.state[which];
        state.day += 1;
        while matches!((state.day + 3).rem_euclid(7), 5 | 6) {
            state.day += 1; // skip Saturday and Sunday
        }
        let open = state.close * (1.0 + 0.004 * rng.symmetric());
        let close = (open * (1.0 + 0.012 * rng.symmetric())).max(1.0);
        let high = open.max(close) * (1.0 + 0.006 * rng.unit());
        let low = open.min(close) * (1.0 - 0.006 * rng.unit());
        let volume = (rng.unit() * 5.0e8).round();
        state.close = close;
        let mut json = String::with_capacity(200);
        write!(
            json,
            r#"{{"Index":"{name}","Date":"{}","Open":{open:.6},"High":{high:.6},"Low":{low:.6},"Close":{close:.6},"Adj Close":{close:.6},"Volume":{volume:.1},"CloseUSD":{:.8}}}"#,
            format_date(state.day),
            close * rate
        )
        .expect("writing to a String cannot fail");
        Record::new(Position::new(self.stream.clone(), 0, offset), json)
            .with_timestamp(state.day * MILLIS_PER_DAY)
    }

    fn remaining(&self) -> u64 {
        self.count
            .map_or(u64::MAX, |n| n.saturating_sub(self.next_offset as u64))
    }
}

#[async_trait]
impl RecordSource for StockTicks {
    async fn poll(&mut self, max_records: usize) -> Result<SourceEvent> {
        let mut n = (max_records.max(1) as u64).min(self.remaining());
        if n == 0 {
            return Ok(SourceEvent::End);
        }
        if let Some(rate) = self.rate {
            // Pace: row k of this run is due k/rate seconds after the first.
            let started = *self.started.get_or_insert_with(Instant::now);
            let due = started + Duration::from_secs_f64(self.emitted_since_start as f64 / rate);
            tokio::time::sleep_until(due).await;
            let allowed = (started.elapsed().as_secs_f64() * rate) as u64 + 1;
            n = n.min(allowed.saturating_sub(self.emitted_since_start).max(1));
            self.emitted_since_start += n;
        }
        let records = (0..n).map(|_| self.next_row()).collect();
        Ok(SourceEvent::Records {
            records,
            rejected: Vec::new(),
        })
    }

    async fn commit(&mut self, durable: &[Position]) -> Result<()> {
        let stream = self.stream.clone();
        if let Some(p) = durable.iter().filter(|p| p.stream == stream).max() {
            self.committed = Some(p.offset);
        }
        Ok(())
    }
}

/// SplitMix64: a tiny, well-mixed PRNG whose output never changes between
/// releases (unlike a dependency's).
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Roughly normal in (-3, 3) (sum of three uniforms, centred).
    fn symmetric(&mut self) -> f64 {
        2.0 * (self.unit() + self.unit() + self.unit() - 1.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{JsonFields, scalar_text};

    fn number(record: &Record, field: &str) -> f64 {
        let fields = JsonFields::parse(&record.value).unwrap();
        scalar_text(fields.get(field).unwrap())
            .unwrap()
            .parse()
            .unwrap()
    }

    #[test]
    fn deterministic_and_realistic() {
        let a: Vec<_> = (0..5000)
            .map({
                let mut g = StockTicks::new(7);
                move |_| g.next_row()
            })
            .collect();
        let b: Vec<_> = (0..5000)
            .map({
                let mut g = StockTicks::new(7);
                move |_| g.next_row()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a[0].value, StockTicks::new(8).next_row().value);
        for r in &a {
            let (open, high, low, close) = (
                number(r, "Open"),
                number(r, "High"),
                number(r, "Low"),
                number(r, "Close"),
            );
            assert!(low <= open && open <= high, "{:?}", r.value);
            assert!(low <= close && close <= high, "{:?}", r.value);
            let usd = number(r, "CloseUSD");
            assert!(usd > 0.0 && usd <= close * 1.2, "{:?}", r.value);
        }
        let fields = JsonFields::parse(&a[0].value).unwrap();
        let names: Vec<_> = fields.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(
            names,
            [
                "Index",
                "Date",
                "Open",
                "High",
                "Low",
                "Close",
                "Adj Close",
                "Volume",
                "CloseUSD"
            ]
        );
        assert_eq!(
            scalar_text(fields.get("Date").unwrap()).unwrap(),
            "1990-01-02"
        );
    }

    #[test]
    fn start_at_continues_the_same_sequence() {
        let mut all = StockTicks::new(1);
        let rows: Vec<_> = (0..100).map(|_| all.next_row()).collect();
        let mut resumed = StockTicks::new(1).start_at(60);
        assert_eq!(resumed.next_row(), rows[60]);
    }
}
