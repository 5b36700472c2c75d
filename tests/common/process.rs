//! Child processes and their logs, with a deadline on every wait.
//!
//! Nothing in the tests waits without a deadline: a wait that runs out
//! fails the test with what was seen (the child's recent log, and whatever
//! the caller's diagnosis adds, such as the broker's view of the group).
//! Deadlines are generous and scale with `STREAMLAKE_TEST_TIMEOUT_SCALE`
//! (e.g. `3` on a slow or busy machine).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `secs` seconds times `STREAMLAKE_TEST_TIMEOUT_SCALE` (default 1).
pub fn scaled(secs: u64) -> Duration {
    let scale = std::env::var("STREAMLAKE_TEST_TIMEOUT_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(1.0);
    Duration::from_secs_f64(secs as f64 * scale)
}

/// The usual deadline for one step of a test (start a service, see a
/// commit, finish a run): two minutes, scaled.
pub fn step_timeout() -> Duration {
    scaled(120)
}

/// Lines kept for a diagnosis.
const RECENT: usize = 80;

/// A log read line by line on its own thread: lines can be awaited with a
/// deadline, the most recent are kept for diagnoses, and the writer never
/// blocks on a full pipe (lines nobody waits for are only kept as recent).
pub struct Log {
    name: String,
    lines: Option<mpsc::Receiver<String>>,
    recent: Arc<Mutex<VecDeque<String>>>,
}

/// What waiting for the next line of a [`Log`] gave.
pub enum Next {
    Line(String),
    /// The writer closed its end (the process ended).
    Ended,
    TimedOut,
}

impl Log {
    /// Follows `from` (a child's stdout or stderr) on a thread.
    pub fn follow(name: impl Into<String>, from: impl Read + Send + 'static) -> Self {
        Self::follow_into(name, from, None)
    }

    /// [`follow`](Self::follow), also appending every line to `copy`.
    pub fn follow_into(
        name: impl Into<String>,
        from: impl Read + Send + 'static,
        copy: Option<std::fs::File>,
    ) -> Self {
        let (tx, lines) = mpsc::channel();
        let recent = Arc::new(Mutex::new(VecDeque::with_capacity(RECENT)));
        read_lines(from, copy, tx, recent.clone());
        Log {
            name: name.into(),
            lines: Some(lines),
            recent,
        }
    }

    /// Follows a child's stdout and stderr as one log, lines interleaved
    /// as they come.
    pub fn follow_both(
        name: impl Into<String>,
        out: impl Read + Send + 'static,
        err: impl Read + Send + 'static,
    ) -> Self {
        let (tx, lines) = mpsc::channel();
        let recent = Arc::new(Mutex::new(VecDeque::with_capacity(RECENT)));
        read_lines(out, None, tx.clone(), recent.clone());
        read_lines(err, None, tx, recent.clone());
        Log {
            name: name.into(),
            lines: Some(lines),
            recent,
        }
    }

    /// From now on only keep the recent lines (for a service whose log
    /// nobody waits on any more).
    pub fn stop_queueing(&mut self) {
        self.lines = None;
    }

    /// The next line, unless the log ends or `deadline` passes first.
    pub fn next(&self, deadline: Instant) -> Next {
        let Some(lines) = &self.lines else {
            return Next::Ended;
        };
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => Next::Line(line),
            Err(RecvTimeoutError::Disconnected) => Next::Ended,
            Err(RecvTimeoutError::Timeout) => Next::TimedOut,
        }
    }

    /// Every line until the log ends (or `deadline`), joined.
    pub fn rest(&self, deadline: Instant) -> String {
        let mut out = String::new();
        while let Next::Line(line) = self.next(deadline) {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }

    /// The most recent lines, for a diagnosis.
    pub fn recent(&self) -> String {
        let recent = self.recent.lock().unwrap();
        let mut out = format!("--- last {} lines of {} ---\n", recent.len(), self.name);
        for line in recent.iter() {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

/// Reads `from` line by line on a thread: each line is kept among the
/// recent ones, appended to `copy`, and sent to whoever waits on `tx`.
fn read_lines(
    from: impl Read + Send + 'static,
    mut copy: Option<std::fs::File>,
    tx: mpsc::Sender<String>,
    recent: Arc<Mutex<VecDeque<String>>>,
) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(from);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if let Some(file) = copy.as_mut() {
                let _ = std::io::Write::write_all(file, &buf);
            }
            let line = String::from_utf8_lossy(&buf).trim_end().to_string();
            {
                let mut recent = recent.lock().unwrap();
                if recent.len() == RECENT {
                    recent.pop_front();
                }
                recent.push_back(line.clone());
            }
            let _ = tx.send(line); // nobody listening: recent only
        }
    });
}

/// A child process whose stdout and stderr are followed as one [`Log`];
/// killed when dropped.
pub struct Supervised {
    pub child: Child,
    pub log: Log,
    name: String,
}

impl Supervised {
    /// Starts `command` with stdout and stderr piped into one [`Log`].
    pub fn spawn(name: impl Into<String>, command: &mut Command) -> Self {
        let name = name.into();
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let out = child.stdout.take().unwrap();
        let log = Log::follow_both(name.clone(), out, child.stderr.take().unwrap());
        Supervised { child, log, name }
    }

    /// Reads the log until `done` accepts a line (true), or the child's log
    /// ends (false). Past `timeout`, kills the child and fails the test with
    /// `what` it waited for, its recent log and `diagnose()`.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        diagnose: &dyn Fn() -> String,
        mut done: impl FnMut(&str) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            match self.log.next(deadline) {
                Next::Line(line) if done(&line) => return true,
                Next::Line(_) => {}
                Next::Ended => return false,
                Next::TimedOut => self.fail(&format!("no {what} within {timeout:?}"), diagnose),
            }
        }
    }

    /// Waits for the child to exit; past `timeout` kills it and fails the
    /// test with its recent log and `diagnose()`.
    pub fn wait(&mut self, timeout: Duration, diagnose: &dyn Fn() -> String) -> ExitStatus {
        match wait_deadline(&mut self.child, Instant::now() + timeout) {
            Some(status) => status,
            None => self.fail(&format!("still running after {timeout:?}"), diagnose),
        }
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn fail(&mut self, problem: &str, diagnose: &dyn Fn() -> String) -> ! {
        self.kill();
        panic!(
            "{}: {problem}\n{}\n{}",
            self.name,
            self.log.recent(),
            diagnose()
        );
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The child's exit status, or `None` once `deadline` passed.
pub fn wait_deadline(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        // Polling the exit status, not waiting for an event: bounded by the deadline.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads `pipe` to its end on a thread of its own (so that a child
/// filling another pipe cannot block on this one): the bytes, once joined.
pub fn read_to_end_aside(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Runs `command` to its end like [`Command::output`], but fails the test
/// (killing the child, showing its output) if it runs past `timeout`.
pub fn output(name: &str, command: &mut Command, timeout: Duration) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {name}: {e}"));
    let stdout = read_to_end_aside(child.stdout.take().unwrap());
    let stderr = Log::follow(name, child.stderr.take().unwrap());
    let deadline = Instant::now() + timeout;
    let Some(status) = wait_deadline(&mut child, deadline) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{name}: still running after {timeout:?}\n{}",
            stderr.recent()
        );
    };
    let stderr = stderr.rest(Instant::now() + scaled(10));
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.into_bytes(),
    }
}

/// Runs a future to its end, or fails the test with `what` and
/// `diagnose()` after `timeout`.
pub async fn within<T>(
    what: &str,
    timeout: Duration,
    diagnose: impl FnOnce() -> String,
    future: impl std::future::Future<Output = T>,
) -> T {
    match tokio::time::timeout(timeout, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: not done within {timeout:?}\n{}", diagnose()),
    }
}
