//! A real S3-compatible server (moto) per test, on a free loopback port,
//! stopped when dropped. Objects live in the server's memory, so a fault is
//! simulated by pausing it (SIGSTOP), never by killing it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::process::Log;
use super::service::{free_port, wait_until_ready};
use streamlake::{Lake, S3Options};

pub struct S3Server {
    child: Child,
    port: u16,
    /// moto's request log (its stderr), kept for diagnoses.
    log: Log,
}

/// `moto_server`: `$STREAMLAKE_MOTO` or the project's virtualenv.
fn moto_server() -> PathBuf {
    let path = std::env::var_os("STREAMLAKE_MOTO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server"));
    assert!(
        path.exists(),
        "the moto S3 server is not installed at {}: run `scripts/services.sh install` \
         (pip install \"moto[s3]\" flask flask-cors into .venv), or set STREAMLAKE_MOTO",
        path.display()
    );
    path
}

impl S3Server {
    /// Starts moto accepting any credentials.
    pub fn start() -> Self {
        Self::launch(&[])
    }

    /// Starts moto checking credentials: any key it did not issue is
    /// rejected (`INITIAL_NO_AUTH_ACTION_COUNT=0`).
    pub fn start_checking_credentials() -> Self {
        Self::launch(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")])
    }

    fn launch(env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting moto_server");
        // Werkzeug announces " * Running on http://127.0.0.1:PORT" when it
        // accepts connections.
        let mut log = Log::follow("moto_server", child.stderr.take().unwrap());
        wait_until_ready(&log, "Running on", &format!("moto_server (port {port})"));
        log.stop_queueing();
        S3Server { child, port, log }
    }

    /// moto's recent request log.
    pub fn recent_log(&self) -> String {
        self.log.recent()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket (moto takes unsigned requests when not checking
    /// credentials).
    pub fn bucket(&self, name: &str) {
        let mut conn = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            conn,
            "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut response = String::new();
        conn.read_to_string(&mut response).unwrap();
        assert!(
            response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"),
            "creating bucket {name}: {response}"
        );
    }

    /// The AWS environment a child process needs to use this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing-secret".into()),
            ("AWS_REGION", "us-east-1".into()),
            // Keep the host's AWS files out of the tests.
            ("AWS_CONFIG_FILE", "/nonexistent".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".into()),
        ]
    }

    /// Options for `s3://bucket/prefix` on this server.
    pub fn options(&self, url: &str) -> S3Options {
        let env = self.env().into_iter().map(|(k, v)| (k.to_string(), v));
        S3Options::from_vars(url, env).unwrap()
    }

    /// The lake at `s3://bucket/prefix` on this server.
    pub fn lake(&self, url: &str) -> Lake {
        self.options(url).open().unwrap()
    }

    /// Freezes the server (SIGSTOP): connections are accepted by the kernel
    /// but never answered.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: libc::c_int) {
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "signalling moto_server");
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.resume();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
