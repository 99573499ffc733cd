//! `postgres/init/*.sql`: the usage database's schema (SPEC §5) and its two roles, a
//! writer for the scraper and a read-only one for Grafana. Passwords are read from the
//! environment by psql's `\getenv` when the entrypoint (or, for an external database of
//! `[components.postgres]`, the user, with the command the files' headers give) runs them.
//! Every interpolated value is an identifier the model validated (`[a-z_][a-z0-9_]*`)
//! or a constant from `wiring`.

use serde::Serialize;

use super::{Options, OutputFile};
use crate::model::Stack;
use crate::templates::Templates;
use crate::wiring::{db, secret};

/// Load-bearing: used by `templates/postgres/*.sql.j2`.
#[derive(Serialize)]
struct Context<'a> {
    database: &'a str,
    events_table: &'static str,
    cursor_table: &'static str,
    writer: &'static str,
    reader: &'static str,
    writer_password_env: &'static str,
    reader_password_env: &'static str,
    /// `host:port (sslmode …)` of `[components.postgres]`: the files are run by hand there,
    /// and leave the server's other databases alone. `None`: the stack's own PostgreSQL
    /// runs them from `/docker-entrypoint-initdb.d`.
    external: Option<External>,
}

#[derive(Serialize)]
struct External {
    host: String,
    port: u16,
    sslmode: &'static str,
}

pub fn render(
    stack: &Stack,
    templates: &Templates,
    _: &Options,
) -> anyhow::Result<Vec<OutputFile>> {
    let Some(usage) = &stack.usage else {
        return Ok(Vec::new());
    };
    let context = Context {
        database: &usage.database,
        events_table: db::EVENTS_TABLE,
        cursor_table: db::CURSOR_TABLE,
        writer: db::WRITER_ROLE,
        reader: db::READER_ROLE,
        writer_password_env: secret::SCRAPER_DB_PASSWORD,
        reader_password_env: secret::READER_DB_PASSWORD,
        external: usage.external_db.as_ref().map(|db| External {
            host: db.host.clone(),
            port: db.port,
            sslmode: db.sslmode.as_str(),
        }),
    };
    Ok(vec![
        templates.file(
            "postgres/init/01-schema.sql",
            "postgres/01-schema.sql.j2",
            &context,
        )?,
        templates.file(
            "postgres/init/02-roles.sql",
            "postgres/02-roles.sql.j2",
            &context,
        )?,
    ])
}
