//! `alloy/config.alloy`: Docker discovery of this compose project's containers, their
//! stdout/stderr to Loki with the stack's labels and one normalised `level` (see
//! `crate::levels`), `trace_id`/`span_id` as structured metadata; OTLP in for all three
//! signals: traces to Tempo, metrics to Prometheus (remote write), logs to Loki (native
//! OTLP), each with the labels the Docker-discovered and scraped data carries.
//! Values are Go-quoted by the template environment (`.alloy` auto-escape).

use serde::Serialize;

use super::{Options, OutputFile};
use crate::levels;
use crate::model::Stack;
use crate::templates::Templates;
use crate::wiring::{label, metadata, otlp, port, service};

/// Load-bearing: used by `templates/alloy/config.alloy.j2`.
#[derive(Serialize)]
struct Context {
    /// Docker's label filter for this compose project.
    project_filter: String,
    /// A regex of the apps with `logs = "otlp"`, whose containers are not tailed.
    otlp_log_apps: Option<String>,
    labels: Labels,
    metadata: Metadata,
    /// `(extracted key, logfmt field)` pairs read by `stage.logfmt`.
    logfmt_keys: Vec<(&'static str, &'static str)>,
    level_jmespath: String,
    trace_id_jmespath: String,
    span_id_jmespath: String,
    level_template: String,
    loki_push_url: String,
    loki_otlp_url: String,
    prometheus_write_url: String,
    otlp_grpc_endpoint: String,
    otlp_http_endpoint: String,
    tempo_otlp_endpoint: String,
    metric_resource_statements: Vec<String>,
    metric_datapoint_statements: Vec<String>,
    log_resource_statements: Vec<String>,
    log_level_statements: Vec<String>,
}

#[derive(Serialize)]
struct Labels {
    container_name: &'static str,
    job: &'static str,
    compose_project: &'static str,
    compose_service: &'static str,
    service_name: &'static str,
    stream: &'static str,
    level: &'static str,
}

#[derive(Serialize)]
struct Metadata {
    trace_id: &'static str,
    span_id: &'static str,
}

/// JSON field names of trace and span ids: OpenTelemetry's log bridges (`trace_id`,
/// `traceId`), Elastic Common Schema (`trace.id`, flat or nested), and `traceid`.
const TRACE_ID_FIELDS: [&str; 5] = [
    "\"trace_id\"",
    "\"traceId\"",
    "\"traceid\"",
    "\"trace.id\"",
    "\"trace\".\"id\"",
];
const SPAN_ID_FIELDS: [&str; 5] = [
    "\"span_id\"",
    "\"spanId\"",
    "\"spanid\"",
    "\"span.id\"",
    "\"span\".\"id\"",
];

/// OTTL string literal.
fn ottl(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `set(attributes["<to>"], attributes["<from>"])` for OTTL.
fn copy_attribute(to: &str, from: &str) -> String {
    format!("set(attributes[{}], attributes[{}])", ottl(to), ottl(from))
}

/// `regex` matching exactly these names (compose service names: `.` is escaped).
fn names_regex(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| n.replace('.', "\\."))
        .collect::<Vec<_>>()
        .join("|")
}

pub fn render(
    stack: &Stack,
    templates: &Templates,
    _: &Options,
) -> anyhow::Result<Vec<OutputFile>> {
    let otlp_log_apps: Vec<&str> = stack
        .apps
        .iter()
        .filter(|a| a.otlp_logs)
        .map(|a| a.name.as_str())
        .collect();
    let context = Context {
        project_filter: format!("com.docker.compose.project={}", stack.name),
        otlp_log_apps: (!otlp_log_apps.is_empty()).then(|| names_regex(&otlp_log_apps)),
        labels: Labels {
            container_name: label::CONTAINER_NAME,
            job: label::JOB,
            compose_project: label::COMPOSE_PROJECT,
            compose_service: label::COMPOSE_SERVICE,
            service_name: label::SERVICE_NAME,
            stream: label::STREAM,
            level: label::LEVEL,
        },
        metadata: Metadata {
            trace_id: metadata::TRACE_ID,
            span_id: metadata::SPAN_ID,
        },
        logfmt_keys: levels::LOGFMT_KEYS.to_vec(),
        level_jmespath: levels::jmespath(stack.logs.level_field.as_deref()),
        trace_id_jmespath: TRACE_ID_FIELDS.join(" || "),
        span_id_jmespath: SPAN_ID_FIELDS.join(" || "),
        level_template: levels::go_template(label::LEVEL),
        loki_push_url: format!("http://{}:{}/loki/api/v1/push", service::LOKI, port::LOKI),
        loki_otlp_url: format!("http://{}:{}/otlp", service::LOKI, port::LOKI),
        prometheus_write_url: format!(
            "http://{}:{}/api/v1/write",
            service::PROMETHEUS,
            port::PROMETHEUS
        ),
        otlp_grpc_endpoint: format!("0.0.0.0:{}", port::OTLP_GRPC),
        otlp_http_endpoint: format!("0.0.0.0:{}", port::OTLP_HTTP),
        tempo_otlp_endpoint: format!("{}:{}", service::TEMPO, port::OTLP_GRPC),
        metric_resource_statements: vec![format!(
            "delete_key(attributes, {})",
            ottl("service.namespace")
        )],
        metric_datapoint_statements: vec![format!(
            "set(attributes[{}], resource.attributes[{}])",
            ottl(otlp::COMPOSE_SERVICE),
            ottl(otlp::SERVICE_NAME)
        )],
        log_resource_statements: vec![
            copy_attribute(otlp::COMPOSE_SERVICE, otlp::SERVICE_NAME),
            format!(
                "set(attributes[{}], {})",
                ottl(otlp::COMPOSE_PROJECT),
                ottl(&stack.name)
            ),
        ],
        log_level_statements: levels::ottl_statements(otlp::LEVEL),
    };
    Ok(vec![templates.file(
        "alloy/config.alloy",
        "alloy/config.alloy.j2",
        &context,
    )?])
}
