//! The scraper's benchmark (issue 8 §2), run by `scripts/bench-scraper.sh`; prints markdown.
//!
//! 1. Throughput: the real release binary (`usage-scraper --once`) stores EVENTS realistic
//!    usage lines (5 apps, 50 minutes) from the fake Loki into a throwaway PostgreSQL with
//!    PostgreSQL's durable defaults (fsync on), and — in the same run, alternating — the
//!    ceiling: `psql \copy` of the very same rows (the scraper's own output, exported once)
//!    into the same table with the same indexes, as the same role over the same TCP
//!    connection kind. Before every run the table is truncated and a CHECKPOINT taken.
//! 2. Memory: the binary catches up a backlog of BACKLOG events (one hour) in service mode;
//!    its peak RSS is `VmHWM` from `/proc/<pid>/status`, read once everything is stored.
//!
//! `bench [--runs N] [--events N] [--backlog N] [--page-limit N] [--bin PATH]`; the binary
//! defaults to `usage-scraper` next to this example's directory (`target/release/`).
//! The fake Loki runs in this process and shares the cores with the scraper and PostgreSQL.
//! Timings are reported, never asserted; stored row counts are checked.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use support::fake_loki::FakeLoki;
use support::pg::{self, Cluster};
use support::{APPS, ChildGuard, Rng, SEC, golden_query, realistic_line, stream};
use tokio_postgres::Client;
use usage_scraper::clock::system_now_ns;

const COLUMNS: &str =
    "id, ts, ts_ns, app, event, user_id, trace_id, level, attributes, line, labels";

struct Args {
    runs: usize,
    events: u64,
    backlog: u64,
    page_limit: u32,
    bin: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        runs: 5,
        events: 100_000,
        backlog: 1_000_000,
        page_limit: 1000,
        bin: std::env::current_exe()
            .ok()
            .and_then(|p| Some(p.parent()?.parent()?.join("usage-scraper")))
            .unwrap_or_default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let num = || -> u64 { value.replace('_', "").parse().expect("a number") };
        match flag.as_str() {
            "--runs" => a.runs = num() as usize,
            "--events" => a.events = num(),
            "--backlog" => a.backlog = num(),
            "--page-limit" => a.page_limit = num() as u32,
            "--bin" => a.bin = PathBuf::from(&value),
            _ => panic!("unknown flag {flag}"),
        }
    }
    assert!(a.runs > 0, "--runs must be positive");
    assert!(a.bin.exists(), "no scraper binary at {}", a.bin.display());
    a
}

/// Pushes `n` realistic events spread evenly over `[from, to)`; returns the last timestamp.
fn push_events(loki: &FakeLoki, n: u64, from: i64, to: i64, seed: u64) -> i64 {
    let mut rng = Rng::new(seed);
    let labels: Vec<_> = APPS.iter().map(|a| stream(a)).collect();
    let step = (to - from) / n as i64;
    let mut last = from;
    for i in 0..n {
        let a = rng.below(APPS.len() as u64) as usize;
        let ts = from + i as i64 * step + rng.below(step.max(1) as u64) as i64;
        loki.push(&labels[a], ts, &realistic_line(&mut rng, APPS[a], i));
        last = last.max(ts);
    }
    assert_eq!(loki.len() as u64, n);
    last
}

async fn reset(su: &Client) {
    su.batch_execute("TRUNCATE usage_events; DELETE FROM usage_scraper_cursor; CHECKPOINT")
        .await
        .unwrap();
}

async fn count(su: &Client) -> i64 {
    su.query_one("SELECT count(*) FROM usage_events", &[])
        .await
        .unwrap()
        .get(0)
}

struct Target<'a> {
    bin: &'a Path,
    config: &'a Path,
    cluster: &'a Cluster,
    db: &'a str,
    loki: &'a FakeLoki,
    page_limit: u32,
}

impl Target<'_> {
    fn command(&self, once: bool, backfill_from: i64) -> Command {
        let backfill = (system_now_ns() - backfill_from) / SEC + 60;
        let mut c = Command::new(self.bin);
        c.arg("--config").arg(self.config);
        if once {
            c.arg("--once");
        }
        c.env("USAGE_SCRAPER_DB_PASSWORD", pg::SCRAPER_PASSWORD)
            .env("USAGE_SCRAPER_LOKI_URL", self.loki.url())
            .env("USAGE_SCRAPER_LOKI_PAGE_LIMIT", self.page_limit.to_string())
            .env(
                "USAGE_SCRAPER_POLL_INITIAL_BACKFILL",
                format!("{backfill}s"),
            )
            .env("USAGE_SCRAPER_POLL_INTERVAL", "1h")
            .env("USAGE_SCRAPER_POSTGRES_HOST", "127.0.0.1")
            .env("USAGE_SCRAPER_POSTGRES_PORT", self.cluster.port.to_string())
            .env("USAGE_SCRAPER_POSTGRES_DATABASE", self.db)
            .env("USAGE_SCRAPER_SERVER_LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
        c
    }
}

/// Seconds of one `--once` run.
async fn time_scraper(t: &Target<'_>, from: i64) -> f64 {
    let mut cmd = t.command(true, from);
    let start = Instant::now();
    let status = tokio::task::spawn_blocking(move || cmd.status().unwrap())
        .await
        .unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert!(status.success(), "usage-scraper --once failed: {status}");
    secs
}

/// Seconds of one `psql \copy` of `file` into the events table, as the scraper role.
async fn time_copy(cluster: &Cluster, db: &str, file: &Path) -> f64 {
    let mut cmd = cluster.psql_as_scraper(db);
    cmd.arg("-c").arg(format!(
        "\\copy usage_events ({COLUMNS}) FROM '{}'",
        file.display()
    ));
    let start = Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "psql \\copy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    secs
}

/// Writes the stored rows (the scraper's columns) to `file` in COPY text format.
async fn export(su: &Client, file: &Path) {
    let stream = su
        .copy_out(&format!(
            "COPY (SELECT {COLUMNS} FROM usage_events ORDER BY ts_ns) TO STDOUT"
        ))
        .await
        .unwrap();
    let mut stream = std::pin::pin!(stream);
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    std::fs::write(file, bytes).unwrap();
}

fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Catches up `n` events in service mode; returns (peak RSS KiB, seconds).
async fn backlog_rss(t: &Target<'_>, su: &Client, n: u64, from: i64, last: i64) -> (u64, f64) {
    let start = Instant::now();
    let mut child = ChildGuard::new(t.command(false, from).spawn().unwrap());
    let pid = child.id();
    let mut hwm = 0;
    let deadline = Duration::from_secs(1800);
    let secs = loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "usage-scraper exited early"
        );
        hwm = hwm.max(proc_status_kib(pid, "VmHWM").unwrap_or(0));
        let cursor: Option<i64> = su
            .query_opt("SELECT cursor_ns FROM usage_scraper_cursor", &[])
            .await
            .unwrap()
            .map(|r| r.get(0));
        if cursor.is_some_and(|c| c > last) {
            let secs = start.elapsed().as_secs_f64();
            hwm = hwm.max(proc_status_kib(pid, "VmHWM").unwrap_or(0));
            break secs;
        }
        assert!(start.elapsed() < deadline, "backlog not caught up in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let mut child = child.into_inner();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "usage-scraper did not stop cleanly");
    assert_eq!(count(su).await, n as i64, "backlog not stored completely");
    (hwm, secs)
}

fn min_median(v: &[f64]) -> (f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let median = if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
    };
    (s[0], median)
}

fn thousands(n: f64) -> String {
    let s = format!("{n:.0}");
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    let Some(cluster) = pg::standalone(true) else {
        eprintln!("PostgreSQL is not installed: nothing measured");
        std::process::exit(1);
    };
    let db = cluster.new_db("bench");
    let su = cluster.superuser(&db).await;
    let loki = FakeLoki::start(system_now_ns).await;
    loki.expect_query(&golden_query());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("scraper.toml");
    std::fs::copy(
        pg::repo_root().join("golden/demo/usage-scraper/scraper.toml"),
        &config,
    )
    .unwrap();
    let t = Target {
        bin: &a.bin,
        config: &config,
        cluster: &cluster,
        db: &db,
        loki: &loki,
        page_limit: a.page_limit,
    };

    eprintln!("generating {} events ...", a.events);
    let now = system_now_ns();
    let from = now - 55 * 60 * SEC;
    push_events(&loki, a.events, from, now - 5 * 60 * SEC, 1);
    let file = dir.path().join("rows.copy");
    let (mut scraper, mut copy) = (Vec::new(), Vec::new());
    for run in 0..a.runs {
        reset(&su).await;
        let s = time_scraper(&t, from).await;
        assert_eq!(count(&su).await, a.events as i64, "scraper run {run}");
        if run == 0 {
            export(&su, &file).await;
        }
        reset(&su).await;
        let c = time_copy(&cluster, &db, &file).await;
        assert_eq!(count(&su).await, a.events as i64, "copy run {run}");
        eprintln!(
            "run {}: scraper {s:.2} s ({:.0}/s), raw COPY {c:.2} s ({:.0}/s)",
            run + 1,
            a.events as f64 / s,
            a.events as f64 / c
        );
        scraper.push(s);
        copy.push(c);
    }

    eprintln!("generating a backlog of {} events ...", a.backlog);
    loki.clear();
    reset(&su).await;
    let now = system_now_ns();
    let from = now - 58 * 60 * SEC;
    let last = push_events(&loki, a.backlog, from, now - 2 * 60 * SEC, 2);
    let (hwm_kib, backlog_secs) = backlog_rss(&t, &su, a.backlog, from, last).await;

    let (s_min, s_med) = min_median(&scraper);
    let (c_min, c_med) = min_median(&copy);
    let rate = |secs: f64| thousands(a.events as f64 / secs);
    let machine = format!(
        "{} CPUs ({}), PostgreSQL {} (fsync on)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        cluster.version()
    );
    println!(
        "| machine | date | runs | scraper events/s (best / median) | raw COPY rows/s (best / median) | ratio (median) | peak RSS, {} backlog |",
        thousands(a.backlog as f64)
    );
    println!("|---|---|---|---:|---:|---:|---:|");
    println!(
        "| {machine} | {} | {} × {} events, page_limit {} | {} / {} | {} / {} | {:.0} % | {:.1} MiB (caught up in {:.1} s, {} events/s) |",
        today(),
        a.runs,
        thousands(a.events as f64),
        a.page_limit,
        rate(s_min),
        rate(s_med),
        rate(c_min),
        rate(c_med),
        100.0 * c_med / s_med,
        hwm_kib as f64 / 1024.0,
        backlog_secs,
        thousands(a.backlog as f64 / backlog_secs),
    );
}
