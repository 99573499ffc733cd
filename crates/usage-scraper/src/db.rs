//! PostgreSQL: the SQL (built and unit-tested without a server) and the thin async layer that
//! checks the schema, holds the single-writer lock, reads the cursor and stores one
//! sub-window's rows together with its cursor in a single transaction ([`WindowTx`]: rows go
//! in page by page, the cursor last, then COMMIT).
//!
//! The scraper never creates tables: the schema is stackc's `postgres/init/*.sql`, and the
//! scraper role may only SELECT/INSERT events and SELECT/INSERT/UPDATE the cursor (it has no
//! TEMP privilege either, so rows go in with one `INSERT … SELECT FROM unnest(arrays…) ON
//! CONFLICT DO NOTHING` per page — no per-row round trips, no staging table; on the
//! server this costs about what a COPY of the same rows does, see the README's Performance).
//!
//! The connection is plain TCP (or a Unix socket) unless `[postgres] sslmode` asks for TLS;
//! [`crate::tls`] builds the rustls configuration and explains TLS failures.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, NoTls, Statement, Transaction};
use tokio_postgres_rustls::MakeRustlsConnect;
use uuid::Uuid;

use crate::event::EventRow;
use crate::settings::PostgresSettings;
use crate::tls;

/// Columns the scraper writes into the events table.
pub const EVENT_COLUMNS: [&str; 11] = [
    "id",
    "ts",
    "ts_ns",
    "app",
    "event",
    "user_id",
    "trace_id",
    "level",
    "attributes",
    "line",
    "labels",
];

/// Columns the scraper reads and writes in the cursor table.
pub const CURSOR_COLUMNS: [&str; 3] = ["name", "cursor_ns", "updated_at"];

/// Rows per INSERT statement (arrays have no bind-parameter limit; this bounds statement size).
pub const INSERT_CHUNK: usize = 10_000;

/// Quotes an SQL identifier (`"name"`, inner quotes doubled).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `INSERT … SELECT … FROM unnest($1..$11) ON CONFLICT DO NOTHING`; the two jsonb columns
/// arrive as JSON text (the server parses them either way).
pub fn insert_sql(events_table: &str) -> String {
    let cols = EVENT_COLUMNS.join(", ");
    format!(
        "INSERT INTO {} ({cols}) SELECT id, ts, ts_ns, app, event, user_id, trace_id, level, \
         attributes::jsonb, line, labels::jsonb FROM unnest($1::uuid[], $2::timestamptz[], \
         $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], \
         $10::text[], $11::text[]) AS u({cols}) ON CONFLICT DO NOTHING",
        quote_ident(events_table),
    )
}

/// Upserts the cursor; it only ever moves forward (GREATEST).
pub fn cursor_upsert_sql(cursor_table: &str) -> String {
    let t = quote_ident(cursor_table);
    format!(
        "INSERT INTO {t} (name, cursor_ns, updated_at) VALUES ($1, $2, now()) \
         ON CONFLICT (name) DO UPDATE SET cursor_ns = GREATEST({t}.cursor_ns, EXCLUDED.cursor_ns), \
         updated_at = now()"
    )
}

/// Reads the cursor.
pub fn cursor_select_sql(cursor_table: &str) -> String {
    format!(
        "SELECT cursor_ns FROM {} WHERE name = $1",
        quote_ident(cursor_table)
    )
}

/// What is missing, given the `(table, column)` pairs found in `information_schema.columns`.
pub fn missing_schema(
    found: &[(String, String)],
    events_table: &str,
    cursor_table: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (table, cols) in [
        (events_table, &EVENT_COLUMNS[..]),
        (cursor_table, &CURSOR_COLUMNS[..]),
    ] {
        let have: Vec<&str> = found
            .iter()
            .filter(|(t, _)| t == table)
            .map(|(_, c)| c.as_str())
            .collect();
        if have.is_empty() {
            problems.push(format!(
                "table {table} does not exist (or is not visible to this role)"
            ));
            continue;
        }
        let missing: Vec<&str> = cols.iter().copied().filter(|c| !have.contains(c)).collect();
        if !missing.is_empty() {
            problems.push(format!(
                "table {table} lacks column(s) {}",
                missing.join(", ")
            ));
        }
    }
    problems
}

/// The timestamp of an ns epoch value (PostgreSQL keeps microseconds).
pub fn system_time(ts_ns: i64) -> SystemTime {
    if ts_ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ts_ns as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(ts_ns.unsigned_abs())
    }
}

/// A missing table, column or privilege: not worth retrying.
#[derive(Debug)]
pub struct SchemaError(pub String);

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SchemaError {}

/// One connection with its prepared statements.
pub struct Db {
    client: Client,
    insert: Statement,
    upsert_cursor: Statement,
    select_cursor: Statement,
    cursor_name: String,
    conn_task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("cursor_name", &self.cursor_name)
            .finish_non_exhaustive()
    }
}

/// What committing one sub-window did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Committed {
    pub inserted: u64,
    pub duplicates: u64,
}

impl Db {
    /// Connects (over TLS when the settings ask for it, see [`crate::tls`]), checks the schema
    /// and privileges, and prepares the statements.
    pub async fn connect(s: &PostgresSettings, password: &str, timeout: Duration) -> Result<Self> {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&s.host)
            .port(s.port)
            .user(&s.user)
            .password(password)
            .dbname(&s.database)
            .application_name("usage-scraper")
            .connect_timeout(timeout);
        let what = || {
            format!(
                "cannot connect to PostgreSQL {}:{} database {} as {}",
                s.host, s.port, s.database, s.user
            )
        };
        let tls = tls::client_config(s).with_context(what)?;
        let connected = match tls {
            None => cfg
                .ssl_mode(SslMode::Disable)
                .connect(NoTls)
                .await
                .map(|(client, conn)| (client, spawn_connection(conn))),
            Some(config) => cfg
                .ssl_mode(SslMode::Require)
                .connect(MakeRustlsConnect::new(config))
                .await
                .map(|(client, conn)| (client, spawn_connection(conn))),
        };
        let (client, conn_task) = connected.map_err(|e| {
            let context = match tls::explain_connect_error(&e, s) {
                Some(why) => format!("{}: {why}", what()),
                None => what(),
            };
            anyhow::Error::new(e).context(context)
        })?;
        check_schema(&client, &s.events_table, &s.cursor_table).await?;
        let insert = client.prepare(&insert_sql(&s.events_table)).await?;
        let upsert_cursor = client.prepare(&cursor_upsert_sql(&s.cursor_table)).await?;
        let select_cursor = client.prepare(&cursor_select_sql(&s.cursor_table)).await?;
        Ok(Self {
            client,
            insert,
            upsert_cursor,
            select_cursor,
            cursor_name: s.cursor_name.clone(),
            conn_task,
        })
    }

    /// Whether the connection is gone (then reconnect).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Takes the single-writer lock for this cursor name (session-level advisory lock).
    pub async fn try_lock(&self) -> Result<bool> {
        let row = self
            .client
            .query_one(
                "SELECT pg_try_advisory_lock(hashtext('usage-scraper:' || $1::text)::bigint)",
                &[&self.cursor_name],
            )
            .await?;
        Ok(row.get(0))
    }

    /// The stored cursor, if any.
    pub async fn cursor(&self) -> Result<Option<i64>> {
        let row = self
            .client
            .query_opt(&self.select_cursor, &[&self.cursor_name])
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Opens the transaction of one sub-window: its rows go in page by page
    /// ([`WindowTx::insert`]) and [`WindowTx::commit`] moves the cursor in the same
    /// transaction. Dropping it uncommitted rolls everything back.
    pub async fn begin_window(&mut self) -> Result<WindowTx<'_>> {
        let tx = self.client.transaction().await?;
        Ok(WindowTx {
            tx,
            insert: &self.insert,
            upsert_cursor: &self.upsert_cursor,
            cursor_name: &self.cursor_name,
        })
    }
}

/// The open transaction of one sub-window.
pub struct WindowTx<'a> {
    tx: Transaction<'a>,
    insert: &'a Statement,
    upsert_cursor: &'a Statement,
    cursor_name: &'a str,
}

impl std::fmt::Debug for WindowTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowTx")
            .field("cursor_name", &self.cursor_name)
            .finish_non_exhaustive()
    }
}

impl WindowTx<'_> {
    /// Inserts `rows`, skipping those already stored (or repeated in `rows`); returns how
    /// many were new.
    pub async fn insert(&self, rows: &[EventRow]) -> Result<u64> {
        let mut inserted = 0;
        for chunk in rows.chunks(INSERT_CHUNK) {
            let ids: Vec<Uuid> = chunk.iter().map(|r| r.id).collect();
            let ts: Vec<SystemTime> = chunk.iter().map(|r| system_time(r.ts_ns)).collect();
            let ts_ns: Vec<i64> = chunk.iter().map(|r| r.ts_ns).collect();
            let app: Vec<&str> = chunk.iter().map(|r| r.app.as_str()).collect();
            let event: Vec<&str> = chunk.iter().map(|r| r.event.as_str()).collect();
            let user: Vec<Option<&str>> = chunk.iter().map(|r| r.user_id.as_deref()).collect();
            let trace: Vec<Option<&str>> = chunk.iter().map(|r| r.trace_id.as_deref()).collect();
            let level: Vec<Option<&str>> = chunk.iter().map(|r| r.level.as_deref()).collect();
            let attrs: Vec<&str> = chunk.iter().map(|r| r.attributes.as_str()).collect();
            let line: Vec<&str> = chunk.iter().map(|r| r.line.as_str()).collect();
            let labels: Vec<&str> = chunk.iter().map(|r| r.labels.as_str()).collect();
            inserted += self
                .tx
                .execute(
                    self.insert,
                    &[
                        &ids, &ts, &ts_ns, &app, &event, &user, &trace, &level, &attrs, &line,
                        &labels,
                    ],
                )
                .await?;
        }
        Ok(inserted)
    }

    /// Moves the cursor to `cursor_ns` (never backwards) and commits.
    pub async fn commit(self, cursor_ns: i64) -> Result<()> {
        self.tx
            .execute(self.upsert_cursor, &[&self.cursor_name, &cursor_ns])
            .await?;
        self.tx.commit().await?;
        Ok(())
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.conn_task.abort();
    }
}

/// Drives a connection in the background until it closes.
fn spawn_connection<F>(connection: F) -> tokio::task::JoinHandle<()>
where
    F: std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "PostgreSQL connection closed");
        }
    })
}

/// Checks that both tables and their columns exist and the role may use them.
async fn check_schema(client: &Client, events_table: &str, cursor_table: &str) -> Result<()> {
    let rows = client
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = ANY($1::text[])",
            &[&vec![events_table, cursor_table]],
        )
        .await
        .context("cannot read information_schema.columns")?;
    let found: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut problems = missing_schema(&found, events_table, cursor_table);
    if problems.is_empty() {
        for (table, privs) in [
            (events_table, &["SELECT", "INSERT"][..]),
            (cursor_table, &["SELECT", "INSERT", "UPDATE"][..]),
        ] {
            for p in privs {
                let ok: bool = client
                    .query_one(
                        "SELECT has_table_privilege($1::text, $2::text)",
                        &[&quote_ident(table), p],
                    )
                    .await?
                    .get(0);
                if !ok {
                    problems.push(format!("this role lacks {p} on table {table}"));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(SchemaError(format!(
            "the usage_stats schema is not in place: {}. The scraper never creates tables: \
             run stackc's postgres/init/01-schema.sql and 02-roles.sql (PostgreSQL runs them \
             on first start of an empty data directory)",
            problems.join("; ")
        ))
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("usage_events"), "\"usage_events\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn statements() {
        let s = insert_sql("usage_events");
        assert!(s.starts_with(
            "INSERT INTO \"usage_events\" (id, ts, ts_ns, app, event, user_id, trace_id, level, attributes, line, labels) SELECT id, ts, ts_ns, app, event, user_id, trace_id, level, attributes::jsonb, line, labels::jsonb FROM unnest($1::uuid[]"
        ));
        assert!(s.contains("$11::text[]) AS u(id, ts, ts_ns, app, event, user_id, trace_id, level, attributes, line, labels)"));
        assert!(s.ends_with("ON CONFLICT DO NOTHING"));
        let c = cursor_upsert_sql("cur");
        assert!(c.contains("GREATEST(\"cur\".cursor_ns, EXCLUDED.cursor_ns)"));
        assert_eq!(
            cursor_select_sql("cur"),
            "SELECT cursor_ns FROM \"cur\" WHERE name = $1"
        );
    }

    #[test]
    fn names_what_is_missing() {
        let mut found: Vec<(String, String)> = EVENT_COLUMNS
            .iter()
            .map(|c| ("ev".to_owned(), (*c).to_owned()))
            .collect();
        assert_eq!(
            missing_schema(&found, "ev", "cur"),
            vec!["table cur does not exist (or is not visible to this role)"]
        );
        found.retain(|(_, c)| c != "labels" && c != "ts_ns");
        found.extend(
            CURSOR_COLUMNS
                .iter()
                .map(|c| ("cur".to_owned(), (*c).to_owned())),
        );
        assert_eq!(
            missing_schema(&found, "ev", "cur"),
            vec!["table ev lacks column(s) ts_ns, labels"]
        );
    }

    #[test]
    fn timestamps() {
        let t = system_time(1_700_000_000_123_456_789);
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_nanos(),
            1_700_000_000_123_456_789
        );
        assert!(system_time(-1) < UNIX_EPOCH);
    }
}
