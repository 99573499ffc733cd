//! OTLP/HTTP protobuf export of the real binary to a local receiver ([`support::otlp`]):
//!
//! - traces: spans arrive with `service.name` and `OTEL_RESOURCE_ATTRIBUTES`, server spans have
//!   child spans, failures mark spans with status error, a `DEMO_DOWNSTREAM` call continues the
//!   trace in the called service, and SIGTERM flushes spans still queued;
//! - metrics (`OTEL_METRICS_EXPORTER=otlp`): `http.server.request.duration` and
//!   `demo.usage.events` as the semantic conventions shape them, counting exactly what
//!   `/metrics` counts;
//! - logs (`OTEL_LOGS_EXPORTER=otlp`): one record per stdout line, with severity, body,
//!   attributes and the trace context of the spans exported alongside;
//! - nothing on `/v1/metrics` or `/v1/logs` unless asked, and nothing at all with
//!   `OTEL_SDK_DISABLED=true`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, SeverityNumber};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, Metric};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatus;
use support::otlp::{Received, attr, hex, receiver, text};
use support::{App, is_id, poll_async};

fn otlp_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_owned()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.namespace=test,deployment.environment=ci".to_owned(),
        ),
    ]
}

fn spawn(envs: Vec<(&'static str, String)>) -> App {
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    tokio::task::block_in_place(|| App::spawn(&envs))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_receiver_with_children_errors_and_downstream_links() {
    let (endpoint, rx) = receiver().await;

    let mut env_b = otlp_env(&endpoint);
    env_b.extend([
        ("OTEL_SERVICE_NAME", "otlp-b".to_owned()),
        ("DEMO_RPS", "0".to_owned()),
        ("DEMO_ERROR_RATE", "0".to_owned()),
        ("DEMO_SLOW_RATE", "0".to_owned()),
        ("DEMO_LATENCY_MS", "2".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ]);
    let b = spawn(env_b);

    let mut env_a = otlp_env(&endpoint);
    env_a.extend([
        ("OTEL_SERVICE_NAME", "otlp-a".to_owned()),
        ("DEMO_RPS", "30".to_owned()),
        ("DEMO_ERROR_RATE", "0.3".to_owned()),
        ("DEMO_SLOW_RATE", "0".to_owned()),
        ("DEMO_LATENCY_MS", "2".to_owned()),
        ("DEMO_DOWNSTREAM", b.url("/work")),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ]);
    let a = spawn(env_a);

    let found = poll_async(|| async {
        let spans = rx.spans.lock().unwrap().clone();
        let of = |service: &'static str| spans.iter().filter(move |g| g.service == service);
        let server_kind = SpanKind::Server as i32;
        let client_kind = SpanKind::Client as i32;
        // A server span of `otlp-a` with a child span (parent id and trace id match).
        let with_child = of("otlp-a").find(|g| {
            g.span.kind == server_kind
                && g.span.name == "GET /work"
                && of("otlp-a").any(|c| {
                    c.span.trace_id == g.span.trace_id
                        && c.span.parent_span_id == g.span.span_id
                        && c.span.name == "SELECT items"
                })
        })?;
        // A failed server span, marked with status error.
        let failed = of("otlp-a").find(|g| {
            g.span.kind == server_kind
                && g.span.status.as_ref().map(|s| s.code) == Some(OtlpStatus::Error as i32)
        })?;
        // `otlp-b`'s server span continues `otlp-a`'s client span.
        let linked = of("otlp-b").find(|g| {
            g.span.kind == server_kind
                && of("otlp-a").any(|c| {
                    c.span.kind == client_kind
                        && c.span.name == "GET"
                        && c.span.trace_id == g.span.trace_id
                        && c.span.span_id == g.span.parent_span_id
                })
        })?;
        Some((with_child.clone(), failed.clone(), linked.clone()))
    })
    .await;
    let spans = rx.spans.lock().unwrap().clone();
    let Some((with_child, failed, linked)) = found else {
        let names: BTreeSet<_> = spans
            .iter()
            .map(|g| (g.service.clone(), g.span.name.clone(), g.span.kind))
            .collect();
        panic!("spans missing; got {} spans: {names:?}", spans.len());
    };
    assert!(
        rx.bad_requests.lock().unwrap().is_empty(),
        "{:?}",
        rx.bad_requests
    );

    for g in [&with_child, &failed, &linked] {
        assert!(is_id(&hex(&g.span.trace_id), 32));
        assert!(is_id(&hex(&g.span.span_id), 16));
        assert!(
            g.resource
                .contains(&("service.namespace".into(), "test".into()))
                && g.resource
                    .contains(&("deployment.environment".into(), "ci".into())),
            "OTEL_RESOURCE_ATTRIBUTES on {:?}",
            g.resource
        );
    }
    let attrs = &with_child.span.attributes;
    assert_eq!(text(attrs, "http.route").as_deref(), Some("/work"));
    assert_eq!(text(attrs, "http.request.method").as_deref(), Some("GET"));
    assert!(
        with_child.span.parent_span_id.is_empty(),
        "the load loop's requests start new traces"
    );
    assert!(failed.span.name == "GET /roll" || failed.span.name == "GET /work");
    // The failing child span (db query or roll) is marked too.
    let error_children = spans
        .iter()
        .filter(|g| {
            g.span.trace_id == failed.span.trace_id
                && g.span.parent_span_id == failed.span.span_id
                && g.span.status.as_ref().map(|s| s.code) == Some(OtlpStatus::Error as i32)
        })
        .count();
    assert!(
        error_children >= 1,
        "the failed child span has status error"
    );
    assert_eq!(linked.span.name, "GET /work");

    let (status_a, _) = tokio::task::block_in_place(|| a.terminate());
    let (status_b, _) = tokio::task::block_in_place(|| b.terminate());
    assert!(status_a.success() && status_b.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_queued_spans() {
    let (endpoint, rx) = receiver().await;
    let mut env = otlp_env(&endpoint);
    env.extend([
        ("OTEL_SERVICE_NAME", "flush-test".to_owned()),
        ("DEMO_RPS", "0".to_owned()),
        ("DEMO_ERROR_RATE", "0".to_owned()),
        ("DEMO_SLOW_RATE", "0".to_owned()),
        ("DEMO_LATENCY_MS", "1".to_owned()),
        // Nothing is exported on a timer during this test: only shutdown sends spans.
        ("OTEL_BSP_SCHEDULE_DELAY", "600000".to_owned()),
    ]);
    let app = spawn(env);
    let client = reqwest::Client::new();
    let mut trace_ids = BTreeSet::new();
    for _ in 0..3 {
        let text = client
            .get(app.url("/roll?sides=6"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        let trace_id = body["trace_id"].as_str().expect("trace_id in the response");
        assert!(is_id(trace_id, 32), "{body}");
        trace_ids.insert(trace_id.to_owned());
    }
    assert_eq!(trace_ids.len(), 3, "one trace per request");
    assert!(
        rx.spans.lock().unwrap().is_empty(),
        "nothing exported before shutdown"
    );

    let (status, lines) = tokio::task::block_in_place(|| app.terminate());
    assert!(status.success(), "{status}: {lines:?}");
    let spans = rx.spans.lock().unwrap().clone();
    let exported: BTreeSet<String> = spans
        .iter()
        .filter(|g| g.span.kind == SpanKind::Server as i32 && g.span.name == "GET /roll")
        .map(|g| hex(&g.span.trace_id))
        .collect();
    assert_eq!(
        exported, trace_ids,
        "every request's server span flushed at SIGTERM"
    );
    assert!(spans.iter().all(|g| g.service == "flush-test"));
}

/// One instance's environment with nothing left to chance: no load loop, no simulated
/// failures or slow requests.
fn quiet_env(endpoint: &str, service: &str) -> Vec<(&'static str, String)> {
    let mut env = otlp_env(endpoint);
    env.extend([
        ("OTEL_SERVICE_NAME", service.to_owned()),
        ("DEMO_RPS", "0".to_owned()),
        ("DEMO_ERROR_RATE", "0".to_owned()),
        ("DEMO_SLOW_RATE", "0".to_owned()),
        ("DEMO_LATENCY_MS", "1".to_owned()),
    ]);
    env
}

/// An `http://` URL on a loopback port nobody listens on: `/work` calling it answers 502.
fn dead_downstream() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/work")
}

/// `GET path` on `app`: the status and the body.
async fn get(client: &reqwest::Client, app: &App, path: &str) -> (u16, String) {
    let resp = client.get(app.url(path)).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// The requests every signal test makes: 3 × `/roll?sides=6` (200, each with a `dice_roll`
/// usage event), 2 × `/work` (502: the downstream is dead), 1 × `/nope` (404, no route).
/// Returns the trace ids of the `/roll` answers.
async fn make_requests(app: &App) -> BTreeSet<String> {
    let client = reqwest::Client::new();
    let mut roll_traces = BTreeSet::new();
    for _ in 0..3 {
        let (status, body) = get(&client, app, "/roll?sides=6").await;
        assert_eq!(status, 200, "{body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        roll_traces.insert(body["trace_id"].as_str().unwrap().to_owned());
    }
    for _ in 0..2 {
        assert_eq!(get(&client, app, "/work").await.0, 502);
    }
    assert_eq!(get(&client, app, "/nope").await.0, 404);
    roll_traces
}

/// The metric `name` in the newest `/v1/metrics` request that has it, with its resource's
/// attributes. Temporality is cumulative, so the newest is the total so far.
fn latest_metric(rx: &Received, name: &str) -> Option<(Vec<KeyValue>, Metric)> {
    let requests = rx.metrics.lock().unwrap();
    requests.iter().rev().find_map(|req| {
        req.resource_metrics.iter().find_map(|rm| {
            let metric = rm
                .scope_metrics
                .iter()
                .flat_map(|sm| &sm.metrics)
                .find(|m| m.name == name)?;
            let resource = rm.resource.clone().map(|r| r.attributes);
            Some((resource.unwrap_or_default(), metric.clone()))
        })
    })
}

/// The value of one series in a classic Prometheus text exposition.
fn prometheus_value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn int(kv: &[KeyValue], key: &str) -> Option<i64> {
    match attr(kv, key)? {
        AnyValue::IntValue(i) => Some(*i),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_arrive_as_semconv_instruments_that_agree_with_prometheus() {
    let (endpoint, rx) = receiver().await;
    let mut env = quiet_env(&endpoint, "otlp-metrics");
    env.extend([
        ("OTEL_METRICS_EXPORTER", "otlp".to_owned()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "200".to_owned()),
        ("OTEL_TRACES_EXPORTER", "none".to_owned()),
        ("DEMO_DOWNSTREAM", dead_downstream()),
    ]);
    let app = spawn(env);
    make_requests(&app).await;

    let found = poll_async(|| async {
        let (resource, duration) = latest_metric(&rx, "http.server.request.duration")?;
        let (_, usage) = latest_metric(&rx, "demo.usage.events")?;
        let Some(Data::Histogram(h)) = &duration.data else {
            return None;
        };
        let Some(Data::Sum(s)) = &usage.data else {
            return None;
        };
        let requests: u64 = h.data_points.iter().map(|p| p.count).sum();
        let events: i64 = s
            .data_points
            .iter()
            .filter_map(|p| match p.value {
                Some(Number::AsInt(v)) => Some(v),
                _ => None,
            })
            .sum();
        (requests == 6 && events == 3).then_some((resource, duration, usage))
    })
    .await;
    let Some((resource, duration, usage)) = found else {
        panic!(
            "no export with all 6 requests and 3 usage events; got {:#?}",
            rx.metrics.lock().unwrap().last()
        );
    };
    assert!(
        rx.bad_requests.lock().unwrap().is_empty(),
        "{:?}",
        rx.bad_requests
    );

    assert_eq!(
        text(&resource, "service.name").as_deref(),
        Some("otlp-metrics")
    );
    assert_eq!(
        text(&resource, "service.namespace").as_deref(),
        Some("test"),
        "OTEL_RESOURCE_ATTRIBUTES on the resource"
    );

    assert_eq!(duration.unit, "s");
    let Some(Data::Histogram(histogram)) = &duration.data else {
        unreachable!()
    };
    assert_eq!(
        histogram.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    let semconv_buckets = [
        0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    ];
    // Keyed by `http.route` (absent when no route matched).
    let mut points = BTreeMap::new();
    for p in &histogram.data_points {
        assert_eq!(p.explicit_bounds, semconv_buckets, "{p:?}");
        assert_eq!(p.bucket_counts.len(), semconv_buckets.len() + 1);
        assert_eq!(p.bucket_counts.iter().sum::<u64>(), p.count);
        assert!(p.sum.is_some_and(|s| s > 0.0), "{p:?}");
        assert_eq!(
            text(&p.attributes, "http.request.method").as_deref(),
            Some("GET")
        );
        assert_eq!(text(&p.attributes, "url.scheme").as_deref(), Some("http"));
        let route = text(&p.attributes, "http.route");
        assert!(
            points.insert(route.clone(), p.clone()).is_none(),
            "one data point per route here: {route:?}"
        );
    }
    let expect = [
        (Some("/roll"), 200, None, 3),
        (Some("/work"), 502, Some("502"), 2),
        (None, 404, None, 1),
    ];
    assert_eq!(points.len(), expect.len(), "{points:#?}");
    for (route, status, error_type, count) in expect {
        let p = &points[&route.map(str::to_owned)];
        assert_eq!(
            int(&p.attributes, "http.response.status_code"),
            Some(status),
            "an int status code: {p:?}"
        );
        assert_eq!(
            text(&p.attributes, "error.type").as_deref(),
            error_type,
            "{p:?}"
        );
        assert_eq!(p.count, count, "{route:?}");
    }

    assert_eq!(usage.unit, "{event}");
    let Some(Data::Sum(sum)) = &usage.data else {
        unreachable!()
    };
    assert!(sum.is_monotonic, "a counter");
    assert_eq!(
        sum.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    let [event] = sum.data_points.as_slice() else {
        panic!("{sum:?}")
    };
    assert_eq!(
        text(&event.attributes, "event").as_deref(),
        Some("dice_roll")
    );
    assert_eq!(event.value, Some(Number::AsInt(3)));

    // One observation feeds both: `/metrics` counts exactly the same.
    let (_, prometheus) = get(&reqwest::Client::new(), &app, "/metrics").await;
    for (route, label, count) in [
        ("/roll", "/roll", 3.0),
        ("/work", "/work", 2.0),
        ("", "unmatched", 1.0),
    ] {
        let key = (!route.is_empty()).then(|| route.to_owned());
        assert_eq!(points[&key].count as f64, count);
        assert_eq!(
            prometheus_value(
                &prometheus,
                &format!("http_request_duration_seconds_count{{route=\"{label}\",method=\"GET\"}}")
            ),
            Some(count),
            "{prometheus}"
        );
    }
    assert_eq!(
        prometheus_value(&prometheus, "demo_usage_events_total{event=\"dice_roll\"}"),
        Some(3.0)
    );

    let (status, _) = tokio::task::block_in_place(|| app.terminate());
    assert!(status.success());
    assert_eq!(rx.hits("/v1/logs"), 0);
    assert_eq!(rx.hits("/v1/traces"), 0, "OTEL_TRACES_EXPORTER=none");
}

/// Every log record received, with its resource's `service.name`.
fn log_records(rx: &Received) -> Vec<(String, LogRecord)> {
    let requests = rx.logs.lock().unwrap();
    let mut out = Vec::new();
    for req in requests.iter() {
        for rl in &req.resource_logs {
            let attrs = rl.resource.clone().map(|r| r.attributes);
            let service = text(&attrs.unwrap_or_default(), "service.name").unwrap_or_default();
            for record in rl.scope_logs.iter().flat_map(|sl| &sl.log_records) {
                out.push((service.clone(), record.clone()));
            }
        }
    }
    out
}

fn body(record: &LogRecord) -> Option<&str> {
    match record.body.as_ref()?.value.as_ref()? {
        AnyValue::StringValue(s) => Some(s),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_records_carry_severity_attributes_and_the_exported_trace_context() {
    let (endpoint, rx) = receiver().await;
    let mut env = quiet_env(&endpoint, "otlp-logs");
    env.extend([
        ("OTEL_LOGS_EXPORTER", "otlp".to_owned()),
        ("OTEL_BLRP_SCHEDULE_DELAY", "100".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("DEMO_DOWNSTREAM", dead_downstream()),
    ]);
    let app = spawn(env);
    let roll_traces = make_requests(&app).await;

    let found = poll_async(|| async {
        let records = log_records(&rx);
        let spans = rx.spans();
        let error = records.iter().any(|(_, r)| {
            body(r) == Some("request") && r.severity_number == SeverityNumber::Error as i32
        });
        let usage: Vec<LogRecord> = records
            .iter()
            .filter(|(_, r)| body(r) == Some("dice rolled"))
            .map(|(_, r)| r.clone())
            .collect();
        // Each usage record's span: the server span of its request, exported on /v1/traces.
        let mut pairs = Vec::new();
        for record in usage {
            let span = spans.iter().find(|g| {
                g.span.trace_id == record.trace_id
                    && g.span.span_id == record.span_id
                    && g.span.kind == SpanKind::Server as i32
                    && g.span.name == "GET /roll"
            })?;
            pairs.push((record, span.clone()));
        }
        (error && pairs.len() == 3).then_some(pairs)
    })
    .await;
    let Some(usage) = found else {
        let got: Vec<_> = log_records(&rx)
            .iter()
            .map(|(_, r)| (body(r).map(str::to_owned), r.severity_text.clone()))
            .collect();
        panic!(
            "usage records with their server spans missing; got {got:?} and {} spans",
            rx.spans().len()
        );
    };
    for (record, span) in &usage {
        assert_eq!(record.severity_number, SeverityNumber::Info as i32);
        assert_eq!(record.severity_text, "INFO");
        assert!(is_id(&hex(&record.trace_id), 32) && is_id(&hex(&record.span_id), 16));
        assert!(roll_traces.contains(&hex(&record.trace_id)));
        assert_eq!(span.service, "otlp-logs");
        let attrs = &record.attributes;
        assert_eq!(attr(attrs, "usage"), Some(&AnyValue::BoolValue(true)));
        assert_eq!(text(attrs, "event").as_deref(), Some("dice_roll"));
        assert!(text(attrs, "user").is_some_and(|u| u.starts_with("u-")));
        assert_eq!(int(attrs, "sides"), Some(6));
        assert!(int(attrs, "result").is_some_and(|r| (1..=6).contains(&r)));
        assert!(record.observed_time_unix_nano > 0);
    }

    let (status, lines) = tokio::task::block_in_place(|| app.terminate());
    assert!(status.success(), "{status}: {lines:?}");
    assert!(
        rx.bad_requests.lock().unwrap().is_empty(),
        "{:?}",
        rx.bad_requests
    );
    let records = log_records(&rx);
    assert!(records.iter().all(|(service, _)| service == "otlp-logs"));

    // Severity by level, and the request lines' fields.
    let request = |status: i64| {
        records
            .iter()
            .map(|(_, r)| r)
            .find(|r| body(r) == Some("request") && int(&r.attributes, "status") == Some(status))
            .unwrap_or_else(|| panic!("no `request` record with status {status}"))
    };
    for (status, number, level) in [(200, 9, "INFO"), (404, 13, "WARN"), (502, 17, "ERROR")] {
        let r = request(status);
        assert_eq!(
            (r.severity_number, r.severity_text.as_str()),
            (number, level)
        );
        assert_eq!(text(&r.attributes, "method").as_deref(), Some("GET"));
        assert!(is_id(&hex(&r.trace_id), 32), "{r:?}");
    }
    let listening = records
        .iter()
        .map(|(_, r)| r)
        .find(|r| body(r) == Some("listening"))
        .expect("the start-up line");
    assert!(listening.trace_id.is_empty(), "written outside any span");

    // Every stdout line, up to the last one written before the log exporter stops, is a record
    // with the same message and level.
    let mut from_stdout: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["msg"].as_str().unwrap().to_owned(),
                v["level"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut from_otlp: Vec<(String, String)> = records
        .iter()
        .map(|(_, r)| {
            (
                body(r).unwrap_or_default().to_owned(),
                r.severity_text.to_ascii_lowercase(),
            )
        })
        .collect();
    from_stdout.sort();
    from_otlp.sort();
    assert_eq!(from_otlp, from_stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_metrics_or_logs_are_exported_unless_asked() {
    let (endpoint, rx) = receiver().await;
    let mut env = quiet_env(&endpoint, "otlp-default");
    env.extend([
        // Were metrics or logs on, they would be exported every 100 ms.
        ("OTEL_METRIC_EXPORT_INTERVAL", "100".to_owned()),
        ("OTEL_BLRP_SCHEDULE_DELAY", "100".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("DEMO_DOWNSTREAM", dead_downstream()),
    ]);
    let app = spawn(env);
    let roll_traces = make_requests(&app).await;
    // Traces are on by default: the receiver is reachable and in use.
    let spans = poll_async(|| async {
        let exported: BTreeSet<String> = rx.spans().iter().map(|g| hex(&g.span.trace_id)).collect();
        roll_traces.is_subset(&exported).then_some(())
    })
    .await;
    assert!(spans.is_some(), "the /roll spans were not exported");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rx.hits("/v1/metrics"), 0);
    assert_eq!(rx.hits("/v1/logs"), 0);

    // Shutdown flushes every provider: still nothing.
    let (status, _) = tokio::task::block_in_place(|| app.terminate());
    assert!(status.success());
    assert_eq!(rx.hits("/v1/metrics"), 0);
    assert_eq!(rx.hits("/v1/logs"), 0);
    assert!(rx.hits("/v1/traces") > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_disabled_exports_nothing_even_when_every_exporter_is_otlp() {
    let (endpoint, rx) = receiver().await;
    let mut env = quiet_env(&endpoint, "otlp-disabled");
    env.extend([
        ("OTEL_SDK_DISABLED", "true".to_owned()),
        ("OTEL_TRACES_EXPORTER", "otlp".to_owned()),
        ("OTEL_METRICS_EXPORTER", "otlp".to_owned()),
        ("OTEL_LOGS_EXPORTER", "otlp".to_owned()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "100".to_owned()),
        ("OTEL_BLRP_SCHEDULE_DELAY", "100".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("DEMO_DOWNSTREAM", dead_downstream()),
    ]);
    let app = spawn(env);
    make_requests(&app).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, lines) = tokio::task::block_in_place(|| app.terminate());
    assert!(status.success());
    assert!(
        lines.iter().any(|l| l.contains("\"dice rolled\"")),
        "stdout lines are still written"
    );
    assert_eq!(
        *rx.paths.lock().unwrap(),
        Vec::<String>::new(),
        "no request of any kind"
    );
}
