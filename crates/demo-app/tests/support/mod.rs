//! Shared harness of the integration tests: the real `demo-app` binary as a subprocess on an
//! ephemeral loopback port, its stdout collected line by line, SIGTERM to stop it, and
//! bounded polling; [`otlp`] is a local OTLP/HTTP receiver.

#![allow(dead_code, unreachable_pub)]

pub mod otlp;

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_demo-app");

/// How long any wait in these tests may last.
pub const DEADLINE: Duration = Duration::from_secs(40);

/// A running `demo-app`.
pub struct App {
    child: Option<Child>,
    /// Where it listens (127.0.0.1 and the port it picked).
    pub addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

/// The environment every test run starts from: nothing inherited but `PATH`, loopback only,
/// port 0.
fn command(envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DEMO_BIND_ADDR", "127.0.0.1")
        .env("PORT", "0");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

impl App {
    /// Starts the binary with `envs` on top of [`command`]'s and waits for its `listening`
    /// line.
    pub fn spawn(envs: &[(&str, &str)]) -> App {
        let mut child = command(envs)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start demo-app");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => sink.lock().unwrap().push(l),
                    Err(_) => break,
                }
            }
        });
        let mut app = App {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
            reader: Some(reader),
        };
        let listening = app
            .wait_for_line(|v| v["msg"] == "listening")
            .unwrap_or_else(|| panic!("no `listening` line; output: {:?}", app.lines()));
        app.addr = listening["addr"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("bad addr in {listening}"));
        app
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Every stdout line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits (at most [`DEADLINE`]) for a JSON line matching `pred`.
    pub fn wait_for_line(
        &self,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        poll(|| {
            self.lines()
                .iter()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|v| pred(v))
        })
    }

    /// Sends SIGTERM and waits for the exit; returns the status and every stdout line.
    pub fn terminate(mut self) -> (ExitStatus, Vec<String>) {
        let mut child = self.child.take().expect("running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if start.elapsed() > DEADLINE {
                let _ = child.kill();
                panic!("demo-app did not exit within {DEADLINE:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(reader) = self.reader.take() {
            reader.join().expect("stdout reader");
        }
        (status, self.lines())
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `demo-app healthcheck` against `addr`'s port.
pub fn healthcheck(addr: SocketAddr) -> ExitStatus {
    command(&[("PORT", &addr.port().to_string())])
        .arg("healthcheck")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run demo-app healthcheck")
}

/// Calls `f` every 50 ms until it returns `Some`, for at most [`DEADLINE`].
pub fn poll<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > DEADLINE {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Async [`poll`].
pub async fn poll_async<T, F: Future<Output = Option<T>>>(mut f: impl FnMut() -> F) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if start.elapsed() > DEADLINE {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether `s` is `len` lowercase hex digits and not all zero (an invalid id).
pub fn is_id(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && s.bytes().any(|b| b != b'0')
}

/// Whether a test needing an external tool must fail instead of skipping.
pub fn tools_required() -> bool {
    std::env::var("STACKC_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}
