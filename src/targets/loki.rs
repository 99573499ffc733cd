//! `loki/loki.yaml`: single-binary Loki with filesystem storage, TSDB v13 and retention
//! really enforced (compactor with `retention_enabled` and a delete-request store), and
//! the index labels of OTLP logs (`otlp_config`): the same bounded set Docker log streams
//! carry, so one selector finds both kinds of line of an app.

use serde::Serialize;

use super::{Options, OutputFile};
use crate::model::Stack;
use crate::templates::Templates;
use crate::wiring::{otlp, port};

/// Load-bearing: used by `templates/loki/loki.yaml.j2`.
#[derive(Serialize)]
struct Context {
    http_port: u16,
    /// Go duration in hours (`744h`): portable across Loki versions.
    retention: String,
    /// OTLP resource attributes that become index labels; every other attribute is
    /// structured metadata.
    otlp_index_labels: Vec<&'static str>,
}

pub fn render(
    stack: &Stack,
    templates: &Templates,
    _: &Options,
) -> anyhow::Result<Vec<OutputFile>> {
    let context = Context {
        http_port: port::LOKI,
        retention: stack.logs.retention.go(),
        otlp_index_labels: otlp::LOKI_INDEX_ATTRIBUTES.to_vec(),
    };
    Ok(vec![templates.file(
        "loki/loki.yaml",
        "loki/loki.yaml.j2",
        &context,
    )?])
}
