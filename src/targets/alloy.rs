//! `alloy/config.alloy`: Docker discovery of this compose project's containers, their
//! stdout/stderr to Loki with the stack's labels, JSON parsing of `level` (label) and
//! `trace_id`/`span_id` (structured metadata), and OTLP in, traces out to Tempo.
//! Values are Go-quoted by the template environment (`.alloy` auto-escape).

use serde::Serialize;

use super::{Options, OutputFile};
use crate::model::Stack;
use crate::templates::Templates;
use crate::wiring::{label, metadata, port, service};

/// Load-bearing: used by `templates/alloy/config.alloy.j2`.
#[derive(Serialize)]
struct Context {
    /// Docker's label filter for this compose project.
    project_filter: String,
    labels: Labels,
    metadata: Metadata,
    loki_push_url: String,
    otlp_grpc_endpoint: String,
    otlp_http_endpoint: String,
    tempo_otlp_endpoint: String,
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

pub fn render(
    stack: &Stack,
    templates: &Templates,
    _: &Options,
) -> anyhow::Result<Vec<OutputFile>> {
    let context = Context {
        project_filter: format!("com.docker.compose.project={}", stack.name),
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
        loki_push_url: format!("http://{}:{}/loki/api/v1/push", service::LOKI, port::LOKI),
        otlp_grpc_endpoint: format!("0.0.0.0:{}", port::OTLP_GRPC),
        otlp_http_endpoint: format!("0.0.0.0:{}", port::OTLP_HTTP),
        tempo_otlp_endpoint: format!("{}:{}", service::TEMPO, port::OTLP_GRPC),
    };
    Ok(vec![templates.file(
        "alloy/config.alloy",
        "alloy/config.alloy.j2",
        &context,
    )?])
}
