//! `tempo/tempo.yaml`: monolithic Tempo with local storage, OTLP receivers on every
//! interface (Tempo defaults to localhost since 2.7), retention through
//! `overrides.defaults.compaction.block_retention` (loads on 2.10 and 3.x), and the
//! metrics generator (service graphs, span metrics) remote-writing to Prometheus. When an
//! app has a latency objective, the span-metrics histogram gets a bucket bound at each
//! threshold (added to Tempo's defaults), so the SLO counts requests slower than exactly it.

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
    /// Span-metrics histogram bounds in seconds: Tempo's defaults plus every SLO latency
    /// threshold; `None` (Tempo's defaults) when no app has a latency objective.
    histogram_buckets: Option<Vec<f64>>,
}

/// Tempo's default span-metrics buckets (seconds), from its published manifest.
pub const DEFAULT_BUCKETS_MS: [u64; 14] = [
    2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384,
];

/// The buckets: Tempo's defaults and each latency threshold, in milliseconds, sorted.
pub fn histogram_buckets_ms(stack: &Stack) -> Option<Vec<u64>> {
    let thresholds = super::rules::latency_thresholds(stack);
    if thresholds.is_empty() {
        return None;
    }
    let mut out: Vec<u64> = DEFAULT_BUCKETS_MS.to_vec();
    out.extend(thresholds.iter().map(|d| d.as_millis()));
    out.sort_unstable();
    out.dedup();
    Some(out)
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
        histogram_buckets: histogram_buckets_ms(stack).map(|ms| {
            #[allow(clippy::cast_precision_loss)]
            ms.into_iter().map(|m| m as f64 / 1000.0).collect()
        }),
    };
    Ok(vec![templates.file(
        "tempo/tempo.yaml",
        "tempo/tempo.yaml.j2",
        &context,
    )?])
}
