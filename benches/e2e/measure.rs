//! Running one path as a child process and reading what it used.

use std::process::{Command, Stdio};
use std::time::Instant;

use crate::process;
use crate::table::Row;

/// Runs `command` to its end: wall seconds, CPU seconds of the child, and
/// the peak memory (MiB) and records read that its summary prints.
// The child is reaped by `wait4` (for its CPU time), which clippy cannot see.
#[allow(clippy::zombie_processes)]
pub(crate) fn measure(command: &mut Command) -> Measured {
    let start = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let stdout = process::read_to_end_aside(child.stdout.take().unwrap());
    let stderr = process::read_to_end_aside(child.stderr.take().unwrap());
    // wait4, not Child::wait: it gives the child's own CPU time.
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed().as_secs_f64();
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let text = String::from_utf8_lossy(&stdout);
    assert!(
        rc == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{command:?} failed: {text}\n{}",
        String::from_utf8_lossy(&stderr)
    );
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime);
    let first_word_after = |label: &str| -> Option<&str> {
        text.lines()
            .find_map(|l| l.strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
    };
    let number = |label: &str| first_word_after(label).and_then(|w| w.parse().ok());
    let flowing = first_word_after("time:").and_then(|w| w.strip_suffix('s')?.parse().ok());
    Measured {
        wall,
        cpu,
        peak_mib: number("memory:").unwrap_or(0),
        peak_buffered_mib: number("buffered:"),
        records: number("records:").unwrap_or(0),
        flowing,
    }
}

/// What [`measure`] found.
pub(crate) struct Measured {
    pub(crate) wall: f64,
    pub(crate) cpu: f64,
    pub(crate) peak_mib: u64,
    pub(crate) peak_buffered_mib: Option<u64>,
    pub(crate) records: u64,
    /// Seconds records were flowing, as the program reports them.
    pub(crate) flowing: Option<f64>,
}

impl Measured {
    /// The row of a path, its wall time less `idle` seconds.
    pub(crate) fn row(self, broker: &'static str, path: String, idle: f64, baseline: bool) -> Row {
        Row {
            broker,
            path,
            records: self.records,
            wall: (self.wall - idle).max(0.001),
            flowing: self.flowing,
            cpu: self.cpu,
            peak_mib: self.peak_mib,
            peak_buffered_mib: self.peak_buffered_mib,
            baseline,
            ratios: Vec::new(),
            flowing_ratios: Vec::new(),
        }
    }
}
