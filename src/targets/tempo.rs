//! `tempo/tempo.yaml`: monolithic Tempo with local storage, OTLP receivers on every
//! interface (Tempo defaults to localhost since 2.7), retention through
//! `overrides.defaults.compaction.block_retention` (loads on 2.10 and 3.x), and the
//! metrics generator (service graphs, span metrics) remote-writing to Prometheus.

use serde::Serialize;

use super::{Options, OutputFile};
use crate::model::Stack;
use crate::templates::Templates;
use crate::wiring::{port, service};

/// Load-bearing: used by `templates/tempo/tempo.yaml.j2`.
#[derive(Serialize)]
struct Context {
    http_port: u16,
    otlp_grpc_endpoint: String,
    otlp_http_endpoint: String,
    remote_write_url: String,
    /// Go duration (`48h`; never `2d`).
    retention: String,
}

pub fn render(
    stack: &Stack,
    templates: &Templates,
    _: &Options,
) -> anyhow::Result<Vec<OutputFile>> {
    let context = Context {
        http_port: port::TEMPO,
        otlp_grpc_endpoint: format!("0.0.0.0:{}", port::OTLP_GRPC),
        otlp_http_endpoint: format!("0.0.0.0:{}", port::OTLP_HTTP),
        remote_write_url: format!(
            "http://{}:{}/api/v1/write",
            service::PROMETHEUS,
            port::PROMETHEUS
        ),
        retention: stack.traces.retention.go(),
    };
    Ok(vec![templates.file(
        "tempo/tempo.yaml",
        "tempo/tempo.yaml.j2",
        &context,
    )?])
}
