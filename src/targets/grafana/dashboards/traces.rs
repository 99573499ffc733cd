//! *Traces*: the service graph (node graph from Tempo's service-graph metrics), request
//! and failure rates between services, and TraceQL tables of the slowest and the failed
//! traces, filtered by app and a minimum duration.

use serde_json::json;

use super::Ctx;
use super::json::{Dashboard, PanelSpec, Pick, Variable, prom, rate, tempo_service_map, traceql};
use crate::targets::grafana::metrics::{labels, spanmetrics};

pub(super) fn dashboard(ctx: &Ctx<'_>) -> Dashboard {
    let mut b = ctx.board(
        "traces",
        "traces",
        "How the services call each other, and the traces worth opening.",
    );
    b.variable(ctx.traced_apps(Pick::AnyMatching(".*")));
    let durations: Vec<String> = ["100ms", "250ms", "500ms", "1s", "2s", "5s"]
        .iter()
        .map(|d| (*d).to_owned())
        .collect();
    b.variable(
        Variable::custom("min_duration", "Slower than", &durations, Pick::One).selecting("500ms"),
    );

    b.panel(
        PanelSpec::new("nodeGraph", "Service graph", 24, 12)
            .describe("Built by Tempo's metrics generator from parent/child spans across services.")
            .target(tempo_service_map()),
    );
    let pair = format!(
        "{{{{{client}}}}} → {{{{{server}}}}}",
        client = labels::GRAPH_CLIENT,
        server = labels::GRAPH_SERVER
    );
    let by = format!("{}, {}", labels::GRAPH_CLIENT, labels::GRAPH_SERVER);
    b.panel(
        PanelSpec::new("timeseries", "Requests between services", 12, 8)
            .target(prom(rate(spanmetrics::GRAPH_REQUESTS, "", &by), &pair))
            .unit("reqps"),
    );
    b.panel(
        PanelSpec::new("timeseries", "Failed requests between services", 12, 8)
            .target(prom(rate(spanmetrics::GRAPH_FAILED, "", &by), &pair))
            .unit("reqps"),
    );
    let sort =
        json!({ "showHeader": true, "sortBy": [{ "displayName": "Duration", "desc": true }] });
    b.panel(
        PanelSpec::new("table", "Slowest traces", 24, 10)
            .describe("Traces through the selected apps slower than the chosen duration, slowest first. Click a trace id to open it.")
            .target(traceql(
                "{ resource.service.name =~ \"$app\" && traceDuration > $min_duration }",
                50,
            ))
            .options(sort.clone()),
    );
    b.panel(
        PanelSpec::new("table", "Failed traces", 24, 10)
            .describe("Traces with a span whose status is error.")
            .target(traceql(
                "{ resource.service.name =~ \"$app\" && status = error }",
                50,
            ))
            .options(sort),
    );
    b.finish()
}
