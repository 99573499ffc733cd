//! The real `usage-scraper` binary as a subprocess: `--once`, SIGTERM in the middle of a
//! backlog (nothing half-committed, nothing lost after a restart), `/metrics` and `/healthz`,
//! JSON logs that never repeat a usage line, and a clear failure on a missing schema.

mod support;

use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::fake_loki::FakeLoki;
use support::pg::{self, Cluster};
use support::{Row, SEC, assert_rows, golden_query, sorted, stream, usage_line};
use usage_scraper::clock::system_now_ns;

struct Env {
    cluster: Arc<Cluster>,
    db: String,
    loki: FakeLoki,
    dir: tempfile::TempDir,
    listen: String,
}

async fn env(tag: &str, with_schema: bool) -> Option<Env> {
    let cluster = pg::cluster()?;
    let db = if with_schema {
        cluster.new_db(tag)
    } else {
        cluster.new_empty_db(tag)
    };
    let loki = FakeLoki::start(system_now_ns).await;
    loki.expect_query(&golden_query());
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        pg::repo_root().join("golden/demo/usage-scraper/scraper.toml"),
        dir.path().join("scraper.toml"),
    )
    .unwrap();
    std::fs::write(dir.path().join("pw"), format!("{}\n", pg::SCRAPER_PASSWORD)).unwrap();
    let listen = format!("127.0.0.1:{}", pg::free_port());
    Some(Env {
        cluster,
        db,
        loki,
        dir,
        listen,
    })
}

impl Env {
    fn command(&self, once: bool, extra: &[(&str, &str)]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_usage-scraper"));
        c.arg("--config").arg(self.dir.path().join("scraper.toml"));
        if once {
            c.arg("--once");
        }
        c.env_remove("USAGE_SCRAPER_DB_PASSWORD")
            .env("USAGE_SCRAPER_DB_PASSWORD_FILE", self.dir.path().join("pw"))
            .env("USAGE_SCRAPER_LOKI_URL", self.loki.url())
            .env("USAGE_SCRAPER_LOKI_PAGE_LIMIT", "100")
            .env("USAGE_SCRAPER_POSTGRES_HOST", "127.0.0.1")
            .env("USAGE_SCRAPER_POSTGRES_PORT", self.cluster.port.to_string())
            .env("USAGE_SCRAPER_POSTGRES_DATABASE", &self.db)
            .env("USAGE_SCRAPER_SERVER_LISTEN", &self.listen)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in extra {
            c.env(k, v);
        }
        c
    }

    async fn run(&self, once: bool, extra: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(once, extra);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    async fn rows(&self) -> Vec<Row> {
        let c = self.cluster.superuser(&self.db).await;
        let mut rows: Vec<Row> = c
            .query("SELECT ts_ns, app, line FROM usage_events", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        rows.sort();
        rows
    }

    async fn cursor(&self) -> Option<i64> {
        let c = self.cluster.superuser(&self.db).await;
        c.query_opt("SELECT cursor_ns FROM usage_scraper_cursor", &[])
            .await
            .unwrap()
            .map(|r| r.get(0))
    }
}

fn push(loki: &FakeLoki, n: usize, from_ns: i64, step_ns: i64) -> Vec<Row> {
    let l = stream("dice");
    (0..n)
        .map(|i| {
            let ts = from_ns + i as i64 * step_ns;
            let line = usage_line(i);
            loki.push(&l, ts, &line);
            (ts, "dice".to_owned(), line)
        })
        .collect()
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_stores_every_event_and_logs_json_without_usage_lines() {
    let Some(e) = env("bin_once", true).await else {
        return;
    };
    let now = system_now_ns();
    let want = push(&e.loki, 2000, now - 40 * 60 * SEC, SEC);
    // A malformed candidate: logged (without its text) and skipped.
    e.loki.push(
        &stream("dice"),
        now - 30 * SEC,
        r#"{"usage": true, "msg": "no event"}"#,
    );
    let out = e.run(true, &[]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert_rows(e.rows().await, sorted(want.clone()));
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON log line");
        assert!(v["level"].is_string(), "{line}");
    }
    assert!(stdout.contains("missing_event"), "{stdout}");
    assert!(
        !stdout.contains("\"usage\""),
        "a usage line was logged: {stdout}"
    );
    assert!(
        !stdout.contains("\\\"usage\\\""),
        "a usage line was logged: {stdout}"
    );
    // Again: nothing new, nothing twice.
    let out = e.run(true, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert_rows(e.rows().await, sorted(want));
}

fn sigterm(child: &Child) {
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

async fn wait(mut child: Child, within: Duration) -> Output {
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
                .await
                .unwrap();
        }
        if t.elapsed() > within {
            let _ = child.kill();
            panic!("usage-scraper did not stop within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_backlog_stops_cleanly_and_a_restart_loses_nothing() {
    let Some(e) = env("bin_sigterm", true).await else {
        return;
    };
    let now = system_now_ns();
    // 5 h of backlog, 30 windows of 10 min, ~10 pages each, 15 ms per request.
    let want = push(&e.loki, 17_000, now - 5 * 3600 * SEC, SEC);
    e.loki.set_delay(Duration::from_millis(15));
    let child = e
        .command(false, &[("USAGE_SCRAPER_POLL_INITIAL_BACKFILL", "6h")])
        .spawn()
        .unwrap();
    while e.loki.request_count() < 60 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let http = reqwest::Client::new();
    let health = http
        .get(format!("http://{}/healthz", e.listen))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let metrics = http
        .get(format!("http://{}/metrics", e.listen))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for want in [
        "usage_scraper_events_stored_total",
        "usage_scraper_lines_seen_total",
        "usage_scraper_malformed_lines_total{reason=\"not_json\"}",
        "usage_scraper_polls_total 1",
        "usage_scraper_errors_total{kind=\"loki\"}",
        "usage_scraper_lag_seconds",
        "usage_scraper_last_success_timestamp_seconds",
    ] {
        assert!(metrics.contains(want), "{want} missing:\n{metrics}");
    }
    sigterm(&child);
    let out = wait(child, Duration::from_secs(20)).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("SIGTERM"), "{stdout}");
    // Exactly the windows before the cursor are stored, each completely.
    let cursor = e.cursor().await.expect("some windows committed");
    let got = e.rows().await;
    let before: Vec<Row> = sorted(want.clone())
        .into_iter()
        .filter(|r| r.0 < cursor)
        .collect();
    assert!(
        !got.is_empty() && got.len() < want.len(),
        "{} rows",
        got.len()
    );
    assert_rows(got, before);
    // Restart with --once: the rest, once.
    e.loki.set_delay(Duration::ZERO);
    let out = e
        .run(true, &[("USAGE_SCRAPER_POLL_INITIAL_BACKFILL", "6h")])
        .await;
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert_rows(e.rows().await, sorted(want));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_schema_fails_with_a_clear_message() {
    let Some(e) = env("bin_no_schema", false).await else {
        return;
    };
    let out = e.run(true, &[]).await;
    let stdout = text(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stdout.contains("table usage_events does not exist"),
        "{stdout}"
    );
    assert_eq!(e.loki.request_count(), 0);
}
