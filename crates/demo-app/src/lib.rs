//! `demo-app`: one small configurable HTTP service that stands in for the demo apps of a
//! stackc stack (`dice-roller`, `shiny-curl-gui`, `stage1`..`stage5`), so that every Grafana
//! dashboard has data within a minute of `docker compose up`.
//!
//! - [`config`]: the environment variables, read once.
//! - [`http`]: the routes (`/roll`, `/work`, `/healthz`, `/metrics`) and the per-request
//!   server span, log line and metrics.
//! - [`metrics`]: the request and usage metrics, observed once and published both as
//!   Prometheus metrics (OpenMetrics with `trace_id` exemplars, or classic text) and as
//!   OpenTelemetry instruments (`http.server.request.duration`, `demo.usage.events`).
//! - [`logging`]: flat JSON log lines with `trace_id`/`span_id`.
//! - [`telemetry`]: the OTLP/HTTP exporters (traces always unless turned off; metrics and
//!   logs on request), the `tracing` subscriber, and the flush at shutdown.
//! - [`load`]: the built-in load loop over loopback HTTP.
//! - [`health`]: the `healthcheck` probe.

pub mod config;
pub mod health;
pub mod http;
pub mod load;
pub mod logging;
pub mod metrics;
pub mod telemetry;

use std::future::IntoFuture as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use opentelemetry::metrics::Meter;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::Config;

/// How long in-flight requests may run on after shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves on `listener` (and runs the load loop) until `shutdown` turns true, then lets
/// in-flight requests finish for at most [`SHUTDOWN_GRACE`]. The OpenTelemetry metric
/// instruments come from `meter` ([`telemetry::Telemetry::meter`]).
pub async fn serve(
    config: Config,
    meter: &Meter,
    listener: TcpListener,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let addr = listener.local_addr()?;
    let app = Arc::new(http::App::new(config, meter)?);
    let config = &app.config;
    tracing::info!(
        addr = %addr,
        service = config.service_name.as_str(),
        load_rps = config.rps,
        load_routes = config.routes.join(",").as_str(),
        "listening"
    );
    let load = if config.rps > 0.0 {
        Some(tokio::spawn(load::run(
            http::http_client(config)?,
            load::base_url(addr),
            config.routes.clone(),
            config.rps,
            shutdown.clone(),
        )))
    } else {
        None
    };

    let mut stop = shutdown.clone();
    let server = axum::serve(listener, http::router(app.clone()))
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .into_future();
    let mut stop = shutdown;
    let grace = async move {
        let _ = stop.wait_for(|s| *s).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        result = server => result?,
        () = grace => tracing::warn!(
            grace_s = SHUTDOWN_GRACE.as_secs(),
            "in-flight requests still open after the grace period"
        ),
    }
    if let Some(load) = load {
        load.abort();
    }
    Ok(())
}
