//! The HTTP routes and the per-request instrumentation.
//!
//! `/roll` and `/work` (and unknown paths) run inside the `instrument` middleware: one server
//! span per request (continuing a W3C `traceparent` if the caller sent one), one `request` log
//! line at the end, and the request metrics (Prometheus, with the span's `trace_id` as exemplar,
//! and the OpenTelemetry histogram, through the one [`Metrics::observe_request`]). `/healthz`
//! and `/metrics` are left bare so that probes and scrapes make no traces or log lines.
//!
//! Every instrumented request draws its fate once (`Fate`): how long its simulated work takes,
//! whether it is slow (`DEMO_SLOW_RATE`) and whether it fails (`DEMO_ERROR_RATE`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opentelemetry::metrics::Meter;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use rand::Rng as _;
use rand::seq::IndexedRandom as _;
use serde_json::json;
use tracing::field::Empty;
use tracing::{Instrument as _, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::config::Config;
use crate::metrics::Metrics;

/// The `route` of a request no route matched: the Prometheus label, the log line's field and
/// the span's `http.route`. (The OpenTelemetry histogram leaves `http.route` out instead, as
/// the semantic conventions ask.)
pub const UNMATCHED: &str = "unmatched";

/// Dice `/roll` picks from when the request names no `sides`.
pub const STANDARD_DICE: [u32; 6] = [4, 6, 8, 10, 12, 20];

/// Shared state of the routes.
#[derive(Debug)]
pub struct App {
    /// The settings.
    pub config: Config,
    /// The metrics `/metrics` renders.
    pub metrics: Metrics,
    client: reqwest::Client,
    propagator: TraceContextPropagator,
}

impl App {
    /// The state for `config`; the OpenTelemetry instruments come from `meter`.
    pub fn new(config: Config, meter: &Meter) -> anyhow::Result<Self> {
        Ok(App {
            metrics: Metrics::new(&config.service_name, meter),
            client: http_client(&config)?,
            propagator: TraceContextPropagator::new(),
            config,
        })
    }

    fn random_user(&self) -> String {
        format!("u-{}", rand::rng().random_range(1..=self.config.users))
    }

    fn fate(&self) -> Fate {
        let mut rng = rand::rng();
        Fate {
            work: self.config.latency.mul_f64(rng.random_range(0.5..1.5)),
            slow: rng.random_bool(self.config.slow_rate),
            fail: rng.random_bool(self.config.error_rate),
        }
    }

    /// Sleeps `share` of the request's work, plus the slow delay (with its `warn` line) once.
    async fn simulate(&self, fate: &Fate, share: f64, slow_here: bool) {
        if slow_here && fate.slow {
            let delay_ms = u64::try_from(self.config.slow.as_millis()).unwrap_or(u64::MAX);
            tracing::warn!(delay_ms, "slow request");
            tokio::time::sleep(self.config.slow).await;
        }
        tokio::time::sleep(fate.work.mul_f64(share)).await;
    }

    /// Calls one `DEMO_DOWNSTREAM` URL inside a client span whose context travels in
    /// `traceparent`.
    async fn call_downstream(&self, url: &str) -> Result<(), ()> {
        let span = tracing::info_span!(
            "downstream",
            otel.name = "GET",
            otel.kind = "client",
            otel.status_code = Empty,
            http.request.method = "GET",
            url.full = %url,
            http.response.status_code = Empty,
        );
        async {
            let mut headers = HeaderMap::new();
            self.propagator.inject_context(
                &Span::current().context(),
                &mut HeaderInjector(&mut headers),
            );
            let outcome = match self.client.get(url).headers(headers).send().await {
                Ok(resp) => {
                    let status = resp.status();
                    Span::current().record("http.response.status_code", status.as_u16());
                    // Read the body so the connection can be reused.
                    let _ = resp.bytes().await;
                    if status.is_server_error() {
                        Err(format!("status {}", status.as_u16()))
                    } else {
                        Ok(())
                    }
                }
                Err(e) => Err(e.without_url().to_string()),
            };
            outcome.map_err(|error| {
                Span::current().record("otel.status_code", "ERROR");
                tracing::warn!(url, error, "downstream call failed");
            })
        }
        .instrument(span)
        .await
    }
}

/// The HTTP client of the load loop and of downstream calls (plain HTTP, no proxy).
pub fn http_client(config: &Config) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(config.slow * 2 + Duration::from_secs(30))
        .no_proxy()
        .build()?)
}

/// What happens to one request.
#[derive(Debug, Clone, Copy)]
struct Fate {
    work: Duration,
    slow: bool,
    fail: bool,
}

/// All routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/roll", get(roll))
        .route("/work", get(work))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), instrument))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .with_state(app)
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{body}\n"),
    )
        .into_response()
}

/// The server span, the `request` log line and the request metrics.
async fn instrument(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let route = matched.as_deref().unwrap_or(UNMATCHED).to_owned();
    let method = req.method().as_str().to_owned();
    let span_name = if matched.is_none() {
        method.clone()
    } else {
        format!("{method} {route}")
    };
    let span = tracing::info_span!(
        "request",
        otel.name = %span_name,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        http.route = %route,
        url.path = %req.uri().path(),
        http.response.status_code = Empty,
    );
    let parent = app.propagator.extract(&HeaderExtractor(req.headers()));
    if parent.span().span_context().is_valid() {
        // Only fails when the span was already started, which it was not.
        let _ = span.set_parent(parent);
    }

    let response = next.run(req).instrument(span.clone()).await;

    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    let seconds = start.elapsed().as_secs_f64();
    let span_context = span.context().span().span_context().clone();
    let exemplar = span_context
        .is_sampled()
        .then(|| span_context.trace_id().to_string());
    app.metrics
        .observe_request(matched.as_deref(), &method, status, seconds, exemplar);

    let duration_ms = (seconds * 1e6).round() / 1e3;
    let _entered = span.enter();
    match status {
        500.. => tracing::error!(method, route, status, duration_ms, "request"),
        400..500 => tracing::warn!(method, route, status, duration_ms, "request"),
        _ => tracing::info!(method, route, status, duration_ms, "request"),
    }
    response
}

/// `GET /roll?sides=N`: rolls one die; `sides` defaults to a random standard die.
async fn roll(
    State(app): State<Arc<App>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let max = app.config.max_sides;
    let sides = match query.get("sides") {
        None => *STANDARD_DICE.choose(&mut rand::rng()).unwrap_or(&6),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (2..=max).contains(&n) => n,
            _ => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    json!({"error": format!("`sides` must be a whole number from 2 to {max}")}),
                );
            }
        },
    };
    let user = app.random_user();
    let fate = app.fate();
    let rolled = async {
        app.simulate(&fate, 1.0, true).await;
        if fate.fail {
            tracing::error!(
                error = "the die fell off the table (simulated)",
                "roll failed"
            );
            return None;
        }
        Some(rand::rng().random_range(1..=sides))
    }
    .instrument(tracing::info_span!("roll dice", dice.sides = sides))
    .await;
    let Some(result) = rolled else {
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "roll failed"}),
        );
    };
    tracing::info!(
        usage = true,
        event = "dice_roll",
        user,
        sides,
        result,
        "dice rolled"
    );
    app.metrics.observe_usage("dice_roll");
    json_response(
        StatusCode::OK,
        json!({"sides": sides, "result": result, "user": user, "trace_id": current_trace_id()}),
    )
}

/// `GET /work`: a simulated database query, the downstream calls, then rendering.
async fn work(State(app): State<Arc<App>>) -> Response {
    let user = app.random_user();
    let fate = app.fate();
    let items: u32 = rand::rng().random_range(1..=50);

    let queried = async {
        app.simulate(&fate, 0.6, true).await;
        if fate.fail {
            tracing::error!(
                error = "connection reset by peer (simulated)",
                "db query failed"
            );
            return Err(());
        }
        Ok(())
    }
    .instrument(tracing::info_span!(
        "db query",
        otel.name = "SELECT items",
        otel.kind = "client",
        db.system = "postgresql",
        db.system.name = "postgresql",
        db.operation.name = "SELECT",
        db.collection.name = "items",
    ))
    .await;
    if queried.is_err() {
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "db query failed"}),
        );
    }

    for url in &app.config.downstream {
        if app.call_downstream(url).await.is_err() {
            return json_response(
                StatusCode::BAD_GATEWAY,
                json!({"error": "downstream call failed"}),
            );
        }
    }

    app.simulate(&fate, 0.4, false)
        .instrument(tracing::info_span!("render", items))
        .await;
    tracing::info!(usage = true, event = "work_done", user, items, "work done");
    app.metrics.observe_usage("work_done");
    json_response(
        StatusCode::OK,
        json!({"items": items, "user": user, "trace_id": current_trace_id()}),
    )
}

/// The trace id of the current span, for the response body (look the request up in Tempo).
fn current_trace_id() -> String {
    Span::current()
        .context()
        .span()
        .span_context()
        .trace_id()
        .to_string()
}

async fn not_found() -> Response {
    json_response(StatusCode::NOT_FOUND, json!({"error": "not found"}))
}

async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (content_type, body) = app.metrics.render_for(accept);
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
