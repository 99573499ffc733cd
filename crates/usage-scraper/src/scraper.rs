//! The poll loop: read windows from Loki page by page, turn entries into rows, and commit each
//! sub-window's rows with its cursor in one transaction; retry with backoff and jitter;
//! reconnect to PostgreSQL; stop cleanly when asked.
//!
//! Exactly-once: a window is `[cursor - lookback, now - settle)`, split into sub-windows of at
//! most `max_window`; the cursor moves (GREATEST) only in the transaction that stores the
//! sub-window's rows, and ids are deterministic, so a crash at any moment either re-reads a
//! window (duplicates dropped by the primary key) or finds it committed. Memory holds one
//! sub-window's rows at most.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use tokio::sync::watch;
use uuid::Uuid;

use crate::clock::Clock;
use crate::db::{Committed, Db, SchemaError};
use crate::event::{self, EventRow};
use crate::loki::{Entry, PageRequest, Pager, SERVER_MAX_ENTRIES};
use crate::loki_http::{LokiClient, LokiError};
use crate::metrics::{Metrics, kind};
use crate::settings::Settings;
use crate::window;

/// Retry policy for one Loki request or one PostgreSQL commit inside a cycle.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// Retries after the first attempt; then the cycle fails and the next poll starts over.
    pub max_times: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            max_times: 8,
        }
    }
}

impl RetryPolicy {
    fn builder(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_times)
            .with_jitter()
    }
}

/// Knobs that are not in the settings file (tests and benchmarks turn them).
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub retry: RetryPolicy,
    /// Loki's `max_entries_limit_per_query`, used for one-ns pages.
    pub server_max: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            server_max: SERVER_MAX_ENTRIES,
        }
    }
}

/// How a cycle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleOutcome {
    /// Caught up to `now - settle`.
    Completed(CycleStats),
    /// Shutdown requested; every committed window is complete, nothing half-written.
    Stopped(CycleStats),
}

/// Counters of one cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CycleStats {
    pub windows: u64,
    pub inserted: u64,
    pub duplicates: u64,
    pub requests: u64,
}

/// A failed cycle, with the metric kind of its cause.
#[derive(Debug)]
pub struct CycleError {
    pub kind: &'static str,
    pub error: anyhow::Error,
}

impl std::fmt::Display for CycleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} error: {:#}", self.kind, self.error)
    }
}

impl std::error::Error for CycleError {}

fn pg_err(e: anyhow::Error) -> CycleError {
    CycleError {
        kind: kind::POSTGRES,
        error: e,
    }
}

/// One scraper: settings, Loki client, database connection, clock and metrics.
#[derive(Debug)]
pub struct Scraper {
    settings: Settings,
    password: String,
    loki: LokiClient,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    opts: Options,
    db: Option<Db>,
}

impl Scraper {
    pub fn new(
        settings: Settings,
        password: String,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        opts: Options,
    ) -> Result<Self> {
        let loki = LokiClient::new(&settings.loki, metrics.clone())?;
        Ok(Self {
            settings,
            password,
            loki,
            clock,
            metrics,
            opts,
            db: None,
        })
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Connects (with retries), checks the schema and takes the single-writer lock.
    ///
    /// A missing table, column or privilege fails at once with a message naming it.
    pub async fn connect(&mut self) -> Result<()> {
        if self.db.as_ref().is_some_and(|d| !d.is_closed()) {
            return Ok(());
        }
        self.db = None;
        let s = &self.settings;
        let timeout = s.loki.timeout;
        let password = &self.password;
        let db = (|| async {
            let db = Db::connect(&s.postgres, password, timeout).await?;
            if !db.try_lock().await? {
                return Err(anyhow!(
                    "another usage-scraper holds the lock for cursor {:?} in this database",
                    s.postgres.cursor_name
                ));
            }
            Ok(db)
        })
        .retry(self.opts.retry.builder())
        .when(|e: &anyhow::Error| !is_schema_error(e))
        .notify(|e: &anyhow::Error, d: Duration| {
            self.metrics.error(kind::POSTGRES);
            tracing::warn!(error = format!("{e:#}"), retry_in = ?d, "PostgreSQL not ready");
        })
        .await?;
        self.db = Some(db);
        Ok(())
    }

    /// The stored cursor.
    pub async fn cursor(&mut self) -> Result<Option<i64>> {
        self.connect().await?;
        let db = self.db.as_ref().context("not connected")?;
        db.cursor().await
    }

    /// Runs cycles every `poll.interval` until `shutdown` turns true.
    pub async fn run(&mut self, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            match self.run_cycle(&mut shutdown).await {
                Ok(CycleOutcome::Stopped(_)) => return Ok(()),
                Ok(CycleOutcome::Completed(_)) => {}
                Err(e) => {
                    if is_schema_error(&e.error) {
                        return Err(e.error);
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.poll.interval) => {}
                _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
            }
        }
    }

    /// One cycle: catch up from the cursor to `now - settle`.
    pub async fn run_cycle(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<CycleOutcome, CycleError> {
        self.metrics.polls.inc();
        let started = std::time::Instant::now();
        let r = self.cycle(shutdown).await;
        match &r {
            Ok(CycleOutcome::Completed(st)) => {
                self.metrics
                    .last_success_seconds
                    .set(self.clock.now_ns() as f64 / 1e9);
                tracing::info!(
                    windows = st.windows,
                    inserted = st.inserted,
                    duplicates = st.duplicates,
                    requests = st.requests,
                    took_ms = started.elapsed().as_millis() as u64,
                    "poll cycle done"
                );
            }
            Ok(CycleOutcome::Stopped(st)) => {
                tracing::info!(
                    windows = st.windows,
                    inserted = st.inserted,
                    "stopped on request; committed windows are complete"
                );
            }
            Err(e) => {
                self.metrics.poll_failures.inc();
                self.metrics.error(e.kind);
                if e.kind == kind::LOKI_CONFIG {
                    tracing::error!(
                        kind = e.kind,
                        error = format!("{:#}", e.error),
                        "CONFIGURATION ERROR: Loki rejects the query; fix the settings. \
                         The cursor does not move; retrying at the next poll"
                    );
                } else {
                    tracing::error!(
                        kind = e.kind,
                        error = format!("{:#}", e.error),
                        "poll cycle failed; the cursor does not move, retrying at the next poll"
                    );
                }
            }
        }
        r
    }

    async fn cycle(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<CycleOutcome, CycleError> {
        self.connect().await.map_err(pg_err)?;
        let cursor = self.cursor().await.map_err(|e| {
            self.db = None;
            pg_err(e)
        })?;
        let now = self.clock.now_ns();
        if let Some(c) = cursor {
            self.observe_cursor(c, now);
        }
        let p = &self.settings.poll;
        let mut stats = CycleStats::default();
        let Some((start, end)) = window::cycle_range(
            cursor,
            now,
            dur_ns(p.lookback),
            dur_ns(p.settle),
            dur_ns(p.initial_backfill),
        ) else {
            return Ok(CycleOutcome::Completed(stats));
        };
        let max = dur_ns(p.max_window);
        for (s, e) in window::split(start, end, max) {
            if *shutdown.borrow() {
                return Ok(CycleOutcome::Stopped(stats));
            }
            let fetched = tokio::select! {
                r = self.fetch_window(s, e, &mut stats) => r?,
                _ = shutdown.wait_for(|stop| *stop) => return Ok(CycleOutcome::Stopped(stats)),
            };
            // Not cancelled by shutdown: the transaction commits or rolls back as a whole.
            let c = self.commit(&fetched, e).await?;
            stats.windows += 1;
            stats.inserted += c.inserted;
            stats.duplicates += c.duplicates;
            let committed_cursor = cursor.map_or(e, |c| c.max(e));
            self.observe_cursor(committed_cursor, self.clock.now_ns());
        }
        Ok(CycleOutcome::Completed(stats))
    }

    fn observe_cursor(&self, cursor_ns: i64, now_ns: i64) {
        self.metrics
            .lag_seconds
            .set((now_ns - cursor_ns) as f64 / 1e9);
        self.metrics.cursor_seconds.set(cursor_ns as f64 / 1e9);
    }

    /// Reads every page of `[start, end)` and returns its usage rows (deduplicated).
    async fn fetch_window(
        &self,
        start: i64,
        end: i64,
        stats: &mut CycleStats,
    ) -> Result<Vec<EventRow>, CycleError> {
        let mut pager = Pager::new(
            start,
            end,
            self.settings.loki.page_limit as usize,
            self.opts.server_max,
        );
        let mut seen: HashSet<Uuid> = HashSet::new();
        let mut rows = Vec::new();
        let app_label = &self.settings.events.app_label;
        while let Some(req) = pager.next_request() {
            let entries = self.query(req).await?;
            stats.requests += 1;
            pager.on_page(&entries).map_err(|e| CycleError {
                kind: kind::PAGING,
                error: e.into(),
            })?;
            for en in &entries {
                if !seen.insert(event::event_id(&en.labels, en.ts_ns, &en.line)) {
                    continue;
                }
                self.metrics.lines_seen.inc();
                match event::to_row(en, app_label) {
                    Ok(r) => rows.push(r),
                    Err(reason) => {
                        self.metrics.malformed(reason);
                        // Never the line itself: it may hold `"usage": true` and would be
                        // scraped again from this process's own logs.
                        tracing::warn!(
                            reason = reason.as_str(),
                            ts_ns = en.ts_ns,
                            labels = ?en.labels,
                            line_bytes = en.line.len(),
                            "skipping a line that is not a usage event"
                        );
                    }
                }
            }
        }
        Ok(rows)
    }

    async fn query(&self, req: PageRequest) -> Result<Vec<Entry>, CycleError> {
        (|| self.loki.query_range(req))
            .retry(self.opts.retry.builder())
            .when(LokiError::is_transient)
            .notify(|e: &LokiError, d: Duration| {
                self.metrics.error(kind::LOKI);
                tracing::warn!(error = %e, retry_in = ?d, start_ns = req.start_ns, "Loki request failed, retrying");
            })
            .await
            .map_err(|e| CycleError {
                kind: if e.is_transient() {
                    kind::LOKI
                } else {
                    kind::LOKI_CONFIG
                },
                error: e.into(),
            })
    }

    /// Commits rows + cursor in one transaction, reconnecting and retrying on errors (both
    /// are idempotent, so a commit whose acknowledgement was lost is harmless to repeat).
    async fn commit(&mut self, rows: &[EventRow], cursor_ns: i64) -> Result<Committed, CycleError> {
        let mut attempt = 0usize;
        let mut delays = self.opts.retry.builder().build();
        loop {
            let r = async {
                self.connect().await?;
                let db = self.db.as_mut().context("not connected")?;
                db.commit_window(rows, cursor_ns).await
            }
            .await;
            match r {
                Ok(c) => {
                    self.metrics.events_stored.inc_by(c.inserted);
                    self.metrics.duplicates.inc_by(c.duplicates);
                    self.metrics.windows_committed.inc();
                    return Ok(c);
                }
                Err(e) => {
                    attempt += 1;
                    self.db = None;
                    let next = if is_schema_error(&e) {
                        None
                    } else {
                        delays.next()
                    };
                    let Some(d) = next else {
                        return Err(pg_err(e));
                    };
                    self.metrics.error(kind::POSTGRES);
                    tracing::warn!(error = format!("{e:#}"), attempt, retry_in = ?d, "commit failed, reconnecting");
                    tokio::time::sleep(d).await;
                }
            }
        }
    }
}

/// Whether an error is (or wraps) a [`SchemaError`].
pub fn is_schema_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<SchemaError>())
}

fn dur_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}
