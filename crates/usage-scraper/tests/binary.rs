//! The real `usage-scraper` binary as a subprocess: `--once`, SIGTERM in the middle of a
//! backlog (nothing half-committed, nothing lost after a restart), `/metrics` and `/healthz`,
//! JSON logs that never repeat a usage line, and a clear failure on a missing schema.

mod support;

use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::fake_loki::FakeLoki;
use support::pg::{self, Cluster};
use support::{ChildGuard, Row, SEC, assert_rows, golden_query, sorted, stream, usage_line};
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
    Some(env_in(cluster, db).await)
}

/// An environment with a PostgreSQL of its own, that the test may stop and start.
async fn env_standalone(tag: &str) -> Option<Env> {
    let cluster = Arc::new(pg::standalone(false)?);
    let db = cluster.new_db(tag);
    Some(env_in(cluster, db).await)
}

async fn env_in(cluster: Arc<Cluster>, db: String) -> Env {
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
    Env {
        cluster,
        db,
        loki,
        dir,
        listen,
    }
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

async fn wait(mut child: ChildGuard, within: Duration) -> Output {
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            let child = child.into_inner();
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
    let child = ChildGuard::new(
        e.command(false, &[("USAGE_SCRAPER_POLL_INITIAL_BACKFILL", "6h")])
            .spawn()
            .unwrap(),
    );
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

/// Waits (bounded) until Loki has received `n` requests.
async fn wait_for_requests(loki: &FakeLoki, n: usize) {
    let t = Instant::now();
    while loki.request_count() < n {
        assert!(t.elapsed() < Duration::from_secs(30), "no Loki request");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Waits (bounded) until the scraper's backend in `db` waits for a lock while running a
/// statement that starts with `statement`.
async fn wait_for_blocked(e: &Env, su: &tokio_postgres::Client, statement: &str) {
    let t = Instant::now();
    loop {
        let n: i64 = su
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 \
                 AND application_name = 'usage-scraper' AND wait_event_type = 'Lock' \
                 AND starts_with(query, $2)",
                &[&e.db, &statement],
            )
            .await
            .unwrap()
            .get(0);
        if n > 0 {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the scraper never blocked on {statement}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_an_insert_waits_abandons_that_window_and_loses_nothing() {
    let Some(e) = env("bin_sigterm_insert", true).await else {
        return;
    };
    let now = system_now_ns();
    let want = push(&e.loki, 3000, now - 40 * 60 * SEC, 600_000_000);
    e.loki.set_delay(Duration::from_millis(30));
    let child = ChildGuard::new(e.command(false, &[]).spawn().unwrap());
    // Once the scraper is connected (its statements are prepared: it reads Loki), another
    // session takes a lock that makes the window's INSERTs wait.
    let mut su = e.cluster.superuser(&e.db).await;
    wait_for_requests(&e.loki, 1).await;
    let lock = su.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE usage_events IN SHARE MODE")
        .await
        .unwrap();
    let watcher = e.cluster.superuser(&e.db).await;
    wait_for_blocked(&e, &watcher, "INSERT INTO \"usage_events\"").await;
    // Mid-batch: the window's reads and inserts are abandoned at once (rolled back), even
    // though PostgreSQL has not answered yet.
    sigterm(&child);
    let out = wait(child, Duration::from_secs(10)).await;
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("SIGTERM"));
    lock.commit().await.unwrap();
    let cursor = e.cursor().await;
    let got = e.rows().await;
    assert!(got.len() < want.len());
    let before: Vec<Row> = sorted(want.clone())
        .into_iter()
        .filter(|r| cursor.is_some_and(|c| r.0 < c))
        .collect();
    assert_rows(got, before);
    // A restart stores everything, once.
    let out = e.run(true, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert_rows(e.rows().await, sorted(want));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_the_commit_waits_completes_that_window() {
    let Some(e) = env("bin_sigterm_commit", true).await else {
        return;
    };
    let now = system_now_ns();
    let want = push(&e.loki, 3000, now - 40 * 60 * SEC, 600_000_000);
    // The first window (from now - 41 min) holds events; its rows go in, then the cursor
    // update waits for this lock.
    let backfill = [("USAGE_SCRAPER_POLL_INITIAL_BACKFILL", "41m")];
    e.loki.set_delay(Duration::from_millis(30));
    let mut child = ChildGuard::new(e.command(false, &backfill).spawn().unwrap());
    let mut su = e.cluster.superuser(&e.db).await;
    wait_for_requests(&e.loki, 1).await;
    let lock = su.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE usage_scraper_cursor IN SHARE MODE")
        .await
        .unwrap();
    let watcher = e.cluster.superuser(&e.db).await;
    wait_for_blocked(&e, &watcher, "INSERT INTO \"usage_scraper_cursor\"").await;
    sigterm(&child);
    // The commit is in flight: the scraper waits for it rather than dropping the window.
    tokio::time::sleep(Duration::from_millis(500)).await;
    if child.try_wait().unwrap().is_some() {
        let out = child.into_inner().wait_with_output().unwrap();
        panic!(
            "stopped before its commit completed ({}): {}\n{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    lock.commit().await.unwrap();
    let out = wait(child, Duration::from_secs(10)).await;
    assert!(out.status.success(), "{}", text(&out.stdout));
    let cursor = e
        .cursor()
        .await
        .expect("the window in flight was committed");
    let got = e.rows().await;
    assert!(
        !got.is_empty() && got.len() < want.len(),
        "{} rows",
        got.len()
    );
    let before: Vec<Row> = sorted(want.clone())
        .into_iter()
        .filter(|r| r.0 < cursor)
        .collect();
    assert_rows(got, before);
    let out = e.run(true, &backfill).await;
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert_rows(e.rows().await, sorted(want));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_postgres_is_down_stops_at_once() {
    let Some(e) = env_standalone("bin_pg_down").await else {
        return;
    };
    let child = ChildGuard::new(
        e.command(false, &[("USAGE_SCRAPER_POLL_INTERVAL", "100ms")])
            .spawn()
            .unwrap(),
    );
    let t = Instant::now();
    while e.cursor().await.is_none() {
        assert!(t.elapsed() < Duration::from_secs(30), "no first cycle");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let c = e.cluster.clone();
    tokio::task::spawn_blocking(move || c.stop()).await.unwrap();
    // The next cycles retry connecting, with backoff, for minutes; a stop request must
    // not wait for them.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sigterm(&child);
    let out = wait(child, Duration::from_secs(5)).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("PostgreSQL not ready"), "{stdout}");
    // Back up: nothing was lost.
    let c = e.cluster.clone();
    tokio::task::spawn_blocking(move || c.start_server())
        .await
        .unwrap();
    // Lines written during the outage (inside the lookback) are stored by the next run.
    let want = push(&e.loki, 500, system_now_ns() - 60 * SEC, 100_000_000);
    let out = e.run(true, &[]).await;
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
