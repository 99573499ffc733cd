//! `usage-scraper`: stores the product-usage events that apps log to Loki (JSON lines with
//! `"usage": true`) in PostgreSQL, exactly once (SPEC §5).
//!
//! Pure parts — [`settings`], [`loki`] (response and paging), [`event`] (rows and ids),
//! [`window`] and the SQL in [`db`] — are tested without services; [`loki_http`], [`db`]'s
//! connection (over [`tls`] when asked), [`scraper`] and [`server`] are the thin async layer.
//! Its only contract with stackc is the settings file stackc renders.

pub mod clock;
pub mod db;
pub mod event;
pub mod loki;
pub mod loki_http;
pub mod metrics;
pub mod scraper;
pub mod server;
pub mod settings;
pub mod tls;
pub mod window;

use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::watch;

pub use scraper::{CycleOutcome, Options, RetryPolicy, Scraper};
pub use settings::Settings;

/// Runs the service: `/metrics` + `/healthz`, then one cycle (`once`) or the poll loop, until
/// `shutdown` turns true.
pub async fn run_service(
    settings: Settings,
    password: String,
    once: bool,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let metrics = Arc::new(metrics::Metrics::default());
    let registry = Arc::new(metrics.register());
    let listener = tokio::net::TcpListener::bind(&settings.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
    tracing::info!(listen = %settings.server.listen, once, "usage-scraper starting");
    let server = tokio::spawn(server::serve(listener, registry, shutdown.clone()));
    let mut scraper = Scraper::new(
        settings,
        password,
        Arc::new(clock::SystemClock),
        metrics,
        Options::default(),
    )?;
    let result = async {
        let mut sd = shutdown.clone();
        tokio::select! {
            r = scraper.connect() => r?,
            _ = sd.wait_for(|stop| *stop) => return Ok(()),
        }
        if once {
            let mut sd = shutdown.clone();
            scraper.run_cycle(&mut sd).await?;
            Ok(())
        } else {
            scraper.run(shutdown.clone()).await
        }
    }
    .await;
    server.abort();
    result
}
