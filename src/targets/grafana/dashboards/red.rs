//! *Service RED*: pick an app; its request rate, error ratio and latency percentiles from
//! Tempo's span metrics (latency with exemplars: click one to open its trace), and the
//! app's logs below, filtered by the app and a `level` variable.

use serde_json::json;

use super::json::{Dashboard, PanelSpec, Pick, Variable, loki, prom, prom_exemplars, quote, rate};
use super::overview::server_kinds;
use super::{Ctx, level_values};
use crate::targets::grafana::metrics::{labels, otlp, spanmetrics};
use crate::wiring::label;

pub(super) fn dashboard(ctx: &Ctx<'_>) -> Dashboard {
    let mut b = ctx.board(
        "red",
        "service RED",
        "Rate, errors and duration of one app's requests (Tempo span metrics), then its logs.",
    );
    b.variable(ctx.traced_apps(Pick::One));
    b.variable(Variable::custom(
        "level",
        "Level",
        &level_values(),
        Pick::AnyMatching(".*"),
    ));

    let sel = format!(
        "{svc}=\"$app\", {kind}=~{server}",
        svc = labels::SPAN_SERVICE,
        kind = labels::SPAN_KIND,
        server = quote(server_kinds()),
    );
    let errors = format!("{}=\"STATUS_CODE_ERROR\"", labels::STATUS_CODE);
    b.row("Requests ($app)");
    b.panel(
        PanelSpec::new("timeseries", "Request rate by operation", 8, 8)
            .describe("Server spans per second, by span name.")
            .target(prom(
                rate(spanmetrics::CALLS, &sel, labels::SPAN_NAME),
                "{{span_name}}",
            ))
            .unit("reqps"),
    );
    b.panel(
        PanelSpec::new("timeseries", "Error ratio", 8, 8)
            .describe("Share of server spans with status error.")
            .target(prom(
                format!(
                    "{} / {}",
                    rate(spanmetrics::CALLS, &format!("{sel}, {errors}"), ""),
                    rate(spanmetrics::CALLS, &sel, "")
                ),
                "errors",
            ))
            .unit("percentunit")
            .range(Some(0.0), None),
    );
    let mut latency = PanelSpec::new("timeseries", "Latency percentiles", 8, 8)
        .describe("p50, p95 and p99 of server span duration. The dots are exemplars: each opens its trace in Tempo.")
        .unit("s");
    for q in ["0.5", "0.95", "0.99"] {
        let pct = q.trim_start_matches("0.");
        let pct = if pct.len() == 1 {
            format!("{pct}0")
        } else {
            pct.to_owned()
        };
        latency = latency.target(prom_exemplars(
            format!(
                "histogram_quantile({q}, sum by (le) (rate({bucket}{{{sel}}}[$__rate_interval])))",
                bucket = spanmetrics::LATENCY_BUCKET
            ),
            &format!("p{pct}"),
        ));
    }
    b.panel(latency);

    let http = format!("{}=\"$app\"", otlp::COMPOSE_SERVICE);
    let server_errors = format!("{http}, {}=~\"5..\"", otlp::HTTP_STATUS);
    b.row("HTTP server, OpenTelemetry metrics ($app)");
    b.panel(
        PanelSpec::new("timeseries", "Requests by route", 8, 8)
            .describe("From the app's own `http.server.request.duration` histogram (apps with `metrics = \"otlp\"`, or any app exporting OpenTelemetry semantic-convention metrics).")
            .target(prom(
                rate(otlp::HTTP_SERVER_DURATION_COUNT, &http, otlp::HTTP_ROUTE),
                "{{http_route}}",
            ))
            .unit("reqps"),
    );
    b.panel(
        PanelSpec::new("timeseries", "5xx ratio", 8, 8)
            .describe("Share of responses with a 5xx status code.")
            .target(prom(
                format!(
                    "{} / {}",
                    rate(otlp::HTTP_SERVER_DURATION_COUNT, &server_errors, ""),
                    rate(otlp::HTTP_SERVER_DURATION_COUNT, &http, "")
                ),
                "5xx",
            ))
            .unit("percentunit")
            .range(Some(0.0), None),
    );
    b.panel(
        PanelSpec::new("timeseries", "Duration p50 / p99", 8, 8)
            .unit("s")
            .target(prom(
                format!(
                    "histogram_quantile(0.5, sum by (le) (rate({}{{{http}}}[$__rate_interval])))",
                    otlp::HTTP_SERVER_DURATION_BUCKET
                ),
                "p50",
            ))
            .target(prom(
                format!(
                    "histogram_quantile(0.99, sum by (le) (rate({}{{{http}}}[$__rate_interval])))",
                    otlp::HTTP_SERVER_DURATION_BUCKET
                ),
                "p99",
            )),
    );

    let stream = format!(
        "{project}, {svc}=\"$app\", {level}=~\"$level\"",
        project = ctx.project,
        svc = label::COMPOSE_SERVICE,
        level = label::LEVEL,
    );
    b.row("Logs ($app)");
    b.panel(
        PanelSpec::new("timeseries", "Log lines by level", 24, 6)
            .target(loki(
                format!(
                    "sum by ({level}) (count_over_time({{{stream}}} [$__auto]))",
                    level = label::LEVEL
                ),
                "{{level}}",
            ))
            .unit("short")
            .custom(json!({ "drawStyle": "bars", "stacking": { "mode": "normal", "group": "A" }, "fillOpacity": 80 })),
    );
    b.panel(
        PanelSpec::new("logs", "Logs", 24, 14)
            .describe("Expand a line and follow `trace_id` to its trace.")
            .target(loki(format!("{{{stream}}}"), ""))
            .options(logs_options()),
    );
    b.finish()
}

/// Options of a logs panel: newest first, details (and so derived trace links) on.
pub(super) fn logs_options() -> serde_json::Value {
    json!({
        "showTime": true,
        "showLabels": false,
        "showCommonLabels": false,
        "wrapLogMessage": true,
        "prettifyLogMessage": false,
        "enableLogDetails": true,
        "dedupStrategy": "none",
        "sortOrder": "Descending"
    })
}
