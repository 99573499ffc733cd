//! *Logs*: log volume by level and by service, and a logs panel over every container of
//! the stack, filtered by service, level and a free-text search box.

use serde_json::json;

use super::json::{Dashboard, PanelSpec, Pick, Variable, loki};
use super::red::logs_options;
use super::{Ctx, level_values};
use crate::wiring::label;

pub(super) fn dashboard(ctx: &Ctx<'_>) -> Dashboard {
    let mut b = ctx.board(
        "logs",
        "logs",
        "Every container's stdout and stderr, and OTLP log records. Lines with a trace_id link to their trace.",
    );
    b.variable(ctx.logged_services(Pick::AnyMatching(".*")));
    b.variable(Variable::custom(
        "level",
        "Level",
        &level_values(),
        Pick::AnyMatching(".*"),
    ));
    b.variable(Variable::textbox("search", "Search"));
    let stream = format!(
        "{{{project}, {svc}=~\"$service\", {level}=~\"$level\"}} |= \"$search\"",
        project = ctx.project,
        svc = label::COMPOSE_SERVICE,
        level = label::LEVEL,
    );
    let bars = json!({ "drawStyle": "bars", "stacking": { "mode": "normal", "group": "A" }, "fillOpacity": 80 });
    b.panel(
        PanelSpec::new("timeseries", "Log volume by level", 12, 7)
            .target(loki(
                format!(
                    "sum by ({level}) (count_over_time({stream} [$__auto]))",
                    level = label::LEVEL
                ),
                "{{level}}",
            ))
            .unit("short")
            .custom(bars.clone()),
    );
    b.panel(
        PanelSpec::new("timeseries", "Log volume by service", 12, 7)
            .target(loki(
                format!(
                    "sum by ({svc}) (count_over_time({stream} [$__auto]))",
                    svc = label::COMPOSE_SERVICE
                ),
                &format!("{{{{{}}}}}", label::COMPOSE_SERVICE),
            ))
            .unit("short")
            .custom(bars),
    );
    b.panel(
        PanelSpec::new("logs", "Logs", 24, 18)
            .describe("Newest first. Expand a line: `trace_id` opens the trace in Tempo.")
            .target(loki(stream, ""))
            .options(logs_options()),
    );
    b.finish()
}
