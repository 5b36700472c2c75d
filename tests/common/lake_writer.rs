//! `kafka_to_lake` as a child process against a test broker: started,
//! followed through its log, killed and finished by the process tests.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, Stdio};

use super::broker::Broker;
use super::example;

/// How to run `kafka_to_lake` (group `lake`, topic `stock`) into one lake.
pub struct LakeWriter {
    exe: PathBuf,
    brokers: String,
    lake: String,
    env: Vec<(&'static str, String)>,
}

impl LakeWriter {
    pub fn new(broker: &Broker, lake: &str) -> Self {
        LakeWriter {
            exe: example("kafka_to_lake"),
            brokers: broker.brokers(),
            lake: lake.to_string(),
            env: Vec::new(),
        }
    }

    /// Extra environment for every run (e.g. the S3 settings).
    pub fn env(mut self, env: Vec<(&'static str, String)>) -> Self {
        self.env = env;
        self
    }

    /// The command line; the short session timeout lets the group notice a
    /// killed member quickly.
    pub fn command(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(&self.exe);
        command
            .args(["--brokers", &self.brokers, "--topic", "stock"])
            .args(["--group", "lake", "--lake", &self.lake])
            .args(["--partition-by", "index={Index}"])
            .args(["--max-records-per-object", "500", "--idle-timeout", "1"])
            .args(["-X", "session.timeout.ms=6000"])
            .args(["-X", "heartbeat.interval.ms=500"])
            .args(["-X", "max.poll.interval.ms=10000"])
            .args(extra)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Starts `kafka_to_lake` logging every commit on its piped stderr.
    pub fn spawn(&self, extra: &[&str]) -> Child {
        self.command(extra)
            .arg("--verbose")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Runs `kafka_to_lake` until the topic is drained.
    pub fn finish(&self, extra: &[&str]) {
        let out = self
            .command(extra)
            .args(["--exit-when-idle", "3"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "final run failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Reads the child's log until `n` commits were logged; false if it ended first.
pub fn wait_for_commits(child: &mut Child, n: usize) -> (bool, BufReader<ChildStderr>) {
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = 0;
    let running = follow(&mut stderr, &mut BTreeSet::new(), |line, _| {
        seen += usize::from(line.contains("committed"));
        seen == n
    });
    (running, stderr)
}

/// Reads a member's log, tracking the partitions it owns (rebalancing is
/// incremental: each line names what one step adds or revokes), until
/// `done`; false if the log ended first.
pub fn follow(
    log: &mut BufReader<ChildStderr>,
    owned: &mut BTreeSet<i32>,
    mut done: impl FnMut(&str, &BTreeSet<i32>) -> bool,
) -> bool {
    let mut line = String::new();
    loop {
        line.clear();
        if log.read_line(&mut line).unwrap() == 0 {
            return false;
        }
        let named = (0..3).filter(|p| line.contains(&format!("partition: {p} ")));
        if line.contains("assigned") {
            owned.extend(named);
        } else if line.contains("revoking") {
            named.for_each(|p| _ = owned.remove(&p));
        }
        if done(&line, owned) {
            return true;
        }
    }
}

/// Drains the rest of a child's log in the background (it must never block on it).
pub fn drain(stderr: BufReader<ChildStderr>) {
    std::thread::spawn(move || {
        let mut stderr = stderr;
        std::io::copy(&mut stderr, &mut std::io::sink())
    });
}
