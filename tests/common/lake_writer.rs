//! `kafka_to_lake` as a child process against a test broker: started,
//! followed through its log, killed and finished by the process tests,
//! every wait with a deadline and a diagnosis.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};

use super::broker::Broker;
use super::example;
use super::process::{Supervised, output, step_timeout};

/// The group and topic every run uses.
pub const GROUP: &str = "lake";
pub const TOPIC: &str = "stock";

/// How to run `kafka_to_lake` (group `lake`, topic `stock` of 3
/// partitions) into one lake.
pub struct LakeWriter<'a> {
    broker: &'a Broker,
    exe: PathBuf,
    lake: String,
    env: Vec<(&'static str, String)>,
}

/// One running `kafka_to_lake`, its log followed.
pub struct Member<'a> {
    pub process: Supervised,
    writer: &'a LakeWriter<'a>,
}

impl<'a> LakeWriter<'a> {
    pub fn new(broker: &'a Broker, lake: &str) -> Self {
        LakeWriter {
            broker,
            exe: example("kafka_to_lake"),
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
    /// killed member quickly, and the short stall window gets a member out
    /// of tansu 0.6.0's empty assignment (see
    /// `scripts/tansu-group-stall-repro.py`) in seconds.
    pub fn command(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(&self.exe);
        command
            .args(["--brokers", &self.broker.brokers(), "--topic", TOPIC])
            .args(["--group", GROUP, "--lake", &self.lake])
            .args(["--partition-by", "index={Index}"])
            .args(["--max-records-per-object", "500", "--idle-timeout", "1"])
            .args(["--stall-window", "10"])
            .args(["-X", "session.timeout.ms=6000"])
            .args(["-X", "heartbeat.interval.ms=500"])
            .args(["-X", "max.poll.interval.ms=10000"])
            .args(extra)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Starts `kafka_to_lake` printing its pipeline events as JSON lines.
    pub fn spawn(&'a self, extra: &[&str]) -> Member<'a> {
        let mut command = self.command(extra);
        command.arg("--events");
        Member {
            process: Supervised::spawn("kafka_to_lake", &mut command),
            writer: self,
        }
    }

    /// Runs `kafka_to_lake` until the topic is drained; it must succeed.
    pub fn finish(&self, extra: &[&str]) {
        let out = output(
            "kafka_to_lake (final run)",
            self.command(extra).args(["--exit-when-idle", "3"]),
            step_timeout(),
        );
        assert!(
            out.status.success(),
            "final run failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.diagnose()
        );
    }

    /// The broker's view of the group, for a test that ran out of time.
    pub fn diagnose(&self) -> String {
        self.broker.diagnose(GROUP, TOPIC, 3)
    }
}

/// A pipeline event `kafka_to_lake --events` printed: its kind and the
/// partitions (`stock/0`) or positions (`stock/0@499`) it names.
pub fn event(line: &str) -> Option<(String, Vec<String>)> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let kind = value["event"].as_str()?.to_string();
    let items = value
        .get("partitions")
        .or_else(|| value.get("positions"))
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    Some((kind, items))
}

impl Member<'_> {
    /// Follows the events until `n` commits; false if the member ended first.
    pub fn wait_for_commits(&mut self, n: usize) -> bool {
        let mut seen = 0;
        let diagnose = || self.writer.diagnose();
        self.process
            .wait_for(&format!("{n} commits"), step_timeout(), &diagnose, |line| {
                seen += usize::from(event(line).is_some_and(|(kind, _)| kind == "committed"));
                seen == n
            })
    }

    /// Follows the events, tracking the partitions this member owns
    /// (rebalancing is incremental: each event names what one step assigns
    /// or revokes), until `done` accepts an event; false if the member
    /// ended first.
    pub fn follow(
        &mut self,
        what: &str,
        owned: &mut BTreeSet<i32>,
        mut done: impl FnMut(&str, &BTreeSet<i32>) -> bool,
    ) -> bool {
        let diagnose = || self.writer.diagnose();
        self.process
            .wait_for(what, step_timeout(), &diagnose, |line| {
                let Some((kind, items)) = event(line) else {
                    return false;
                };
                let named = items
                    .iter()
                    .filter_map(|p| p.strip_prefix(&format!("{TOPIC}/"))?.parse::<i32>().ok());
                match kind.as_str() {
                    "assigned" => owned.extend(named),
                    "revoked" => named.for_each(|p| _ = owned.remove(&p)),
                    _ => {}
                }
                done(&kind, owned)
            })
    }

    /// Waits for the member to exit.
    pub fn wait(&mut self) -> ExitStatus {
        let diagnose = || self.writer.diagnose();
        self.process.wait(step_timeout(), &diagnose)
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        self.process.kill();
    }
}
