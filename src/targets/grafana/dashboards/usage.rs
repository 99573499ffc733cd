//! *Usage statistics* (only when `[usage]` is on): product-usage events from PostgreSQL's
//! `usage_events`: totals, events over time by event name and by app, distinct users per
//! day, the top events, and the latest events with their trace id linking to Tempo.
//!
//! Queries use Grafana's SQL macros (`$__timeFilter`, `$__timeGroupAlias`) and the `app`
//! variable, which Grafana expands to a quoted list (`'a','b'`). Each query declares the
//! columns its panel reads; a test runs them against a real PostgreSQL.

use serde_json::json;

use super::Ctx;
use super::json::{Dashboard, PanelSpec, Pick, sql};
use crate::wiring::{datasource, db};

pub(super) fn dashboard(ctx: &Ctx<'_>) -> Dashboard {
    let mut b = ctx.board(
        "usage",
        "usage statistics",
        "Product-usage events (`\"usage\": true` log lines) stored by the usage scraper.",
    );
    b.variable(ctx.usage_apps(Pick::AnyOf));
    let t = db::EVENTS_TABLE;
    let filter = "$__timeFilter(ts) AND app IN ($app)";

    for (title, column, expr, unit) in [
        ("Events", "events", "count(*)", "short"),
        (
            "Distinct users",
            "users",
            "count(DISTINCT user_id)",
            "short",
        ),
        (
            "Events per user",
            "per_user",
            "round(count(*)::numeric / NULLIF(count(DISTINCT user_id), 0), 2)",
            "short",
        ),
    ] {
        b.panel(
            PanelSpec::new("stat", title, 8, 4)
                .target(sql(
                    "table",
                    format!("SELECT {expr} AS \"{column}\" FROM {t} WHERE {filter}"),
                    &[column],
                ))
                .unit(unit)
                .options(json!({
                    "graphMode": "none",
                    "reduceOptions": { "calcs": ["lastNotNull"], "fields": "", "values": false }
                })),
        );
    }
    for (title, column) in [("Events by event name", "event"), ("Events by app", "app")] {
        b.panel(
            PanelSpec::new("timeseries", title, 12, 8)
                .target(sql(
                    "time_series",
                    format!(
                        "SELECT $__timeGroupAlias(ts, $__interval), {column} AS \"metric\", count(*) AS \"events\" FROM {t} WHERE {filter} GROUP BY 1, 2 ORDER BY 1, 2"
                    ),
                    &["time", "metric", "events"],
                ))
                .unit("short"),
        );
    }
    b.panel(
        PanelSpec::new("timeseries", "Distinct users per day", 12, 8)
            .target(sql(
                "time_series",
                format!(
                    "SELECT $__timeGroupAlias(ts, '1d'), count(DISTINCT user_id) AS \"users\" FROM {t} WHERE {filter} GROUP BY 1 ORDER BY 1"
                ),
                &["time", "users"],
            ))
            .unit("short")
            .custom(json!({ "drawStyle": "bars", "fillOpacity": 80 })),
    );
    b.panel(
        PanelSpec::new("table", "Top events", 12, 8)
            .target(sql(
                "table",
                format!(
                    "SELECT event, count(*) AS \"events\", count(DISTINCT user_id) AS \"users\", max(ts) AS \"last_seen\" FROM {t} WHERE {filter} GROUP BY event ORDER BY 2 DESC, 1 LIMIT 20"
                ),
                &["event", "events", "users", "last_seen"],
            ))
            .options(json!({ "showHeader": true })),
    );
    b.panel(
        PanelSpec::new("table", "Recent events", 24, 12)
            .describe("The latest 200 events. The trace id opens the request's trace in Tempo.")
            .target(sql(
                "table",
                format!(
                    "SELECT ts AS \"time\", app, event, user_id, level, trace_id, attributes::text AS \"attributes\" FROM {t} WHERE {filter} ORDER BY ts DESC LIMIT 200"
                ),
                &["time", "app", "event", "user_id", "level", "trace_id", "attributes"],
            ))
            .options(json!({ "showHeader": true }))
            .override_field(
                "trace_id",
                json!([{
                    "id": "links",
                    "value": [{ "title": "View trace", "url": trace_link() }]
                }]),
            ),
    );
    b.finish()
}

/// An Explore URL opening the clicked trace id in the Tempo datasource, over the
/// dashboard's time range. Grafana fills `${__value.raw}`, `${__from}` and `${__to}`.
fn trace_link() -> String {
    let panes = json!({
        "trace": {
            "datasource": datasource::TEMPO,
            "queries": [{
                "refId": "A",
                "datasource": { "type": "tempo", "uid": datasource::TEMPO },
                "queryType": "traceql",
                "query": "@VALUE@"
            }],
            "range": { "from": "@FROM@", "to": "@TO@" }
        }
    });
    let encoded = percent_encode(&panes.to_string())
        .replace("%40VALUE%40", "${__value.raw}")
        .replace("%40FROM%40", "${__from}")
        .replace("%40TO%40", "${__to}");
    format!("/explore?schemaVersion=1&orgId=1&panes={encoded}")
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_link_keeps_grafana_variables_literal() {
        let url = trace_link();
        assert!(url.starts_with("/explore?schemaVersion=1&orgId=1&panes=%7B%22trace%22"));
        assert!(url.contains("%22query%22%3A%22${__value.raw}%22"), "{url}");
        assert!(url.contains("${__from}") && url.contains("${__to}"));
        assert!(!url.contains(' ') && !url.contains('"'));
    }
}
