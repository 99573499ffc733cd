//! A local OTLP/HTTP receiver: an axum server on 127.0.0.1 that takes `POST /v1/traces`,
//! `/v1/metrics` and `/v1/logs`, decodes the protobuf bodies with `opentelemetry-proto`, and
//! keeps what it got, plus the path of every request, for the tests to inspect.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message as _;

/// One received span with its resource.
#[derive(Debug, Clone)]
pub struct Got {
    pub service: String,
    pub resource: Vec<(String, String)>,
    pub span: opentelemetry_proto::tonic::trace::v1::Span,
}

/// Everything the receiver got.
#[derive(Clone, Default)]
pub struct Received {
    /// Spans from `/v1/traces`, flattened.
    pub spans: Arc<Mutex<Vec<Got>>>,
    /// Every `/v1/metrics` request, in arrival order.
    pub metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
    /// Every `/v1/logs` request, in arrival order.
    pub logs: Arc<Mutex<Vec<ExportLogsServiceRequest>>>,
    /// The path of every request, whatever its method or body.
    pub paths: Arc<Mutex<Vec<String>>>,
    /// What was wrong with requests that were not well-formed OTLP/HTTP protobuf exports.
    pub bad_requests: Arc<Mutex<Vec<String>>>,
}

impl Received {
    /// How many requests arrived on `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.paths
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p == path)
            .count()
    }

    /// The spans so far.
    pub fn spans(&self) -> Vec<Got> {
        self.spans.lock().unwrap().clone()
    }
}

/// The string attribute `key`.
pub fn text(kv: &[KeyValue], key: &str) -> Option<String> {
    match attr(kv, key)? {
        AnyValue::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

/// The attribute `key`, of any type.
pub fn attr<'a>(kv: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    kv.iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref()?.value.as_ref())
}

/// Lowercase hex of an id.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `(key, value)` of the string attributes of a resource.
fn string_attributes(attrs: &[KeyValue]) -> Vec<(String, String)> {
    attrs
        .iter()
        .filter_map(|a| Some((a.key.clone(), text(attrs, &a.key)?)))
        .collect()
}

async fn export(
    State(rx): State<Received>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], Vec<u8>) {
    let path = uri.path().to_owned();
    rx.paths.lock().unwrap().push(path.clone());
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type != "application/x-protobuf" {
        rx.bad_requests
            .lock()
            .unwrap()
            .push(format!("{path}: content-type {content_type:?}"));
    }
    let decoded = match path.as_str() {
        "/v1/traces" => ExportTraceServiceRequest::decode(body).map(|req| {
            let mut spans = rx.spans.lock().unwrap();
            for rs in req.resource_spans {
                let attrs = rs.resource.map(|r| r.attributes).unwrap_or_default();
                let resource = string_attributes(&attrs);
                let service = text(&attrs, "service.name").unwrap_or_default();
                for span in rs.scope_spans.into_iter().flat_map(|ss| ss.spans) {
                    spans.push(Got {
                        service: service.clone(),
                        resource: resource.clone(),
                        span,
                    });
                }
            }
        }),
        "/v1/metrics" => ExportMetricsServiceRequest::decode(body)
            .map(|req| rx.metrics.lock().unwrap().push(req)),
        "/v1/logs" => {
            ExportLogsServiceRequest::decode(body).map(|req| rx.logs.lock().unwrap().push(req))
        }
        other => {
            rx.bad_requests
                .lock()
                .unwrap()
                .push(format!("unexpected path {other}"));
            Ok(())
        }
    };
    if let Err(e) = decoded {
        rx.bad_requests
            .lock()
            .unwrap()
            .push(format!("{path}: decode: {e}"));
    }
    // Every Export*ServiceResponse without a partial success is the empty message.
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        Vec::new(),
    )
}

/// Starts the receiver on 127.0.0.1; returns its base URL (for `OTEL_EXPORTER_OTLP_ENDPOINT`)
/// and what it gets.
pub async fn receiver() -> (String, Received) {
    let rx = Received::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let app = Router::new().fallback(export).with_state(rx.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), rx)
}
