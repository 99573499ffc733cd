//! Shared test support: a fake Loki, a throwaway PostgreSQL, a harness wiring a scraper
//! between them with a manual clock, a seeded random generator and realistic usage lines
//! (also used by `examples/bench.rs`). Not every test binary uses every helper.
#![allow(dead_code)]

pub(crate) mod fake_loki;
pub(crate) mod pg;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use usage_scraper::clock::{Clock, ManualClock};
use usage_scraper::metrics::Metrics;
use usage_scraper::{Options, RetryPolicy, Scraper, Settings};

use fake_loki::{FakeLoki, Labels};
use pg::Cluster;

/// The golden settings file stackc renders.
pub(crate) fn golden_settings_text() -> String {
    std::fs::read_to_string(pg::repo_root().join("golden/demo/usage-scraper/scraper.toml"))
        .expect("golden scraper.toml")
}

/// The LogQL of the golden settings.
pub(crate) fn golden_query() -> String {
    Settings::parse(&golden_settings_text(), |_| None)
        .unwrap()
        .loki
        .query
}

/// 2027-01-15T08:00:00Z in ns: the simulated "now" of most tests.
pub(crate) const T0: i64 = 1_800_000_000_000_000_000;
pub(crate) const SEC: i64 = 1_000_000_000;

/// Stream labels like Alloy's for a compose service.
pub(crate) fn stream(service: &str) -> Labels {
    fake_loki::labels(&[
        ("compose_project", "demo"),
        ("compose_service", service),
        ("service_name", service),
    ])
}

/// A valid usage line number `i`.
pub(crate) fn usage_line(i: usize) -> String {
    format!(
        r#"{{"level":"info","usage":true,"event":"e{}","user":"u-{}","n":{i},"trace_id":"{:032x}"}}"#,
        i % 7,
        i % 13,
        i
    )
}

/// One expected row: (ts_ns, app, line).
pub(crate) type Row = (i64, String, String);

/// A scraper wired to a fake Loki and a fresh database.
pub(crate) struct Harness {
    pub(crate) cluster: Arc<Cluster>,
    pub(crate) db: String,
    pub(crate) loki: FakeLoki,
    pub(crate) clock: ManualClock,
    pub(crate) settings: Settings,
    pub(crate) opts: Options,
    pub(crate) metrics: Arc<Metrics>,
}

/// Fast retries for tests.
pub(crate) fn fast_retry(max_times: usize) -> RetryPolicy {
    RetryPolicy {
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        max_times,
    }
}

impl Harness {
    /// `None` when PostgreSQL is not installed (and not required).
    pub(crate) async fn new(tag: &str) -> Option<Self> {
        let cluster = pg::cluster()?;
        let db = cluster.new_db(tag);
        Some(Self::with_db(cluster, db).await)
    }

    pub(crate) async fn with_db(cluster: Arc<Cluster>, db: String) -> Self {
        let clock = ManualClock::new(T0);
        let c2 = clock.clone();
        let loki = FakeLoki::start(move || c2.now_ns()).await;
        loki.expect_query(&golden_query());
        let env = [
            ("USAGE_SCRAPER_LOKI_URL", loki.url()),
            ("USAGE_SCRAPER_LOKI_TIMEOUT", "1s".to_owned()),
            ("USAGE_SCRAPER_POSTGRES_HOST", "127.0.0.1".to_owned()),
            ("USAGE_SCRAPER_POSTGRES_PORT", cluster.port.to_string()),
            ("USAGE_SCRAPER_POSTGRES_DATABASE", db.clone()),
            ("USAGE_SCRAPER_SERVER_LISTEN", "127.0.0.1:0".to_owned()),
        ];
        let settings = Settings::parse(&golden_settings_text(), |k| {
            env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        })
        .unwrap();
        Self {
            cluster,
            db,
            loki,
            clock,
            settings,
            opts: Options {
                retry: fast_retry(6),
                ..Options::default()
            },
            metrics: Arc::new(Metrics::default()),
        }
    }

    /// A new scraper (fresh metrics are shared by all scrapers of this harness).
    pub(crate) fn scraper(&self) -> Scraper {
        Scraper::new(
            self.settings.clone(),
            pg::SCRAPER_PASSWORD.to_owned(),
            Arc::new(self.clock.clone()),
            self.metrics.clone(),
            self.opts,
        )
        .unwrap()
    }

    /// Runs one cycle with a fresh scraper.
    pub(crate) async fn cycle(
        &self,
    ) -> Result<usage_scraper::CycleOutcome, usage_scraper::scraper::CycleError> {
        let mut s = self.scraper();
        let (_tx, mut rx) = tokio::sync::watch::channel(false);
        s.run_cycle(&mut rx).await
    }

    /// Every stored row as (ts_ns, app, line), sorted; also checks ids are unique and match
    /// the other columns.
    pub(crate) async fn rows(&self) -> Vec<Row> {
        stored_rows(&self.cluster.superuser(&self.db).await).await
    }

    /// The stored cursor.
    pub(crate) async fn cursor(&self) -> Option<i64> {
        let c = self.cluster.superuser(&self.db).await;
        c.query_opt(
            "SELECT cursor_ns FROM usage_scraper_cursor WHERE name = $1",
            &[&self.settings.postgres.cursor_name],
        )
        .await
        .unwrap()
        .map(|r| r.get(0))
    }
}

/// Every row of `usage_events` as (ts_ns, app, line), sorted; asserts that ids are unique,
/// that each id is the event id of its labels, ts_ns and line, and that the other columns
/// agree with the line.
pub(crate) async fn stored_rows(c: &tokio_postgres::Client) -> Vec<Row> {
    let rows = c
        .query(
            "SELECT id, ts_ns, app, line, labels, event, user_id, \
             (extract(epoch from ts) * 1000000)::int8 = ts_ns / 1000 \
             FROM usage_events ORDER BY ts_ns, app, line",
            &[],
        )
        .await
        .unwrap();
    let mut ids = BTreeSet::new();
    let mut out = Vec::new();
    for r in rows {
        let id: uuid::Uuid = r.get(0);
        let ts_ns: i64 = r.get(1);
        let app: String = r.get(2);
        let line: String = r.get(3);
        let labels: serde_json::Value = r.get(4);
        let labels: Labels = serde_json::from_value(labels).unwrap();
        assert!(ids.insert(id), "duplicate id {id}");
        assert_eq!(
            id,
            usage_scraper::event::event_id(&labels, ts_ns, &line),
            "id of {line}"
        );
        assert!(r.get::<_, bool>(7), "ts and ts_ns disagree for {line}");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(Some(r.get::<_, String>(5).as_str()), v["event"].as_str());
        assert_eq!(r.get::<_, Option<String>>(6).as_deref(), v["user"].as_str());
        out.push((ts_ns, app, line));
    }
    out
}

/// Sorts expected rows like [`Harness::rows`].
pub(crate) fn sorted(mut v: Vec<Row>) -> Vec<Row> {
    v.sort();
    v.dedup();
    v
}

/// Asserts two sorted row sets are equal, printing only a summary of the difference.
#[track_caller]
pub(crate) fn assert_rows(got: Vec<Row>, want: Vec<Row>) {
    if got == want {
        return;
    }
    let g: BTreeSet<&Row> = got.iter().collect();
    let w: BTreeSet<&Row> = want.iter().collect();
    let missing: Vec<&&Row> = w.difference(&g).take(3).collect();
    let extra: Vec<&&Row> = g.difference(&w).take(3).collect();
    panic!(
        "stored {} rows, expected {}; {} missing (first: {missing:?}), {} unexpected (first: {extra:?})",
        got.len(),
        want.len(),
        w.difference(&g).count(),
        g.difference(&w).count()
    );
}

/// A small deterministic random generator (SplitMix64): seeded runs are reproducible.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `per_mille / 1000`.
    pub(crate) fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The apps of the realistic event mix.
pub(crate) const APPS: [&str; 5] = ["dice", "shop", "auth", "search", "notes"];

/// A realistic usage line of `app` (as the demo apps log them): event, user, trace and span
/// ids, and a few event-specific fields. `n` makes the line unique.
pub(crate) fn realistic_line(rng: &mut Rng, app: &str, n: u64) -> String {
    let level = if rng.chance(900) {
        "info"
    } else {
        *rng.pick(&["debug", "warn"])
    };
    let user = rng.range(1, 5000);
    let trace = format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64());
    let span = format!("{:016x}", rng.next_u64());
    let (event, fields, msg) = match (app, rng.below(3)) {
        ("dice", 0) => (
            "dice_reroll",
            format!(
                r#""sides":{},"kept":{}"#,
                rng.pick(&[6, 20]),
                rng.range(1, 5)
            ),
            "rerolled",
        ),
        ("dice", _) => (
            "dice_roll",
            format!(
                r#""sides":{},"result":{}"#,
                rng.pick(&[4, 6, 8, 10, 12, 20]),
                rng.range(1, 20)
            ),
            "rolled",
        ),
        ("shop", 0) => (
            "view_item",
            format!(r#""item":"sku-{:05}""#, rng.below(20_000)),
            "item viewed",
        ),
        ("shop", 1) => (
            "add_to_cart",
            format!(
                r#""item":"sku-{:05}","qty":{}"#,
                rng.below(20_000),
                rng.range(1, 4)
            ),
            "added to cart",
        ),
        ("shop", _) => (
            "checkout",
            format!(
                r#""amount_cents":{},"items":{},"currency":"EUR""#,
                rng.range(199, 99_999),
                rng.range(1, 9)
            ),
            "order placed",
        ),
        ("auth", 0) => (
            "signup",
            format!(r#""method":"{}""#, rng.pick(&["password", "oauth"])),
            "account created",
        ),
        ("auth", _) => (
            "login",
            format!(
                r#""method":"{}","mfa":{}"#,
                rng.pick(&["password", "oauth", "passkey"]),
                rng.chance(300)
            ),
            "logged in",
        ),
        ("search", _) => (
            "search",
            format!(
                r#""query_len":{},"results":{},"took_ms":{}"#,
                rng.range(1, 40),
                rng.below(500),
                rng.range(2, 900)
            ),
            "searched",
        ),
        (_, 0) => (
            "note_shared",
            format!(
                r#""note":"n-{}","with":"u-{}""#,
                rng.below(100_000),
                rng.range(1, 5000)
            ),
            "note shared",
        ),
        _ => (
            "note_created",
            format!(
                r#""note":"n-{}","chars":{}"#,
                rng.below(100_000),
                rng.range(1, 4000)
            ),
            "note created",
        ),
    };
    format!(
        r#"{{"level":"{level}","usage":true,"event":"{event}","user":"u-{user}",{fields},"seq":{n},"trace_id":"{trace}","span_id":"{span}","msg":"{msg}"}}"#
    )
}

/// A child process that is killed (SIGKILL) and reaped when dropped, so that a failing test
/// leaves no scraper running.
#[derive(Debug)]
pub(crate) struct ChildGuard(Option<std::process::Child>);

impl ChildGuard {
    pub(crate) fn new(child: std::process::Child) -> Self {
        Self(Some(child))
    }

    /// The child, no longer killed on drop.
    pub(crate) fn into_inner(mut self) -> std::process::Child {
        self.0.take().expect("child")
    }
}

impl std::ops::Deref for ChildGuard {
    type Target = std::process::Child;

    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("child")
    }
}

impl std::ops::DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.0.as_mut().expect("child")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
