//! Grafana dashboards as typed JSON (serde), one file per dashboard under
//! `grafana/dashboards/<uid>.json`. Datasources are referenced by their fixed uids from
//! `wiring`, never by name.

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::Stack;
use crate::targets::OutputFile;
use crate::wiring::{datasource, label};

/// A datasource reference as dashboards store it.
#[derive(Serialize, Clone, Debug)]
pub struct DatasourceRef {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub uid: &'static str,
}

pub const PROMETHEUS: DatasourceRef = DatasourceRef {
    kind: "prometheus",
    uid: datasource::PROMETHEUS,
};
pub const LOKI: DatasourceRef = DatasourceRef {
    kind: "loki",
    uid: datasource::LOKI,
};

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct GridPos {
    pub h: u32,
    pub w: u32,
    pub x: u32,
    pub y: u32,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub datasource: DatasourceRef,
    pub ref_id: String,
    pub expr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legend_format: Option<String>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Panel {
    pub id: u32,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub datasource: DatasourceRef,
    pub grid_pos: GridPos,
    pub targets: Vec<Target>,
    pub options: Value,
    pub field_config: Value,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    pub uid: String,
    pub title: String,
    pub tags: Vec<String>,
    pub timezone: &'static str,
    pub schema_version: u32,
    pub editable: bool,
    pub refresh: &'static str,
    pub time: TimeRange,
    pub panels: Vec<Panel>,
}

#[derive(Serialize, Clone, Debug)]
pub struct TimeRange {
    pub from: &'static str,
    pub to: &'static str,
}

/// The dashboards of a stack.
pub fn dashboards(stack: &Stack) -> Vec<Dashboard> {
    vec![overview(stack)]
}

fn target(datasource: DatasourceRef, expr: String, legend: Option<&str>) -> Target {
    Target {
        datasource,
        ref_id: "A".into(),
        expr,
        legend_format: legend.map(str::to_owned),
    }
}

fn overview(stack: &Stack) -> Dashboard {
    let project = format!("{}=\"{}\"", label::COMPOSE_PROJECT, stack.name);
    Dashboard {
        uid: format!("{}-overview", stack.name),
        title: format!("{}: stack overview", stack.name),
        tags: vec!["stackc".into(), stack.name.clone()],
        timezone: "browser",
        schema_version: 41,
        editable: false,
        refresh: "30s",
        time: TimeRange {
            from: "now-1h",
            to: "now",
        },
        panels: vec![
            Panel {
                id: 1,
                kind: "stat",
                title: "Targets up".into(),
                datasource: PROMETHEUS,
                grid_pos: GridPos {
                    h: 6,
                    w: 24,
                    x: 0,
                    y: 0,
                },
                targets: vec![target(PROMETHEUS, "up".into(), Some("{{job}}"))],
                options: json!({ "colorMode": "background", "graphMode": "none", "reduceOptions": { "calcs": ["lastNotNull"] } }),
                field_config: json!({ "defaults": { "unit": "none" }, "overrides": [] }),
            },
            Panel {
                id: 2,
                kind: "timeseries",
                title: "Log lines per second by service".into(),
                datasource: LOKI,
                grid_pos: GridPos {
                    h: 8,
                    w: 12,
                    x: 0,
                    y: 6,
                },
                targets: vec![target(
                    LOKI,
                    format!(
                        "sum by ({}) (rate({{{project}}}[1m]))",
                        label::COMPOSE_SERVICE
                    ),
                    Some(&format!("{{{{{}}}}}", label::COMPOSE_SERVICE)),
                )],
                options: json!({}),
                field_config: json!({ "defaults": { "unit": "short" }, "overrides": [] }),
            },
            Panel {
                id: 3,
                kind: "timeseries",
                title: "Samples ingested per second".into(),
                datasource: PROMETHEUS,
                grid_pos: GridPos {
                    h: 8,
                    w: 12,
                    x: 12,
                    y: 6,
                },
                targets: vec![target(
                    PROMETHEUS,
                    "sum(rate(prometheus_tsdb_head_samples_appended_total[$__rate_interval]))"
                        .into(),
                    Some("samples/s"),
                )],
                options: json!({}),
                field_config: json!({ "defaults": { "unit": "short" }, "overrides": [] }),
            },
        ],
    }
}

/// Renders every dashboard to `grafana/dashboards/<uid>.json`.
pub fn render(stack: &Stack) -> anyhow::Result<Vec<OutputFile>> {
    dashboards(stack)
        .into_iter()
        .map(|d| {
            let mut text = serde_json::to_string_pretty(&d)?;
            text.push('\n');
            Ok(OutputFile::new(
                format!("grafana/dashboards/{}.json", d.uid),
                text,
            ))
        })
        .collect()
}
