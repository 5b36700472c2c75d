//! `kafka_to_lake` process scenarios every table format must survive: a
//! SIGKILL crash loop, and a member killed while another takes over its
//! partitions. Each returns what was sent and where the lake is; the test
//! reads the lake back its own way (Hive objects, a Delta table).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use streamlake::Record;

use super::Rng;
use super::broker::Broker;
use super::lake_writer::LakeWriter;

/// What a scenario sent, and the lake it ran into.
pub struct Run {
    pub sent: Vec<Record>,
    pub lake: PathBuf,
    /// What happened, for the assertion message.
    pub what: String,
    _dir: tempfile::TempDir,
}

fn lake_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    (dir, lake)
}

/// 100,000 records on 3 partitions; `kafka_to_lake` (with `extra`
/// arguments) killed with SIGKILL at 10 random moments after 1–3 commits,
/// then run until the topic is drained.
pub async fn crash_loop(broker: &Broker, extra: &[&str]) -> Run {
    broker.topic("stock", 3).await;
    let sent = broker.produce_stock("stock", 100_000).await;
    let (dir, lake) = lake_dir();
    let writer = LakeWriter::new(broker, lake.to_str().unwrap());
    // Each restart joins as a new member and gets the partitions once the
    // group has expired the killed one (6 s session).
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kafka crash loop seed {seed}");
    let mut rng = Rng(seed);
    let mut kills = 0;
    while kills < 10 {
        let mut member = writer.spawn(extra);
        let running = member.wait_for_commits(1 + rng.below(3) as usize);
        assert!(
            running,
            "kafka_to_lake ended before it was killed: {:?}\n{}",
            member.wait(),
            member.process.log.recent()
        );
        std::thread::sleep(Duration::from_micros(rng.below(20_000))); // a random moment, not a wait
        member.kill();
        kills += 1;
    }
    writer.finish(extra);
    Run {
        sent,
        lake,
        what: format!("after {kills} kills (seed {seed})"),
        _dir: dir,
    }
}

/// Member A commits; B joins and is given partitions; more records
/// arrive; B is killed mid-run after a commit; A takes every partition
/// back and drains the topic.
pub async fn survivor_takes_over(broker: &Broker, extra: &[&str]) -> Run {
    broker.topic("stock", 3).await;
    let mut sent = broker.produce_stock("stock", 15_000).await;
    let (dir, lake) = lake_dir();
    let writer = LakeWriter::new(broker, lake.to_str().unwrap());

    let mut a_args = vec!["--exit-when-idle", "20"];
    a_args.extend_from_slice(extra);
    let mut a = writer.spawn(&a_args);
    let mut owned = BTreeSet::new();
    assert!(
        a.follow("a first commit", &mut owned, |event, _| event
            == "committed"),
        "A ended before it committed"
    );
    // B joins; A gives it some partitions; then more records arrive for
    // both, so B has work of its own when it dies.
    let mut b = writer.spawn(extra);
    let mut b_owned = BTreeSet::new();
    assert!(
        b.follow("B assigned", &mut b_owned, |_, owned| !owned.is_empty()),
        "B ended before it was assigned a partition"
    );
    sent.extend(broker.produce_stock_seeded("stock", 30_000, 7).await);
    assert!(b.wait_for_commits(1), "B ended before it committed");
    b.kill(); // SIGKILL mid-run
    // The survivor is assigned every partition once the group drops the
    // dead member (its session times out after 6 s): A first gave B some
    // of its partitions, then gets them all back.
    let mut gave_some = false;
    assert!(
        a.follow(
            "the survivor owning every partition",
            &mut owned,
            |event, owned| {
                gave_some |= owned.len() < 3;
                gave_some && event == "assigned" && owned.len() == 3
            }
        ),
        "the survivor exited owning only partitions {owned:?} (gave some to B: {gave_some})"
    );
    let status = a.wait();
    assert!(
        status.success(),
        "survivor failed: {status}\n{}",
        a.process.log.recent()
    );
    Run {
        sent,
        lake,
        what: "after the survivor took over".into(),
        _dir: dir,
    }
}
