//! `stackc diff --base REV` and `stackc diff OLD NEW`: what a change to `stack.toml` does
//! to the running stack, and what is risky about it, for the reviewer of a pull request.
//!
//! Both stacks are compared *resolved* (`validate::check` → `model::Stack`), so defaults
//! count: an absent key that means `15d` against an explicit `7d` is a retention cut.
//! Each stack is reduced to [`Facts`] by [`facts`], the one function that reads
//! `model` fields (so a renamed field is one edit here), plus what only the renderers
//! know: the dashboards' uids and the range windows their PromQL uses. The facts of the
//! two sides give the changes, grouped by app and component ([`changes`]), and the risks
//! (`rules`); `render` prints them as text, Markdown or JSON.
//!
//! No I/O here but `git` (reading the stack file at a revision); the CLI reads the files.

pub mod git;
pub mod render;
pub mod rules;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::duration::Duration;
use crate::emit;
use crate::images;
use crate::model::{AppSource, PortKey, Stack};
use crate::targets::grafana::dashboards::{self, json::Dashboard};
use crate::targets::{self, OutputFile};
use crate::wiring::{datasource, secret, service};

/// Where a fact lives: the stack as a whole, one of its own components, or an app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeKind {
    Stack,
    Component,
    App,
}

/// A group of the report: `stack`, `component loki`, `app web`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Scope {
    pub kind: ScopeKind,
    /// The compose service; empty for the stack.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
}

impl Scope {
    pub fn stack() -> Self {
        Scope {
            kind: ScopeKind::Stack,
            name: String::new(),
        }
    }

    pub fn component(name: &str) -> Self {
        Scope {
            kind: ScopeKind::Component,
            name: name.to_owned(),
        }
    }

    pub fn app(name: &str) -> Self {
        Scope {
            kind: ScopeKind::App,
            name: name.to_owned(),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ScopeKind::Stack => f.write_str("stack"),
            ScopeKind::Component => write!(f, "component {}", self.name),
            ScopeKind::App => write!(f, "app {}", self.name),
        }
    }
}

/// What a stack means for the running system, reduced to what a review compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The compose project name: it also names every volume.
    pub project: String,
    /// The host address published ports bind to.
    pub bind: String,
    /// Every compose service (the stack's components and the apps), by scope.
    pub services: BTreeMap<Scope, Service>,
    /// Grafana dashboards by a key that does not depend on the stack's name, so that a
    /// renamed stack's dashboards pair up with their old uids.
    pub dashboards: BTreeMap<String, Board>,
    /// The shortest range window of the dashboards' PromQL queries (`None`: no range).
    pub rate_window: Option<Duration>,
}

/// One compose service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Service {
    /// Image reference, or `None` for an app built from a context.
    pub image: Option<String>,
    /// An app's build context, relative to `stack.toml`.
    pub build: Option<String>,
    pub published: Vec<Published>,
    /// Named volumes the service keeps its data in.
    pub volumes: Vec<String>,
    /// Variables compose requires from `.env` for this service.
    pub secrets: BTreeSet<String>,
    /// An app's Prometheus scrape; `None` for an app that is not scraped, and for the
    /// stack's components (always scraped at the global interval).
    pub scrape: Option<Scrape>,
    /// How often an app with `metrics = "otlp"` pushes its metrics: its environment's
    /// `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds), else the one stackc injects (the
    /// stack's scrape interval, `compose::otlp_metric_export_interval`).
    pub otlp_export: Option<Duration>,
    /// Prometheus, Loki and Tempo: how long data is kept.
    pub retention: Option<Duration>,
    /// Everything else a reviewer reads as a change, in display order.
    pub settings: Vec<(String, String)>,
}

/// A host port; shown as compose's short syntax, `127.0.0.1:8081:8080`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// The report's item name: `published`, or `published (otlp_grpc)` when a service
    /// publishes several ports.
    pub item: String,
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
}

impl Published {
    /// Whether only the host itself can reach the port.
    pub fn loopback(&self) -> bool {
        is_loopback(&self.host_ip)
    }
}

impl fmt::Display for Published {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host_ip.contains(':') {
            write!(f, "[{}]", self.host_ip)?;
        } else {
            f.write_str(&self.host_ip)?;
        }
        write!(f, ":{}:{}", self.host_port, self.container_port)
    }
}

/// `127.0.0.0/8` and `::1`; anything that is not an IP address counts as beyond loopback.
pub fn is_loopback(address: &str) -> bool {
    address
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

impl Service {
    /// How often a sample of the app's own metrics reaches Prometheus, and what sets it.
    pub fn sample_interval(&self) -> Option<(Duration, &'static str)> {
        match (&self.scrape, self.otlp_export) {
            (Some(scrape), _) => Some((scrape.effective, "scrape interval")),
            (None, Some(export)) => Some((export, "metric export interval")),
            (None, None) => None,
        }
    }
}

/// An app's scrape job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scrape {
    pub path: String,
    /// The app's own interval, if it has one.
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    /// The interval Prometheus uses: the app's own, or the global one.
    pub effective: Duration,
}

/// A dashboard as Grafana knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Board {
    pub uid: String,
    pub title: String,
}

/// The image repositories of the stack's own components (the tag is `[versions]`), as
/// `compose.yaml` runs them; the usage scraper's whole reference is `[usage]`'s resolved
/// image instead. `tests/integration/review.rs` checks these facts against the rendered
/// compose file.
const COMPONENTS: [(&str, &str); 10] = [
    (service::ALLOY, "grafana/alloy"),
    (service::PROMETHEUS, "prom/prometheus"),
    (service::LOKI, "grafana/loki"),
    (service::TEMPO, "grafana/tempo"),
    (service::GRAFANA, "grafana/grafana"),
    (service::POSTGRES, "postgres"),
    (service::USAGE_SCRAPER, images::USAGE_SCRAPER),
    (service::NODE_EXPORTER, "prom/node-exporter"),
    (service::CADVISOR, "ghcr.io/google/cadvisor"),
    (service::ALERTMANAGER, "prom/alertmanager"),
];

/// The facts of a resolved stack and its rendered tree. This is the one place that reads
/// `model` fields.
pub fn facts(stack: &Stack, files: &[OutputFile]) -> anyhow::Result<Facts> {
    let mut services: BTreeMap<Scope, Service> = BTreeMap::new();
    let usage = stack.usage.as_ref();
    let v = &stack.versions;
    for (name, repo) in COMPONENTS {
        // Only what runs: `[usage]` off, an external database or `[components]` take
        // services away.
        if !stack.runs(name) {
            continue;
        }
        let tag = match name {
            service::ALLOY => v.alloy.clone(),
            service::PROMETHEUS => v.prometheus.clone(),
            service::LOKI => v.loki.clone(),
            service::TEMPO => v.tempo.clone(),
            service::GRAFANA => v.grafana.clone(),
            service::POSTGRES => v.postgres.clone(),
            service::USAGE_SCRAPER => v.usage_scraper.clone(),
            service::NODE_EXPORTER => v.node_exporter.clone(),
            service::ALERTMANAGER => v.alertmanager.clone(),
            _ => v.cadvisor.clone(),
        };
        let mut facts = Service {
            image: Some(format!("{repo}:{tag}")),
            ..Service::default()
        };
        match name {
            service::PROMETHEUS => {
                facts.volumes = vec!["prometheus-data".to_owned()];
                facts.retention = Some(stack.metrics.retention);
                facts.secrets.extend(stack.metrics.secrets());
                facts.settings = vec![
                    (
                        "scrape interval".into(),
                        stack.metrics.scrape_interval.to_string(),
                    ),
                    (
                        "scrape timeout".into(),
                        stack.metrics.scrape_timeout.to_string(),
                    ),
                ];
                for rw in &stack.metrics.remote_writes {
                    facts
                        .settings
                        .push((format!("remote write {}", rw.name), rw.url.clone()));
                }
                for (key, value) in &stack.metrics.external_labels {
                    facts
                        .settings
                        .push((format!("external label {key}"), value.clone()));
                }
                for job in &stack.metrics.extra_scrapes {
                    facts
                        .settings
                        .push((format!("scrape job {}", job.job), job.targets.join(", ")));
                }
            }
            service::LOKI => {
                facts.volumes = vec!["loki-data".to_owned()];
                facts.retention = Some(stack.logs.retention);
            }
            service::TEMPO => {
                facts.volumes = vec!["tempo-data".to_owned()];
                facts.retention = Some(stack.traces.retention);
            }
            service::ALLOY => {
                facts.volumes = vec!["alloy-data".to_owned()];
                if let Some(field) = &stack.logs.level_field {
                    facts
                        .settings
                        .push(("log level field".into(), field.clone()));
                }
            }
            service::ALERTMANAGER => {
                facts.volumes = vec!["alertmanager-data".to_owned()];
                // receiver credentials: compose secrets from `.env` variables
                facts.secrets.extend(stack.alerts.secrets());
            }
            service::GRAFANA => {
                facts.volumes = vec!["grafana-data".to_owned()];
                facts.secrets.insert(secret::GRAFANA_ADMIN_PASSWORD.into());
                if usage.is_some() {
                    facts.secrets.insert(secret::READER_DB_PASSWORD.into());
                }
                let g = &stack.grafana;
                if let Some(smtp) = &g.smtp {
                    facts.secrets.extend(smtp.password_secret.clone());
                    facts.settings.push(("smtp".into(), smtp.host.clone()));
                }
                if let Some(url) = &g.root_url {
                    facts.settings.push(("root url".into(), url.clone()));
                }
                if !g.plugins.is_empty() {
                    facts
                        .settings
                        .push(("plugins".into(), g.plugins.join(", ")));
                }
                if g.anonymous {
                    facts
                        .settings
                        .push(("anonymous viewers".into(), "on".into()));
                }
            }
            service::POSTGRES => {
                facts.volumes = vec!["postgres-data".to_owned()];
                facts.secrets.extend(
                    [
                        secret::POSTGRES_PASSWORD,
                        secret::SCRAPER_DB_PASSWORD,
                        secret::READER_DB_PASSWORD,
                    ]
                    .map(String::from),
                );
                if let Some(usage) = usage {
                    facts
                        .settings
                        .push(("database".into(), usage.database.clone()));
                }
            }
            service::USAGE_SCRAPER => {
                facts.secrets.insert(secret::SCRAPER_DB_PASSWORD.into());
                if let Some(usage) = usage {
                    facts.image = Some(usage.image.clone());
                    facts.settings = vec![
                        ("poll interval".into(), usage.poll_interval.to_string()),
                        ("lookback".into(), usage.lookback.to_string()),
                    ];
                    if let Some(db) = &usage.external_db {
                        facts.settings.push((
                            "database".into(),
                            format!(
                                "external {}:{}/{} (sslmode {})",
                                db.host,
                                db.port,
                                usage.database,
                                db.sslmode.as_str()
                            ),
                        ));
                    }
                    if let Some(version) = &usage.build {
                        facts.settings.push((
                            "built from".into(),
                            format!("usage-scraper {version} from crates.io"),
                        ));
                    }
                }
            }
            _ => {}
        }
        services.insert(Scope::component(name), facts);
    }
    // node-exporter on the host's network listens on `bind:port` itself.
    let host_network = targets::compose::node_exporter_on_host(stack);
    if let (true, Some(facts)) = (
        host_network,
        services.get_mut(&Scope::component(service::NODE_EXPORTER)),
    ) {
        facts.settings.push(("network".into(), "host".into()));
    }
    for key in PortKey::ALL {
        let Some(host_port) = stack.ports.get(key) else {
            continue;
        };
        let name = key.service();
        let container_port = if host_network && key == PortKey::NodeExporter {
            host_port
        } else {
            key.container_port()
        };
        if let Some(facts) = services.get_mut(&Scope::component(name)) {
            facts.published.push(Published {
                item: if key.key() == name {
                    "published".into()
                } else {
                    format!("published ({})", key.key())
                },
                host_ip: stack.bind.clone(),
                host_port,
                container_port,
            });
        }
    }

    for app in &stack.apps {
        let (image, build) = match &app.source {
            AppSource::Image(image) => (Some(image.clone()), None),
            AppSource::Build(path) => (None, Some(path.clone())),
        };
        let mut settings = vec![("port".to_owned(), app.port.to_string())];
        if let Some(policy) = app.pull_policy {
            settings.push(("pull policy".into(), policy.to_owned()));
        }
        let scrape = app.scrape.as_ref().map(|s| Scrape {
            path: s.path.clone(),
            interval: s.interval,
            timeout: s.timeout,
            effective: s.interval.unwrap_or(stack.metrics.scrape_interval),
        });
        let otlp_export = app.otlp_metrics.then(|| {
            app.env
                .get("OTEL_METRIC_EXPORT_INTERVAL")
                .and_then(|ms| ms.trim().parse::<u64>().ok())
                .filter(|ms| *ms > 0)
                .map_or_else(
                    || crate::targets::compose::otlp_metric_export_interval(stack),
                    Duration::from_millis,
                )
        });
        settings.push((
            "metrics".into(),
            match (&scrape, otlp_export) {
                (Some(s), _) => {
                    let mut text = format!("scraped at {}", s.path);
                    if let Some(interval) = s.interval {
                        text.push_str(&format!(", every {interval}"));
                    }
                    if let Some(timeout) = s.timeout {
                        text.push_str(&format!(", timeout {timeout}"));
                    }
                    text
                }
                (None, Some(every)) => format!("pushed over OTLP, every {every}"),
                (None, None) => "off".to_owned(),
            },
        ));
        settings.push((
            "logs".into(),
            if app.otlp_logs { "OTLP" } else { "stdout" }.into(),
        ));
        settings.push(("OTLP".into(), if app.otlp { "on" } else { "off" }.into()));
        for (key, value) in &app.env {
            settings.push((format!("env {key}"), quoted(value)));
        }
        services.insert(
            Scope::app(&app.name),
            Service {
                image,
                build,
                published: app
                    .publish
                    .map(|host_port| Published {
                        item: "published".into(),
                        host_ip: stack.bind.clone(),
                        host_port,
                        container_port: app.port,
                    })
                    .into_iter()
                    .collect(),
                volumes: app
                    .volumes
                    .iter()
                    .filter_map(|v| match &v.source {
                        crate::model::VolumeSource::Named(name) => Some(name.clone()),
                        _ => None,
                    })
                    .collect(),
                secrets: app.secrets.values().cloned().collect(),
                scrape,
                otlp_export,
                retention: None,
                settings,
            },
        );
    }

    // Dashboards, keyed by the uid they would have in a stack of a fixed name: the list
    // depends on the stack's settings, never on its name, so the two lists pair up.
    let boards = dashboards::dashboards(stack);
    let keyed = dashboards::dashboards(&Stack {
        name: "stack".into(),
        ..stack.clone()
    });
    anyhow::ensure!(
        boards.len() == keyed.len(),
        "the dashboards depend on the stack's name (this is a stackc bug)"
    );
    let rate_window = rate_window(&boards, time_interval(files));
    let dashboards = keyed
        .into_iter()
        .zip(boards)
        .map(|(key, board)| {
            (
                key.uid,
                Board {
                    uid: board.uid,
                    title: board.title,
                },
            )
        })
        .collect();

    Ok(Facts {
        project: stack.name.clone(),
        bind: stack.bind.clone(),
        services,
        dashboards,
        rate_window,
    })
}

/// A value as a JSON string, so that quotes, newlines and spaces show.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| text.to_owned())
}

/// The Prometheus datasource's `timeInterval` (the "scrape interval" Grafana computes
/// `$__rate_interval` from), read back from the rendered provisioning file; Grafana's
/// default, 15s, when it is not set.
pub fn time_interval(files: &[OutputFile]) -> Duration {
    files
        .iter()
        .filter(|f| f.path.ends_with("datasources/datasources.yaml"))
        .flat_map(|f| f.contents.lines())
        .find_map(|line| {
            let value = line.trim().strip_prefix("timeInterval:")?.trim();
            let value = serde_json::from_str::<String>(value).unwrap_or_else(|_| value.into());
            Duration::parse(&value).ok()
        })
        .unwrap_or(Duration::from_secs(15))
}

/// The shortest range window of every PromQL query of the dashboards. Grafana's
/// `$__rate_interval` is `max($__interval + scrape, 4 × scrape)` where `scrape` is the
/// datasource's `timeInterval`, and `$__interval` is never below `timeInterval`, so it is
/// at least `4 × timeInterval`; `$__interval` is at least `timeInterval`; a literal range
/// (`[5m]`) is itself.
pub fn rate_window(boards: &[Dashboard], time_interval: Duration) -> Option<Duration> {
    let mut exprs = Vec::new();
    for board in boards {
        if let Ok(value) = serde_json::to_value(board) {
            prometheus_exprs(&value, None, &mut exprs);
        }
    }
    exprs
        .iter()
        .flat_map(|e| ranges(e))
        .filter_map(|range| window(&range, time_interval))
        .min()
}

/// Collects the `expr` of every query whose datasource (its own, or its panel's) is
/// Prometheus.
fn prometheus_exprs(value: &serde_json::Value, inherited: Option<&str>, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            let own = map
                .get("datasource")
                .and_then(|d| d.get("uid"))
                .and_then(|u| u.as_str());
            let uid = own.or(inherited);
            if let (Some(expr), Some(datasource::PROMETHEUS)) =
                (map.get("expr").and_then(|e| e.as_str()), uid)
            {
                out.push(expr.to_owned());
            }
            for child in map.values() {
                prometheus_exprs(child, uid, out);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                prometheus_exprs(item, inherited, out);
            }
        }
        _ => {}
    }
}

/// The text between `[` and `]` of every range selector or subquery, outside strings.
pub fn ranges(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = expr.chars();
    let mut range: Option<String> = None;
    while let Some(c) = chars.next() {
        if let Some(text) = range.as_mut() {
            if c == ']' {
                out.push(range.take().unwrap_or_default());
            } else {
                text.push(c);
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => {
                while let Some(inner) = chars.next() {
                    if inner == '\\' && c != '`' {
                        chars.next();
                    } else if inner == c {
                        break;
                    }
                }
            }
            '[' => range = Some(String::new()),
            _ => {}
        }
    }
    out
}

/// The shortest window a range can stand for; `None` for ranges with no lower bound known
/// here (`$__range`, other variables).
fn window(range: &str, time_interval: Duration) -> Option<Duration> {
    let range = range.split(':').next().unwrap_or(range).trim();
    let scaled = |n: u64| Duration::from_millis(time_interval.as_millis() * n);
    match range.trim_start_matches('$').trim_matches(['{', '}']) {
        "__rate_interval" => Some(scaled(4)),
        "__interval" => Some(scaled(1)),
        _ if range.starts_with('$') => None,
        literal => Duration::parse(literal).ok(),
    }
}

/// One item of a scope that is added, removed or changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Item {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

/// Whether a scope, a file or an item is new, gone or different.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Added,
    Removed,
    Changed,
}

/// The changes of one scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScopeChanges {
    pub scope: Scope,
    pub status: Status,
    pub items: Vec<Item>,
}

/// The items a reviewer reads for one service, in display order.
fn service_items(service: &Service, project: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(image) = &service.image {
        out.push(("image".to_owned(), image.clone()));
    }
    if let Some(build) = &service.build {
        out.push(("build".to_owned(), build.clone()));
    }
    for p in &service.published {
        out.push((p.item.clone(), p.to_string()));
    }
    if let Some(retention) = service.retention {
        out.push(("retention".to_owned(), retention.to_string()));
    }
    out.extend(service.settings.iter().cloned());
    for volume in &service.volumes {
        // Compose prefixes named volumes with the project: that is the volume on disk.
        out.push((format!("volume {volume}"), format!("{project}_{volume}")));
    }
    for name in &service.secrets {
        out.push((format!("secret {name}"), "required in .env".to_owned()));
    }
    out
}

fn stack_items(facts: &Facts) -> Vec<(String, String)> {
    vec![
        ("project".to_owned(), facts.project.clone()),
        ("bind".to_owned(), facts.bind.clone()),
    ]
}

/// Compares two lists of items by name; `None` when nothing differs.
fn diff_items(old: &[(String, String)], new: &[(String, String)]) -> Vec<Item> {
    let old_map: BTreeMap<&str, &str> = old.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let new_map: BTreeMap<&str, &str> = new.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut out = Vec::new();
    for (name, value) in new {
        match old_map.get(name.as_str()) {
            Some(before) if *before == value => {}
            before => out.push(Item {
                name: name.clone(),
                old: before.map(|b| (*b).to_owned()),
                new: Some(value.clone()),
            }),
        }
    }
    for (name, value) in old {
        if !new_map.contains_key(name.as_str()) {
            out.push(Item {
                name: name.clone(),
                old: Some(value.clone()),
                new: None,
            });
        }
    }
    out
}

/// What differs between the two stacks, scope by scope: the stack first, then the
/// components, then the apps, each sorted by name. `old` is `None` when there was no
/// stack before (everything is new).
pub fn changes(old: Option<&Facts>, new: &Facts) -> Vec<ScopeChanges> {
    let mut out = Vec::new();
    let stack_new = stack_items(new);
    let (status, items) = match old {
        Some(old) => (Status::Changed, diff_items(&stack_items(old), &stack_new)),
        None => (Status::Added, diff_items(&[], &stack_new)),
    };
    if !items.is_empty() {
        out.push(ScopeChanges {
            scope: Scope::stack(),
            status,
            items,
        });
    }
    let empty = BTreeMap::new();
    let old_services = old.map_or(&empty, |o| &o.services);
    let old_project = old.map_or("", |o| o.project.as_str());
    let scopes: BTreeSet<&Scope> = old_services.keys().chain(new.services.keys()).collect();
    for scope in scopes {
        let before = old_services
            .get(scope)
            .map(|s| service_items(s, old_project));
        let after = new
            .services
            .get(scope)
            .map(|s| service_items(s, &new.project));
        let (status, items) = match (before, after) {
            (None, Some(after)) => (Status::Added, diff_items(&[], &after)),
            (Some(before), None) => (Status::Removed, diff_items(&before, &[])),
            (Some(before), Some(after)) => (Status::Changed, diff_items(&before, &after)),
            (None, None) => continue,
        };
        if !items.is_empty() {
            out.push(ScopeChanges {
                scope: scope.clone(),
                status,
                items,
            });
        }
    }
    out
}

/// Lines added and removed in one generated file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileStat {
    pub path: String,
    pub status: Status,
    pub added: usize,
    pub removed: usize,
}

/// One line per generated file that differs between the two trees.
pub fn file_stats(old: &[OutputFile], new: &[OutputFile]) -> Vec<FileStat> {
    let old_map: BTreeMap<&str, &str> = old
        .iter()
        .map(|f| (f.path.as_str(), f.contents.as_str()))
        .collect();
    let new_map: BTreeMap<&str, &str> = new
        .iter()
        .map(|f| (f.path.as_str(), f.contents.as_str()))
        .collect();
    let paths: BTreeSet<&str> = old_map.keys().chain(new_map.keys()).copied().collect();
    let mut out = Vec::new();
    for path in paths {
        let (before, after) = (old_map.get(path), new_map.get(path));
        if before == after {
            continue;
        }
        let status = match (before, after) {
            (None, _) => Status::Added,
            (_, None) => Status::Removed,
            _ => Status::Changed,
        };
        // No deadline: a diff cut short by one would make the counts depend on the machine.
        let diff = similar::TextDiff::configure()
            .algorithm(similar::Algorithm::Patience)
            .diff_lines(before.copied().unwrap_or(""), after.copied().unwrap_or(""));
        let (mut added, mut removed) = (0, 0);
        for change in diff.iter_all_changes() {
            match change.tag() {
                similar::ChangeTag::Insert => added += 1,
                similar::ChangeTag::Delete => removed += 1,
                similar::ChangeTag::Equal => {}
            }
        }
        out.push(FileStat {
            path: path.to_owned(),
            status,
            added,
            removed,
        });
    }
    out
}

/// How bad a risk is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        })
    }
}

/// One risk: a rule that fired, where, and why it matters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's id (`retention-lowered`).
    pub rule: &'static str,
    pub severity: Severity,
    pub scope: Scope,
    /// What within the scope: `retention`, `published`, a variable, a dashboard uid.
    pub subject: String,
    /// What changes, in a few words.
    pub summary: String,
    /// Why it matters for the running stack, and what to do.
    pub why: String,
}

impl Finding {
    /// `high retention-lowered component loki: retention`: what tests compare.
    pub fn key(&self) -> String {
        format!(
            "{} {} {}: {}",
            self.severity, self.rule, self.scope, self.subject
        )
    }
}

/// The two sides of a review: where each stack was read from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Side {
    /// `HEAD~1:stack.toml` or a file path.
    pub source: String,
    /// `false` when the file did not exist there (a stack's first pull request).
    pub present: bool,
}

/// Counts for the summary line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    /// Items changed, over every scope.
    pub changes: usize,
    /// Generated files that differ.
    pub files: usize,
}

/// The whole review; `--format json` prints it (`schema/diff-report.schema.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The version of this JSON shape.
    pub version: u32,
    pub old: Side,
    pub new: Side,
    pub summary: Summary,
    /// Most severe first.
    pub risks: Vec<Finding>,
    pub changes: Vec<ScopeChanges>,
    /// The generated tree of the old stack against that of the new one.
    pub files: Vec<FileStat>,
}

impl Report {
    /// Whether the running stack or the generated files change at all.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.files.is_empty()
    }

    /// The most severe risk, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.risks.iter().map(|r| r.severity).max()
    }
}

/// Compares two resolved stacks (`old` is `None` when there was none). Both trees are
/// rendered with the same `options`, so that only the stacks' contents make a difference.
pub fn review(
    old: Option<&Stack>,
    new: &Stack,
    options: &targets::Options,
    sides: (Side, Side),
) -> anyhow::Result<Report> {
    let new_files = emit::with_manifest(targets::render(new, options)?);
    let new_facts = facts(new, &new_files)?;
    let (old_files, old_facts) = match old {
        Some(old) => {
            let files = emit::with_manifest(targets::render(old, options)?);
            let facts = facts(old, &files)?;
            (files, Some(facts))
        }
        None => (Vec::new(), None),
    };
    let risks = rules::risks(old_facts.as_ref(), &new_facts);
    let changes = changes(old_facts.as_ref(), &new_facts);
    let files = file_stats(&old_files, &new_files);
    let count = |s: Severity| risks.iter().filter(|r| r.severity == s).count();
    let summary = Summary {
        high: count(Severity::High),
        medium: count(Severity::Medium),
        low: count(Severity::Low),
        changes: changes.iter().map(|c| c.items.len()).sum(),
        files: files.len(),
    };
    Ok(Report {
        version: 1,
        old: sides.0,
        new: sides.1,
        summary,
        risks,
        changes,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_skip_strings_and_take_subqueries() {
        assert_eq!(
            ranges(r#"sum(rate(m{a=~"[0-9]+"}[$__rate_interval])) + max_over_time(x[1h:5m])"#),
            vec!["$__rate_interval", "1h:5m"]
        );
        assert!(ranges("up").is_empty());
    }

    #[test]
    fn windows_follow_grafana() {
        let ti = Duration::from_secs(15);
        assert_eq!(
            window("$__rate_interval", ti),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            window("${__rate_interval}", ti),
            Some(Duration::from_secs(60))
        );
        assert_eq!(window("$__interval", ti), Some(ti));
        assert_eq!(window("5m", ti), Some(Duration::from_secs(300)));
        assert_eq!(window("1h:5m", ti), Some(Duration::from_secs(3600)));
        assert_eq!(window("$__range", ti), None);
    }

    #[test]
    fn loopback() {
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("127.1.2.3"));
        assert!(is_loopback("::1"));
        assert!(!is_loopback("0.0.0.0"));
        assert!(!is_loopback("::"));
        assert!(!is_loopback("192.168.1.10"));
        assert!(!is_loopback("localhost"));
    }

    #[test]
    fn items_diff_by_name() {
        let old = vec![
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned()),
        ];
        let new = vec![
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "3".to_owned()),
            ("c".to_owned(), "4".to_owned()),
        ];
        let names: Vec<_> = diff_items(&old, &new)
            .into_iter()
            .map(|i| format!("{}:{:?}->{:?}", i.name, i.old, i.new))
            .collect();
        assert_eq!(names, ["b:Some(\"2\")->Some(\"3\")", "c:None->Some(\"4\")"]);
        assert_eq!(diff_items(&new, &old).len(), 2);
    }
}
