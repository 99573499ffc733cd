//! The request and usage metrics: observed once, published two ways.
//!
//! [`Metrics::observe_request`] and [`Metrics::observe_usage`] are the only way in, and each
//! feeds both the Prometheus registry and the OpenTelemetry instruments, so `/metrics` and the
//! OTLP export count the same requests.
//!
//! Prometheus, always served on `/metrics`:
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `http_requests_total` | counter | `route`, `method`, `status` |
//! | `http_request_errors_total` | counter (5xx only) | `route`, `method` |
//! | `http_request_duration_seconds` | histogram, exemplars `trace_id` | `route`, `method` |
//! | `demo_usage_events_total` | counter | `event` |
//! | `demo_app_info` | info (always 1) | `service`, `version` |
//!
//! A scraper that asks for `application/openmetrics-text` (Prometheus does) gets OpenMetrics
//! 1.0 with exemplars; anything else gets the classic text format 0.0.4, which has no
//! exemplars and which `promtool check metrics` reads.
//!
//! OpenTelemetry, exported over OTLP when `OTEL_METRICS_EXPORTER=otlp` (otherwise the meter
//! is a no-op), named and shaped by the HTTP semantic conventions:
//!
//! | instrument | kind | unit | attributes |
//! | --- | --- | --- | --- |
//! | `http.server.request.duration` | histogram, [`SEMCONV_DURATION_BUCKETS`] | `s` | `http.request.method`, `url.scheme`, `http.route` (when a route matched), `http.response.status_code`, `error.type` (5xx) |
//! | `demo.usage.events` | counter | `{event}` | `event` |

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, Meter};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

/// `Content-Type` of the OpenMetrics rendering.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of the classic rendering.
pub const TEXT_CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Name of the OpenTelemetry request-duration histogram.
pub const HTTP_SERVER_REQUEST_DURATION: &str = "http.server.request.duration";
/// Name of the OpenTelemetry usage-event counter.
pub const DEMO_USAGE_EVENTS: &str = "demo.usage.events";

/// The explicit bucket boundaries the HTTP semantic conventions recommend for
/// `http.server.request.duration`, in seconds.
pub const SEMCONV_DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Latency buckets of the Prometheus histogram in seconds, from 5 ms to 10 s.
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Labels of `http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route template (`/roll`, `/work`) or `unmatched`.
    pub route: String,
    /// The HTTP method.
    pub method: String,
    /// The response status code.
    pub status: String,
}

/// Labels of the error counter and the latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route template (`/roll`, `/work`) or `unmatched`.
    pub route: String,
    /// The HTTP method.
    pub method: String,
}

/// The exemplar of a latency observation: the request's trace.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TraceExemplar {
    /// 32 lowercase hex digits.
    pub trace_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InfoLabels {
    service: String,
    version: String,
}

#[derive(Clone, Copy)]
struct Buckets;

impl MetricConstructor<HistogramWithExemplars<TraceExemplar>> for Buckets {
    fn new_metric(&self) -> HistogramWithExemplars<TraceExemplar> {
        HistogramWithExemplars::new(BUCKETS.into_iter())
    }
}

/// Every metric of the app.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    errors: Family<RouteLabels, Counter>,
    duration: Family<RouteLabels, HistogramWithExemplars<TraceExemplar>, Buckets>,
    usage: Family<EventLabels, Counter>,
    otel_duration: Histogram<f64>,
    otel_usage: opentelemetry::metrics::Counter<u64>,
}

impl Metrics {
    /// Registers every metric; `service` labels `demo_app_info`. The OpenTelemetry
    /// instruments come from `meter` (a no-op one when metrics are not exported).
    pub fn new(service: &str, meter: &Meter) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests served, by route, method and status code",
            requests.clone(),
        );
        let errors = Family::<RouteLabels, Counter>::default();
        registry.register(
            "http_request_errors",
            "HTTP requests answered with a 5xx status, by route and method",
            errors.clone(),
        );
        let duration = Family::new_with_constructor(Buckets);
        registry.register_with_unit(
            "http_request_duration",
            "Time from request to response, by route and method; exemplars carry the trace_id",
            Unit::Seconds,
            duration.clone(),
        );
        let usage = Family::<EventLabels, Counter>::default();
        registry.register(
            "demo_usage_events",
            "Product-usage events logged with \"usage\": true, by event",
            usage.clone(),
        );
        registry.register(
            "demo_app",
            "The service this demo-app instance plays and its version",
            Info::new(InfoLabels {
                service: service.to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            }),
        );
        let otel_duration = meter
            .f64_histogram(HTTP_SERVER_REQUEST_DURATION)
            .with_description("Duration of HTTP server requests.")
            .with_unit("s")
            .with_boundaries(SEMCONV_DURATION_BUCKETS.to_vec())
            .build();
        let otel_usage = meter
            .u64_counter(DEMO_USAGE_EVENTS)
            .with_description("Product-usage events logged with \"usage\": true, by event.")
            .with_unit("{event}")
            .build();
        Metrics {
            registry,
            requests,
            errors,
            duration,
            usage,
            otel_duration,
            otel_usage,
        }
    }

    /// Counts one finished request in both the Prometheus metrics and the OpenTelemetry
    /// histogram. `route` is the matched route template (`None`: no route matched, the
    /// Prometheus label `unmatched`); `trace_id` (of a sampled span) becomes the exemplar.
    pub fn observe_request(
        &self,
        route: Option<&str>,
        method: &str,
        status: u16,
        seconds: f64,
        trace_id: Option<String>,
    ) {
        self.otel_duration
            .record(seconds, &request_attributes(route, method, status));
        let route = route.unwrap_or(crate::http::UNMATCHED);
        let labels = RouteLabels {
            route: route.to_owned(),
            method: method.to_owned(),
        };
        // Errors first: a scrape in between then never shows more 5xx requests than errors.
        if status >= 500 {
            self.errors.get_or_create(&labels).inc();
        }
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status: status.to_string(),
            })
            .inc();
        self.duration.get_or_create(&labels).observe(
            seconds,
            trace_id.map(|trace_id| TraceExemplar { trace_id }),
            Some(std::time::SystemTime::now()),
        );
    }

    /// Counts one usage event, in both the Prometheus and the OpenTelemetry counter.
    pub fn observe_usage(&self, event: &str) {
        self.otel_usage
            .add(1, &[KeyValue::new("event", event.to_owned())]);
        self.usage
            .get_or_create(&EventLabels {
                event: event.to_owned(),
            })
            .inc();
    }

    /// The OpenMetrics rendering, with exemplars and the closing `# EOF`.
    pub fn render_openmetrics(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The classic text rendering (format 0.0.4), without exemplars.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }

    /// The body and `Content-Type` for a request with this `Accept` header.
    pub fn render_for(&self, accept: Option<&str>) -> (&'static str, String) {
        if accept.is_some_and(wants_openmetrics) {
            (OPENMETRICS_CONTENT_TYPE, self.render_openmetrics())
        } else {
            (TEXT_CONTENT_TYPE, self.render_text())
        }
    }
}

/// The attributes of one `http.server.request.duration` measurement, as the HTTP semantic
/// conventions define them: `http.request.method` (a method outside the standard set becomes
/// `_OTHER`), `url.scheme` (required; always `http` here), `http.route` only when a route
/// matched, `http.response.status_code` as an int, and `error.type` (the status code as a
/// string) on a 5xx, the statuses that mark a server span as an error.
pub fn request_attributes(route: Option<&str>, method: &str, status: u16) -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new("http.request.method", semconv_method(method)),
        KeyValue::new("url.scheme", "http"),
    ];
    if let Some(route) = route {
        attributes.push(KeyValue::new("http.route", route.to_owned()));
    }
    attributes.push(KeyValue::new(
        "http.response.status_code",
        i64::from(status),
    ));
    if status >= 500 {
        attributes.push(KeyValue::new("error.type", status.to_string()));
    }
    attributes
}

/// `http.request.method`: one of the methods the conventions know, else `_OTHER`.
fn semconv_method(method: &str) -> &'static str {
    match method {
        "CONNECT" => "CONNECT",
        "DELETE" => "DELETE",
        "GET" => "GET",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        "POST" => "POST",
        "PUT" => "PUT",
        "TRACE" => "TRACE",
        _ => "_OTHER",
    }
}

/// Whether an `Accept` header prefers OpenMetrics: some `application/openmetrics-text` range
/// has a quality above 0 and at least that of any range the classic format satisfies
/// (`text/plain`, `text/*`, `*/*`).
pub fn wants_openmetrics(accept: &str) -> bool {
    let mut openmetrics = 0.0f64;
    let mut text = 0.0f64;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .and_then(|(_, v)| v.trim().parse::<f64>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "application/openmetrics-text" => openmetrics = openmetrics.max(q),
            "text/plain" | "text/*" | "*/*" => text = text.max(q),
            _ => {}
        }
    }
    openmetrics > 0.0 && openmetrics >= text
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    fn sample() -> Metrics {
        let meter = opentelemetry::metrics::MeterProvider::meter(
            &opentelemetry::metrics::noop::NoopMeterProvider::new(),
            "test",
        );
        let m = Metrics::new("dice-roller", &meter);
        m.observe_request(Some("/roll"), "GET", 200, 0.012, Some(TRACE.to_owned()));
        m.observe_request(Some("/roll"), "GET", 500, 0.3, None);
        m.observe_request(None, "GET", 404, 0.001, None);
        m.observe_usage("dice_roll");
        m
    }

    #[test]
    fn accept_negotiation() {
        // Prometheus 2.x with exemplar storage, and 3.x.
        assert!(wants_openmetrics(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        ));
        assert!(wants_openmetrics(
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
        ));
        assert!(wants_openmetrics("Application/OpenMetrics-Text"));
        // Prometheus without OpenMetrics, curl, browsers, promtool users.
        assert!(!wants_openmetrics("text/plain;version=0.0.4;q=1,*/*;q=0.1"));
        assert!(!wants_openmetrics("*/*"));
        assert!(!wants_openmetrics(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(!wants_openmetrics("application/openmetrics-text;q=0"));
        assert!(!wants_openmetrics(
            "text/plain,application/openmetrics-text;q=0.5"
        ));
    }

    #[test]
    fn openmetrics_has_exemplar_and_eof() {
        let (ct, body) = sample().render_for(Some("application/openmetrics-text"));
        assert_eq!(ct, OPENMETRICS_CONTENT_TYPE);
        assert!(body.ends_with("# EOF\n"), "{body}");
        let exemplar_line = body
            .lines()
            .find(|l| l.contains(" # {"))
            .unwrap_or_else(|| panic!("no exemplar in\n{body}"));
        assert!(
            exemplar_line.starts_with(
                "http_request_duration_seconds_bucket{le=\"0.025\",route=\"/roll\",method=\"GET\"} 1 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 0.012 "
            ),
            "{exemplar_line}"
        );
        assert!(body.contains("# UNIT http_request_duration_seconds seconds\n"));
        assert!(
            body.contains("http_requests_total{route=\"/roll\",method=\"GET\",status=\"500\"} 1\n")
        );
        assert!(body.contains("http_request_errors_total{route=\"/roll\",method=\"GET\"} 1\n"));
        assert!(body.contains("demo_usage_events_total{event=\"dice_roll\"} 1\n"));
        assert!(body.contains("demo_app_info{service=\"dice-roller\",version=\""));
        assert!(body.contains(
            "http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1\n"
        ));
    }

    fn pairs(attributes: &[KeyValue]) -> Vec<(&str, String)> {
        attributes
            .iter()
            .map(|kv| (kv.key.as_str(), kv.value.as_str().into_owned()))
            .collect()
    }

    #[test]
    fn semconv_request_attributes() {
        let ok = request_attributes(Some("/roll"), "GET", 200);
        assert_eq!(
            pairs(&ok),
            [
                ("http.request.method", "GET".to_owned()),
                ("url.scheme", "http".to_owned()),
                ("http.route", "/roll".to_owned()),
                ("http.response.status_code", "200".to_owned()),
            ]
        );
        assert!(
            matches!(ok[3].value, opentelemetry::Value::I64(200)),
            "the status code is an int"
        );
        let failed = request_attributes(Some("/work"), "GET", 502);
        let error_type = failed.iter().find(|kv| kv.key.as_str() == "error.type");
        assert_eq!(
            error_type.map(|kv| kv.value.as_str().into_owned()),
            Some("502".to_owned())
        );
        let client_error = request_attributes(Some("/roll"), "GET", 400);
        assert!(
            client_error
                .iter()
                .all(|kv| kv.key.as_str() != "error.type")
        );
        let unmatched = request_attributes(None, "BREW", 404);
        assert!(unmatched.iter().all(|kv| kv.key.as_str() != "http.route"));
        assert_eq!(
            unmatched[0].value.as_str(),
            "_OTHER",
            "unknown methods are `_OTHER`"
        );
    }

    #[test]
    fn classic_text_has_no_exemplars() {
        let (ct, body) = sample().render_for(Some("text/plain"));
        assert_eq!(ct, TEXT_CONTENT_TYPE);
        assert!(!body.contains(" # {"), "{body}");
        assert!(!body.contains("# EOF"));
        assert!(
            body.contains("# TYPE http_requests_total counter\n"),
            "{body}"
        );
        assert!(body.contains(
            "http_request_duration_seconds_bucket{route=\"/roll\",method=\"GET\",le=\"0.025\"} 1\n"
        ));
        assert_eq!(sample().render_for(None).0, TEXT_CONTENT_TYPE);
    }
}
