//! Helpers the example programs share, kept out of streamlake's API (like
//! rdkafka's `examples/example_utils.rs`): logging, progress on stderr, the
//! stock rows to send, the end-of-run summary, and the zero-set-up broker.

#![allow(dead_code)]

pub mod glue;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use streamlake::{
    CsvSource, Lake, Pipeline, PipelineEvent, PipelineObserver, PipelineStats, RecordSink,
    RecordSource, StockTicks,
};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Logs to stderr at `info` (`debug` when verbose, `warn` when quiet),
/// with colours only when stderr is a terminal.
pub fn init_logging(verbose: bool, quiet: bool) {
    let level = match (verbose, quiet) {
        (true, _) => tracing::Level::DEBUG,
        (false, true) => tracing::Level::WARN,
        _ => tracing::Level::INFO,
    };
    // Libraries underneath (delta-rs, its kernel) log every snapshot at
    // info: theirs show from warn unless verbose.
    let others = if verbose {
        level
    } else {
        tracing::Level::WARN.min(level)
    };
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(others)
        .with_target("streamlake", level)
        .with_target(env!("CARGO_CRATE_NAME"), level);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .with(filter)
        .init();
}

/// Runs `main`'s work; an error is one `error: ...` line and exit code 1.
pub fn exit_on_error(result: streamlake::Result<()>) {
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Shows a pipeline's progress on stderr: a live line on a terminal, a
/// plain line every ten seconds otherwise. With `events`, every
/// pipeline event is also one JSON line on stdout (for programs and tests
/// that follow a run: `{"event":"committed","positions":["stock/0@499"]}`).
pub struct Progress {
    bar: Option<ProgressBar>,
    events: bool,
}

impl Progress {
    pub fn new(events: bool) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self { bar, events }
    }

    /// `pipeline`, observed by a new `Progress`.
    pub fn attach<S: RecordSource, K: RecordSink>(
        pipeline: Pipeline<S, K>,
        events: bool,
    ) -> Pipeline<S, K> {
        let progress = Progress::new(events);
        let every = if progress.bar.is_some() { 0.2 } else { 10.0 };
        pipeline
            .progress_every(Some(Duration::from_secs_f64(every)))
            .observe(progress)
    }

    fn show(&self, stats: &PipelineStats) {
        let line = format!(
            "{} records ({:.0}/s), {} objects, {:.1} MB, {} rejected",
            stats.records_in,
            stats.records_per_second(),
            stats.objects,
            stats.bytes as f64 / 1e6,
            stats.rejected
        );
        match &self.bar {
            Some(bar) => bar.set_message(line),
            None => eprintln!("progress: {line}"),
        }
    }
}

impl PipelineObserver for Progress {
    fn on_event(&mut self, event: &PipelineEvent<'_>) {
        if let PipelineEvent::Progress(stats) = event {
            self.show(stats);
        }
        if self.events {
            if let Some(json) = event_json(event) {
                println!("{json}");
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Each item's display form.
fn names<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

/// One event as a JSON line.
fn event_json(event: &PipelineEvent<'_>) -> Option<serde_json::Value> {
    Some(match event {
        PipelineEvent::Committed(positions) => {
            serde_json::json!({"event": "committed", "positions": names(positions)})
        }
        PipelineEvent::Assigned(partitions) => {
            serde_json::json!({"event": "assigned", "partitions": names(partitions)})
        }
        PipelineEvent::Revoked(partitions) => {
            serde_json::json!({"event": "revoked", "partitions": names(partitions)})
        }
        PipelineEvent::Rejected {
            record,
            dead_lettered,
        } => serde_json::json!({
            "event": "rejected",
            "position": record.position.to_string(),
            "reason": record.reason,
            "dead_lettered": dead_lettered,
        }),
        PipelineEvent::Waiting(backlog) => {
            serde_json::json!({"event": "waiting", "backlog": names(backlog)})
        }
        _ => return None,
    })
}

/// The stock rows a program sends: a CSV file or synthetic rows.
#[derive(clap::Args, Debug)]
pub struct Rows {
    /// CSV file with a header row (e.g. indexProcessed.csv) instead of synthetic rows.
    #[arg(long, conflicts_with = "synthetic")]
    pub csv: Option<PathBuf>,
    /// Number of synthetic stock rows (the program's default when no --csv).
    #[arg(long)]
    pub synthetic: Option<u64>,
    /// Seed for the synthetic rows.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Synthetic rows per second (default: as fast as possible).
    #[arg(long)]
    pub rate: Option<f64>,
    /// CSV column that holds each row's time ("" for none).
    #[arg(long, default_value = "Date")]
    pub timestamp_column: String,
    /// CSV column types: "infer" (from the first 1,000 rows) or "stock"
    /// (the stock dataset's declared columns); a cell that does not fit its
    /// column is bad input.
    #[arg(long, default_value = "infer", value_parser = ["infer", "stock"])]
    pub schema: String,
}

impl Rows {
    /// The source: the CSV file (resumable from `checkpoint`), else
    /// `--synthetic` rows (default `default_count`).
    pub fn source(
        &self,
        default_count: u64,
        checkpoint: Option<&Path>,
    ) -> streamlake::Result<Box<dyn RecordSource>> {
        if let Some(path) = &self.csv {
            let mut builder = CsvSource::builder();
            if self.schema == "stock" {
                builder = builder.columns(StockTicks::columns());
            }
            if !self.timestamp_column.is_empty() {
                builder = builder.timestamp_column(&self.timestamp_column);
            }
            if let Some(checkpoint) = checkpoint {
                builder = builder.checkpoint(checkpoint);
            }
            return Ok(Box::new(builder.open(path)?));
        }
        let ticks = StockTicks::new(self.seed).count(self.synthetic.unwrap_or(default_count));
        Ok(Box::new(match self.rate {
            Some(rate) => ticks.rate(rate),
            None => ticks,
        }))
    }
}

/// The end-of-run summary on stdout.
pub fn print_summary(lake: &Lake, table: &str, stats: &PipelineStats) {
    println!("lake:     {lake}/{table}");
    println!(
        "records:  {} read, {} written",
        stats.records_in, stats.records_out
    );
    println!("objects:  {} ({} bytes)", stats.objects, stats.bytes);
    println!(
        "rejected: {} ({} dead-lettered)",
        stats.rejected, stats.dead_lettered
    );
    println!(
        "time:     {:.2}s flowing ({:.0} records/s), {:.2}s in all",
        stats.flowing.as_secs_f64(),
        stats.records_per_second(),
        stats.elapsed.as_secs_f64()
    );
    if let Some(kib) = peak_resident_kib() {
        println!("memory:   {} MiB peak resident", kib / 1024);
    }
    if stats.peak_buffered_bytes > 0 {
        let mib = stats.peak_buffered_bytes as f64 / f64::from(1 << 20);
        println!("buffered: {mib:.0} MiB at the most in the sink's buffers");
    }
}

/// This process's peak resident memory (Linux: `VmHWM`). Not `getrusage`:
/// its `ru_maxrss` keeps the high-water mark of the process that spawned
/// this one (across `exec`).
pub fn peak_resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Where a zero-set-up program's Kafka clients connect: the given brokers
/// (else `$KAFKA_BROKERS`) with `settings` (`key=value`) applied, or, when
/// neither names brokers, a fresh in-process mock cluster with `topic` (3
/// partitions), said on stderr. Keep the returned `MockKafka` alive as long
/// as the clients run.
#[cfg(feature = "kafka")]
pub fn brokers_or_mock(
    brokers: Option<String>,
    settings: &[String],
    topic: &str,
) -> streamlake::Result<(
    streamlake::kafka::KafkaConfig,
    Option<streamlake::kafka::MockKafka>,
)> {
    use streamlake::kafka::{KafkaConfig, MockKafka};
    match brokers.or_else(|| std::env::var("KAFKA_BROKERS").ok()) {
        Some(brokers) => Ok((
            KafkaConfig::new(brokers).set_all(settings.iter().map(String::as_str))?,
            None,
        )),
        None => {
            let mock = MockKafka::start()?;
            mock.create_topic(topic, 3)?;
            eprintln!(
                "no --brokers or KAFKA_BROKERS: using librdkafka's in-process mock cluster at {} \
                 (its data is gone when this program exits)",
                mock.config().brokers()
            );
            Ok((mock.config(), Some(mock)))
        }
    }
}

/// Serves the `metrics` counters for Prometheus at `addr`
/// (`http://addr/metrics`).
pub fn serve_metrics(addr: std::net::SocketAddr) -> streamlake::Result<()> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| streamlake::Error::Config(format!("serving metrics on {addr}: {e}")))
}

/// `--table-format`: how the lake sink commits what it writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TableFormatArg {
    /// Loose objects under Hive partition paths.
    Hive,
    /// A Delta Lake table (needs the `delta` feature).
    Delta,
}

impl TableFormatArg {
    /// The partition template when none is given: a Delta table
    /// partitions by record fields only.
    pub fn default_partitions(self) -> &'static str {
        match self {
            TableFormatArg::Hive => "index={Index}/year={@year}",
            TableFormatArg::Delta => "Index={Index}",
        }
    }

    /// The table format, its Delta `txn` actions named after `writer`
    /// (the consumer group).
    pub fn table_format(
        self,
        columns: Vec<streamlake::Column>,
        writer: &str,
    ) -> streamlake::Result<streamlake::TableFormat> {
        match self {
            TableFormatArg::Hive => Ok(streamlake::TableFormat::Hive),
            #[cfg(feature = "delta")]
            TableFormatArg::Delta => Ok(streamlake::TableFormat::Delta(
                streamlake::DeltaOptions::new(columns).writer(writer),
            )),
            #[cfg(not(feature = "delta"))]
            TableFormatArg::Delta => {
                let _ = (columns, writer);
                Err(streamlake::Error::Config(
                    "--table-format delta needs the delta feature (cargo run --features delta ...)"
                        .into(),
                ))
            }
        }
    }
}

/// `--optimize MIB` / `--vacuum HOURS` of a Delta table, run once the
/// pipeline has ended; prints what each did on stderr.
pub async fn maintain_delta(
    format: TableFormatArg,
    lake: &Lake,
    table: &str,
    optimize_mib: Option<u64>,
    vacuum_hours: Option<f64>,
) -> streamlake::Result<()> {
    if optimize_mib.is_none() && vacuum_hours.is_none() {
        return Ok(());
    }
    if format != TableFormatArg::Delta {
        return Err(streamlake::Error::Config(
            "--optimize and --vacuum apply to --table-format delta".into(),
        ));
    }
    #[cfg(feature = "delta")]
    {
        use streamlake::table::delta::{optimize, vacuum};
        if let Some(mib) = optimize_mib {
            let done = optimize(lake, table, mib << 20).await?;
            eprintln!(
                "optimize: {} files compacted into {} in {} partitions",
                done.files_removed, done.files_added, done.partitions
            );
        }
        if let Some(hours) = vacuum_hours {
            let retention = Duration::from_secs_f64(hours * 3600.0);
            let done = vacuum(lake, table, retention).await?;
            eprintln!("vacuum: {} files deleted", done.files_deleted.len());
        }
        Ok(())
    }
    #[cfg(not(feature = "delta"))]
    {
        let _ = (lake, table);
        Err(streamlake::Error::Config(
            "--optimize and --vacuum need the delta feature".into(),
        ))
    }
}
