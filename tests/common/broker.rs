//! A real Kafka-API broker (tansu, sqlite storage) per test, on a free
//! loopback port, in a temporary directory, stopped when dropped.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::process::{Log, step_timeout, within};
use super::service::{free_port, wait_until_ready};
use streamlake::kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use streamlake::kafka::rdkafka::{Offset, TopicPartitionList};
use streamlake::kafka::{KafkaConfig, KafkaSink, KafkaSource, create_topic};
use streamlake::{
    LakeSink, MemorySource, Pipeline, Record, RecordSink, RecordSource, SourceEvent, StockTicks,
};

pub struct Broker {
    /// Behind locks so a test can kill and restart the broker while
    /// helpers hold a reference to it.
    child: Mutex<Option<Child>>,
    /// The broker's own log (its stdout).
    log: Mutex<Option<Log>>,
    dir: tempfile::TempDir,
    port: u16,
    engine: &'static str,
}

/// The tansu binary: `$STREAMLAKE_TANSU`, the project's tool cache, or PATH.
fn tansu() -> PathBuf {
    if let Ok(path) = std::env::var("STREAMLAKE_TANSU") {
        return path.into();
    }
    let cached = PathBuf::from(std::env::var("HOME").unwrap_or_default())
        .join(".cache/streamlake/tools/bin/tansu");
    if cached.exists() {
        return cached;
    }
    let on_path = Command::new("tansu").arg("--version").output();
    assert!(
        on_path.is_ok_and(|o| o.status.success()),
        "the tansu Kafka broker is not installed: run `scripts/services.sh install` \
         (cargo install tansu@0.6.0 --locked --features dynostore,libsql \
         --root ~/.cache/streamlake/tools), or set STREAMLAKE_TANSU"
    );
    "tansu".into()
}

impl Broker {
    /// Starts a broker (sqlite storage) and waits until it says it is ready.
    pub fn start() -> Self {
        Self::start_with("sqlite://tansu.db")
    }

    /// Starts a broker on a storage engine: `sqlite://tansu.db` for
    /// correctness, `memory://tansu/` for one-pass throughput runs only (it
    /// skips records when a consumer resumes).
    pub fn start_with(engine: &'static str) -> Self {
        let broker = Broker {
            child: Mutex::new(None),
            log: Mutex::new(None),
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
            engine,
        };
        broker.launch();
        broker
    }

    fn launch(&self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", self.engine])
            // The broker's own log level, never the tests' RUST_LOG (tansu
            // logs every codec call at info). Its group coordinator's info
            // lines (members expired, leaders chosen) go into diagnoses.
            .env(
                "RUST_LOG",
                std::env::var("STREAMLAKE_TANSU_RUST_LOG")
                    .unwrap_or_else(|_| "warn,tansu_broker::coordinator::group=info".into()),
            )
            .current_dir(self.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting tansu");
        // The broker's log: kept for diagnoses; STREAMLAKE_TANSU_LOG=FILE
        // also appends all of it to a file.
        let copy = std::env::var_os("STREAMLAKE_TANSU_LOG").map(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap()
        });
        let mut log = Log::follow_into("tansu", child.stdout.take().unwrap(), copy);
        wait_until_ready(&log, "ready in", &format!("tansu (port {})", self.port));
        log.stop_queueing();
        *self.log.lock().unwrap() = Some(log);
        *self.child.lock().unwrap() = Some(child);
    }

    /// Client settings for this broker.
    pub fn config(&self) -> KafkaConfig {
        KafkaConfig::new(format!("127.0.0.1:{}", self.port))
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates a topic through the admin API.
    pub async fn topic(&self, name: &str, partitions: i32) {
        within(
            &format!("creating topic {name}"),
            step_timeout(),
            || self.recent_log(),
            create_topic(&self.config(), name, partitions),
        )
        .await
        .unwrap();
    }

    /// The broker's recent log lines.
    pub fn recent_log(&self) -> String {
        self.log
            .lock()
            .unwrap()
            .as_ref()
            .map(Log::recent)
            .unwrap_or_default()
    }

    /// What the broker says about `group` on `topic` (partitions
    /// `0..partitions`): committed offsets against high watermarks, the
    /// group's state as tansu stores it, and the broker's recent log. For
    /// the message of a test that ran out of time.
    pub fn diagnose(&self, group: &str, topic: &str, partitions: i32) -> String {
        let mut out = format!("--- broker 127.0.0.1:{} ---\n", self.port);
        let consumer: BaseConsumer = match self
            .config()
            .client_config()
            .set("group.id", group)
            .create()
        {
            Ok(c) => c,
            Err(e) => return format!("{out}cannot create a client: {e}\n{}", self.recent_log()),
        };
        let timeout = Duration::from_secs(10);
        let mut list = TopicPartitionList::new();
        for p in 0..partitions {
            list.add_partition(topic, p);
        }
        let committed = consumer.committed_offsets(list, timeout);
        for p in 0..partitions {
            let offset = match &committed {
                Ok(c) => match c.find_partition(topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o.to_string(),
                    other => format!("{other:?}"),
                },
                Err(e) => format!("unknown ({e})"),
            };
            let high = match consumer.fetch_watermarks(topic, p, timeout) {
                Ok((_, high)) => high.to_string(),
                Err(e) => format!("unknown ({e})"),
            };
            let _ = writeln!(
                out,
                "{topic}/{p}: group {group} committed {offset}, high watermark {high}"
            );
        }
        out.push_str(&self.group_state(group));
        out.push_str(&self.recent_log());
        out
    }

    /// The group's row in tansu's own database, for a diagnosis.
    fn group_state(&self, group: &str) -> String {
        match self.group_detail(group) {
            Ok(detail) => format!("--- group {group} in tansu.db ---\n{detail}\n"),
            Err(e) => format!("cannot read tansu.db: {e}\n"),
        }
    }

    /// The group as tansu stores it (JSON), read-only from its sqlite file
    /// (DescribeGroups against tansu 0.6.0 drops the connection).
    pub fn group_detail(&self, group: &str) -> Result<String, String> {
        let db = self.dir.path().join("tansu.db");
        let script = "import sqlite3, sys\n\
             c = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True, timeout=5)\n\
             q = 'select cgd.detail from consumer_group cg join consumer_group_detail cgd \
             on cgd.consumer_group = cg.id where cg.name = ?'\n\
             for (detail,) in c.execute(q, (sys.argv[2],)): print(detail)\n";
        let out = Command::new("python3")
            .args(["-c", script, db.to_str().unwrap(), group])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Waits (deadline: one step) until tansu has `group` formed with
    /// `members` members: no rebalance in progress. A member that leaves a
    /// group while it rebalances can wedge tansu 0.6.0 for good
    /// (`scripts/tansu-group-stall-repro.py departed-leader`), so tests
    /// let members leave only from a formed group.
    pub fn wait_formed(&self, group: &str, members: usize) {
        let deadline = Instant::now() + step_timeout();
        loop {
            let detail = self.group_detail(group).unwrap_or_default();
            let formed = serde_json::from_str::<serde_json::Value>(&detail).is_ok_and(|d| {
                d["state"].get("Formed").is_some()
                    && d["members"].as_object().is_some_and(|m| m.len() == members)
            });
            if formed {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "group {group} not formed with {members} members within {:?}: {detail}",
                step_timeout()
            );
            // Polling the broker's state, bounded by the deadline.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Publishes `n` synthetic stock rows keyed by index; returns them.
    pub async fn produce_stock(&self, topic: &str, n: usize) -> Vec<Record> {
        self.produce_stock_seeded(topic, n, 99).await
    }

    /// [`produce_stock`](Self::produce_stock) with rows from another seed.
    pub async fn produce_stock_seeded(&self, topic: &str, n: usize, seed: u64) -> Vec<Record> {
        let rows = StockTicks::new(seed).rows(n);
        let sink = KafkaSink::builder(self.config())
            .topic(topic)
            .key_field("Index")
            .build()
            .unwrap();
        let run = Pipeline::new(MemorySource::new(rows.clone()), sink).run();
        let stats = within(
            &format!("producing {n} rows to {topic}"),
            step_timeout(),
            || self.recent_log(),
            run,
        )
        .await
        .unwrap();
        assert_eq!(stats.records_out, n as u64);
        rows
    }

    /// Kills the broker (SIGKILL); its data stays in the directory.
    pub fn kill(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            // SIGKILL ends it at once; the wait only reaps it.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port and data.
    pub fn restart(&self) {
        self.kill();
        self.launch();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Moves `n` records from `source` into `sink`, committing what becomes
/// durable, then flushes and commits the rest (the consume-to-lake loop the
/// benchmarks time).
pub async fn drain_into(source: &mut KafkaSource, sink: &mut LakeSink, n: usize) {
    let mut seen = 0;
    while seen < n {
        if let SourceEvent::Records { records, .. } = source.poll(4096).await.unwrap() {
            seen += records.len();
            sink.write(records).await.unwrap();
            source.commit(&sink.take_durable()).await.unwrap();
        }
    }
    sink.flush().await.unwrap();
    source.commit(&sink.take_durable()).await.unwrap();
}

/// A consumer-group member that holds what it is assigned, polls to stay
/// in the group, and never commits: the member that died holding
/// partitions, kept alive for as long as a test needs. Leaves the group
/// when dropped.
pub struct Hog {
    consumer: Arc<BaseConsumer>,
    stop: Arc<AtomicBool>,
    polling: Option<std::thread::JoinHandle<()>>,
}

impl Hog {
    /// Joins `group` on `topic` and waits until it holds a partition.
    pub fn join(broker: &Broker, group: &str, topic: &str) -> Self {
        let consumer: Arc<BaseConsumer> = Arc::new(
            broker
                .config()
                .client_config()
                .set("group.id", group)
                .set("partition.assignment.strategy", "cooperative-sticky")
                .set("enable.auto.commit", "false")
                .create()
                .unwrap(),
        );
        consumer.subscribe(&[topic]).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let polling = std::thread::spawn({
            let (consumer, stop) = (consumer.clone(), stop.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = consumer.poll(Duration::from_millis(100));
                }
            }
        });
        let hog = Hog {
            consumer,
            stop,
            polling: Some(polling),
        };
        let deadline = Instant::now() + step_timeout();
        while hog.partitions().is_empty() {
            assert!(
                Instant::now() < deadline,
                "the hog got no partition of {topic}\n{}",
                broker.diagnose(group, topic, 1)
            );
            // Polling the assignment, bounded by the deadline.
            std::thread::sleep(Duration::from_millis(50));
        }
        hog
    }

    /// The partitions it holds now.
    pub fn partitions(&self) -> Vec<i32> {
        self.consumer
            .assignment()
            .map(|a| a.elements().iter().map(|e| e.partition()).collect())
            .unwrap_or_default()
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(polling) = self.polling.take() {
            let _ = polling.join();
        }
    }
}
