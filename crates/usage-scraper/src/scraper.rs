//! The poll loop: read windows from Loki page by page, turn entries into rows, and store each
//! sub-window's rows with its cursor in one transaction; retry with backoff and jitter;
//! reconnect to PostgreSQL; stop cleanly when asked.
//!
//! Exactly-once: a window is `[cursor - lookback, now - settle)`, split into sub-windows of at
//! most `max_window`; the cursor moves (GREATEST) only in the transaction that stores the
//! sub-window's rows, and ids are deterministic, so a crash at any moment either re-reads a
//! window (duplicates dropped by the primary key) or finds it committed.
//!
//! Streaming: each page's rows are inserted into the open window transaction as soon as the
//! page is read, while the next page is fetched (and the next INSERT is already queued on
//! the connection), so memory holds a few pages whatever the size of a window or backlog.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use tokio::sync::watch;
use uuid::Uuid;

use crate::clock::Clock;
use crate::db::{Committed, Db, SchemaError, WindowTx};
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
        // Connecting retries for minutes while PostgreSQL is down: a stop request must not
        // wait for that.
        let read_cursor = async {
            self.connect().await.map_err(pg_err)?;
            self.cursor().await.map_err(|e| {
                self.db = None;
                pg_err(e)
            })
        };
        let cursor = tokio::select! {
            r = read_cursor => r?,
            _ = shutdown.wait_for(|stop| *stop) => {
                return Ok(CycleOutcome::Stopped(CycleStats::default()));
            }
        };
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
            let Some(c) = self.store_window(s, e, &mut stats, shutdown).await? else {
                return Ok(CycleOutcome::Stopped(stats));
            };
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

    /// Reads `[start, end)` page by page and stores it with its cursor in one transaction;
    /// `None` when stopped by `shutdown` (then nothing of the window is written).
    ///
    /// A PostgreSQL error (connection lost, server restarted) rolls the window back and the
    /// whole window is read again after a backoff: rows are never held beyond one page, so
    /// there is nothing to replay but Loki's pages. Loki errors are retried per request.
    async fn store_window(
        &mut self,
        start: i64,
        end: i64,
        stats: &mut CycleStats,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<Committed>, CycleError> {
        let mut delays = self.opts.retry.builder().build();
        let mut attempt = 0usize;
        loop {
            let e = match self.try_window(start, end, stats, shutdown).await {
                Ok(done) => {
                    if let Some(c) = done {
                        self.metrics.events_stored.inc_by(c.inserted);
                        self.metrics.duplicates.inc_by(c.duplicates);
                        self.metrics.windows_committed.inc();
                    }
                    return Ok(done);
                }
                Err(WindowError::Cycle(e)) => return Err(e),
                Err(WindowError::Pg(e)) => e,
            };
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
            tracing::warn!(error = format!("{e:#}"), attempt, retry_in = ?d, start_ns = start,
                "storing a window failed, reconnecting and reading it again");
            tokio::select! {
                () = tokio::time::sleep(d) => {}
                _ = shutdown.wait_for(|stop| *stop) => return Ok(None),
            }
        }
    }

    /// One attempt of [`Self::store_window`].
    async fn try_window(
        &mut self,
        start: i64,
        end: i64,
        stats: &mut CycleStats,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<Committed>, WindowError> {
        tokio::select! {
            r = self.connect() => r.map_err(WindowError::Pg)?,
            _ = shutdown.wait_for(|stop| *stop) => return Ok(None),
        }
        let src = Source {
            loki: &self.loki,
            metrics: &self.metrics,
            retry: self.opts.retry,
            page_limit: self.settings.loki.page_limit as usize,
            server_max: self.opts.server_max,
            app_label: &self.settings.events.app_label,
        };
        let db = self
            .db
            .as_mut()
            .ok_or_else(|| WindowError::Pg(anyhow!("not connected")))?;
        let tx = db.begin_window().await.map_err(WindowError::Pg)?;
        let committed = tokio::select! {
            r = fill_window(&tx, &src, start, end, stats) => r?,
            // Dropping the transaction rolls the window back.
            _ = shutdown.wait_for(|stop| *stop) => return Ok(None),
        };
        // Not cancelled by shutdown: the commit completes (or fails) as a whole.
        tx.commit(end).await.map_err(WindowError::Pg)?;
        Ok(Some(committed))
    }
}

/// Why one attempt at a window failed.
enum WindowError {
    /// PostgreSQL: reconnect and read the window again.
    Pg(anyhow::Error),
    /// Loki (after its own retries) or paging: the cycle fails.
    Cycle(CycleError),
}

impl From<CycleError> for WindowError {
    fn from(e: CycleError) -> Self {
        Self::Cycle(e)
    }
}

/// What reading a window needs, borrowed from the scraper.
struct Source<'a> {
    loki: &'a LokiClient,
    metrics: &'a Metrics,
    retry: RetryPolicy,
    page_limit: usize,
    server_max: usize,
    app_label: &'a str,
}

/// Pages read ahead of the inserts (besides the one being read).
const PAGES_AHEAD: usize = 1;
/// INSERT statements pipelined on the connection, so PostgreSQL never waits for the next one.
const INSERTS_IN_FLIGHT: usize = 2;

/// Pages through `[start, end)` and inserts each page's rows into `tx`. Reading and inserting
/// run concurrently: while PostgreSQL executes one page's INSERT (with the next one already
/// queued on the connection), the following page is fetched and turned into rows. At most
/// `1 + PAGES_AHEAD + INSERTS_IN_FLIGHT` pages are in memory, whatever the window holds.
async fn fill_window(
    tx: &WindowTx<'_>,
    src: &Source<'_>,
    start: i64,
    end: i64,
    stats: &mut CycleStats,
) -> Result<Committed, WindowError> {
    let (pages, mut ready) = tokio::sync::mpsc::channel::<Vec<EventRow>>(PAGES_AHEAD);
    let produce = async move {
        let mut pager = Pager::new(start, end, src.page_limit, src.server_max);
        let mut dedupe = PageDedupe::default();
        while let Some(req) = pager.next_request() {
            let entries = query(src, req).await?;
            stats.requests += 1;
            pager.on_page(&entries).map_err(|e| CycleError {
                kind: kind::PAGING,
                error: e.into(),
            })?;
            let rows = rows_of_page(entries, &mut dedupe, src);
            if !rows.is_empty() && pages.send(rows).await.is_err() {
                // The inserts stopped on an error, which try_join! returns.
                break;
            }
        }
        Ok::<(), WindowError>(())
    };
    let consume = async move {
        let mut committed = Committed::default();
        let mut in_flight = FuturesOrdered::new();
        let mut more = true;
        loop {
            tokio::select! {
                rows = ready.recv(), if more && in_flight.len() < INSERTS_IN_FLIGHT => match rows {
                    Some(rows) => in_flight.push_back(insert_rows(tx, rows)),
                    None => more = false,
                },
                Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                    let (n, inserted) = done.map_err(WindowError::Pg)?;
                    committed.inserted += inserted;
                    committed.duplicates += n - inserted;
                }
                else => return Ok::<Committed, WindowError>(committed),
            }
        }
    };
    let ((), committed) = tokio::try_join!(produce, consume)?;
    Ok(committed)
}

/// Inserts one page's rows; returns (rows, inserted).
async fn insert_rows(tx: &WindowTx<'_>, rows: Vec<EventRow>) -> Result<(u64, u64)> {
    let inserted = tx.insert(&rows).await?;
    Ok((rows.len() as u64, inserted))
}

/// Drops the entries of a page that were already read in this window: repeated values
/// (replicas) and the boundary ns group that the next page re-reads (start is inclusive).
/// Pages only ever overlap their predecessors' last ns, so that group is all it remembers
/// (at most one page plus one server-maximum page of ids).
#[derive(Debug, Default)]
struct PageDedupe {
    last_ts: Option<i64>,
    last_ids: HashSet<Uuid>,
}

impl PageDedupe {
    /// The entries of a page (sorted by `(ts, labels, line)`) not read before in this
    /// window, with their ids.
    fn fresh(&mut self, entries: Vec<Entry>) -> Vec<(Uuid, Entry)> {
        let Some(page_last) = entries.last().map(|e| e.ts_ns) else {
            return Vec::new();
        };
        // Loki promises no order within one ns, so a page that ends on the same ns as the
        // previous one may hold other entries of it: remember them all.
        let mut next_ids = if self.last_ts == Some(page_last) {
            std::mem::take(&mut self.last_ids)
        } else {
            HashSet::new()
        };
        let mut out = Vec::with_capacity(entries.len());
        let mut prev_id: Option<Uuid> = None;
        for en in entries {
            let id = event::event_id(&en.labels, en.ts_ns, &en.line);
            // Sorted: a repeated value is adjacent.
            let repeated = prev_id == Some(id);
            prev_id = Some(id);
            let seen = if Some(en.ts_ns) == self.last_ts {
                self.last_ids.contains(&id) || next_ids.contains(&id)
            } else {
                false
            };
            if en.ts_ns == page_last {
                next_ids.insert(id);
            }
            if !repeated && !seen {
                out.push((id, en));
            }
        }
        self.last_ts = Some(page_last);
        self.last_ids = next_ids;
        out
    }
}

/// The rows of one page (sorted entries), counting lines and malformed ones.
fn rows_of_page(entries: Vec<Entry>, dedupe: &mut PageDedupe, src: &Source<'_>) -> Vec<EventRow> {
    let fresh = dedupe.fresh(entries);
    let mut rows = Vec::with_capacity(fresh.len());
    for (id, en) in fresh {
        src.metrics.lines_seen.inc();
        match event::into_row(en, id, src.app_label) {
            Ok(r) => rows.push(r),
            Err((reason, en)) => {
                src.metrics.malformed(reason);
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
    rows
}

/// One Loki request with retries of transient failures.
async fn query(src: &Source<'_>, req: PageRequest) -> Result<Vec<Entry>, CycleError> {
    (|| src.loki.query_range(req))
        .retry(src.retry.builder())
        .when(LokiError::is_transient)
        .notify(|e: &LokiError, d: Duration| {
            src.metrics.error(kind::LOKI);
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

/// Whether an error is (or wraps) a [`SchemaError`].
pub fn is_schema_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<SchemaError>())
}

fn dur_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loki::Labels;

    fn e(ts: i64, stream: &str, line: &str) -> Entry {
        Entry {
            ts_ns: ts,
            labels: Labels::from([("app".to_owned(), stream.to_owned())]),
            line: line.to_owned(),
        }
    }

    /// Pages through `all` like Loki would (optionally returning every value twice, and
    /// ordering entries within one ns differently on every request) and returns what the
    /// dedupe lets through.
    fn read(all: &[Entry], limit: usize, max: usize, replicas: bool) -> Vec<Entry> {
        let mut pager = Pager::new(0, 1000, limit, max);
        let mut dedupe = PageDedupe::default();
        let mut out = Vec::new();
        let mut calls = 0u64;
        while let Some(r) = pager.next_request() {
            calls += 1;
            assert!(calls < 10_000, "pager loops");
            let mut range: Vec<Entry> = all
                .iter()
                .filter(|x| x.ts_ns >= r.start_ns && x.ts_ns < r.end_ns)
                .cloned()
                .collect();
            // Within one ns, a different order on every call (by a per-call key).
            range.sort_by_key(|x| {
                let k = event::event_id(&x.labels, x.ts_ns, &x.line).as_u128() as u64;
                (x.ts_ns, k ^ calls.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            });
            range.truncate(r.limit);
            let mut page = range.clone();
            if replicas {
                page.extend(range);
            }
            page.sort();
            pager.on_page(&page).unwrap();
            out.extend(dedupe.fresh(page).into_iter().map(|(_, x)| x));
        }
        out
    }

    #[test]
    fn every_entry_once_across_pages_replicas_and_one_ns_groups() {
        let mut all = Vec::new();
        let mut ts = 10;
        for (g, size) in [1usize, 3, 7, 2, 12, 1, 5, 30, 4, 1, 9]
            .into_iter()
            .enumerate()
        {
            for i in 0..size {
                let stream = if i % 3 == 0 { "a" } else { "b" };
                all.push(e(ts, stream, &format!("g{g}-{i}")));
            }
            // The same line in two streams at one ns: two entries.
            all.push(e(ts, "a", &format!("twin{g}")));
            all.push(e(ts, "b", &format!("twin{g}")));
            ts += 1 + (g as i64 % 2);
        }
        all.sort();
        for limit in [1, 2, 3, 4, 5, 8] {
            for replicas in [false, true] {
                let mut got = read(&all, limit, 100, replicas);
                let n = got.len();
                got.sort();
                got.dedup();
                assert_eq!(
                    n,
                    got.len(),
                    "limit {limit}, replicas {replicas}: duplicates"
                );
                assert_eq!(got, all, "limit {limit}, replicas {replicas}");
            }
        }
    }
}
