//! OTLP/HTTP protobuf export of the real binary to a local receiver (an axum server on
//! 127.0.0.1 taking `POST /v1/traces` and decoding the body with `opentelemetry-proto`):
//! spans arrive with `service.name` and `OTEL_RESOURCE_ATTRIBUTES`, server spans have child
//! spans, failures mark spans with status error, a `DEMO_DOWNSTREAM` call continues the trace
//! in the called service, and SIGTERM flushes spans still queued.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatus;
use prost::Message as _;
use support::{App, is_id, poll_async};

/// One received span with its resource.
#[derive(Debug, Clone)]
struct Got {
    service: String,
    resource: Vec<(String, String)>,
    span: opentelemetry_proto::tonic::trace::v1::Span,
}

#[derive(Clone, Default)]
struct Received {
    spans: Arc<Mutex<Vec<Got>>>,
    bad_requests: Arc<Mutex<Vec<String>>>,
}

fn text(kv: &[KeyValue], key: &str) -> Option<String> {
    kv.iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref()?.value.as_ref())
        .and_then(|v| match v {
            AnyValue::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

async fn traces(
    State(rx): State<Received>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], Vec<u8>) {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type != "application/x-protobuf" {
        rx.bad_requests
            .lock()
            .unwrap()
            .push(format!("content-type {content_type:?}"));
    }
    match ExportTraceServiceRequest::decode(body) {
        Ok(req) => {
            let mut spans = rx.spans.lock().unwrap();
            for rs in req.resource_spans {
                let attrs = rs.resource.map(|r| r.attributes).unwrap_or_default();
                let resource: Vec<(String, String)> = attrs
                    .iter()
                    .filter_map(|a| Some((a.key.clone(), text(&attrs, &a.key)?)))
                    .collect();
                let service = text(&attrs, "service.name").unwrap_or_default();
                for ss in rs.scope_spans {
                    for span in ss.spans {
                        spans.push(Got {
                            service: service.clone(),
                            resource: resource.clone(),
                            span,
                        });
                    }
                }
            }
        }
        Err(e) => rx.bad_requests.lock().unwrap().push(format!("decode: {e}")),
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

/// Starts the receiver on 127.0.0.1; returns its base URL and what it got.
async fn receiver() -> (String, Received) {
    let rx = Received::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/v1/traces", post(traces))
        .with_state(rx.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), rx)
}

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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
