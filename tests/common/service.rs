//! What the per-test services (broker, S3 server) share: a free loopback
//! port and waiting, with a deadline, for the line that says a service is
//! ready.

use std::time::Instant;

use super::process::{Log, Next, step_timeout};

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Reads a service's log until a line contains `ready`; fails naming
/// `what` (with its recent log) if the log ends first (the service exited)
/// or the step deadline passes.
pub fn wait_until_ready(log: &Log, ready: &str, what: &str) {
    let timeout = step_timeout();
    let deadline = Instant::now() + timeout;
    loop {
        match log.next(deadline) {
            Next::Line(line) if line.contains(ready) => return,
            Next::Line(_) => {}
            Next::Ended => panic!("{what} exited before it was ready\n{}", log.recent()),
            Next::TimedOut => panic!("{what} was not ready within {timeout:?}\n{}", log.recent()),
        }
    }
}
