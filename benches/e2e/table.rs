//! The table: one row per path, summarized over the rounds.

/// One measured run.
pub(crate) struct Row {
    pub(crate) broker: &'static str,
    pub(crate) path: String,
    pub(crate) records: u64,
    pub(crate) wall: f64,
    /// Seconds from the first record to the last, when known.
    pub(crate) flowing: Option<f64>,
    pub(crate) cpu: f64,
    pub(crate) peak_mib: u64,
    /// The most the sink's buffers held (MiB), as the program reports it.
    pub(crate) peak_buffered_mib: Option<u64>,
    /// The row this one is compared with.
    pub(crate) baseline: bool,
    /// Records/s as a ratio to the baseline's, one per round, sorted.
    pub(crate) ratios: Vec<f64>,
    /// The same for records/s flowing (on the mock cluster only).
    pub(crate) flowing_ratios: Vec<f64>,
}

impl Row {
    fn rate(&self) -> f64 {
        self.records as f64 / self.wall
    }

    fn flowing_rate(&self) -> Option<f64> {
        self.flowing.map(|s| self.records as f64 / s.max(0.001))
    }
}

/// One row per path from the rows of every round (the same paths in the
/// same order): the round of median wall time, the median CPU, the
/// highest peak memory, and each round's ratios to its own baseline.
pub(crate) fn summarize(rounds: Vec<Vec<Row>>) -> Vec<Row> {
    let ratios = |i: usize, rate: fn(&Row) -> Option<f64>| -> Vec<f64> {
        let mut ratios: Vec<f64> = (rounds.iter())
            .filter_map(|rows| {
                let base = rows.iter().find(|row| row.baseline)?;
                Some(rate(&rows[i])? / rate(base)?)
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        ratios
    };
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let paths = rounds[0].len();
    (0..paths)
        .map(|i| {
            let runs: Vec<&Row> = rounds.iter().map(|rows| &rows[i]).collect();
            let wall = median(runs.iter().map(|row| row.wall).collect());
            let typical = runs.iter().find(|row| row.wall == wall).unwrap();
            Row {
                broker: typical.broker,
                path: typical.path.clone(),
                cpu: median(runs.iter().map(|row| row.cpu).collect()),
                peak_mib: runs.iter().map(|row| row.peak_mib).max().unwrap(),
                peak_buffered_mib: runs.iter().filter_map(|row| row.peak_buffered_mib).max(),
                ratios: ratios(i, |row| Some(row.rate())),
                flowing_ratios: ratios(i, Row::flowing_rate),
                ..**typical
            }
        })
        .collect()
}

/// One table: per path, records/s over the wall time (start-up, group
/// join and the final flush included) and over the time records were
/// flowing, each as a ratio to its baseline.
pub(crate) fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| broker | path | records | records/s | ratio to baseline | records/s flowing | ratio flowing | CPU s per 1M records | peak RSS MiB | peak buffered MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        // A pipeline's flowing time leaves out its waits for records that
        // had not arrived: on a broker slower than the pipeline (tansu)
        // that is the pipeline's own rate, not the bare loop's span.
        let ratio_flowing = match row.broker {
            "mock" => ratio_text(&row.flowing_ratios),
            _ => "-".into(),
        };
        let flowing = row.flowing_rate().map_or("-".into(), |f| format!("{f:.0}"));
        let buffered = row.peak_buffered_mib.map_or("-".into(), |m| m.to_string());
        println!(
            "| {} | {} | {} | {:.0} | {} | {} | {} | {:.2} | {} | {} |",
            row.broker,
            row.path,
            row.records,
            row.rate(),
            ratio_text(&row.ratios),
            flowing,
            ratio_flowing,
            row.cpu / row.records as f64 * 1e6,
            row.peak_mib,
            buffered
        );
    }
}

/// The median of sorted `ratios`, with their range when they differ.
fn ratio_text(ratios: &[f64]) -> String {
    let (Some(first), Some(last)) = (ratios.first(), ratios.last()) else {
        return "-".into();
    };
    let median = ratios[ratios.len() / 2];
    match first == last {
        true => format!("{median:.2}"),
        false => format!("{median:.2} ({first:.2}–{last:.2})"),
    }
}
