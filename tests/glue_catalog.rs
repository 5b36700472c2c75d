//! The AWS Glue Data Catalog through the Glue API, against moto (which
//! implements Glue, IAM and S3 on one port), read back by boto3: sync of a
//! crawled lake, registration as `kafka_to_lake` lands data, a crash and
//! an outage between landing and registering, permissions and bad
//! configuration, and AWS profiles (static keys, `credential_process`).

#![cfg(all(feature = "kafka", feature = "glue"))]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::broker::Broker;
use common::lake_writer::{LakeWriter, Member};
use common::s3::S3Server;
use common::{example, python};
use streamlake::catalog::{Crawler, Projection};
use streamlake::glue::GlueCatalog;
use streamlake::{
    CsvEncoder, Error, Lake, LakeSink, ParquetEncoder, Record, RecordSink, StockTicks,
};

const DATABASE: &str = "lakedb";

/// A table as boto3 reads it from Glue.
#[derive(serde::Deserialize, Debug, Clone, PartialEq)]
struct GlueTable {
    columns: Vec<(String, String)>,
    partition_keys: Vec<(String, String)>,
    location: String,
    parameters: BTreeMap<String, String>,
    serde: String,
    serde_parameters: BTreeMap<String, String>,
    input_format: String,
    partitions: Vec<GluePartition>,
}

#[derive(serde::Deserialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct GluePartition {
    values: Vec<String>,
    location: String,
}

fn interop(script: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(script)
}

/// The database's tables as boto3 sees them; `None` when it does not exist.
fn glue_tables(endpoint: &str) -> Option<BTreeMap<String, GlueTable>> {
    let out = common::process::output(
        "boto3 glue",
        Command::new(python("boto3"))
            .arg(interop("glue_client.py"))
            .args(["dump", endpoint, DATABASE]),
        common::process::step_timeout(),
    );
    assert!(
        out.status.success(),
        "boto3 glue dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    #[derive(serde::Deserialize)]
    struct Dump {
        tables: Option<BTreeMap<String, GlueTable>>,
    }
    serde_json::from_slice::<Dump>(&out.stdout).unwrap().tables
}

/// The partitions of each table, from the object keys boto3 lists in S3:
/// `data/TABLE/k=v/k=v/object` → values and `s3://lake/data/TABLE/k=v/k=v/`.
fn listed_partitions(s3: &S3Server, prefix: &str) -> BTreeMap<String, BTreeSet<GluePartition>> {
    let mut tables: BTreeMap<String, BTreeSet<GluePartition>> = BTreeMap::new();
    for key in boto3_keys(s3, prefix) {
        let relative = key.strip_prefix(prefix).unwrap();
        let segments: Vec<&str> = relative.split('/').collect();
        if segments.iter().any(|s| s.starts_with('_')) {
            continue;
        }
        let dirs = &segments[1..segments.len() - 1];
        let values = dirs
            .iter()
            .map(|d| unescape(d.split_once('=').unwrap().1))
            .collect();
        let location = format!("s3://lake/{prefix}{}/{}/", segments[0], dirs.join("/"));
        tables
            .entry(segments[0].to_string())
            .or_default()
            .insert(GluePartition { values, location });
    }
    tables
}

/// Hive's `%XX` escaping undone, written here again so the check does not
/// share streamlake's.
fn unescape(s: &str) -> String {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

async fn glue(s3: &S3Server, lake: &Lake) -> GlueCatalog {
    GlueCatalog::builder(DATABASE, lake.to_string())
        .endpoint(s3.endpoint())
        .region("us-east-1")
        .credentials("testing", "testing-secret", None)
        .build()
        .await
        .unwrap()
}

async fn write(lake: &Lake, table: &str, sink_encoder: &str, records: Vec<Record>) {
    let builder = LakeSink::builder(lake.clone())
        .table(table)
        .partition_by("index={Index}/dt={@date}");
    let builder = match sink_encoder {
        "csv" => builder.encoder(CsvEncoder::new()),
        "parquet" => builder.encoder(ParquetEncoder::new(StockTicks::columns())),
        _ => builder,
    };
    let mut sink = builder.build().unwrap();
    let rejected = sink.write(records).await.unwrap();
    assert!(
        rejected.is_empty(),
        "{:?}",
        rejected.first().map(|r| &r.reason)
    );
    sink.flush().await.unwrap();
}

/// Stock rows of the given indexes, one per day from `day`.
fn stock_rows(first_offset: i64, n: usize) -> Vec<Record> {
    let mut ticks = StockTicks::new(7).start_at(first_offset);
    ticks.rows(n)
}

/// The stock columns under Athena names: `Index` collides with the
/// partition key `index`.
const STOCK_COLUMNS: [&str; 9] = [
    "index_2",
    "date",
    "open",
    "high",
    "low",
    "close",
    "adj_close",
    "volume",
    "closeusd",
];

fn assert_matches_lake(
    tables: &BTreeMap<String, GlueTable>,
    listed: &BTreeMap<String, BTreeSet<GluePartition>>,
) {
    assert_eq!(
        tables.keys().collect::<Vec<_>>(),
        listed.keys().collect::<Vec<_>>(),
        "the tables in Glue are the lake's"
    );
    for (name, table) in tables {
        let registered: BTreeSet<GluePartition> = table.partitions.iter().cloned().collect();
        assert_eq!(
            registered.len(),
            table.partitions.len(),
            "{name}: no duplicates"
        );
        assert_eq!(
            &registered, &listed[name],
            "{name}: partitions and locations"
        );
        assert_eq!(table.location, format!("s3://lake/data/{name}/"));
        assert_eq!(
            table.partition_keys,
            [
                ("index".to_string(), "string".to_string()),
                ("dt".into(), "date".into())
            ]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_makes_glue_hold_the_lake_and_a_second_sync_changes_nothing() {
    let s3 = S3Server::start();
    s3.bucket("lake");
    let lake = s3.lake("s3://lake/data");
    write(&lake, "stock_jsonl", "jsonl", stock_rows(0, 250)).await;
    write(&lake, "stock_csv", "csv", stock_rows(0, 120)).await;
    write(&lake, "stock_parquet", "parquet", stock_rows(0, 120)).await;
    let (catalog, _) = Crawler::new().run(&lake).await.unwrap();
    let glue = glue(&s3, &lake).await;

    let report = glue.sync(&catalog, None).await.unwrap();
    assert!(report.database_created, "{report:?}");
    assert_eq!(report.tables_created.len(), 3, "{report:?}");
    let tables = glue_tables(&s3.endpoint()).expect("the database exists");
    let listed = listed_partitions(&s3, "data/");
    assert_matches_lake(&tables, &listed);
    assert!(
        listed["stock_jsonl"].len() > 200,
        "enough partitions for several batches"
    );
    assert_eq!(
        report.partitions_added,
        listed.values().map(BTreeSet::len).sum::<usize>()
    );

    let names = |t: &GlueTable| t.columns.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    for (name, table) in &tables {
        assert_eq!(names(table), STOCK_COLUMNS, "{name}");
        let types: BTreeMap<&str, &str> = table
            .columns
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        assert_eq!(types["open"], "double", "{name}");
        assert_eq!(types["index_2"], "string", "{name}");
    }
    let jsonl = &tables["stock_jsonl"];
    assert_eq!(jsonl.serde, "org.openx.data.jsonserde.JsonSerDe");
    assert_eq!(jsonl.serde_parameters["mapping.adj_close"], "Adj Close");
    assert_eq!(jsonl.serde_parameters["mapping.index_2"], "Index");
    assert_eq!(jsonl.parameters["classification"], "json");
    assert_eq!(tables["stock_csv"].parameters["classification"], "csv");
    assert_eq!(
        tables["stock_csv"].serde,
        "org.apache.hadoop.hive.serde2.OpenCSVSerde"
    );
    assert_eq!(
        tables["stock_parquet"].parameters["classification"],
        "parquet"
    );
    assert!(tables["stock_parquet"].input_format.contains("Parquet"));

    let again = glue.sync(&catalog, None).await.unwrap();
    assert!(
        again.tables_created.is_empty() && again.tables_updated.is_empty(),
        "{again:?}"
    );
    assert_eq!(again.partitions_added, 0, "{again:?}");
    assert_eq!(
        glue_tables(&s3.endpoint()).unwrap(),
        tables,
        "a second sync changes nothing"
    );

    // More data: a new column and new days.
    let more: Vec<Record> = stock_rows(250, 30)
        .into_iter()
        .map(|mut r| {
            let mut row: serde_json::Value = serde_json::from_slice(&r.value).unwrap();
            row["Currency"] = "USD".into();
            r.value = serde_json::to_vec(&row).unwrap().into();
            r
        })
        .collect();
    write(&lake, "stock_jsonl", "jsonl", more).await;
    let (catalog, _) = Crawler::new().run(&lake).await.unwrap();
    let grown = glue.sync(&catalog, None).await.unwrap();
    assert_eq!(grown.tables_updated, ["stock_jsonl"], "{grown:?}");
    assert_eq!(
        grown.new_columns,
        ["stock_jsonl.currency (string)"],
        "{grown:?}"
    );
    assert_eq!(grown.partitions_added, 30, "{grown:?}");
    let tables = glue_tables(&s3.endpoint()).unwrap();
    assert_eq!(
        tables["stock_jsonl"].columns.last().unwrap(),
        &("currency".into(), "string".into())
    );
    assert_matches_lake(&tables, &listed_partitions(&s3, "data/"));
}

#[tokio::test(flavor = "multi_thread")]
async fn projection_sets_athena_properties_instead_of_partitions() {
    let s3 = S3Server::start();
    s3.bucket("lake");
    let lake = s3.lake("s3://lake/data");
    write(&lake, "stock_jsonl", "jsonl", stock_rows(0, 20)).await;
    let (catalog, _) = Crawler::new().run(&lake).await.unwrap();
    glue(&s3, &lake)
        .await
        .sync(&catalog, Some(&Projection::new()))
        .await
        .unwrap();
    let table = &glue_tables(&s3.endpoint()).unwrap()["stock_jsonl"];
    assert!(
        table.partitions.is_empty(),
        "projection registers no partition"
    );
    let p = &table.parameters;
    assert_eq!(p["projection.enabled"], "true");
    assert_eq!(p["projection.index.type"], "enum");
    assert_eq!(p["projection.dt.type"], "date");
    assert_eq!(p["projection.dt.format"], "yyyy-MM-dd");
    assert_eq!(
        p["storage.location.template"],
        "s3://lake/data/stock_jsonl/index=${index}/dt=${dt}/"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_database_without_creation_and_an_unreachable_endpoint_are_clear_errors() {
    let s3 = S3Server::start();
    let lake = Lake::memory();
    let strict = GlueCatalog::builder(DATABASE, "s3://lake/data")
        .endpoint(s3.endpoint())
        .region("us-east-1")
        .credentials("testing", "testing-secret", None)
        .create_database(false)
        .build()
        .await
        .unwrap();
    let err = strict.ensure_database().await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    for name in [DATABASE, "does not exist", &s3.endpoint()] {
        assert!(text.contains(name), "{name} not in {text}");
    }
    assert!(glue_tables(&s3.endpoint()).is_none(), "nothing was created");

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let down = GlueCatalog::builder(DATABASE, lake.to_string())
        .endpoint(&closed)
        .region("us-east-1")
        .credentials("testing", "testing-secret", None)
        .retries(2, Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let err = down.ensure_database().await.unwrap_err();
    let text = err.to_string();
    assert!(err.is_retryable(), "{err:?}");
    for name in [DATABASE, "unreachable", closed.as_str()] {
        assert!(text.contains(name), "{name} not in {text}");
    }
}

/// `kafka_to_lake` registering as it lands, given the AWS environment.
fn registering_writer<'a>(broker: &'a Broker, env: Vec<(&'static str, String)>) -> LakeWriter<'a> {
    LakeWriter::new(broker, "s3://lake/data").env(env)
}

fn committed_total(broker: &Broker) -> i64 {
    use streamlake::kafka::rdkafka::consumer::{BaseConsumer, Consumer};
    use streamlake::kafka::rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = broker
        .config()
        .client_config()
        .set("group.id", common::lake_writer::GROUP)
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..3 {
        list.add_partition(common::lake_writer::TOPIC, p);
    }
    let list = consumer
        .committed_offsets(list, Duration::from_secs(30))
        .unwrap();
    list.elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum()
}

/// Polls until `done` (each poll a request to a real server), failing
/// with `what` after the step timeout.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + common::process::step_timeout();
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_to_lake_registers_every_partition_as_it_lands() {
    let broker = Broker::start();
    broker.topic(common::lake_writer::TOPIC, 3).await;
    broker
        .produce_stock(common::lake_writer::TOPIC, 3_000)
        .await;
    let s3 = S3Server::start();
    s3.bucket("lake");
    let writer = registering_writer(&broker, s3.env());
    writer.finish(&["--glue-database", DATABASE]);
    assert_registered_as_listed(
        &s3,
        &s3,
        "every partition holding data is registered, and no registered partition is empty",
    );
}

/// A broker with 2,000 stock rows on a 3-partition topic, a moto for S3
/// (bucket `lake`) and a second moto for Glue alone, so that Glue can be
/// frozen while S3 answers.
struct SplitServices {
    broker: Broker,
    s3: S3Server,
    glue: S3Server,
    sent: i64,
}

impl SplitServices {
    async fn start() -> Self {
        let broker = Broker::start();
        broker.topic(common::lake_writer::TOPIC, 3).await;
        let sent = broker
            .produce_stock(common::lake_writer::TOPIC, 2_000)
            .await
            .len() as i64;
        let s3 = S3Server::start();
        s3.bucket("lake");
        SplitServices {
            broker,
            s3,
            glue: S3Server::start(),
            sent,
        }
    }

    /// `kafka_to_lake` with S3 and Glue on their own servers.
    fn writer(&self) -> LakeWriter<'_> {
        let mut env = self.s3.env();
        env.push(("AWS_ENDPOINT_URL_GLUE", self.glue.endpoint()));
        registering_writer(&self.broker, env)
    }
}

/// Follows `member` until its registrar has started.
fn wait_for_registration(member: &mut Member<'_>, writer: &LakeWriter<'_>) {
    member.process.wait_for(
        "registration started",
        common::process::step_timeout(),
        &|| writer.diagnose(),
        |line| line.contains("registering in glue database"),
    );
}

/// Table `stock` in Glue has exactly the partitions boto3 lists in the lake.
fn assert_registered_as_listed(glue: &S3Server, s3: &S3Server, what: &str) {
    let tables = glue_tables(&glue.endpoint()).expect("database created");
    let registered: BTreeSet<GluePartition> = tables["stock"].partitions.iter().cloned().collect();
    let listed = listed_partitions(s3, "data/");
    assert!(!listed["stock"].is_empty());
    assert_eq!(registered, listed["stock"], "{what}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_between_landing_and_registering_is_repaired_by_the_restart() {
    let services = SplitServices::start().await;
    let SplitServices {
        broker,
        s3,
        glue,
        sent,
    } = &services;
    let writer = services.writer();

    let mut member = writer.spawn(&["--glue-database", DATABASE, "--exit-when-idle", "600"]);
    wait_for_registration(&mut member, &writer);
    glue.pause();
    wait_until("objects in the lake", || {
        !listed_partitions(s3, "data/").is_empty()
    });
    member.kill();
    assert_eq!(
        committed_total(broker),
        0,
        "nothing is committed before it is registered"
    );
    glue.resume();

    writer.finish(&["--glue-database", DATABASE]);
    assert_eq!(committed_total(broker), *sent);
    assert_registered_as_listed(glue, s3, "the restart registered what was missed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_glue_outage_longer_than_the_commit_timeout_is_owed_and_registered_next_start() {
    let services = SplitServices::start().await;
    let SplitServices {
        broker,
        s3,
        glue,
        sent,
    } = &services;
    let writer = services.writer();
    let args = ["--glue-database", DATABASE, "--glue-commit-timeout", "2"];

    let mut member = writer.spawn(&[&args[..], &["--exit-when-idle", "3"]].concat());
    wait_for_registration(&mut member, &writer);
    glue.pause();
    let status = member.wait();
    let log = member.process.log.recent();
    assert!(
        status.success(),
        "commits go ahead during the outage: {log}"
    );
    assert!(
        log.contains("recorded as owed"),
        "the outage is reported: {log}"
    );
    assert_eq!(committed_total(broker), *sent);
    let owed = boto3_keys(s3, "data/_streamlake/glue/");
    assert!(
        !owed.is_empty(),
        "owed registrations are recorded in the lake"
    );
    glue.resume();

    writer.finish(&args);
    assert_registered_as_listed(glue, s3, "the next start registered what was owed");
    assert!(
        boto3_keys(s3, "data/_streamlake/glue/").is_empty(),
        "owed records are settled"
    );
}

fn boto3_keys(s3: &S3Server, prefix: &str) -> Vec<String> {
    let out = common::process::output(
        "boto3 s3",
        Command::new(python("boto3"))
            .arg(interop("s3_client.py"))
            .args(["keys", &s3.endpoint(), "lake", prefix]),
        common::process::step_timeout(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

/// An IAM user of moto allowed everything but `denied`; moto checks
/// credentials from then on.
fn restricted_user(s3: &S3Server, denied: &str) -> (String, String) {
    let out = common::process::output(
        "boto3 iam",
        Command::new(python("boto3"))
            .arg(interop("glue_client.py"))
            .args(["user", &s3.endpoint(), denied]),
        common::process::step_timeout(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        keys["key"].as_str().unwrap().into(),
        keys["secret"].as_str().unwrap().into(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_permission_is_named_and_no_secret_is_printed() {
    let s3 = S3Server::start();
    s3.bucket("lake");
    let (key, secret) = restricted_user(&s3, "glue:CreateTable");
    let mut env = s3.env();
    env.retain(|(k, _)| !k.starts_with("AWS_ACCESS_KEY_ID") && !k.starts_with("AWS_SECRET"));
    env.extend([
        ("AWS_ACCESS_KEY_ID", key),
        ("AWS_SECRET_ACCESS_KEY", secret.clone()),
    ]);
    let out = common::process::output(
        "stock_pipeline",
        Command::new(example("stock_pipeline"))
            .args(["--lake", "s3://lake/data", "--synthetic", "50"])
            .args(["--glue-database", DATABASE, "--glue-commit-timeout", "5"])
            .env_remove("KAFKA_BROKERS")
            .envs(env),
        common::process::step_timeout(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stderr.contains(&secret) && !stdout.contains(&secret),
        "a secret leaked: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Data lands and commits (the registration is owed), and the denied
    // permission is named with database, table and endpoint.
    assert!(out.status.success(), "{stderr}");
    let denied = stderr
        .lines()
        .find(|l| l.contains("access denied"))
        .unwrap_or_else(|| panic!("no access denied error: {stderr}"));
    for name in ["glue:CreateTable", DATABASE, "stock", &s3.endpoint()] {
        assert!(denied.contains(name), "{name} not in {denied}");
    }
}

/// Profiles read by aws-config, against moto checking credentials: static
/// keys in a profile and keys printed by `credential_process`, for S3 and
/// Glue alike; a profile with wrong keys is refused.
#[tokio::test(flavor = "multi_thread")]
async fn profiles_with_static_keys_and_credential_process_reach_s3_and_glue() {
    let s3 = S3Server::start();
    s3.bucket("lake");
    let (key, secret) = restricted_user(&s3, "glue:DeleteTable");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("print-keys.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho '{{\"Version\": 1, \"AccessKeyId\": \"{key}\", \"SecretAccessKey\": \"{secret}\"}}'\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[profile static]\nregion = us-east-1\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n\n\
             [profile process]\nregion = us-east-1\ncredential_process = {}\n\n\
             [profile wrong]\nregion = us-east-1\naws_access_key_id = AKIAWRONG\naws_secret_access_key = wrong\n",
            script.display()
        ),
    )
    .unwrap();
    let env = |profile: &str| -> Vec<(String, String)> {
        vec![
            ("AWS_PROFILE".into(), profile.into()),
            ("AWS_CONFIG_FILE".into(), config.display().to_string()),
            ("AWS_SHARED_CREDENTIALS_FILE".into(), "/nonexistent".into()),
            ("AWS_ENDPOINT_URL".into(), s3.endpoint()),
            ("AWS_ALLOW_HTTP".into(), "true".into()),
            ("HOME".into(), dir.path().display().to_string()),
        ]
    };
    for profile in ["static", "process"] {
        let lake = streamlake::S3Options::from_vars("s3://lake/data", env(profile))
            .unwrap()
            .open()
            .unwrap();
        lake.check_writes()
            .await
            .unwrap_or_else(|e| panic!("profile {profile}: {e}"));
        write(&lake, "stock", "jsonl", stock_rows(0, 5)).await;

        let out = common::process::output(
            "lake_query",
            Command::new(example("lake_query"))
                .args([
                    "--lake",
                    "s3://lake/data",
                    "--crawl",
                    "--glue-database",
                    DATABASE,
                ])
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap())
                .envs(env(profile)),
            common::process::step_timeout(),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "profile {profile}: {stderr}");
        assert!(stderr.contains("glue sync:"), "{stderr}");
        assert!(!stderr.contains(&secret), "a secret leaked: {stderr}");
    }

    let lake = streamlake::S3Options::from_vars("s3://lake/data", env("wrong"))
        .unwrap()
        .open()
        .unwrap();
    let err = lake.check().await.unwrap_err().to_string();
    assert!(err.contains("AWS profile wrong"), "{err}");
    assert!(
        !err.contains("wrong\n") && !err.contains("= wrong"),
        "{err}"
    );
}

/// A Delta table is registered the way Athena reads one natively: its
/// location and `table_type = DELTA`, with neither partitions nor
/// partition keys of its own (Athena reads both from the log). By the
/// registrar as groups land, and by a `sync` of a crawl, which then finds
/// nothing to change.
#[cfg(feature = "delta")]
#[tokio::test(flavor = "multi_thread")]
async fn a_delta_table_is_registered_by_location_and_table_type_without_partitions() {
    use streamlake::glue::GlueRegistrar;
    use streamlake::table::TableFormat;
    use streamlake::table::delta::DeltaOptions;

    let s3 = S3Server::start();
    s3.bucket("lake");
    let lake = s3.lake("s3://lake/data");
    let registrar = GlueRegistrar::builder(glue(&s3, &lake).await, lake.clone())
        .start()
        .await
        .unwrap();
    let mut sink = LakeSink::builder(lake.clone())
        .table("stock_delta")
        .partition_by("Index={Index}")
        .max_records_per_object(60)
        .table_format(TableFormat::Delta(
            DeltaOptions::new(StockTicks::columns()).writer("group-1"),
        ))
        .on_landed(registrar.clone())
        .build()
        .unwrap();
    let rejected = sink.write(stock_rows(0, 300)).await.unwrap();
    assert!(rejected.is_empty(), "{rejected:?}");
    sink.flush().await.unwrap();
    sink.settle().await.unwrap();
    let stats = registrar.finish().await;
    assert_eq!(registrar.last_error(), None, "{stats:?}");
    assert_eq!(stats.owed, 0, "{stats:?}");

    let tables = glue_tables(&s3.endpoint()).expect("the database exists");
    let delta = &tables["stock_delta"];
    assert_eq!(
        delta.parameters.get("table_type").map(String::as_str),
        Some("DELTA"),
        "{delta:?}"
    );
    assert_eq!(delta.location, "s3://lake/data/stock_delta/");
    assert!(delta.partition_keys.is_empty(), "{delta:?}");
    assert!(delta.partitions.is_empty(), "{delta:?}");

    let (catalog, _) = Crawler::new().run(&lake).await.unwrap();
    let report = glue(&s3, &lake).await.sync(&catalog, None).await.unwrap();
    assert!(
        report.tables_created.is_empty() && report.tables_updated.is_empty(),
        "{report:?}"
    );
    assert_eq!(report.partitions_added, 0, "{report:?}");
    assert_eq!(glue_tables(&s3.endpoint()).unwrap(), tables);
}
