//! `usage-scraper/scraper.toml`: the settings file of the usage-scraper crate, its only
//! contract with stackc. The LogQL selection is derived from the labels Alloy writes.
//! With `[usage] build = true`, also `usage-scraper/Dockerfile`, which builds the scraper
//! from its published crate (a version, never a copy of the source).

use serde::Serialize;

use super::{Options, OutputFile};
use crate::images;
use crate::model::Stack;
use crate::templates::{Templates, go_quote};
use crate::wiring::{db, label, port, secret, service};

/// Load-bearing: used by `templates/usage-scraper/scraper.toml.j2`.
#[derive(Serialize)]
struct Context {
    loki_url: String,
    query: String,
    poll_interval: String,
    lookback: String,
    postgres_host: String,
    postgres_port: u16,
    /// `[components.postgres] sslmode`; `None` for the stack's own database.
    sslmode: Option<&'static str>,
    /// Where the CA file of `[components.postgres] root_cert` is mounted.
    root_cert: Option<&'static str>,
    database: String,
    user: &'static str,
    password_env: &'static str,
    events_table: &'static str,
    cursor_table: &'static str,
    cursor_name: String,
    app_label: &'static str,
    listen: String,
}

/// Load-bearing: used by `templates/usage-scraper/Dockerfile.j2`.
#[derive(Serialize)]
struct DockerfileContext {
    /// The `usage-scraper` crate version `cargo install` fetches from crates.io.
    version: String,
    rust_image: &'static str,
    runtime_image: &'static str,
    port: u16,
}

/// The LogQL the scraper runs: this compose project's streams (the label Alloy sets on
/// every container log line), with a cheap line filter for `"usage": true`; the scraper
/// then checks each line's JSON exactly.
pub fn usage_query(stack: &Stack) -> String {
    format!(
        r#"{{{}={}}} |~ "\"usage\"\\s*:\\s*true""#,
        label::COMPOSE_PROJECT,
        go_quote(&stack.name)
    )
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
        loki_url: format!("http://{}:{}", service::LOKI, port::LOKI),
        query: usage_query(stack),
        poll_interval: usage.poll_interval.go(),
        lookback: usage.lookback.go(),
        postgres_host: match &usage.external_db {
            Some(db) => db.host.clone(),
            None => service::POSTGRES.to_owned(),
        },
        postgres_port: usage
            .external_db
            .as_ref()
            .map_or(port::POSTGRES, |db| db.port),
        // Only for an external database, so the file of a bundled one stays readable by
        // scrapers older than these keys.
        sslmode: usage.external_db.as_ref().map(|db| db.sslmode.as_str()),
        root_cert: usage
            .external_db
            .as_ref()
            .and_then(|db| db.root_cert.as_ref())
            .map(|_| db::ROOT_CERT_MOUNT),
        database: usage.database.clone(),
        user: db::WRITER_ROLE,
        password_env: secret::SCRAPER_DB_PASSWORD,
        events_table: db::EVENTS_TABLE,
        cursor_table: db::CURSOR_TABLE,
        cursor_name: stack.name.clone(),
        app_label: label::COMPOSE_SERVICE,
        listen: format!("0.0.0.0:{}", port::USAGE_SCRAPER),
    };
    let mut files = vec![templates.file(
        "usage-scraper/scraper.toml",
        "usage-scraper/scraper.toml.j2",
        &context,
    )?];
    if let Some(version) = &usage.build {
        files.push(templates.file(
            "usage-scraper/Dockerfile",
            "usage-scraper/Dockerfile.j2",
            DockerfileContext {
                version: version.clone(),
                rust_image: images::RUST_IMAGE,
                runtime_image: images::RUNTIME_IMAGE,
                port: port::USAGE_SCRAPER,
            },
        )?);
    }
    Ok(files)
}
