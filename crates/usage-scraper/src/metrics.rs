//! The Prometheus metrics of the scraper (served as text on `/metrics`).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::event::Malformed;

/// A `reason` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

/// A `kind` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

/// A `status` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: String,
}

/// Error kinds counted in `usage_scraper_errors_total{kind}`.
pub mod kind {
    /// Loki answered 400: the query or settings are wrong.
    pub const LOKI_CONFIG: &str = "loki_config";
    /// Loki 5xx/429/timeouts/connection errors/bad bodies.
    pub const LOKI: &str = "loki";
    /// PostgreSQL errors (connect, query, commit).
    pub const POSTGRES: &str = "postgres";
    /// More lines at one ns than Loki returns per query.
    pub const PAGING: &str = "paging";
    /// Every kind, for pre-registration.
    pub const ALL: [&str; 4] = [LOKI_CONFIG, LOKI, POSTGRES, PAGING];
}

/// All metrics, cheap to update from any task.
#[derive(Debug, Default)]
pub struct Metrics {
    pub events_stored: Counter,
    pub duplicates: Counter,
    pub lines_seen: Counter,
    pub malformed: Family<ReasonLabel, Counter>,
    pub polls: Counter,
    pub poll_failures: Counter,
    pub errors: Family<KindLabel, Counter>,
    pub loki_requests: Family<StatusLabel, Counter>,
    pub windows_committed: Counter,
    pub lag_seconds: Gauge<f64, AtomicU64>,
    pub cursor_seconds: Gauge<f64, AtomicU64>,
    pub last_success_seconds: Gauge<f64, AtomicU64>,
}

impl Metrics {
    /// Registers every metric in a fresh registry.
    pub fn register(self: &std::sync::Arc<Self>) -> Registry {
        let mut r = Registry::with_prefix("usage_scraper");
        r.register(
            "events_stored",
            "Usage events inserted into PostgreSQL",
            self.events_stored.clone(),
        );
        r.register(
            "duplicates",
            "Usage events read again that were already stored (lookback, restarts)",
            self.duplicates.clone(),
        );
        r.register(
            "lines_seen",
            "Log lines returned by Loki (after paging dedupe)",
            self.lines_seen.clone(),
        );
        r.register(
            "malformed_lines",
            "Lines selected by the LogQL that are not usage events, by reason",
            self.malformed.clone(),
        );
        r.register("polls", "Poll cycles started", self.polls.clone());
        r.register(
            "poll_failures",
            "Poll cycles that failed",
            self.poll_failures.clone(),
        );
        r.register("errors", "Errors by kind", self.errors.clone());
        r.register(
            "loki_requests",
            "Loki query_range requests by HTTP status (or error)",
            self.loki_requests.clone(),
        );
        r.register(
            "windows_committed",
            "Sub-windows committed (rows and cursor in one transaction)",
            self.windows_committed.clone(),
        );
        r.register(
            "lag_seconds",
            "Now minus the stored cursor, in seconds",
            self.lag_seconds.clone(),
        );
        r.register(
            "cursor_timestamp_seconds",
            "The stored cursor (end of the last committed window), Unix seconds",
            self.cursor_seconds.clone(),
        );
        r.register(
            "last_success_timestamp_seconds",
            "When the last poll cycle succeeded, Unix seconds",
            self.last_success_seconds.clone(),
        );
        for reason in Malformed::ALL {
            let _ = self.malformed.get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            });
        }
        for k in kind::ALL {
            let _ = self.errors.get_or_create(&KindLabel { kind: k });
        }
        r
    }

    pub fn malformed(&self, reason: Malformed) {
        self.malformed
            .get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            })
            .inc();
    }

    pub fn error(&self, kind: &'static str) {
        self.errors.get_or_create(&KindLabel { kind }).inc();
    }

    pub fn loki_request(&self, status: impl Into<String>) {
        self.loki_requests
            .get_or_create(&StatusLabel {
                status: status.into(),
            })
            .inc();
    }

    /// Current value of `errors_total{kind}`.
    pub fn errors_of(&self, kind: &'static str) -> u64 {
        self.errors.get_or_create(&KindLabel { kind }).get()
    }

    /// Current value of `malformed_lines_total{reason}`.
    pub fn malformed_of(&self, reason: Malformed) -> u64 {
        self.malformed
            .get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            })
            .get()
    }
}

/// Renders the registry as Prometheus/OpenMetrics text.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn renders_every_metric() {
        let m = Arc::new(Metrics::default());
        let reg = m.register();
        m.events_stored.inc_by(3);
        m.malformed(Malformed::NotJson);
        m.error(kind::LOKI);
        m.lag_seconds.set(1.5);
        let text = encode(&reg);
        for want in [
            "usage_scraper_events_stored_total 3",
            "usage_scraper_duplicates_total 0",
            "usage_scraper_lines_seen_total 0",
            "usage_scraper_malformed_lines_total{reason=\"not_json\"} 1",
            "usage_scraper_malformed_lines_total{reason=\"missing_event\"} 0",
            "usage_scraper_polls_total 0",
            "usage_scraper_errors_total{kind=\"loki\"} 1",
            "usage_scraper_errors_total{kind=\"postgres\"} 0",
            "usage_scraper_lag_seconds 1.5",
            "usage_scraper_last_success_timestamp_seconds",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert_eq!(m.errors_of(kind::LOKI), 1);
    }
}
