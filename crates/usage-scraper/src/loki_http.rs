//! The HTTP call to Loki's `query_range` (reqwest), and the split of its failures into
//! configuration errors (4xx: the query or URL is wrong — retrying will not help) and transient
//! ones (5xx, 429, timeouts, refused connections, cut or invalid bodies — back off and retry).

use std::sync::Arc;

use anyhow::{Context, Result};

use crate::loki::{self, CATEGORIZE_LABELS, ENCODING_FLAGS_HEADER, Entry, PageRequest};
use crate::metrics::Metrics;
use crate::settings::LokiSettings;

/// A failed `query_range`.
#[derive(Debug)]
pub enum LokiError {
    /// Loki rejected the request (400 and other 4xx but 408/429): fix the settings.
    Config { status: u16, body: String },
    /// Worth retrying.
    Transient(String),
}

impl LokiError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

impl std::fmt::Display for LokiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Config { status, body } => write!(
                f,
                "Loki rejected the query with HTTP {status}: {} — check loki.query, loki.url and \
                 loki.page_limit (≤ max_entries_limit_per_query)",
                body.trim()
            ),
            Self::Transient(m) => write!(f, "Loki request failed: {m}"),
        }
    }
}

impl std::error::Error for LokiError {}

/// A client for one Loki and one query.
#[derive(Debug, Clone)]
pub struct LokiClient {
    http: reqwest::Client,
    endpoint: String,
    query: String,
    metrics: Arc<Metrics>,
}

impl LokiClient {
    pub fn new(s: &LokiSettings, metrics: Arc<Metrics>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(s.timeout)
            .connect_timeout(s.timeout.min(std::time::Duration::from_secs(10)))
            .user_agent(concat!("usage-scraper/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            http,
            endpoint: format!("{}/loki/api/v1/query_range", s.url.trim_end_matches('/')),
            query: s.query.clone(),
            metrics,
        })
    }

    /// One `query_range` page, entries sorted by `(ts, labels, line)`.
    pub async fn query_range(&self, req: PageRequest) -> Result<Vec<Entry>, LokiError> {
        let limit = req.limit.to_string();
        let resp = self
            .http
            .get(&self.endpoint)
            .header(ENCODING_FLAGS_HEADER, CATEGORIZE_LABELS)
            .query(&[
                ("query", self.query.as_str()),
                ("start", loki::format_ns(req.start_ns).as_str()),
                ("end", loki::format_ns(req.end_ns).as_str()),
                ("limit", limit.as_str()),
                ("direction", "forward"),
            ])
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                let what = if e.is_timeout() { "timeout" } else { "error" };
                self.metrics.loki_request(what);
                return Err(LokiError::Transient(error_chain(&e)));
            }
        };
        let status = resp.status();
        self.metrics.loki_request(status.as_str());
        let body = resp.bytes().await.map_err(|e| {
            LokiError::Transient(format!(
                "reading the body (HTTP {status}): {}",
                error_chain(&e)
            ))
        })?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(2000)]).into_owned();
            let code = status.as_u16();
            return Err(
                if status.is_client_error() && code != 408 && code != 429 && code != 499 {
                    LokiError::Config {
                        status: code,
                        body: text,
                    }
                } else {
                    LokiError::Transient(format!("HTTP {status}: {}", text.trim()))
                },
            );
        }
        loki::parse_response(&body).map_err(|e| LokiError::Transient(format!("{e:#}")))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}
