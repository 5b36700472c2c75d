//! A fault-injecting HTTP proxy in front of a real S3 server (moto), for
//! what only HTTP can show: a server that ignores `If-None-Match` (and so
//! overwrites), or that answers it with 501 Not Implemented. One request
//! per connection; everything else passes through unchanged.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// What the proxy does to conditional requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forwards the request without its `If-None-Match` header.
    IgnoreIfNoneMatch,
    /// Answers a request with `If-None-Match` with 501, without forwarding.
    NotImplemented,
    /// Answers every request with 500 and the request's headers as the
    /// body, as a server error page may echo a signed request (with its
    /// session token).
    EchoHeaders500,
}

pub struct FaultProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    /// Conditional requests seen.
    pub conditional: Arc<AtomicUsize>,
}

impl FaultProxy {
    /// Listens on a free loopback port, forwarding to `upstream` (a port).
    pub fn start(upstream: u16, fault: Fault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let conditional = Arc::new(AtomicUsize::new(0));
        std::thread::spawn({
            let (stop, conditional) = (stop.clone(), conditional.clone());
            move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    let conditional = conditional.clone();
                    std::thread::spawn(move || {
                        let _ = serve(client, upstream, fault, &conditional);
                    });
                }
            }
        });
        FaultProxy {
            port,
            stop,
            conditional,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the accept loop
    }
}

/// One request: read it, apply the fault, forward it with `Connection:
/// close`, and copy the answer back until the server closes.
fn serve(
    mut client: TcpStream,
    upstream: u16,
    fault: Fault,
    conditional: &AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut length = 0usize;
    let mut is_conditional = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let lower = line.to_ascii_lowercase();
        if line == "\r\n" {
            break;
        }
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("connection:") {
            continue;
        }
        if lower.starts_with("if-none-match:") {
            is_conditional = true;
            if fault == Fault::IgnoreIfNoneMatch {
                continue;
            }
        }
        head.push(line);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    if fault == Fault::EchoHeaders500 {
        let echo = head.concat();
        write!(
            client,
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{echo}",
            echo.len()
        )?;
        return Ok(());
    }
    if is_conditional {
        conditional.fetch_add(1, Ordering::Relaxed);
        if fault == Fault::NotImplemented {
            client.write_all(
                b"HTTP/1.1 501 Not Implemented\r\nContent-Type: application/xml\r\n\
                  Content-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            return Ok(());
        }
    }
    let mut server = TcpStream::connect(("127.0.0.1", upstream))?;
    for line in &head {
        server.write_all(line.as_bytes())?;
    }
    server.write_all(b"Connection: close\r\n\r\n")?;
    server.write_all(&body)?;
    std::io::copy(&mut server, &mut client)?;
    Ok(())
}
