//! The lake on a real S3-compatible server (moto, started per test): the
//! stock pipeline end to end read back by boto3 and object_store, multipart
//! uploads, two writers racing for one object, an S3 outage mid-run, and
//! bad configuration.

#![cfg(all(feature = "kafka", feature = "s3"))]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use common::broker::Broker;
use common::lake_writer::LakeWriter;
use common::s3::S3Server;
use common::{assert_same_rows, example, python, rows, values};
use streamlake::kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use streamlake::kafka::rdkafka::{Offset, TopicPartitionList};
use streamlake::{
    Error, LakeSink, MIN_PART_SIZE, Position, Record, RecordSink, S3Encryption, StockTicks,
};

/// One object as boto3 sees it.
#[derive(serde::Deserialize)]
struct Boto3Object {
    key: String,
    etag: String,
    sse: Option<String>,
    kms_key: Option<String>,
    text: String,
}

/// Every object under `prefix` of `bucket`, read by boto3.
fn boto3_objects(s3: &S3Server, bucket: &str, prefix: &str) -> Vec<Boto3Object> {
    let client = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/s3_client.py");
    let out = common::process::output(
        "boto3",
        Command::new(python("boto3"))
            .arg(client)
            .args(["dump", &s3.endpoint(), bucket, prefix]),
        common::process::step_timeout(),
    );
    assert!(
        out.status.success(),
        "boto3 read-back failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn field(row: &str, name: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(row).unwrap();
    value[name].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn stock_pipeline_lands_every_record_on_s3_exactly_once() {
    let broker = Broker::start();
    broker.topic("stock", 3).await;
    let s3 = S3Server::start();
    s3.bucket("lake");
    let n = 5_000;
    let out = common::process::output(
        "stock_pipeline",
        Command::new(example("stock_pipeline"))
            .args(["--lake", "s3://lake/data", "--synthetic", &n.to_string()])
            .args(["--partition-by", "index={Index}"])
            .env("KAFKA_BROKERS", broker.brokers())
            .envs(s3.env()),
        common::process::step_timeout(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stock_pipeline failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("produced:  {n} rows")), "{stdout}");
    assert!(
        stdout.contains("lake:      s3://lake/data/stock"),
        "{stdout}"
    );
    // It ends with the crawler and one SQL answer over the S3 lake.
    assert!(stdout.contains("| avg_close_usd |"), "{stdout}");
    let want = values(&StockTicks::new(42).rows(n as usize));

    // Through object_store ...
    let lake = s3.lake("s3://lake/data");
    assert_same_rows(&rows(&lake, "stock").await, &want, "object_store read-back");

    // ... and through an independent client, with keys following the layout
    // `{table}/index={Index}/{topic}+{partition}+{first offset:020}.jsonl`.
    let objects = boto3_objects(&s3, "lake", "data/stock/");
    assert!(!objects.is_empty());
    let mut got = Vec::new();
    for object in &objects {
        let parts: Vec<&str> = object.key.split('/').collect();
        assert_eq!(parts.len(), 4, "{}", object.key);
        assert_eq!(&parts[..2], ["data", "stock"], "{}", object.key);
        let index = parts[2].strip_prefix("index=").expect("hive partition");
        let name = parts[3].strip_suffix(".jsonl").expect(".jsonl object");
        let fields: Vec<&str> = name.split('+').collect();
        assert!(
            fields.len() == 3
                && fields[0] == "stock"
                && fields[1].parse::<i32>().is_ok()
                && fields[2].len() == 20
                && fields[2].parse::<u64>().is_ok(),
            "{name}"
        );
        for row in object.text.lines() {
            assert_eq!(field(row, "Index"), index, "{}", object.key);
            got.push(row.to_string());
        }
    }
    got.sort();
    assert_same_rows(&got, &want, "boto3 read-back");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_larger_than_the_part_size_goes_up_in_parts() {
    let s3 = S3Server::start();
    s3.bucket("lake");
    let lake = s3
        .options("s3://lake/big")
        .part_size(MIN_PART_SIZE)
        .open()
        .unwrap();
    let records = StockTicks::new(7).rows(60_000); // about 11 MB of JSON Lines
    let mut sink = LakeSink::builder(lake.clone())
        .table("stock")
        .max_bytes_per_object(usize::MAX)
        .max_records_per_object(usize::MAX)
        .build()
        .unwrap();
    sink.write(records.clone()).await.unwrap();
    sink.flush().await.unwrap();
    assert_eq!(sink.take_durable().len(), 1);

    let objects = boto3_objects(&s3, "lake", "big/stock/");
    assert_eq!(objects.len(), 1);
    let object = &objects[0];
    assert!(
        object.text.len() > 2 * MIN_PART_SIZE,
        "{}",
        object.text.len()
    );
    // S3 gives a multipart object the ETag `{md5 of part md5s}-{parts}`.
    let parts = object.text.len().div_ceil(MIN_PART_SIZE);
    assert!(
        object.etag.ends_with(&format!("-{parts}")),
        "{}: etag {} is not a {parts}-part upload",
        object.key,
        object.etag
    );
    let mut got: Vec<String> = object.text.lines().map(String::from).collect();
    got.sort();
    assert_same_rows(&got, &values(&records), "multipart object");
    // The group marker is small: one PUT, a plain MD5 ETag.
    let markers = boto3_objects(&s3, "lake", "big/_streamlake/");
    assert_eq!(markers.len(), 1);
    assert!(!markers[0].etag.contains('-'), "{}", markers[0].etag);
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_are_encrypted_as_configured() {
    let s3 = S3Server::start();
    s3.bucket("lake");
    for (prefix, encryption) in [
        ("sse-s3", S3Encryption::S3Managed),
        (
            "sse-kms",
            S3Encryption::Kms {
                key_id: Some("alias/lake".into()),
            },
        ),
    ] {
        let lake = s3
            .options(&format!("s3://lake/{prefix}"))
            .encryption(encryption)
            .open()
            .unwrap();
        let mut sink = LakeSink::builder(lake).table("t").build().unwrap();
        sink.write(StockTicks::new(1).rows(10)).await.unwrap();
        sink.flush().await.unwrap();
    }
    let objects = boto3_objects(&s3, "lake", "sse-s3/t/");
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0].sse.as_deref(), Some("AES256"));
    let objects = boto3_objects(&s3, "lake", "sse-kms/t/");
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0].sse.as_deref(), Some("aws:kms"));
    assert!(
        objects[0]
            .kms_key
            .as_deref()
            .is_some_and(|k| k.contains("alias/lake")),
        "{:?}",
        objects[0].kms_key
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_writers_racing_for_one_object_one_wins_the_loser_commits_nothing() {
    let s3 = S3Server::start();
    s3.bucket("lake");
    // Two writers (two clients) believe they own partition 0 of `ticks`;
    // the records at the same offsets differ.
    let batch = |tag: &str| -> Vec<Record> {
        (0..200)
            .map(|i| {
                Record::new(
                    Position::new("ticks", 0, i),
                    format!(r#"{{"n":{i},"w":"{tag}"}}"#),
                )
            })
            .collect()
    };
    let sink = || {
        LakeSink::builder(s3.lake("s3://lake/race"))
            .table("t")
            .build()
            .unwrap()
    };
    let (mut a, mut b) = (sink(), sink());
    a.write(batch("a")).await.unwrap();
    b.write(batch("b")).await.unwrap();
    let (ra, rb) = tokio::join!(a.flush(), b.flush());
    let ((winner, winner_tag), (loser, loser_result)) = match (&ra, &rb) {
        (Ok(_), Err(_)) => ((&mut a, "a"), (&mut b, rb)),
        (Err(_), Ok(_)) => ((&mut b, "b"), (&mut a, ra)),
        _ => panic!("exactly one writer must win: {ra:?} / {rb:?}"),
    };
    assert!(
        matches!(loser_result, Err(Error::Conflict { .. })),
        "the loser reports a conflict: {loser_result:?}"
    );
    assert!(loser.take_durable().is_empty(), "the loser commits nothing");
    assert_eq!(winner.take_durable(), vec![Position::new("ticks", 0, 199)]);
    let lake = s3.lake("s3://lake/race");
    assert_same_rows(
        &rows(&lake, "t").await,
        &values(&batch(winner_tag)),
        "the winner's object",
    );
}

/// Committed offsets of group `lake` on topic `stock` (3 partitions).
fn committed(broker: &Broker) -> BTreeMap<i32, i64> {
    let consumer: BaseConsumer = broker
        .config()
        .client_config()
        .set("group.id", "lake")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..3 {
        list.add_partition("stock", p);
    }
    let list = consumer
        .committed_offsets(list, Duration::from_secs(30))
        .unwrap();
    list.elements()
        .iter()
        .map(|e| {
            let offset = match e.offset() {
                Offset::Offset(o) => o,
                _ => 0,
            };
            (e.partition(), offset)
        })
        .collect()
}

/// Rows in the lake per source partition (from the object names).
async fn rows_per_partition(s3: &S3Server) -> BTreeMap<i32, i64> {
    let mut counts = BTreeMap::new();
    for object in boto3_objects(s3, "lake", "data/stock/") {
        let name = object.key.rsplit('/').next().unwrap();
        let partition: i32 = name.split('+').nth(1).unwrap().parse().unwrap();
        *counts.entry(partition).or_default() += object.text.lines().count() as i64;
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn an_s3_outage_fails_clearly_commits_nothing_unwritten_and_a_restart_finishes() {
    let broker = Broker::start();
    broker.topic("stock", 3).await;
    let sent = broker.produce_stock("stock", 20_000).await;
    let s3 = S3Server::start();
    s3.bucket("lake");
    let mut env = s3.env();
    env.extend([
        ("STREAMLAKE_S3_REQUEST_TIMEOUT_SECS", "1".to_string()),
        ("STREAMLAKE_S3_RETRY_TIMEOUT_SECS", "4".to_string()),
        ("STREAMLAKE_S3_MAX_RETRIES", "3".to_string()),
    ]);
    let writer = LakeWriter::new(&broker, "s3://lake/data").env(env);

    let mut member = writer.spawn(&["--exit-when-idle", "60"]);
    assert!(
        member.wait_for_commits(2),
        "kafka_to_lake ended before S3 went away"
    );
    s3.pause();
    let rest = member
        .process
        .log
        .rest(std::time::Instant::now() + common::process::step_timeout());
    let status = member.wait();
    assert!(
        !status.success(),
        "kafka_to_lake must fail while S3 is down"
    );
    assert!(!rest.contains("panicked"), "{rest}");
    // The program's last word, not a retry logged on the way there.
    let error = rest
        .lines()
        .find(|l| l.starts_with("error: "))
        .expect("an error line");
    assert!(
        error.starts_with("error: object store") && error.contains(&s3.endpoint()),
        "the error names the store and endpoint: {error}"
    );

    s3.resume();
    let committed = committed(&broker);
    let written = rows_per_partition(&s3).await;
    assert!(committed.values().sum::<i64>() > 0, "{committed:?}");
    for (partition, offset) in &committed {
        let rows = written.get(partition).copied().unwrap_or(0);
        assert!(
            rows >= *offset,
            "partition {partition}: offset {offset} committed but only {rows} rows written"
        );
    }

    writer.finish(&[]);
    let lake = s3.lake("s3://lake/data");
    assert_same_rows(
        &rows(&lake, "stock").await,
        &values(&sent),
        "after the outage and a restart",
    );
}

/// `stock_pipeline` on the mock cluster with an S3 lake set up by `env`.
fn stock_pipeline_with(lake: &str, env: Vec<(&'static str, String)>) -> Output {
    common::process::output(
        "stock_pipeline",
        Command::new(example("stock_pipeline"))
            .args(["--lake", lake, "--synthetic", "10"])
            .env_remove("KAFKA_BROKERS")
            .envs(env),
        common::process::step_timeout(),
    )
}

fn assert_fails_naming(out: &Output, names: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !stderr.contains("testing-secret"),
        "a secret leaked: {stderr}"
    );
    let error = &stderr[stderr.find("error: ").expect("an error line")..];
    for name in names {
        assert!(error.contains(name), "{name:?} not in: {error}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_s3_configuration_is_a_clear_error() {
    let s3 = S3Server::start();
    s3.bucket("lake");
    let out = stock_pipeline_with("s3://no-such-bucket/x", s3.env());
    assert_fails_naming(&out, &["no-such-bucket", &s3.endpoint(), "does not exist"]);

    let checking = S3Server::start_checking_credentials();
    let out = stock_pipeline_with("s3://lake/x", checking.env());
    assert_fails_naming(
        &out,
        &["lake", &checking.endpoint(), "access denied", "testing"],
    );

    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let mut env = s3.env();
    env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    env.extend([
        ("AWS_ENDPOINT_URL", down.clone()),
        ("STREAMLAKE_S3_RETRY_TIMEOUT_SECS", "2".to_string()),
    ]);
    let out = stock_pipeline_with("s3://lake/x", env);
    assert_fails_naming(&out, &["lake", &down, "unreachable"]);
}

#[cfg(feature = "sql")]
#[tokio::test(flavor = "multi_thread")]
async fn crawl_and_sql_over_an_s3_lake_see_every_partition() {
    use std::collections::BTreeSet;

    use streamlake::catalog::{Catalog, crawl};
    use streamlake::sql::{LakeSql, OutputFormat};

    let s3 = S3Server::start();
    s3.bucket("lake");
    let lake = s3.lake("s3://lake/data");
    let records = StockTicks::new(3).rows(3_000);
    let mut sink = LakeSink::builder(lake.clone())
        .table("stock")
        .partition_by("index={Index}")
        .compression(streamlake::Compression::zstd())
        .build()
        .unwrap();
    sink.write(records.clone()).await.unwrap();
    sink.flush().await.unwrap();

    let (catalog, report) = crawl(&lake, "").await.unwrap();
    assert_eq!(report.new_tables, ["stock"], "{report}");
    let table = catalog.table("stock").unwrap();
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for r in &records {
        *want
            .entry(field(std::str::from_utf8(&r.value).unwrap(), "Index"))
            .or_default() += 1;
    }
    let partitions: BTreeSet<String> = table
        .partitions
        .iter()
        .map(|p| p.values[0].clone())
        .collect();
    assert_eq!(partitions, want.keys().cloned().collect::<BTreeSet<_>>());
    assert_eq!(
        Catalog::load(&s3.lake("s3://lake/data")).await.unwrap(),
        catalog
    );

    let sql = LakeSql::new(&lake, &catalog).unwrap();
    let batches = sql
        .query("SELECT index, count(*) AS n FROM stock GROUP BY index ORDER BY index")
        .await
        .unwrap();
    let got: BTreeMap<String, u64> = OutputFormat::JsonLines
        .render(&batches)
        .unwrap()
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                row["index"].as_str().unwrap().to_string(),
                row["n"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sink_conformance_suite_passes_on_s3() {
    let s3 = S3Server::start();
    s3.bucket("conformance");
    common::conformance::run_all(|name| s3.lake(&format!("s3://conformance/{name}"))).await;
}

/// An S3-compatible server that ignores `If-None-Match` (answers 200 and
/// overwrites) or refuses it (501) would let a zombie writer replace a
/// newer writer's objects. The lake refuses such a server at its first
/// write, clearly and at once (a 501 is not retried for minutes), unless
/// unconditional writes are allowed: then the records land, at-least-once.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_ignores_or_refuses_conditional_creates_is_refused_unless_allowed() {
    use common::fault_proxy::{Fault, FaultProxy};
    use common::process::{step_timeout, within};

    let s3 = S3Server::start();
    s3.bucket("lake");
    let records = StockTicks::new(3).rows(50);
    for fault in [Fault::IgnoreIfNoneMatch, Fault::NotImplemented] {
        let proxy = FaultProxy::start(s3.port(), fault);
        let url = format!("s3://lake/{fault:?}");
        let options = || s3.options(&url).endpoint(proxy.endpoint());
        let sink = |lake: &streamlake::Lake| {
            LakeSink::builder(lake.clone())
                .table("stock")
                .build()
                .unwrap()
        };

        let lake = options().open().unwrap();
        let err = within(
            &format!("the probe ({fault:?})"),
            step_timeout(),
            || s3.recent_log(),
            lake.check_writes(),
        )
        .await
        .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Config(_)), "{text}");
        assert!(
            text.contains("If-None-Match") && text.contains(&proxy.endpoint()),
            "{text}"
        );
        let mut refused = sink(&lake);
        refused.write(records.clone()).await.unwrap();
        let err = within(
            "a refused flush",
            step_timeout(),
            String::new,
            refused.flush(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
        assert!(refused.take_durable().is_empty());

        let lake = options().allow_unconditional_writes(true).open().unwrap();
        let mut allowed = sink(&lake);
        allowed.write(records.clone()).await.unwrap();
        within(
            "an allowed flush",
            step_timeout(),
            String::new,
            allowed.flush(),
        )
        .await
        .unwrap();
        assert_same_rows(&rows(&lake, "stock").await, &values(&records), "allowed");
        assert!(proxy.conditional.load(std::sync::atomic::Ordering::Relaxed) > 0);
    }
}

/// A server error page can echo the signed request, session token
/// included: no error streamlake returns shows it (not only
/// `Lake::check`'s).
#[tokio::test(flavor = "multi_thread")]
async fn store_errors_never_show_the_secret_key_or_session_token() {
    use common::fault_proxy::{Fault, FaultProxy};
    let s3 = S3Server::start();
    let proxy = FaultProxy::start(s3.port(), Fault::EchoHeaders500);
    let lake = s3
        .options("s3://lake/echo")
        .endpoint(proxy.endpoint())
        .credentials(
            "AKIAECHO",
            "secret-key-xyz",
            Some("session-token-abc".into()),
        )
        .retries(0, Duration::from_secs(1))
        .allow_unconditional_writes(true)
        .open()
        .unwrap();
    let mut errors = vec![
        lake.check().await.unwrap_err(),
        lake.check_writes().await.unwrap_err(),
    ];
    let mut sink = LakeSink::builder(lake.clone()).table("t").build().unwrap();
    errors.push(sink.write(StockTicks::new(1).rows(3)).await.unwrap_err());
    errors.push(streamlake::catalog::crawl(&lake, "").await.unwrap_err());
    for err in errors {
        let text = format!("{err} {err:?}");
        assert!(
            !text.contains("session-token-abc") && !text.contains("secret-key-xyz"),
            "a secret leaked: {text}"
        );
    }
    // The echo did carry the token: the errors above were scrubbed.
}
