//! A real Kafka-API broker (tansu, sqlite storage) per test, on a free
//! loopback port, in a temporary directory, stopped when dropped.

use std::io::BufReader;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::service::{free_port, wait_until_ready};
use streamlake::kafka::{KafkaConfig, KafkaSink, KafkaSource, create_topic};
use streamlake::{
    LakeSink, MemorySource, Pipeline, Record, RecordSink, RecordSource, SourceEvent, StockTicks,
};

pub struct Broker {
    child: Option<Child>,
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
        let mut broker = Broker {
            child: None,
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
            engine,
        };
        broker.launch();
        broker
    }

    fn launch(&mut self) {
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
            .current_dir(self.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting tansu");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        wait_until_ready(
            &mut stdout,
            "ready in",
            &format!("tansu (port {})", self.port),
        );
        // Keep draining stdout (the broker's log) so it never blocks on a
        // full pipe; STREAMLAKE_TANSU_LOG=FILE keeps it for debugging.
        std::thread::spawn(move || match std::env::var_os("STREAMLAKE_TANSU_LOG") {
            Some(path) => {
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap();
                std::io::copy(&mut stdout, &mut file)
            }
            None => std::io::copy(&mut stdout, &mut std::io::sink()),
        });
        self.child = Some(child);
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
        create_topic(&self.config(), name, partitions)
            .await
            .unwrap();
    }

    /// Publishes `n` synthetic stock rows keyed by index; returns them.
    pub async fn produce_stock(&self, topic: &str, n: usize) -> Vec<Record> {
        let rows = StockTicks::new(99).rows(n);
        let sink = KafkaSink::builder(self.config())
            .topic(topic)
            .key_field("Index")
            .build()
            .unwrap();
        let stats = Pipeline::new(MemorySource::new(rows.clone()), sink)
            .quiet()
            .run()
            .await
            .unwrap();
        assert_eq!(stats.records_out, n as u64);
        rows
    }

    /// Kills the broker (SIGKILL); its data stays in the directory.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port and data.
    pub fn restart(&mut self) {
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
