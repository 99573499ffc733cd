//! *Stack health*: the stack's own components. Up or down, CPU and memory per component
//! (cAdvisor, while it runs), then each component's work: Prometheus (series, samples, span-metrics
//! writes), Loki and Tempo (what they accept, what they refuse), Alloy (components, log
//! entries sent and dropped), Grafana (requests), PostgreSQL (asked through Grafana's
//! read-only role: no exporter is scraped) and the usage scraper (lag, events stored,
//! errors, malformed lines).

use serde_json::json;

use super::json::{Dashboard, PanelSpec, prom, quote, rate, sql};
use super::{Ctx, alternation, components, scraped_components};
use crate::targets::grafana::metrics::{
    alloy, cadvisor, grafana, labels, loki, prometheus, scrape, tempo, usage_scraper,
};
use crate::wiring::db;

pub(super) fn dashboard(ctx: &Ctx<'_>) -> Dashboard {
    let mut b = ctx.board(
        "health",
        "stack health",
        "The observability stack watching itself: is each part up, busy, or losing data?",
    );
    let jobs = quote(&alternation(&scraped_components(ctx.stack)));
    let own = quote(&alternation(&components(ctx.stack)));
    b.row("Components");
    b.panel(
        PanelSpec::new("stat", "Up", 24, 4)
            .target(prom(
                format!("max by (job) ({}{{job=~{jobs}}})", scrape::UP),
                "{{job}}",
            ))
            .options(json!({
                "colorMode": "background",
                "graphMode": "none",
                "textMode": "value_and_name",
                "reduceOptions": { "calcs": ["lastNotNull"], "fields": "", "values": false }
            }))
            .range(Some(0.0), Some(1.0)),
    );
    // Per-component CPU and memory come from cAdvisor.
    if ctx.stack.components.cadvisor {
        let containers = format!(
            "{project}={name}, {svc}=~{own}",
            project = labels::CADVISOR_PROJECT,
            name = quote(&ctx.stack.name),
            svc = labels::CADVISOR_SERVICE,
        );
        let legend = format!("{{{{{}}}}}", labels::CADVISOR_SERVICE);
        b.panel(
            PanelSpec::new("timeseries", "CPU by component", 12, 8)
                .target(prom(
                    rate(cadvisor::CPU_SECONDS, &containers, labels::CADVISOR_SERVICE),
                    &legend,
                ))
                .unit("short"),
        );
        b.panel(
            PanelSpec::new("timeseries", "Memory by component", 12, 8)
                .target(prom(
                    format!(
                        "sum by ({svc}) ({m}{{{containers}}})",
                        svc = labels::CADVISOR_SERVICE,
                        m = cadvisor::MEM_WORKING_SET
                    ),
                    &legend,
                ))
                .unit("bytes"),
        );
    }

    b.row("Prometheus, Loki, Tempo");
    b.panel(
        PanelSpec::new("timeseries", "Prometheus", 8, 8)
            .describe("Active series, and remote writes from Tempo's metrics generator.")
            .target(prom(prometheus::HEAD_SERIES, "head series"))
            .target(prom(
                rate(prometheus::HTTP_REQUESTS, "handler=\"/api/v1/write\"", ""),
                "remote writes/s",
            ))
            .unit("short"),
    );
    b.panel(
        PanelSpec::new("timeseries", "Loki", 8, 8)
            .describe("Lines and bytes accepted, and requests failing with 5xx.")
            .target(prom(rate(loki::LINES_RECEIVED, "", ""), "lines/s"))
            .target(prom(rate(loki::BYTES_RECEIVED, "", ""), "bytes/s"))
            .target(prom(
                rate(loki::REQUEST_DURATION_COUNT, "status_code=~\"5..\"", ""),
                "5xx/s",
            ))
            .unit("short"),
    );
    b.panel(
        PanelSpec::new("timeseries", "Tempo", 8, 8)
            .describe("Spans and bytes accepted, and spans discarded by reason.")
            .target(prom(rate(tempo::SPANS_RECEIVED, "", ""), "spans/s"))
            .target(prom(rate(tempo::BYTES_RECEIVED, "", ""), "bytes/s"))
            .target(prom(
                rate(tempo::DISCARDED_SPANS, "", "reason"),
                "discarded: {{reason}}",
            ))
            .unit("short"),
    );

    b.row("Alloy, Grafana");
    b.panel(
        PanelSpec::new("timeseries", "Alloy components", 8, 8)
            .target(prom(
                format!("sum by (health_type) ({})", alloy::RUNNING_COMPONENTS),
                "{{health_type}}",
            ))
            .unit("short"),
    );
    b.panel(
        PanelSpec::new("timeseries", "Alloy log entries to Loki", 8, 8)
            .target(prom(rate(alloy::LOKI_SENT_ENTRIES, "", ""), "sent/s"))
            .target(prom(
                rate(alloy::LOKI_DROPPED_ENTRIES, "", "reason"),
                "dropped: {{reason}}",
            ))
            .unit("short"),
    );
    b.panel(
        PanelSpec::new("timeseries", "Grafana requests", 8, 8)
            .target(prom(
                rate(grafana::HTTP_REQUESTS_COUNT, "", "status_code"),
                "{{status_code}}",
            ))
            .unit("reqps"),
    );

    if let Some(usage) = &ctx.stack.usage {
        b.row(if usage.external_db.is_some() {
            "PostgreSQL (usage statistics, external)"
        } else {
            "PostgreSQL (usage statistics)"
        });
        let stat = json!({
            "colorMode": "value",
            "graphMode": "none",
            "textMode": "value_and_name",
            "reduceOptions": { "calcs": ["lastNotNull"], "fields": "", "values": false }
        });
        b.panel(
            PanelSpec::new("stat", "Database size", 12, 4)
                .describe("Asked of PostgreSQL itself through Grafana's read-only role: no value means Grafana cannot reach the database.")
                .target(sql(
                    "table",
                    "SELECT pg_database_size(current_database()) AS size",
                    &["size"],
                ))
                .unit("bytes")
                .options(stat.clone()),
        );
        b.panel(
            PanelSpec::new("stat", "Events stored", 12, 4)
                .target(sql(
                    "table",
                    format!("SELECT count(*) AS events FROM {}", db::EVENTS_TABLE),
                    &["events"],
                ))
                .unit("short")
                .options(stat),
        );
        b.row("Usage scraper");
        b.panel(
            PanelSpec::new("timeseries", "Lag behind now", 8, 8)
                .describe("How far the scraper's cursor is behind the current time.")
                .target(prom(usage_scraper::LAG, "lag"))
                .target(prom(
                    format!("time() - {}", usage_scraper::LAST_SUCCESS),
                    "since last success",
                ))
                .unit("s"),
        );
        b.panel(
            PanelSpec::new("timeseries", "Events stored", 8, 8)
                .target(prom(rate(usage_scraper::EVENTS_STORED, "", ""), "stored/s"))
                .target(prom(
                    rate(usage_scraper::DUPLICATES, "", ""),
                    "duplicates skipped/s",
                ))
                .target(prom(rate(usage_scraper::POLLS, "", ""), "polls/s"))
                .unit("short"),
        );
        b.panel(
            PanelSpec::new("timeseries", "Errors and malformed lines", 8, 8)
                .target(prom(
                    format!(
                        "sum by (kind) (increase({}[$__rate_interval]))",
                        usage_scraper::ERRORS
                    ),
                    "error: {{kind}}",
                ))
                .target(prom(
                    format!(
                        "sum by (reason) (increase({}[$__rate_interval]))",
                        usage_scraper::MALFORMED
                    ),
                    "malformed: {{reason}}",
                ))
                .unit("short"),
        );
    }
    b.finish()
}
