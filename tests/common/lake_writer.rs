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

    /// Starts `kafka_to_lake` logging every commit on its stderr.
    pub fn spawn(&'a self, extra: &[&str]) -> Member<'a> {
        let mut command = self.command(extra);
        command.arg("--verbose");
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

impl Member<'_> {
    /// Reads the log until `n` commits were logged; false if it ended first.
    pub fn wait_for_commits(&mut self, n: usize) -> bool {
        let mut seen = 0;
        let diagnose = || self.writer.diagnose();
        self.process
            .wait_for(&format!("{n} commits"), step_timeout(), &diagnose, |line| {
                seen += usize::from(line.contains("committed"));
                seen == n
            })
    }

    /// Reads the log, tracking the partitions this member owns (rebalancing
    /// is incremental: each line names what one step adds or revokes),
    /// until `done`; false if the log ended first.
    pub fn follow(
        &mut self,
        what: &str,
        owned: &mut BTreeSet<i32>,
        mut done: impl FnMut(&str, &BTreeSet<i32>) -> bool,
    ) -> bool {
        let diagnose = || self.writer.diagnose();
        self.process
            .wait_for(what, step_timeout(), &diagnose, |line| {
                let named = (0..3).filter(|p| line.contains(&format!("{TOPIC}/{p}")));
                if line.contains("assigned") {
                    owned.extend(named);
                } else if line.contains("revoking") {
                    named.for_each(|p| _ = owned.remove(&p));
                }
                done(line, owned)
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
