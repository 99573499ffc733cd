//! Chaos (issue 9 §3): the real `usage-scraper` binary ingests 50,000 usage events while it
//! is SIGKILLed at random points 24 times and restarted, the fake Loki answers with HTTP
//! 500s, responses slower than the client timeout, complete-but-truncated bodies and bodies
//! cut mid-JSON with the connection closed, and PostgreSQL is restarted (`pg_ctl restart -m
//! fast`) while the scraper is in the middle of a window. At the end the table holds every
//! event exactly once; after every kill it holds exactly the events before the stored cursor.
//!
//! The events come in same-nanosecond groups of 1 to 1,200 lines (page limit 500, so some
//! groups fill whole pages and take the one-ns path), identical lines in two streams at one
//! ns, 5 apps, spread over 38 minutes = ~40 sub-windows of 1 minute and ~100 pages.
//! Kill points, faults and the restart come from a seeded generator: the seed is printed,
//! and `CHAOS_SEED=<n>` replays a run. Every wait is bounded in count and time.

mod support;

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::fake_loki::{FakeLoki, Fault, RandomFaults};
use support::pg::{self, Cluster};
use support::{
    APPS, ChildGuard, Rng, Row, SEC, assert_rows, golden_query, realistic_line, sorted,
    stored_rows, stream,
};
use usage_scraper::clock::system_now_ns;

const EVENTS: usize = 50_000;
const KILLS: usize = 24;
const PAGE_LIMIT: u64 = 500;
/// Longest wait for the last run to store everything.
const FINAL_DEADLINE: Duration = Duration::from_secs(120);

/// Pushes the events into the fake Loki between `from` and `to`; returns them sorted.
fn generate(loki: &FakeLoki, rng: &mut Rng, from: i64, to: i64) -> Vec<Row> {
    let mut sizes = Vec::new();
    let mut total = 0;
    while total < EVENTS {
        let r = rng.below(1000);
        let size = match r {
            0..700 => 1,
            700..960 => rng.range(2, 8),
            960..996 => rng.range(20, 300),
            _ => rng.range(PAGE_LIMIT + 1, 1200),
        } as usize;
        let size = size.min(EVENTS - total);
        sizes.push(size);
        total += size;
    }
    let streams: Vec<_> = APPS.iter().map(|a| stream(a)).collect();
    let step = (to - from) / sizes.len() as i64;
    let mut want = Vec::with_capacity(EVENTS);
    let mut n = 0;
    for (g, &size) in sizes.iter().enumerate() {
        // Strictly increasing: the jitter stays below the step.
        let ts = from + g as i64 * step + rng.below(step as u64 / 2) as i64;
        let mut i = 0;
        while i < size {
            let a = rng.below(APPS.len() as u64) as usize;
            let line = realistic_line(rng, APPS[a], n);
            n += 1;
            let two = size - i >= 2 && rng.chance(20);
            let apps = if two {
                // The same line in two streams at one ns: two Loki entries, two rows.
                vec![
                    a,
                    (a + 1 + rng.below(APPS.len() as u64 - 1) as usize) % APPS.len(),
                ]
            } else {
                vec![a]
            };
            for s in apps {
                assert!(loki.push(&streams[s], ts, &line));
                want.push((ts, APPS[s].to_owned(), line.clone()));
                i += 1;
            }
        }
    }
    assert_eq!(want.len(), EVENTS);
    sorted(want)
}

struct Scraper<'a> {
    config: &'a Path,
    log: &'a Path,
    loki: &'a FakeLoki,
    cluster: &'a Cluster,
    db: &'a str,
}

impl Scraper<'_> {
    fn spawn(&self) -> ChildGuard {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_usage-scraper"))
            .arg("--config")
            .arg(self.config)
            .env("USAGE_SCRAPER_DB_PASSWORD", pg::SCRAPER_PASSWORD)
            .env("USAGE_SCRAPER_LOKI_URL", self.loki.url())
            .env("USAGE_SCRAPER_LOKI_PAGE_LIMIT", PAGE_LIMIT.to_string())
            .env("USAGE_SCRAPER_LOKI_TIMEOUT", "1s")
            .env("USAGE_SCRAPER_POLL_INTERVAL", "200ms")
            .env("USAGE_SCRAPER_POLL_SETTLE", "1s")
            .env("USAGE_SCRAPER_POLL_MAX_WINDOW", "1m")
            .env("USAGE_SCRAPER_POLL_INITIAL_BACKFILL", "45m")
            .env("USAGE_SCRAPER_POSTGRES_HOST", "127.0.0.1")
            .env("USAGE_SCRAPER_POSTGRES_PORT", self.cluster.port.to_string())
            .env("USAGE_SCRAPER_POSTGRES_DATABASE", self.db)
            .env("USAGE_SCRAPER_SERVER_LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        ChildGuard::new(child)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// (cursor, rows, rows at or after the cursor).
    async fn state(&self) -> (Option<i64>, i64, i64) {
        let c = self.cluster.superuser(self.db).await;
        let cursor: Option<i64> = c
            .query_opt("SELECT cursor_ns FROM usage_scraper_cursor", &[])
            .await
            .unwrap()
            .map(|r| r.get(0));
        let r = c
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE ts_ns >= $1) FROM usage_events",
                &[&cursor.unwrap_or(i64::MIN)],
            )
            .await
            .unwrap();
        (cursor, r.get(0), r.get(1))
    }
}

/// The stored cursor and how many events lie before it.
async fn stored_before(su: &tokio_postgres::Client, want_ts: &[i64]) -> (Option<i64>, usize) {
    let cursor: Option<i64> = su
        .query_opt("SELECT cursor_ns FROM usage_scraper_cursor", &[])
        .await
        .unwrap()
        .map(|r| r.get(0));
    (
        cursor,
        cursor.map_or(0, |c| want_ts.partition_point(|&t| t < c)),
    )
}

/// Sleeps `d` unless the child exits first (then panics with its log).
async fn alive_for(s: &Scraper<'_>, child: &mut Child, d: Duration, ctx: &str) {
    let t = Instant::now();
    while t.elapsed() < d {
        if let Some(st) = child.try_wait().unwrap() {
            panic!(
                "{ctx}: usage-scraper exited on its own ({st}):\n{}",
                s.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(2).min(d)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_thousand_events_survive_kills_faults_and_a_postgres_restart() {
    let seed: u64 = match std::env::var("CHAOS_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .expect("CHAOS_SEED must be an unsigned integer"),
        Err(_) => system_now_ns() as u64,
    };
    println!("CHAOS_SEED={seed} (set it to replay this run)");
    let Some(cluster) = pg::standalone(false) else {
        return;
    };
    let cluster = Arc::new(cluster);
    let db = cluster.new_db("chaos");
    let loki = FakeLoki::start(system_now_ns).await;
    loki.expect_query(&golden_query());
    loki.set_shuffle_ties(true);
    let mut rng = Rng::new(seed);
    let now = system_now_ns();
    let want = generate(&loki, &mut rng, now - 40 * 60 * SEC, now - 90 * SEC);
    let want_ts: Vec<i64> = want.iter().map(|r| r.0).collect();
    let last_ts = *want_ts.last().unwrap();

    // One fault of each kind at random early requests, then random faults throughout.
    let mut at: Vec<usize> = Vec::new();
    for fault in [
        Fault::Status(500),
        Fault::Hang(Duration::from_millis(1500)),
        Fault::CutConnection,
        Fault::Truncate,
    ] {
        let n = loop {
            let n = rng.range(2, 60) as usize;
            if !at.contains(&n) {
                break n;
            }
        };
        at.push(n);
        loki.fail_request(n, fault);
    }
    loki.set_random_faults(Some(RandomFaults {
        seed: rng.next_u64(),
        status_500: 20,
        hang: 6,
        hang_for: Duration::from_millis(1500),
        cut: 8,
        truncate: 8,
    }));

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("scraper.toml");
    std::fs::copy(
        pg::repo_root().join("golden/demo/usage-scraper/scraper.toml"),
        &config,
    )
    .unwrap();
    let log = dir.path().join("scraper.log");
    let s = Scraper {
        config: &config,
        log: &log,
        loki: &loki,
        cluster: &cluster,
        db: &db,
    };

    let started = Instant::now();
    let restart_run = rng.range(3, 12) as usize;
    let mut su = cluster.superuser(&db).await;
    let mut kinds = [0usize; 5];
    for run in 0..KILLS {
        let ctx = format!("CHAOS_SEED={seed} run {run}");
        let mut child = s.spawn();
        let t_run = Instant::now();
        let kind = if run == restart_run {
            4
        } else {
            [0, 1, 1, 2, 2, 3, 3][rng.below(7) as usize]
        };
        kinds[kind] += 1;
        if kind != 0 {
            // Let this run store its share first, so that the kills spread over the whole
            // ingest (a run that starts past its share is killed at once, mid-start-up).
            let target = (run + 1) * EVENTS / (KILLS + 1);
            let t = Instant::now();
            while stored_before(&su, &want_ts).await.1 < target {
                assert!(
                    t.elapsed() < Duration::from_secs(30),
                    "{ctx}: no progress in 30 s:\n{}",
                    s.log_tail()
                );
                alive_for(&s, &mut child, Duration::from_millis(10), &ctx).await;
            }
        }
        match kind {
            // During start-up (connect, schema check, lock) or the first window.
            0 => {
                let d = Duration::from_millis(rng.range(0, 250));
                alive_for(&s, &mut child, d, &ctx).await;
            }
            // Anywhere: paging, inserting, committing, waiting for a retry.
            1 => {
                let d = Duration::from_millis(rng.range(0, 800));
                alive_for(&s, &mut child, d, &ctx).await;
            }
            // In the middle of paging: after the n-th Loki request from now.
            2 => {
                let target = loki.request_count() + rng.range(1, 8) as usize;
                let t = Instant::now();
                while loki.request_count() < target && t.elapsed() < Duration::from_secs(10) {
                    alive_for(&s, &mut child, Duration::from_millis(1), &ctx).await;
                }
            }
            // Just after a commit.
            3 => {
                let (cursor, _) = stored_before(&su, &want_ts).await;
                let t = Instant::now();
                while stored_before(&su, &want_ts).await.0 == cursor
                    && t.elapsed() < Duration::from_secs(10)
                {
                    alive_for(&s, &mut child, Duration::from_millis(1), &ctx).await;
                }
            }
            // PostgreSQL restarts while the scraper's window transaction holds inserted,
            // uncommitted rows (its backend has a transaction id), then the scraper runs on
            // for a while before it is killed.
            _ => {
                let t = Instant::now();
                while t.elapsed() < Duration::from_secs(10) {
                    let writing: i64 = su
                        .query_one(
                            "SELECT count(*) FROM pg_stat_activity \
                             WHERE application_name = 'usage-scraper' AND backend_xid IS NOT NULL",
                            &[],
                        )
                        .await
                        .unwrap()
                        .get(0);
                    if writing > 0 {
                        break;
                    }
                    alive_for(&s, &mut child, Duration::from_millis(1), &ctx).await;
                }
                let c = cluster.clone();
                tokio::task::spawn_blocking(move || c.restart())
                    .await
                    .unwrap();
                su = cluster.superuser(&db).await;
                let d = Duration::from_millis(rng.range(500, 2000));
                alive_for(&s, &mut child, d, &ctx).await;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Whole windows only: exactly the events before the cursor, none after it.
        let (cursor, stored, beyond) = s.state().await;
        let expected = cursor.map_or(0, |c| want_ts.partition_point(|&t| t < c));
        assert_eq!(
            (stored, beyond),
            (expected as i64, 0),
            "{ctx}: after SIGKILL, cursor {cursor:?}"
        );
        eprintln!(
            "{ctx}: {} SIGKILL after {} ms; {stored} events stored, {} Loki requests",
            [
                "start-up",
                "anywhere",
                "mid-paging",
                "after-commit",
                "pg-restart"
            ][kind],
            t_run.elapsed().as_millis(),
            loki.request_count()
        );
    }

    // The last run catches up, then stops on SIGTERM.
    let ctx = format!("CHAOS_SEED={seed} final run");
    let child = s.spawn();
    let t = Instant::now();
    loop {
        let (cursor, stored, _) = s.state().await;
        if cursor.is_some_and(|c| c > last_ts) {
            assert_eq!(stored, EVENTS as i64, "{ctx}");
            break;
        }
        assert!(
            t.elapsed() < FINAL_DEADLINE,
            "{ctx}: {stored} of {EVENTS} events stored after {FINAL_DEADLINE:?}:\n{}",
            s.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let mut child = child;
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{ctx}: no stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{ctx}: {status}\n{}", s.log_tail());

    // Every event exactly once: the same set as Loki holds, ids unique and correct.
    let got = stored_rows(&cluster.superuser(&db).await).await;
    assert_eq!(got.len(), EVENTS, "{ctx}");
    assert_rows(got, want);
    let f = loki.injected();
    assert!(
        f.status >= 1 && f.hang >= 1 && f.cut >= 1 && f.truncate >= 1,
        "{ctx}: {f:?}"
    );
    println!(
        "chaos: {EVENTS} events stored exactly once; {KILLS} SIGKILLs (start-up {}, anywhere {}, \
         mid-paging {}, after a commit {}), PostgreSQL restarted in run {restart_run}, {} Loki \
         requests, faults {f:?}, {:.1} s",
        kinds[0],
        kinds[1],
        kinds[2],
        kinds[3],
        loki.request_count(),
        started.elapsed().as_secs_f64()
    );
}
