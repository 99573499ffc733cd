//! *Stack overview*: the alerts firing or pending, which targets are up, what the stack ingests (log lines, spans and
//! samples per second), errors across apps from traces and logs, and the log rate per
//! service. The header links to every other dashboard of the stack.

use serde_json::json;

use super::Ctx;
use super::json::{Dashboard, PanelSpec, loki, prom, quote, rate};
use crate::levels;
use crate::targets::grafana::metrics::{
    labels, loki as loki_m, prometheus, scrape, spanmetrics, tempo,
};
use crate::wiring::label;

pub(super) fn dashboard(ctx: &Ctx<'_>) -> Dashboard {
    let project = &ctx.project;
    let server = server_kinds();
    let mut b = ctx.board(
        "overview",
        "stack overview",
        "Is everything up, how much is coming in, and where the errors are. Start here.",
    );
    b.row("Alerts");
    b.panel(
        PanelSpec::new("alertlist", "Firing and pending alerts", 24, 6)
            .describe("The stack's alerting rules (prometheus/rules/) that fire or are pending, from Prometheus; Alertmanager routes them to the receivers of [alerts]. Each alert's `dashboard` annotation links to the panel that shows it.")
            .options(json!({
                "viewMode": "list",
                "groupMode": "default",
                "groupBy": [],
                "maxItems": 20,
                "sortOrder": 1,
                "dashboardAlerts": false,
                "alertName": "",
                "alertInstanceLabelFilter": "",
                "stateFilter": {
                    "firing": true,
                    "pending": true,
                    "noData": false,
                    "normal": false,
                    "error": true
                }
            })),
    );
    b.row("Targets");
    b.panel(
        PanelSpec::new("stat", "Targets up", 24, 5)
            .describe("1 = Prometheus scraped the target at its last attempt, 0 = it failed.")
            .target(prom(format!("max by (job) ({})", scrape::UP), "{{job}}"))
            .options(json!({
                "colorMode": "background",
                "graphMode": "none",
                "textMode": "value_and_name",
                "reduceOptions": { "calcs": ["lastNotNull"], "fields": "", "values": false }
            }))
            .range(Some(0.0), Some(1.0)),
    );
    b.row("Ingest");
    b.panel(
        PanelSpec::new("timeseries", "Log lines per second", 8, 7)
            .describe("Lines Loki's distributor accepted.")
            .target(prom(rate(loki_m::LINES_RECEIVED, "", ""), "lines/s"))
            .unit("short"),
    );
    b.panel(
        PanelSpec::new("timeseries", "Spans per second", 8, 7)
            .describe("Spans Tempo's distributor accepted (OTLP through Alloy).")
            .target(prom(rate(tempo::SPANS_RECEIVED, "", ""), "spans/s"))
            .unit("short"),
    );
    b.panel(
        PanelSpec::new("timeseries", "Samples per second", 8, 7)
            .describe("Samples Prometheus appended: scrapes plus Tempo's span metrics.")
            .target(prom(
                rate(prometheus::SAMPLES_APPENDED, "", ""),
                "samples/s",
            ))
            .unit("short"),
    );
    b.row("Errors across apps");
    b.panel(
        PanelSpec::new("timeseries", "Failed requests per second by app", 12, 8)
            .describe("Server spans with status error, from Tempo's span metrics.")
            .target(prom(
                rate(
                    spanmetrics::CALLS,
                    &format!(
                        "{kind}=~{server}, {status}=\"STATUS_CODE_ERROR\"",
                        kind = labels::SPAN_KIND,
                        status = labels::STATUS_CODE,
                        server = quote(server),
                    ),
                    labels::SPAN_SERVICE,
                ),
                "{{service}}",
            ))
            .unit("reqps"),
    );
    b.panel(
        PanelSpec::new("timeseries", "Error log lines by service", 12, 8)
            .describe("Log lines whose normalised `level` is error or fatal, per compose service.")
            .target(loki(
                format!(
                    "sum by ({svc}) (count_over_time({{{project}, {level}=~\"{errors}\"}} [$__auto]))",
                    svc = label::COMPOSE_SERVICE,
                    level = label::LEVEL,
                    errors = levels::ERRORS.join("|"),
                ),
                &format!("{{{{{}}}}}", label::COMPOSE_SERVICE),
            ))
            .unit("short"),
    );
    b.row("Logs");
    b.panel(
        PanelSpec::new("timeseries", "Log lines per second by service", 24, 8)
            .target(loki(
                format!(
                    "sum by ({svc}) (rate({{{project}}} [$__auto]))",
                    svc = label::COMPOSE_SERVICE
                ),
                &format!("{{{{{}}}}}", label::COMPOSE_SERVICE),
            ))
            .unit("short"),
    );
    b.finish()
}

/// The span kinds that stand for a request served (the RED "requests").
pub(super) fn server_kinds() -> &'static str {
    "SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"
}
