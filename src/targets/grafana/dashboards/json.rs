//! The dashboard JSON model as typed serde structures: the subset of Grafana's classic
//! dashboard schema (`@grafana/schema` `Dashboard`) that stackc writes, plus `Board`, a
//! builder that numbers panels and lays them out on the 24-column grid.
//!
//! Field names follow Grafana's JSON (camelCase). Panel `options` and field `custom`
//! settings are plugin-specific and untyped in Grafana's own schema, so they stay
//! `serde_json::Value` here too. String-enum fields (threshold modes, value mappings, colour
//! modes) are left at Grafana's defaults on purpose: they add nothing these dashboards need.

use serde::Serialize;
use serde_json::{Value, json};

use crate::wiring::datasource;

/// A datasource reference as dashboards store it: by type and provisioned uid, never name.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
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
pub const TEMPO: DatasourceRef = DatasourceRef {
    kind: "tempo",
    uid: datasource::TEMPO,
};
pub const POSTGRES: DatasourceRef = DatasourceRef {
    kind: "grafana-postgresql-datasource",
    uid: datasource::POSTGRES,
};

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    pub uid: String,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub timezone: &'static str,
    pub schema_version: u32,
    pub editable: bool,
    /// 1 = shared crosshair across panels.
    pub graph_tooltip: u8,
    pub refresh: &'static str,
    pub time: TimeRange,
    pub links: Vec<DashboardLink>,
    pub templating: Templating,
    pub panels: Vec<Panel>,
}

#[derive(Serialize, Clone, Debug)]
pub struct TimeRange {
    pub from: &'static str,
    pub to: &'static str,
}

/// A link in the dashboard header.
#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct DashboardLink {
    pub title: String,
    /// `dashboards`: every dashboard carrying `tags`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub tags: Vec<String>,
    pub as_dropdown: bool,
    pub include_vars: bool,
    pub keep_time: bool,
    pub target_blank: bool,
    pub icon: &'static str,
    pub tooltip: String,
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct Templating {
    pub list: Vec<Variable>,
}

/// A dashboard variable.
#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    pub name: String,
    pub label: String,
    /// `custom` (a fixed comma-separated list), `query` (values a datasource returns
    /// when the dashboard loads) or `textbox`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Query variables: the datasource asked for the values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datasource: Option<DatasourceRef>,
    pub query: String,
    /// Query variables: 1 = on dashboard load (values follow the running apps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh: Option<u8>,
    /// Query variables: 1 = alphabetical, ascending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_all: Option<bool>,
    /// What `All` stands for; unset means "every option" (a list, quoted for SQL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_value: Option<String>,
    pub current: VariableOption,
    pub options: Vec<VariableOption>,
}

#[derive(Serialize, Clone, Debug)]
pub struct VariableOption {
    pub selected: bool,
    pub text: String,
    pub value: String,
}

impl VariableOption {
    /// The selected `All` option of a multi-value variable.
    fn all() -> Self {
        VariableOption {
            selected: true,
            text: "All".into(),
            value: "$__all".into(),
        }
    }

    /// The selected empty option (a text box, or a variable whose values come later).
    fn empty() -> Self {
        VariableOption {
            selected: true,
            text: String::new(),
            value: String::new(),
        }
    }
}

/// How many values a variable takes, and what its `All` option stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick<'a> {
    /// Exactly one value.
    One,
    /// Any number; `All` means every listed value (Grafana writes a quoted list in SQL).
    AnyOf,
    /// Any number; `All` stands for this regex (e.g. `.*`, which also matches values
    /// that are not listed).
    AnyMatching(&'a str),
}

impl Variable {
    /// A fixed list of values; with `Pick::AnyOf`/`AnyMatching` an `All` option comes first
    /// and is selected, otherwise the first value is.
    pub fn custom(name: &str, label: &str, values: &[String], pick: Pick<'_>) -> Self {
        let many = pick != Pick::One;
        let mut options: Vec<VariableOption> = Vec::new();
        if many {
            options.push(VariableOption {
                selected: false,
                ..VariableOption::all()
            });
        }
        options.extend(values.iter().map(|v| VariableOption {
            selected: false,
            text: v.clone(),
            value: v.clone(),
        }));
        if let Some(first) = options.first_mut() {
            first.selected = true;
        }
        let current = options
            .first()
            .cloned()
            .unwrap_or_else(VariableOption::empty);
        Variable {
            name: name.into(),
            label: label.into(),
            kind: "custom",
            datasource: None,
            query: values.join(","),
            refresh: None,
            sort: None,
            multi: Some(many),
            include_all: Some(many),
            all_value: match pick {
                Pick::AnyMatching(regex) => Some(regex.to_owned()),
                Pick::One | Pick::AnyOf => None,
            },
            current,
            options,
        }
    }

    /// Values a datasource returns when the dashboard loads: `label_values(...)` for
    /// Prometheus and Loki, a one-column `SELECT` for PostgreSQL. Nothing about the apps is
    /// written into the dashboard, so adding an app changes no dashboard file.
    pub fn query(
        name: &str,
        label: &str,
        datasource: DatasourceRef,
        query: impl Into<String>,
        pick: Pick<'_>,
    ) -> Self {
        let query = query.into();
        let many = pick != Pick::One;
        let current = if many {
            VariableOption::all()
        } else {
            VariableOption::empty()
        };
        Variable {
            name: name.into(),
            label: label.into(),
            kind: "query",
            datasource: Some(datasource),
            query,
            refresh: Some(1),
            sort: Some(1),
            multi: Some(many),
            include_all: Some(many),
            all_value: match pick {
                Pick::AnyMatching(regex) => Some(regex.to_owned()),
                Pick::One | Pick::AnyOf => None,
            },
            current,
            options: Vec::new(),
        }
    }

    /// Makes `value` the selected option (the first one stays selected if there is none).
    pub fn selecting(mut self, value: &str) -> Self {
        if let Some(chosen) = self.options.iter().position(|o| o.value == value) {
            for (i, option) in self.options.iter_mut().enumerate() {
                option.selected = i == chosen;
            }
            self.current = self.options[chosen].clone();
        }
        self
    }

    /// A free-text box, empty by default.
    pub fn textbox(name: &str, label: &str) -> Self {
        let empty = VariableOption::empty();
        Variable {
            name: name.into(),
            label: label.into(),
            kind: "textbox",
            datasource: None,
            query: String::new(),
            refresh: None,
            sort: None,
            multi: None,
            include_all: None,
            all_value: None,
            current: empty.clone(),
            options: vec![empty],
        }
    }
}

#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridPos {
    pub h: u32,
    pub w: u32,
    pub x: u32,
    pub y: u32,
}

/// A panel, or a row header (`kind == "row"`, no datasource or targets).
#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Panel {
    pub id: u32,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub grid_pos: GridPos,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datasource: Option<DatasourceRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Target>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_config: Option<FieldConfigSource>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transformations: Vec<Value>,
    /// Rows only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collapsed: Option<bool>,
    /// Rows only: the panels of a collapsed row (always empty: rows stay open).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub panels: Option<Vec<Value>>,
}

#[derive(Serialize, Clone, Debug)]
pub struct FieldConfigSource {
    pub defaults: FieldDefaults,
    pub overrides: Vec<Value>,
}

#[derive(Serialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct FieldDefaults {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Value>,
}

/// A query, by datasource kind. Each serialises to the target shape its plugin reads.
#[derive(Serialize, Clone, Debug)]
#[serde(untagged)]
pub enum Target {
    Prometheus(PromTarget),
    Loki(LokiTarget),
    Tempo(TempoTarget),
    Sql(SqlTarget),
}

impl Target {
    pub fn datasource(&self) -> DatasourceRef {
        match self {
            Target::Prometheus(t) => t.datasource,
            Target::Loki(t) => t.datasource,
            Target::Tempo(t) => t.datasource,
            Target::Sql(t) => t.datasource,
        }
    }

    fn set_ref_id(&mut self, id: String) {
        match self {
            Target::Prometheus(t) => t.ref_id = id,
            Target::Loki(t) => t.ref_id = id,
            Target::Tempo(t) => t.ref_id = id,
            Target::Sql(t) => t.ref_id = id,
        }
    }
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct PromTarget {
    pub datasource: DatasourceRef,
    pub ref_id: String,
    pub expr: String,
    pub legend_format: String,
    pub range: bool,
    pub instant: bool,
    /// Ask Prometheus for exemplars too (latency panels: metric -> trace).
    pub exemplar: bool,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct LokiTarget {
    pub datasource: DatasourceRef,
    pub ref_id: String,
    pub expr: String,
    pub legend_format: String,
    pub query_type: &'static str,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct TempoTarget {
    pub datasource: DatasourceRef,
    pub ref_id: String,
    /// `serviceMap` or `traceql`.
    pub query_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_type: Option<&'static str>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct SqlTarget {
    pub datasource: DatasourceRef,
    pub ref_id: String,
    /// `time_series` or `table`.
    pub format: &'static str,
    pub raw_query: bool,
    pub editor_mode: &'static str,
    pub raw_sql: String,
    /// The columns the panel reads, in order (not written: tests run the SQL against a
    /// real PostgreSQL and compare).
    #[serde(skip)]
    pub columns: Vec<&'static str>,
}

pub fn prom(expr: impl Into<String>, legend: &str) -> Target {
    Target::Prometheus(PromTarget {
        datasource: PROMETHEUS,
        ref_id: String::new(),
        expr: expr.into(),
        legend_format: legend.into(),
        range: true,
        instant: false,
        exemplar: false,
    })
}

/// A Prometheus query whose exemplars are drawn too.
pub fn prom_exemplars(expr: impl Into<String>, legend: &str) -> Target {
    let mut t = prom(expr, legend);
    if let Target::Prometheus(p) = &mut t {
        p.exemplar = true;
    }
    t
}

pub fn loki(expr: impl Into<String>, legend: &str) -> Target {
    Target::Loki(LokiTarget {
        datasource: LOKI,
        ref_id: String::new(),
        expr: expr.into(),
        legend_format: legend.into(),
        query_type: "range",
    })
}

pub fn tempo_service_map() -> Target {
    Target::Tempo(TempoTarget {
        datasource: TEMPO,
        ref_id: String::new(),
        query_type: "serviceMap",
        query: None,
        limit: None,
        table_type: None,
    })
}

pub fn traceql(query: impl Into<String>, limit: u32) -> Target {
    Target::Tempo(TempoTarget {
        datasource: TEMPO,
        ref_id: String::new(),
        query_type: "traceql",
        query: Some(query.into()),
        limit: Some(limit),
        table_type: Some("traces"),
    })
}

pub fn sql(format: &'static str, raw_sql: impl Into<String>, columns: &[&'static str]) -> Target {
    Target::Sql(SqlTarget {
        datasource: POSTGRES,
        ref_id: String::new(),
        format,
        raw_query: true,
        editor_mode: "code",
        raw_sql: raw_sql.into(),
        columns: columns.to_vec(),
    })
}

/// A panel being described, before `Board` numbers and places it.
#[derive(Clone, Debug)]
pub struct PanelSpec {
    pub kind: &'static str,
    pub title: String,
    pub description: String,
    pub width: u32,
    pub height: u32,
    pub targets: Vec<Target>,
    pub options: Value,
    pub defaults: FieldDefaults,
    pub overrides: Vec<Value>,
    pub transformations: Vec<Value>,
}

impl PanelSpec {
    pub fn new(kind: &'static str, title: &str, width: u32, height: u32) -> Self {
        PanelSpec {
            kind,
            title: title.into(),
            description: String::new(),
            width,
            height,
            targets: Vec::new(),
            options: json!({}),
            defaults: FieldDefaults::default(),
            overrides: Vec::new(),
            transformations: Vec::new(),
        }
    }

    pub fn describe(mut self, text: &str) -> Self {
        self.description = text.into();
        self
    }

    pub fn target(mut self, target: Target) -> Self {
        self.targets.push(target);
        self
    }

    pub fn unit(mut self, unit: &'static str) -> Self {
        self.defaults.unit = Some(unit);
        self
    }

    pub fn range(mut self, min: Option<f64>, max: Option<f64>) -> Self {
        self.defaults.min = min;
        self.defaults.max = max;
        self
    }

    pub fn options(mut self, options: Value) -> Self {
        self.options = options;
        self
    }

    pub fn custom(mut self, custom: Value) -> Self {
        self.defaults.custom = Some(custom);
        self
    }

    pub fn override_field(mut self, field: &str, properties: Value) -> Self {
        self.overrides.push(json!({
            "matcher": { "id": "byName", "options": field },
            "properties": properties,
        }));
        self
    }

    pub fn transform(mut self, id: &str, options: Value) -> Self {
        self.transformations
            .push(json!({ "id": id, "options": options }));
        self
    }
}

/// Builds one dashboard: panels numbered from 1 in order, laid out left to right and
/// wrapped at 24 columns; `row` starts a titled row on a new line.
#[derive(Debug)]
pub struct Board {
    dashboard: Dashboard,
    x: u32,
    y: u32,
    line_height: u32,
}

impl Board {
    pub fn new(uid: String, title: String, description: &str, tags: Vec<String>) -> Self {
        Board {
            dashboard: Dashboard {
                uid,
                title,
                description: description.into(),
                tags: tags.clone(),
                timezone: "browser",
                schema_version: 41,
                editable: false,
                graph_tooltip: 1,
                refresh: "30s",
                time: TimeRange {
                    from: "now-1h",
                    to: "now",
                },
                links: vec![DashboardLink {
                    title: "Stack dashboards".into(),
                    kind: "dashboards",
                    tags,
                    as_dropdown: true,
                    include_vars: false,
                    keep_time: true,
                    target_blank: false,
                    icon: "external link",
                    tooltip: "The other dashboards of this stack".into(),
                }],
                templating: Templating::default(),
                panels: Vec::new(),
            },
            x: 0,
            y: 0,
            line_height: 0,
        }
    }

    pub fn variable(&mut self, variable: Variable) -> &mut Self {
        self.dashboard.templating.list.push(variable);
        self
    }

    fn next_id(&self) -> u32 {
        u32::try_from(self.dashboard.panels.len()).unwrap_or(u32::MAX) + 1
    }

    fn new_line(&mut self) {
        self.y += self.line_height;
        self.x = 0;
        self.line_height = 0;
    }

    pub fn row(&mut self, title: &str) -> &mut Self {
        if self.x > 0 {
            self.new_line();
        }
        let id = self.next_id();
        self.dashboard.panels.push(Panel {
            id,
            kind: "row",
            title: title.into(),
            description: String::new(),
            grid_pos: GridPos {
                h: 1,
                w: 24,
                x: 0,
                y: self.y,
            },
            datasource: None,
            targets: Vec::new(),
            options: None,
            field_config: None,
            transformations: Vec::new(),
            collapsed: Some(false),
            panels: Some(Vec::new()),
        });
        self.y += 1;
        self
    }

    pub fn panel(&mut self, spec: PanelSpec) -> &mut Self {
        let width = spec.width.clamp(1, 24);
        if self.x + width > 24 {
            self.new_line();
        }
        let grid_pos = GridPos {
            h: spec.height,
            w: width,
            x: self.x,
            y: self.y,
        };
        self.x += width;
        self.line_height = self.line_height.max(spec.height);
        let mut targets = spec.targets;
        for (i, t) in targets.iter_mut().enumerate() {
            t.set_ref_id(ref_id(i));
        }
        let datasource = targets.first().map(Target::datasource);
        let id = self.next_id();
        self.dashboard.panels.push(Panel {
            id,
            kind: spec.kind,
            title: spec.title,
            description: spec.description,
            grid_pos,
            datasource,
            targets,
            options: Some(spec.options),
            field_config: Some(FieldConfigSource {
                defaults: spec.defaults,
                overrides: spec.overrides,
            }),
            transformations: spec.transformations,
            collapsed: None,
            panels: None,
        });
        self
    }

    pub fn finish(&mut self) -> Dashboard {
        self.dashboard.clone()
    }
}

/// `A`, `B`, … `Z`, `AA`, …: Grafana's query ref ids.
fn ref_id(i: usize) -> String {
    let letters = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = String::new();
    let mut n = i;
    loop {
        out.insert(0, char::from(letters[n % 26]));
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    out
}

/// `sum(rate(metric{selector}[$__rate_interval]))`, `sum by (by) (...)` when `by` is not
/// empty; `selector` is the matcher list without braces, possibly empty.
pub fn rate(metric: &str, selector: &str, by: &str) -> String {
    let selector = if selector.is_empty() {
        String::new()
    } else {
        format!("{{{selector}}}")
    };
    let by = if by.is_empty() {
        String::new()
    } else {
        format!(" by ({by}) ")
    };
    format!("sum{by}(rate({metric}{selector}[$__rate_interval]))")
}

/// A PromQL/LogQL double-quoted string literal (Go escaping).
pub fn quote(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| format!("\"{value}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_sums_with_and_without_grouping() {
        assert_eq!(rate("m", "", ""), "sum(rate(m[$__rate_interval]))");
        assert_eq!(
            rate("m", "a=\"b\"", "job"),
            "sum by (job) (rate(m{a=\"b\"}[$__rate_interval]))"
        );
    }

    #[test]
    fn ref_ids_count_like_grafana() {
        assert_eq!(ref_id(0), "A");
        assert_eq!(ref_id(25), "Z");
        assert_eq!(ref_id(26), "AA");
        assert_eq!(ref_id(27), "AB");
    }

    #[test]
    fn panels_wrap_at_24_columns_and_rows_start_a_line() {
        let mut b = Board::new("u".into(), "t".into(), "", vec![]);
        b.panel(PanelSpec::new("stat", "a", 16, 4));
        b.panel(PanelSpec::new("stat", "b", 12, 6));
        b.row("r");
        b.panel(PanelSpec::new("stat", "c", 24, 3));
        let d = b.finish();
        let pos: Vec<(u32, GridPos)> = d.panels.iter().map(|p| (p.id, p.grid_pos)).collect();
        assert_eq!(
            pos[0],
            (
                1,
                GridPos {
                    h: 4,
                    w: 16,
                    x: 0,
                    y: 0
                }
            )
        );
        assert_eq!(
            pos[1],
            (
                2,
                GridPos {
                    h: 6,
                    w: 12,
                    x: 0,
                    y: 4
                }
            )
        );
        assert_eq!(
            pos[2],
            (
                3,
                GridPos {
                    h: 1,
                    w: 24,
                    x: 0,
                    y: 10
                }
            )
        );
        assert_eq!(
            pos[3],
            (
                4,
                GridPos {
                    h: 3,
                    w: 24,
                    x: 0,
                    y: 11
                }
            )
        );
    }
}
