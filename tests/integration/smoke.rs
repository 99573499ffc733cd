//! The real Prometheus (Debian's `prometheus`) loads a loopback variant of a generated
//! `prometheus.yml` and scrapes a fake app until its target is `up`. Required when
//! `STACKC_REQUIRE_TOOLS=1`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::golden::build_example;
use crate::support::{repo, without_file_retention};

/// Serves Prometheus text on every request, forever, from a background thread.
fn fake_app() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let body = "# TYPE demo_requests_total counter\ndemo_requests_total 42\n";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn prometheus_scrapes_a_generated_app_job() {
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("STACKC_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "prometheus is required (STACKC_REQUIRE_TOOLS=1): apt-get install prometheus"
        );
        eprintln!("prometheus not found: skipping the smoke test");
        return;
    }
    let (tmp, out) = build_example(&repo().join("examples/demo"));
    let config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&without_file_retention(
        &std::fs::read_to_string(out.join("prometheus/prometheus.yml")).unwrap(),
    ))
    .unwrap();
    // Keep the generated global block and the `dice-roller` job, pointed at the fake app.
    let app = fake_app();
    let mut job = config["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == "dice-roller")
        .cloned()
        .expect("the demo has a dice-roller job");
    job["static_configs"][0]["targets"] =
        serde_yaml_ng::Value::Sequence(vec![format!("127.0.0.1:{app}").into()]);
    let mut loopback = config.clone();
    loopback["global"]["scrape_interval"] = "1s".into();
    loopback["global"]["scrape_timeout"] = "1s".into();
    loopback["scrape_configs"] = serde_yaml_ng::Value::Sequence(vec![job]);
    let config_path = tmp.path().join("loopback.yml");
    std::fs::write(&config_path, serde_yaml_ng::to_string(&loopback).unwrap()).unwrap();

    let web = free_port();
    let mut server = Command::new("prometheus")
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            tmp.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{web}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut last = String::new();
    let up = loop {
        if let Some(body) = get(web, "/api/v1/targets") {
            if body.contains("\"job\":\"dice-roller\"") && body.contains("\"health\":\"up\"") {
                break true;
            }
            last = body;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let _ = server.kill();
    let _ = server.wait();
    assert!(up, "the dice-roller target never came up: {last}");
}
