//! `prometheus/rules/<family>.rules.yml` and, beside each, `<family>.test.yml`: the
//! alerting and recording rules Prometheus loads, and `promtool test rules` unit tests that
//! feed series and assert which alerts fire and which stay silent. Users run the tests
//! themselves with `promtool test rules prometheus/rules/*.test.yml`.
//!
//! Families: `targets` (a scrape target down), `pipeline` (Prometheus rule failures and
//! refused remote writes, Loki and Tempo refusals, Alloy's components and dropped data),
//! `host` (disks filling, containers restarting), `usage` (the scraper's lag and failing
//! polls, with `[usage]` on) and `slo` (per-app multi-window multi-burn-rate alerts on
//! Tempo's span metrics, SRE workbook chapter 5, with recording rules for the ratios).
//!
//! Every metric a rule reads comes from `grafana::metrics` (a test checks this), every
//! alert carries `severity`, `summary`, `description` and a `dashboard` link to the panel
//! that shows it (`<root_url>/d/<uid>?viewPanel=<id>`; relative without `[grafana]
//! root_url`).
//!
//! Kept to what Debian's promtool 2.42 parses and evaluates.

use std::collections::BTreeMap;

use serde::Serialize;

use super::grafana::dashboards;
use super::grafana::metrics::{
    alloy, cadvisor, labels, loki, node, prometheus, scrape, spanmetrics, tempo, usage_scraper,
};
use super::{Options, OutputFile};
use crate::duration::Duration;
use crate::model::{App, Slo, Stack};
use crate::templates::Templates;
use crate::wiring::{alert, service};

/// The span kinds that stand for a request served (as the RED dashboard counts them).
const SERVER_KINDS: &str = "SPAN_KIND_SERVER|SPAN_KIND_CONSUMER";
/// The app the unit tests of app-agnostic rules use.
const EXAMPLE_APP: &str = "example-app";
/// The scraper waits this long behind now before it reads a window (`scraper.toml` settle).
const SCRAPER_SETTLE_SECS: u64 = 5;

/// One rule file and its unit tests. Load-bearing: used by
/// `templates/prometheus/rules.yml.j2` and `templates/prometheus/rules.test.yml.j2`.
#[derive(Serialize, Clone, Debug)]
pub struct Family {
    /// File stem: `prometheus/rules/<name>.rules.yml`.
    pub name: &'static str,
    pub description: &'static str,
    pub groups: Vec<Group>,
    pub tests: Vec<TestCase>,
}

#[derive(Serialize, Clone, Debug)]
pub struct Group {
    pub name: String,
    pub rules: Vec<Rule>,
}

/// A recording rule (`record`) or an alerting rule (`alert`).
#[derive(Serialize, Clone, Debug, Default)]
pub struct Rule {
    pub record: Option<String>,
    pub alert: Option<String>,
    pub expr: String,
    /// `for:`
    pub pending: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// One `tests:` entry of a promtool test file.
#[derive(Serialize, Clone, Debug)]
pub struct TestCase {
    /// What the case shows, written as a comment.
    pub comment: String,
    pub interval: String,
    pub input_series: Vec<Series>,
    pub alert_rule_test: Vec<AlertTest>,
}

#[derive(Serialize, Clone, Debug)]
pub struct Series {
    pub series: String,
    pub values: String,
}

#[derive(Serialize, Clone, Debug)]
pub struct AlertTest {
    pub eval_time: String,
    pub alertname: String,
    /// Empty: the alert must stay silent.
    pub exp_alerts: Vec<ExpAlert>,
}

#[derive(Serialize, Clone, Debug)]
pub struct ExpAlert {
    pub exp_labels: BTreeMap<String, String>,
    pub exp_annotations: BTreeMap<String, String>,
}

/// An alert being described: its rule and the annotation templates, which the tests
/// fill in the way Prometheus does (`{{ $labels.x }}`, `{{ $value | ... }}`).
#[derive(Clone, Debug)]
struct AlertSpec {
    name: &'static str,
    expr: String,
    for_: Option<String>,
    labels: Vec<(&'static str, String)>,
    summary: String,
    description: String,
    dashboard: String,
}

impl AlertSpec {
    fn rule(&self) -> Rule {
        Rule {
            record: None,
            alert: Some(self.name.to_owned()),
            expr: self.expr.clone(),
            pending: self.for_.clone(),
            labels: self
                .labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            annotations: BTreeMap::from([
                ("summary".to_owned(), self.summary.clone()),
                ("description".to_owned(), self.description.clone()),
                ("dashboard".to_owned(), self.dashboard.clone()),
            ]),
        }
    }

    /// What this alert looks like when it fires on a series with `series_labels` and
    /// value text `value` (as the annotation's `$value` pipeline prints it).
    fn firing(&self, series_labels: &[(&str, &str)], value: &str) -> ExpAlert {
        let mut labels: BTreeMap<String, String> = series_labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        for (k, v) in &self.labels {
            labels.insert((*k).to_owned(), v.clone());
        }
        let fill = |text: &str| fill_template(text, &labels, value);
        ExpAlert {
            exp_annotations: BTreeMap::from([
                ("summary".to_owned(), fill(&self.summary)),
                ("description".to_owned(), fill(&self.description)),
                ("dashboard".to_owned(), fill(&self.dashboard)),
            ]),
            exp_labels: labels,
        }
    }
}

/// Expands `{{ $labels.x }}` and `{{ $value ... }}` as Prometheus would for these labels and
/// this already-formatted value.
fn fill_template(text: &str, labels: &BTreeMap<String, String>, value: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = start + rest[start..].find("}}").expect("closed template action");
        let action = rest[start + 2..end].trim();
        if let Some(name) = action.strip_prefix("$labels.") {
            out.push_str(labels.get(name).map_or("", String::as_str));
        } else if action.starts_with("$value") {
            out.push_str(value);
        } else {
            panic!("unexpected template action `{action}` (this is a stackc bug)");
        }
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

fn label_ref(name: &str) -> String {
    format!("{{{{ $labels.{name} }}}}")
}

/// A PromQL double-quoted string (Go escaping).
fn q(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
}

/// `a|b|c`, `.` escaped: a regex over known names.
fn alternation<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|n| n.as_ref().replace('.', "\\."))
        .collect::<Vec<_>>()
        .join("|")
}

/// `/d/<uid>?viewPanel=<id>` for the panel titled `title` of dashboard `slug`, with
/// `var-app` when the dashboard picks an app; prefixed with `[grafana] root_url` when set
/// (notifications then carry a link that opens), else relative to Grafana's root.
/// Panics (a stackc bug) when the dashboard has no such panel.
fn panel_link(stack: &Stack, slug: &str, title: &str, app: Option<&str>) -> String {
    let uid = format!("{}-{slug}", stack.name);
    let board = dashboards::dashboards(stack)
        .into_iter()
        .find(|d| d.uid == uid)
        .unwrap_or_else(|| panic!("no dashboard `{uid}` (this is a stackc bug)"));
    let panel = board
        .panels
        .iter()
        .find(|p| p.title == title)
        .unwrap_or_else(|| panic!("no panel `{title}` on `{uid}` (this is a stackc bug)"));
    let root = stack
        .grafana
        .root_url
        .as_deref()
        .map_or("", |r| r.trim_end_matches('/'));
    match app {
        Some(app) => format!("{root}/d/{uid}?var-app={app}&viewPanel={}", panel.id),
        None => format!("{root}/d/{uid}?viewPanel={}", panel.id),
    }
}

/// `1m`-style Prometheus durations.
fn dur(d: Duration) -> String {
    d.prometheus()
}

/// The stack's own components Prometheus scrapes, with the severity of their being down:
/// critical for the path alerts and telemetry take, warning for the rest.
fn scraped_components(stack: &Stack) -> Vec<(&'static str, &'static str)> {
    let mut out = vec![
        (service::PROMETHEUS, alert::CRITICAL),
        (service::ALLOY, alert::CRITICAL),
        (service::LOKI, alert::CRITICAL),
        (service::TEMPO, alert::CRITICAL),
        (service::ALERTMANAGER, alert::CRITICAL),
        (service::GRAFANA, alert::WARNING),
        (service::NODE_EXPORTER, alert::WARNING),
        (service::CADVISOR, alert::WARNING),
        (service::USAGE_SCRAPER, alert::WARNING),
    ];
    out.retain(|(name, _)| stack.runs(name));
    out
}

/// Every rule family of this stack, in file order.
pub fn families(stack: &Stack) -> Vec<Family> {
    let mut out = vec![targets(stack), pipeline(stack)];
    if stack.components.node_exporter || stack.components.cadvisor {
        out.push(host(stack));
    }
    if stack.usage.is_some() {
        out.push(usage(stack));
    }
    if stack.apps.iter().any(|a| !a.slos.is_empty()) {
        out.push(slo(stack));
    }
    out
}

fn targets(stack: &Stack) -> Family {
    let health_up = panel_link(stack, "health", "Up", None);
    let component = |severity: &'static str| {
        let jobs: Vec<&str> = scraped_components(stack)
            .into_iter()
            .filter(|(_, s)| *s == severity)
            .map(|(j, _)| j)
            .collect();
        AlertSpec {
            name: "StackComponentDown",
            expr: format!(
                "label_replace({up}{{job=~{jobs}}} == 0, {c}, \"$1\", \"job\", \"(.+)\")",
                up = scrape::UP,
                jobs = q(&alternation(&jobs)),
                c = q(alert::COMPONENT),
            ),
            for_: Some("2m".into()),
            labels: vec![(alert::SEVERITY, severity.to_owned())],
            summary: format!("stack component {} is down", label_ref(alert::COMPONENT)),
            description: format!(
                "Prometheus has not scraped {} ({}) for 2 minutes: up = {{{{ $value | humanize }}}}.",
                label_ref(alert::COMPONENT),
                label_ref("instance")
            ),
            dashboard: health_up.clone(),
        }
    };
    let critical = component(alert::CRITICAL);
    let warning = component(alert::WARNING);
    let mut rules = vec![critical.rule(), warning.rule()];
    let loki_up = [
        ("job", service::LOKI),
        ("compose_service", service::LOKI),
        ("instance", "loki:3100"),
    ];
    let grafana_up = [
        ("job", service::GRAFANA),
        ("compose_service", service::GRAFANA),
        ("instance", "grafana:3000"),
    ];
    let mut tests = vec![TestCase {
        comment: "a critical component down for 2 minutes fires; one that is up, or down only briefly, does not".into(),
        interval: "1m".into(),
        input_series: vec![
            series("up", &loki_up, "1 1 0 0 0 0"),
            series("up", &grafana_up, "1 1 1 1 1 0"),
        ],
        alert_rule_test: vec![
            AlertTest {
                eval_time: "3m".into(),
                alertname: "StackComponentDown".into(),
                exp_alerts: vec![],
            },
            AlertTest {
                eval_time: "5m".into(),
                alertname: "StackComponentDown".into(),
                exp_alerts: vec![critical.firing(
                    &[
                        ("job", service::LOKI),
                        ("compose_service", service::LOKI),
                        ("instance", "loki:3100"),
                        (alert::COMPONENT, service::LOKI),
                    ],
                    "0",
                )],
            },
        ],
    }];
    tests.push(TestCase {
        comment: "a warning-level component (Grafana) down for 2 minutes fires as a warning".into(),
        interval: "1m".into(),
        input_series: vec![series("up", &grafana_up, "0 0 0 0")],
        alert_rule_test: vec![AlertTest {
            eval_time: "3m".into(),
            alertname: "StackComponentDown".into(),
            exp_alerts: vec![warning.firing(
                &[
                    ("job", service::GRAFANA),
                    ("compose_service", service::GRAFANA),
                    ("instance", "grafana:3000"),
                    (alert::COMPONENT, service::GRAFANA),
                ],
                "0",
            )],
        }],
    });
    // Any job that is not a component is an app: adding an app changes no rule, and the
    // tests use an example app of their own.
    let components: Vec<&str> = scraped_components(stack)
        .into_iter()
        .map(|(j, _)| j)
        .collect();
    let app_down = AlertSpec {
        name: "AppTargetDown",
        expr: format!(
            "label_replace({up}{{job!~{jobs}}} == 0, {a}, \"$1\", \"job\", \"(.+)\")",
            up = scrape::UP,
            jobs = q(&alternation(&components)),
            a = q(alert::APP),
        ),
        for_: Some("5m".into()),
        labels: vec![(alert::SEVERITY, alert::WARNING.to_owned())],
        summary: format!("app {} cannot be scraped", label_ref(alert::APP)),
        description: format!(
            "Prometheus has not scraped {} ({}) for 5 minutes: the app is down or its metrics endpoint fails.",
            label_ref(alert::APP),
            label_ref("instance")
        ),
        dashboard: panel_link(stack, "overview", "Targets up", None),
    };
    rules.push(app_down.rule());
    let labels = [
        ("job", EXAMPLE_APP),
        ("compose_service", EXAMPLE_APP),
        ("instance", "example-app:8080"),
    ];
    tests.push(TestCase {
        comment: "an app unscraped for 5 minutes fires; before that it is only pending".into(),
        interval: "1m".into(),
        input_series: vec![series("up", &labels, "0x8")],
        alert_rule_test: vec![
            AlertTest {
                eval_time: "4m".into(),
                alertname: "AppTargetDown".into(),
                exp_alerts: vec![],
            },
            AlertTest {
                eval_time: "6m".into(),
                alertname: "AppTargetDown".into(),
                exp_alerts: vec![app_down.firing(
                    &[
                        ("job", EXAMPLE_APP),
                        ("compose_service", EXAMPLE_APP),
                        ("instance", "example-app:8080"),
                        (alert::APP, EXAMPLE_APP),
                    ],
                    "",
                )],
            },
        ],
    });
    Family {
        name: "targets",
        description: "A scrape target down: the stack's own components and the scraped apps.",
        groups: vec![Group {
            name: "stackc-targets".into(),
            rules,
        }],
        tests,
    }
}

fn series(metric: &str, labels: &[(&str, &str)], values: &str) -> Series {
    let labels: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", q(v)))
        .collect();
    Series {
        series: format!("{metric}{{{}}}", labels.join(", ")),
        values: values.into(),
    }
}

fn component_labels(component: &str, severity: &str) -> Vec<(&'static str, String)> {
    vec![
        (alert::COMPONENT, component.to_owned()),
        (alert::SEVERITY, severity.to_owned()),
    ]
}

/// A counter alert: `sum by (by) (increase(metric{job=...}[window])) > 0`.
fn increase_alert(metric: &str, job: &str, extra: &str, by: &str, window: &str) -> String {
    let selector = if extra.is_empty() {
        format!("job={}", q(job))
    } else {
        format!("job={}, {extra}", q(job))
    };
    if by.is_empty() {
        format!("sum(increase({metric}{{{selector}}}[{window}])) > 0")
    } else {
        format!("sum by ({by}) (increase({metric}{{{selector}}}[{window}])) > 0")
    }
}

fn pipeline(stack: &Stack) -> Family {
    let health = |title: &str| panel_link(stack, "health", title, None);
    let rule_failures = AlertSpec {
        name: "PrometheusRuleEvaluationFailures",
        expr: increase_alert(
            prometheus::RULE_EVALUATION_FAILURES,
            service::PROMETHEUS,
            "",
            "rule_group",
            "10m",
        ),
        for_: None,
        labels: component_labels(service::PROMETHEUS, alert::WARNING),
        summary: "Prometheus fails to evaluate rules".into(),
        description: format!(
            "{{{{ $value | humanize }}}} evaluations of rule group {} failed in the last 10 minutes: its alerts may not fire.",
            label_ref("rule_group")
        ),
        dashboard: health("Prometheus"),
    };
    let write_refused = AlertSpec {
        name: "PrometheusRemoteWriteRefused",
        expr: format!(
            "sum(rate({m}{{job={job}, handler=\"/api/v1/write\", code=~\"5..\"}}[5m])) > 0",
            m = prometheus::HTTP_REQUESTS,
            job = q(service::PROMETHEUS)
        ),
        for_: Some("10m".into()),
        labels: component_labels(service::PROMETHEUS, alert::WARNING),
        summary: "Prometheus refuses remote writes".into(),
        description: "Prometheus answers {{ $value | humanize }} remote writes per second (span metrics from Tempo, OTLP metrics from Alloy) with a server error: those samples are lost.".into(),
        dashboard: health("Prometheus"),
    };
    let alloy_write = AlertSpec {
        name: "AlloyRemoteWriteFailing",
        expr: increase_alert(alloy::REMOTE_SAMPLES_FAILED, service::ALLOY, "", "", "10m"),
        for_: Some("5m".into()),
        labels: component_labels(service::ALLOY, alert::WARNING),
        summary: "Alloy cannot write OTLP metrics to Prometheus".into(),
        description:
            "{{ $value | humanize }} samples failed to reach Prometheus in the last 10 minutes."
                .into(),
        dashboard: health("Prometheus"),
    };
    let loki_errors = AlertSpec {
        name: "LokiRequestErrors",
        expr: format!(
            "sum(rate({m}{{job={job}, status_code=~\"5..\"}}[5m])) > 0",
            m = loki::REQUEST_DURATION_COUNT,
            job = q(service::LOKI)
        ),
        for_: Some("10m".into()),
        labels: component_labels(service::LOKI, alert::WARNING),
        summary: "Loki fails requests".into(),
        description: "Loki answers {{ $value | humanize }} requests per second with a server error: log lines may be lost or queries fail.".into(),
        dashboard: health("Loki"),
    };
    let loki_discarded = AlertSpec {
        name: "LokiDiscardingLogs",
        expr: increase_alert(loki::DISCARDED_SAMPLES, service::LOKI, "", "reason", "10m"),
        for_: None,
        labels: component_labels(service::LOKI, alert::WARNING),
        summary: format!("Loki refuses log lines ({})", label_ref("reason")),
        description: format!(
            "Loki discarded {{{{ $value | humanize }}}} log lines in the last 10 minutes, reason {}.",
            label_ref("reason")
        ),
        dashboard: health("Loki"),
    };
    let tempo_discarded = AlertSpec {
        name: "TempoDiscardingSpans",
        expr: increase_alert(tempo::DISCARDED_SPANS, service::TEMPO, "", "reason", "10m"),
        for_: None,
        labels: component_labels(service::TEMPO, alert::WARNING),
        summary: format!("Tempo refuses spans ({})", label_ref("reason")),
        description: format!(
            "Tempo discarded {{{{ $value | humanize }}}} spans in the last 10 minutes, reason {}: traces and span metrics (SLOs) are incomplete.",
            label_ref("reason")
        ),
        dashboard: health("Tempo"),
    };
    let alloy_unhealthy = AlertSpec {
        name: "AlloyComponentsUnhealthy",
        expr: format!(
            "sum({m}{{job={job}, health_type=~\"unhealthy|exited\"}}) > 0",
            m = alloy::RUNNING_COMPONENTS,
            job = q(service::ALLOY)
        ),
        for_: Some("10m".into()),
        labels: component_labels(service::ALLOY, alert::WARNING),
        summary: "Alloy has unhealthy components".into(),
        description: "{{ $value | humanize }} Alloy components are unhealthy or exited: part of the telemetry is not collected. See Alloy's UI.".into(),
        dashboard: health("Alloy components"),
    };
    let alloy_dropped = AlertSpec {
        name: "AlloyDroppingLogs",
        expr: increase_alert(
            alloy::LOKI_DROPPED_ENTRIES,
            service::ALLOY,
            "",
            "reason",
            "10m",
        ),
        for_: None,
        labels: component_labels(service::ALLOY, alert::WARNING),
        summary: format!("Alloy drops log lines ({})", label_ref("reason")),
        description: format!(
            "Alloy dropped {{{{ $value | humanize }}}} log lines on their way to Loki in the last 10 minutes, reason {}.",
            label_ref("reason")
        ),
        dashboard: health("Alloy log entries to Loki"),
    };
    let specs = [
        &rule_failures,
        &write_refused,
        &alloy_write,
        &loki_errors,
        &loki_discarded,
        &tempo_discarded,
        &alloy_unhealthy,
        &alloy_dropped,
    ];
    // One case feeds a failure into every counter and checks each alert fires with its
    // value; the other feeds flat counters and checks every alert stays silent.
    let job = |j: &'static str| ("job", j);
    let failing = vec![
        series(
            prometheus::RULE_EVALUATION_FAILURES,
            &[
                job(service::PROMETHEUS),
                ("rule_group", "rules/slo.rules.yml;x"),
            ],
            "0+1x20",
        ),
        series(
            prometheus::HTTP_REQUESTS,
            &[
                job(service::PROMETHEUS),
                ("handler", "/api/v1/write"),
                ("code", "500"),
            ],
            "0+60x20",
        ),
        series(
            alloy::REMOTE_SAMPLES_FAILED,
            &[job(service::ALLOY)],
            "0+5x20",
        ),
        series(
            loki::REQUEST_DURATION_COUNT,
            &[
                job(service::LOKI),
                ("route", "loki_api_v1_push"),
                ("status_code", "500"),
            ],
            "0+120x20",
        ),
        series(
            loki::DISCARDED_SAMPLES,
            &[
                job(service::LOKI),
                ("reason", "rate_limited"),
                ("tenant", "fake"),
            ],
            "0+2x20",
        ),
        series(
            tempo::DISCARDED_SPANS,
            &[
                job(service::TEMPO),
                ("reason", "trace_too_large"),
                ("tenant", "single-tenant"),
            ],
            "0+3x20",
        ),
        series(
            alloy::RUNNING_COMPONENTS,
            &[job(service::ALLOY), ("health_type", "unhealthy")],
            "1x20",
        ),
        series(
            alloy::LOKI_DROPPED_ENTRIES,
            &[job(service::ALLOY), ("reason", "ingester_error")],
            "0+4x20",
        ),
    ];
    let fired = [
        (
            &rule_failures,
            vec![("rule_group", "rules/slo.rules.yml;x")],
            "10",
        ),
        (&write_refused, vec![], "1"),
        (&alloy_write, vec![], "50"),
        (&loki_errors, vec![], "2"),
        (&loki_discarded, vec![("reason", "rate_limited")], "20"),
        (&tempo_discarded, vec![("reason", "trace_too_large")], "30"),
        (&alloy_unhealthy, vec![], "1"),
        (&alloy_dropped, vec![("reason", "ingester_error")], "40"),
    ];
    let quiet: Vec<Series> = failing
        .iter()
        .map(|s| Series {
            series: s.series.clone(),
            values: if s.series.starts_with(alloy::RUNNING_COMPONENTS) {
                "0x20".into()
            } else {
                "5x20".into()
            },
        })
        .chain([series(
            alloy::RUNNING_COMPONENTS,
            &[job(service::ALLOY), ("health_type", "healthy")],
            "12x20",
        )])
        .collect();
    let tests = vec![
        TestCase {
            comment:
                "every failure counter rising for 15 minutes: each alert fires, with its value"
                    .into(),
            interval: "1m".into(),
            input_series: failing,
            alert_rule_test: fired
                .iter()
                .map(|(spec, labels, value)| AlertTest {
                    eval_time: "15m".into(),
                    alertname: spec.name.into(),
                    exp_alerts: vec![spec.firing(labels, value)],
                })
                .collect(),
        },
        TestCase {
            comment: "flat failure counters and healthy components: every alert stays silent"
                .into(),
            interval: "1m".into(),
            input_series: quiet,
            alert_rule_test: specs
                .iter()
                .map(|spec| AlertTest {
                    eval_time: "15m".into(),
                    alertname: spec.name.into(),
                    exp_alerts: vec![],
                })
                .collect(),
        },
    ];
    Family {
        name: "pipeline",
        description: "The telemetry pipeline losing data: Prometheus rule failures and refused remote writes, Loki and Tempo errors and refusals, Alloy's components and dropped lines.",
        groups: vec![Group {
            name: "stackc-pipeline".into(),
            rules: specs.iter().map(|s| s.rule()).collect(),
        }],
        tests,
    }
}

fn host(stack: &Stack) -> Family {
    let mut rules = Vec::new();
    let mut tests = Vec::new();
    if stack.components.node_exporter {
        let (r, t) = host_disks(stack);
        rules.extend(r);
        tests.extend(t);
    }
    if stack.components.cadvisor {
        let (r, t) = host_restarts(stack);
        rules.extend(r);
        tests.extend(t);
    }
    Family {
        name: "host",
        description: "The Docker host: disks filling (node-exporter), containers restarting (cAdvisor); each while `[components]` runs it.",
        groups: vec![Group {
            name: "stackc-host".into(),
            rules,
        }],
        tests,
    }
}

/// Disks filling (node-exporter): the rules and their unit tests.
fn host_disks(stack: &Stack) -> (Vec<Rule>, Vec<TestCase>) {
    let fs = "fstype!~\"tmpfs|ramfs|squashfs|nsfs|overlay|autofs\", mountpoint!~\"/boot.*\"";
    let disk_link = panel_link(stack, "host", "Disk space used", None);
    let filling = AlertSpec {
        name: "HostDiskWillFillIn24Hours",
        expr: format!(
            "({avail}{{{fs}}} / {size}{{{fs}}} < 0.20) and predict_linear({avail}{{{fs}}}[6h], 24 * 3600) < 0",
            avail = node::FS_AVAIL,
            size = node::FS_SIZE,
        ),
        for_: Some("30m".into()),
        labels: vec![(alert::SEVERITY, alert::WARNING.to_owned())],
        summary: format!("disk {} will fill within 24 hours", label_ref("mountpoint")),
        description: format!(
            "{} ({}) has {{{{ $value | humanizePercentage }}}} space left and, at the rate of the last 6 hours, will be full within a day.",
            label_ref("mountpoint"),
            label_ref("device")
        ),
        dashboard: disk_link.clone(),
    };
    let full = AlertSpec {
        name: "HostDiskAlmostFull",
        expr: format!(
            "{avail}{{{fs}}} / {size}{{{fs}}} < 0.05",
            avail = node::FS_AVAIL,
            size = node::FS_SIZE,
        ),
        for_: Some("5m".into()),
        labels: vec![(alert::SEVERITY, alert::CRITICAL.to_owned())],
        summary: format!("disk {} is almost full", label_ref("mountpoint")),
        description: format!(
            "{} ({}) has only {{{{ $value | humanizePercentage }}}} space left: {} stop writing when it is full.",
            label_ref("mountpoint"),
            label_ref("device"),
            // The stores on this host: PostgreSQL only when it is the stack's own.
            if stack.bundled_postgres() {
                "Prometheus, Loki, Tempo and PostgreSQL"
            } else {
                "Prometheus, Loki and Tempo"
            }
        ),
        dashboard: disk_link,
    };
    let root = [
        ("device", "/dev/sda1"),
        ("fstype", "ext4"),
        ("mountpoint", "/"),
    ];
    let data = [
        ("device", "/dev/sdb1"),
        ("fstype", "ext4"),
        ("mountpoint", "/data"),
    ];
    let with_job = |l: &[(&'static str, &'static str)]| {
        let mut v = vec![("job", service::NODE_EXPORTER)];
        v.extend_from_slice(l);
        v
    };
    let size = "100000000000x60";
    let tests = vec![TestCase {
        comment: "a disk with 19 % left losing 20 MB a minute fills within a day; a steady one at 50 % does not, and neither is almost full".into(),
        interval: "1m".into(),
        input_series: vec![
            series(node::FS_SIZE, &with_job(&root), size),
            series(node::FS_AVAIL, &with_job(&root), "19000000000-20000000x60"),
            series(node::FS_SIZE, &with_job(&data), size),
            series(node::FS_AVAIL, &with_job(&data), "50000000000x60"),
        ],
        alert_rule_test: vec![AlertTest {
            eval_time: "40m".into(),
            alertname: "HostDiskWillFillIn24Hours".into(),
            exp_alerts: vec![filling.firing(&with_job(&root), "18.2%")],
        }, AlertTest {
            eval_time: "40m".into(),
            alertname: "HostDiskAlmostFull".into(),
            exp_alerts: vec![],
        }],
    }, TestCase {
        comment: "a disk with 2 % left for 5 minutes is almost full".into(),
        interval: "1m".into(),
        input_series: vec![
            series(node::FS_SIZE, &with_job(&data), "100000000000x10"),
            series(node::FS_AVAIL, &with_job(&data), "2000000000x10"),
        ],
        alert_rule_test: vec![AlertTest {
            eval_time: "6m".into(),
            alertname: "HostDiskAlmostFull".into(),
            exp_alerts: vec![full.firing(&with_job(&data), "2%")],
        }],
    }];
    (vec![filling.rule(), full.rule()], tests)
}

/// Containers restarting (cAdvisor): the rules and their unit tests.
fn host_restarts(stack: &Stack) -> (Vec<Rule>, Vec<TestCase>) {
    let project = format!("{}={}", labels::CADVISOR_PROJECT, q(&stack.name));
    let restarting = |name: &'static str,
                      who: &'static str,
                      op: &str,
                      services: &[&str],
                      slug_title: (&str, &str)| {
        let link = panel_link(stack, slug_title.0, slug_title.1, None);
        AlertSpec {
            name,
            expr: format!(
                "label_replace(max by ({svc}) (changes({m}{{{project}, {svc}{op}{services}}}[15m])) > 0, {who}, \"$1\", {svc_q}, \"(.+)\")",
                svc = labels::CADVISOR_SERVICE,
                svc_q = q(labels::CADVISOR_SERVICE),
                m = cadvisor::START_TIME,
                services = q(&alternation(services)),
                who = q(who),
            ),
            for_: None,
            labels: vec![(alert::SEVERITY, alert::WARNING.to_owned())],
            summary: format!("container {} is restarting", label_ref(who)),
            description: format!(
                "{} restarted {{{{ $value | humanize }}}} times in the last 15 minutes: see its logs for why it exits.",
                label_ref(who)
            ),
            dashboard: link,
        }
    };
    let components: Vec<&str> = dashboards_components(stack);
    let component_restarting = restarting(
        "StackContainerRestarting",
        alert::COMPONENT,
        "=~",
        &components,
        ("health", "CPU by component"),
    );
    // Every other container of the compose project is an app's.
    let app_restarting = restarting(
        "AppContainerRestarting",
        alert::APP,
        "!~",
        &components,
        ("host", "CPU by container"),
    );

    let mut tests = Vec::new();
    let container = |svc: &str, id: &str| {
        vec![
            ("id".to_owned(), format!("/system.slice/docker-{id}.scope")),
            (labels::CADVISOR_PROJECT.to_owned(), stack.name.clone()),
            (labels::CADVISOR_SERVICE.to_owned(), svc.to_owned()),
        ]
    };
    let loki_c = container(service::LOKI, "aaa");
    let prom_c = container(service::PROMETHEUS, "bbb");
    let mut restart_series = vec![
        series(
            cadvisor::START_TIME,
            &to_pairs(&loki_c),
            "100 100 100 400 400 400 700 700",
        ),
        series(cadvisor::START_TIME, &to_pairs(&prom_c), "100x8"),
    ];
    let mut restart_tests = vec![AlertTest {
        eval_time: "7m".into(),
        alertname: "StackContainerRestarting".into(),
        exp_alerts: vec![component_restarting.firing(
            &[
                (labels::CADVISOR_SERVICE, service::LOKI),
                (alert::COMPONENT, service::LOKI),
            ],
            "2",
        )],
    }];
    {
        let spec = &app_restarting;
        let app_c = container(EXAMPLE_APP, "ccc");
        restart_series.push(series(cadvisor::START_TIME, &to_pairs(&app_c), "100x8"));
        restart_tests.push(AlertTest {
            eval_time: "7m".into(),
            alertname: spec.name.into(),
            exp_alerts: vec![],
        });
        tests.push(TestCase {
            comment: "an app restarting once fires".into(),
            interval: "1m".into(),
            input_series: vec![series(
                cadvisor::START_TIME,
                &to_pairs(&app_c),
                "100 100 100 300 300",
            )],
            alert_rule_test: vec![AlertTest {
                eval_time: "4m".into(),
                alertname: spec.name.into(),
                exp_alerts: vec![spec.firing(
                    &[
                        (labels::CADVISOR_SERVICE, EXAMPLE_APP),
                        (alert::APP, EXAMPLE_APP),
                    ],
                    "1",
                )],
            }],
        });
    }
    tests.push(TestCase {
        comment:
            "Loki restarting twice fires; Prometheus, started once, and a steady app stay silent"
                .into(),
        interval: "1m".into(),
        input_series: restart_series,
        alert_rule_test: restart_tests,
    });
    (
        vec![component_restarting.rule(), app_restarting.rule()],
        tests,
    )
}

fn to_pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The stack's own compose services, as the health dashboard lists them.
fn dashboards_components(stack: &Stack) -> Vec<&'static str> {
    stack.services()
}

fn usage(stack: &Stack) -> Family {
    let usage = stack.usage.as_ref().expect("usage family needs [usage]");
    let poll = usage.poll_interval.whole_secs().max(1);
    let threshold = 2 * poll + SCRAPER_SETTLE_SECS;
    let window = Duration::from_secs((3 * poll).max(300));
    let lag_link = panel_link(stack, "health", "Lag behind now", None);
    let lagging = AlertSpec {
        name: "UsageScraperLagging",
        expr: format!(
            "{m}{{job={job}}} > {threshold}",
            m = usage_scraper::LAG,
            job = q(service::USAGE_SCRAPER)
        ),
        for_: Some(dur(window)),
        labels: component_labels(service::USAGE_SCRAPER, alert::WARNING),
        summary: "the usage scraper is falling behind".into(),
        description: format!(
            "Its cursor is {{{{ $value | humanizeDuration }}}} behind now, more than two poll intervals ({}) past its {SCRAPER_SETTLE_SECS}s settle time: usage statistics are late.",
            usage.poll_interval
        ),
        dashboard: lag_link,
    };
    let failing = AlertSpec {
        name: "UsageScraperPollsFailing",
        expr: format!(
            "sum by (kind) (increase({m}{{job={job}}}[{w}])) > 0",
            m = usage_scraper::ERRORS,
            job = q(service::USAGE_SCRAPER),
            w = dur(window)
        ),
        for_: Some(dur(window)),
        labels: component_labels(service::USAGE_SCRAPER, alert::WARNING),
        summary: format!("the usage scraper's polls fail ({})", label_ref("kind")),
        description: format!(
            "{{{{ $value | humanize }}}} polls failed with {} errors in the last {}, and they keep failing: see the scraper's logs.",
            label_ref("kind"),
            dur(window)
        ),
        dashboard: panel_link(stack, "health", "Errors and malformed lines", None),
    };
    let job = [("job", service::USAGE_SCRAPER)];
    let minutes = window.whole_secs() / 60;
    let steps = 3 * minutes + 5;
    let behind = threshold + 60;
    let tests = vec![
        TestCase {
            comment: format!(
                "lag above {threshold}s for {} fires; lag of one poll interval does not",
                dur(window)
            ),
            interval: "1m".into(),
            input_series: vec![series(
                usage_scraper::LAG,
                &job,
                &format!("{poll}x{minutes} {behind}x{steps}"),
            )],
            alert_rule_test: vec![
                AlertTest {
                    eval_time: format!("{minutes}m"),
                    alertname: "UsageScraperLagging".into(),
                    exp_alerts: vec![],
                },
                AlertTest {
                    eval_time: format!("{}m", 2 * minutes + 2),
                    alertname: "UsageScraperLagging".into(),
                    exp_alerts: vec![lagging.firing(&job, &humanize_duration(behind))],
                },
            ],
        },
        TestCase {
            comment: "errors rising for two windows fire; no errors stay silent".into(),
            interval: "1m".into(),
            input_series: vec![
                series(
                    usage_scraper::ERRORS,
                    &[("job", service::USAGE_SCRAPER), ("kind", "loki")],
                    &format!("0+1x{steps}"),
                ),
                series(
                    usage_scraper::ERRORS,
                    &[("job", service::USAGE_SCRAPER), ("kind", "database")],
                    &format!("3x{steps}"),
                ),
            ],
            alert_rule_test: vec![AlertTest {
                eval_time: format!("{}m", 2 * minutes + 2),
                alertname: "UsageScraperPollsFailing".into(),
                exp_alerts: vec![failing.firing(&[("kind", "loki")], &minutes.to_string())],
            }],
        },
    ];
    Family {
        name: "usage",
        description: "The usage scraper: lag behind now and failing polls.",
        groups: vec![Group {
            name: "stackc-usage".into(),
            rules: vec![lagging.rule(), failing.rule()],
        }],
        tests,
    }
}

/// Prometheus's `humanizeDuration` for whole seconds below a day: `2m 5s`, `2m 0s`, `45s`.
fn humanize_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h {m}m {s}s")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

/// The SRE workbook's windows: (severity, long, short, burn-rate factor).
pub const BURN_RATES: [(&str, &str, &str, &str); 4] = [
    (alert::CRITICAL, "1h", "5m", "14.4"),
    (alert::CRITICAL, "6h", "30m", "6"),
    (alert::WARNING, "1d", "2h", "3"),
    (alert::WARNING, "3d", "6h", "1"),
];

/// Every window a ratio is recorded over.
const WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// The recording rule of an SLO's bad-request ratio over `window`.
pub fn ratio_record(slo: &Slo, window: &str) -> String {
    match slo.latency {
        None => format!("app:slo_errors_per_request:ratio_rate{window}"),
        Some(_) => format!("app:slo_slow_requests_per_request:ratio_rate{window}"),
    }
}

/// `0.005` for 995_000 ppm: the budget as an exact decimal.
fn budget_text(slo: &Slo) -> String {
    let budget = 1_000_000 - slo.objective_ppm;
    let mut text = format!("{}.{:06}", budget / 1_000_000, budget % 1_000_000);
    while text.ends_with('0') {
        text.pop();
    }
    text
}

/// The `le` regex matching a bucket bound as Tempo writes it (`0.5`, `1` or `1.0`).
pub fn le_regex(threshold: Duration) -> String {
    let text = seconds_text(threshold);
    if text.contains('.') {
        text.replace('.', "\\.")
    } else {
        format!("{text}(\\.0+)?")
    }
}

/// Seconds as the shortest decimal: `0.5`, `1`, `0.25`.
pub fn seconds_text(d: Duration) -> String {
    let millis = d.as_millis();
    let mut text = format!("{}.{:03}", millis / 1000, millis % 1000);
    while text.ends_with('0') {
        text.pop();
    }
    if text.ends_with('.') {
        text.pop();
    }
    text
}

/// The latency thresholds of every SLO of the stack, in seconds, sorted: Tempo's
/// span-metrics histogram gets a bucket bound at each.
pub fn latency_thresholds(stack: &Stack) -> Vec<Duration> {
    let mut out: Vec<Duration> = stack
        .apps
        .iter()
        .flat_map(|a| a.slos.iter().filter_map(|s| s.latency))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn slo(stack: &Stack) -> Family {
    let mut groups = Vec::new();
    let mut tests = Vec::new();
    for app in stack.apps.iter().filter(|a| !a.slos.is_empty()) {
        let server = format!(
            "{svc}={app}, {kind}=~{kinds}",
            svc = labels::SPAN_SERVICE,
            app = q(&app.name),
            kind = labels::SPAN_KIND,
            kinds = q(SERVER_KINDS),
        );
        let mut rules = Vec::new();
        for slo in &app.slos {
            let rule_labels = BTreeMap::from([
                (alert::APP.to_owned(), app.name.clone()),
                (alert::SLO.to_owned(), slo.name()),
            ]);
            for window in WINDOWS {
                let expr = match slo.latency {
                    None => format!(
                        "sum(rate({calls}{{{server}, {status}=\"STATUS_CODE_ERROR\"}}[{window}])) / sum(rate({calls}{{{server}}}[{window}]))",
                        calls = spanmetrics::CALLS,
                        status = labels::STATUS_CODE,
                    ),
                    Some(threshold) => format!(
                        "1 - (sum(rate({b}{{{server}, le=~{le}}}[{window}])) / sum(rate({b}{{{server}, le=\"+Inf\"}}[{window}])))",
                        b = spanmetrics::LATENCY_BUCKET,
                        le = q(&le_regex(threshold)),
                    ),
                };
                rules.push(Rule {
                    record: Some(ratio_record(slo, window)),
                    expr,
                    labels: rule_labels.clone(),
                    ..Rule::default()
                });
            }
            let budget = budget_text(slo);
            let selector = format!(
                "{{{}={}, {}={}}}",
                alert::APP,
                q(&app.name),
                alert::SLO,
                q(&slo.name())
            );
            let (name, what, panel) = match slo.latency {
                None => (
                    "AppAvailabilityBudgetBurn",
                    "failed".to_owned(),
                    "Error ratio",
                ),
                Some(threshold) => (
                    "AppLatencyBudgetBurn",
                    format!("took longer than {threshold}"),
                    "Latency percentiles",
                ),
            };
            let link = panel_link(stack, "red", panel, Some(&app.name));
            let objective = match slo.latency {
                None => format!("{} of requests succeed", slo.objective_text()),
                Some(threshold) => format!(
                    "{} of requests faster than {threshold}",
                    slo.objective_text()
                ),
            };
            let mut specs = Vec::new();
            for severity in [alert::CRITICAL, alert::WARNING] {
                let branches: Vec<String> = BURN_RATES
                    .iter()
                    .filter(|(s, ..)| *s == severity)
                    .map(|(_, long, short, factor)| {
                        format!(
                            "({long_r}{selector} > ({factor} * {budget}) and {short_r}{selector} > ({factor} * {budget}))",
                            long_r = ratio_record(slo, long),
                            short_r = ratio_record(slo, short),
                        )
                    })
                    .collect();
                let (speed, windows) = if severity == alert::CRITICAL {
                    ("fast", "1h and 5m (14.4x) or 6h and 30m (6x)")
                } else {
                    ("slowly", "1d and 2h (3x) or 3d and 6h (1x)")
                };
                specs.push(AlertSpec {
                    name,
                    expr: branches.join(" or "),
                    for_: None,
                    labels: vec![
                        (alert::SEVERITY, severity.to_owned()),
                        (alert::SLI, "spanmetrics".to_owned()),
                        (alert::APP, app.name.clone()),
                        (alert::SLO, slo.name()),
                    ],
                    summary: format!(
                        "{} is burning its {} error budget {speed}",
                        label_ref(alert::APP),
                        label_ref(alert::SLO)
                    ),
                    description: format!(
                        "{{{{ $value | humanizePercentage }}}} of {}'s requests {what} over the alert's long window; the objective is {objective} (budget {budget}). Burn-rate windows: {windows}.",
                        label_ref(alert::APP),
                    ),
                    dashboard: link.clone(),
                });
            }
            rules.extend(specs.iter().map(AlertSpec::rule));
            tests.extend(slo_tests(app, slo, &specs));
        }
        groups.push(Group {
            name: format!("stackc-slo-{}", app.name),
            rules,
        });
    }
    Family {
        name: "slo",
        description: "Per-app objectives from [apps.*.slo]: bad-request ratios recorded over each window, and multi-window multi-burn-rate alerts (SRE workbook): page at 14.4x over 1h and 5m or 6x over 6h and 30m, ticket at 3x over 1d and 2h or 1x over 3d and 6h.",
        groups,
        tests,
    }
}

/// Three cases per SLO: a burn that pages (and tickets), a smaller burn that only tickets,
/// and a burn within budget that stays silent. Traffic is a million requests a minute, so
/// every share is a whole number of requests; which alerts fire follows from the
/// thresholds (a constant share is the same over every window).
fn slo_tests(app: &App, slo: &Slo, specs: &[AlertSpec]) -> Vec<TestCase> {
    const TOTAL: u64 = 1_000_000;
    let (critical, warning) = (&specs[0], &specs[1]);
    let budget = u64::from(1_000_000 - slo.objective_ppm);
    let cases = [
        ("a fast burn", (budget * 144 * 15 / 100).min(TOTAL)),
        // Clamped: with a low objective (a large budget) a burn can exceed all traffic.
        ("a slow burn", (budget * 3 * 15 / 10).min(TOTAL)),
        ("a burn within budget", (budget / 2).min(TOTAL)),
    ];
    let kind = ("span_kind", "SPAN_KIND_SERVER");
    let service = (labels::SPAN_SERVICE, app.name.as_str());
    let slo_name = slo.name();
    let with = [
        (alert::APP, app.name.as_str()),
        (alert::SLO, slo_name.as_str()),
    ];
    let mut out = Vec::new();
    for (what, bad) in cases {
        let page = bad > 6 * budget;
        let ticket = bad > budget;
        let input_series = match slo.latency {
            None => vec![
                series(
                    spanmetrics::CALLS,
                    &[
                        service,
                        kind,
                        ("span_name", "GET /"),
                        (labels::STATUS_CODE, "STATUS_CODE_ERROR"),
                    ],
                    &format!("0+{bad}x200"),
                ),
                series(
                    spanmetrics::CALLS,
                    &[
                        service,
                        kind,
                        ("span_name", "GET /"),
                        (labels::STATUS_CODE, "STATUS_CODE_UNSET"),
                    ],
                    &format!("0+{}x200", TOTAL - bad),
                ),
            ],
            Some(threshold) => {
                let le = seconds_text(threshold);
                vec![
                    series(
                        spanmetrics::LATENCY_BUCKET,
                        &[
                            service,
                            kind,
                            ("span_name", "GET /"),
                            (labels::STATUS_CODE, "STATUS_CODE_UNSET"),
                            ("le", le.as_str()),
                        ],
                        &format!("0+{}x200", TOTAL - bad),
                    ),
                    series(
                        spanmetrics::LATENCY_BUCKET,
                        &[
                            service,
                            kind,
                            ("span_name", "GET /"),
                            (labels::STATUS_CODE, "STATUS_CODE_UNSET"),
                            ("le", "+Inf"),
                        ],
                        &format!("0+{TOTAL}x200"),
                    ),
                ]
            }
        };
        let value = humanize_percentage(bad, TOTAL);
        let fired = |fires: bool, spec: &AlertSpec| {
            if fires {
                vec![spec.firing(&with, &value)]
            } else {
                vec![]
            }
        };
        let outcome = match (page, ticket) {
            (true, _) => "pages and tickets",
            (false, true) => "only tickets",
            (false, false) => "stays silent",
        };
        let mut alerts = fired(page, critical);
        alerts.extend(fired(ticket, warning));
        out.push(TestCase {
            comment: format!(
                "app `{}`, {slo_name} objective {}: {what} ({value} bad) {outcome}",
                app.name,
                slo.objective_text()
            ),
            interval: "1m".into(),
            input_series,
            alert_rule_test: vec![AlertTest {
                eval_time: "150m".into(),
                alertname: critical.name.into(),
                exp_alerts: alerts,
            }],
        });
    }
    out
}

/// Prometheus's `humanizePercentage` (`%.4g` then `%`) of `part / whole`.
fn humanize_percentage(part: u64, whole: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let percent = part as f64 * 100.0 / whole as f64;
    let rounded = format!("{percent:.4}");
    // %.4g: four significant digits, trailing zeros dropped.
    let digits_before = rounded.split('.').next().map_or(1, str::len);
    let decimals = 4usize.saturating_sub(if percent >= 1.0 { digits_before } else { 0 });
    let mut text = format!("{percent:.decimals$}");
    if text.contains('.') {
        while text.ends_with('0') {
            text.pop();
        }
        if text.ends_with('.') {
            text.pop();
        }
    }
    format!("{text}%")
}

pub fn render(
    stack: &Stack,
    templates: &Templates,
    _: &Options,
) -> anyhow::Result<Vec<OutputFile>> {
    let mut files = Vec::new();
    for family in families(stack) {
        files.push(templates.file(
            format!("prometheus/rules/{}.rules.yml", family.name).as_str(),
            "prometheus/rules.yml.j2",
            &family,
        )?);
        files.push(templates.file(
            format!("prometheus/rules/{}.test.yml", family.name).as_str(),
            "prometheus/rules.test.yml.j2",
            &family,
        )?);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_match_tempos_spelling() {
        assert_eq!(le_regex(Duration::from_millis(500)), "0\\.5");
        assert_eq!(le_regex(Duration::from_secs(1)), "1(\\.0+)?");
        assert_eq!(seconds_text(Duration::from_millis(250)), "0.25");
        assert_eq!(seconds_text(Duration::from_millis(1500)), "1.5");
    }

    #[test]
    fn prometheus_number_formats() {
        assert_eq!(humanize_percentage(100, 1000), "10%");
        assert_eq!(humanize_percentage(2500, 1_000_000), "0.25%");
        assert_eq!(humanize_percentage(22500, 1_000_000), "2.25%");
        assert_eq!(humanize_percentage(1_000_000, 1_000_000), "100%");
        assert_eq!(humanize_percentage(108, 1000), "10.8%");
        assert_eq!(humanize_duration(125), "2m 5s");
        assert_eq!(humanize_duration(45), "45s");
        assert_eq!(humanize_duration(120), "2m 0s");
    }

    #[test]
    fn templates_fill_like_prometheus() {
        let labels = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
        assert_eq!(
            fill_template(
                "{{ $labels.app }} at {{ $value | humanizePercentage }}",
                &labels,
                "5%"
            ),
            "web at 5%"
        );
    }
}
