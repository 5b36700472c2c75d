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

/// The body of `GET path` on a loopback port (HTTP/1.0, no keep-alive),
/// or why it failed.
pub fn http_get(port: u16, path: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(conn, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = String::new();
    conn.read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.contains(" 200 ") => Ok(body.to_string()),
        _ => Err(response),
    }
}
