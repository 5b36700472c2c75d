//! What the per-test services (broker, S3 server) share: a free loopback
//! port and waiting for the line that says a service is ready.

use std::io::BufRead;

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Reads a service's log until a line contains `ready`; panics naming
/// `what` if the log ends first (the service exited).
pub fn wait_until_ready(log: &mut impl BufRead, ready: &str, what: &str) {
    let mut line = String::new();
    loop {
        line.clear();
        let n = log.read_line(&mut line).unwrap();
        assert!(n > 0, "{what} exited before it was ready");
        if line.contains(ready) {
            return;
        }
    }
}
