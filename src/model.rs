//! Step 3: the resolved `Stack`. Every default applied, every duration parsed, every name
//! sanitised once. Only these types reach the renderers in `targets`.

use std::collections::BTreeMap;

use crate::duration::Duration;
pub use crate::raw::SslMode;
use crate::wiring::service;

/// Image tags stackc is tested with; `[versions]` overrides them.
pub mod defaults {
    pub const ALLOY: &str = "v1.18.1";
    pub const PROMETHEUS: &str = "v3.14.0";
    pub const LOKI: &str = "3.7.6";
    pub const TEMPO: &str = "3.0.3";
    pub const GRAFANA: &str = "13.2.0";
    pub const POSTGRES: &str = "18";
    pub const NODE_EXPORTER: &str = "v1.12.1";
    pub const CADVISOR: &str = "0.60.5";
    pub const ALERTMANAGER: &str = "v0.35.1";

    pub const NAME: &str = "demo";
    pub const BIND: &str = "127.0.0.1";
    pub const SCRAPE_INTERVAL: &str = "15s";
    pub const METRICS_RETENTION: &str = "15d";
    pub const LOGS_RETENTION: &str = "31d";
    pub const TRACES_RETENTION: &str = "48h";
    pub const POLL_INTERVAL: &str = "60s";
    pub const LOOKBACK: &str = "2m";
    pub const DATABASE: &str = "usage_stats";
    pub const APP_PORT: u16 = 8080;
    pub const METRICS_PATH: &str = "/metrics";
    pub const GROUP_WAIT: &str = "30s";
    pub const GROUP_INTERVAL: &str = "5m";
    pub const REPEAT_INTERVAL: &str = "4h";
}

/// The whole stack, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stack {
    /// Compose project name and `compose_project` label.
    pub name: String,
    /// Host address every published port binds to.
    pub bind: String,
    pub metrics: Metrics,
    pub logs: Logs,
    pub traces: Traces,
    /// `None` when `[usage] enabled = false`: no scraper, database or datasource.
    pub usage: Option<Usage>,
    pub ports: Ports,
    pub versions: Versions,
    pub grafana: Grafana,
    /// Sorted by name.
    pub apps: Vec<App>,
    /// `[alerts]`: receivers and routes (the rules themselves come from the stack).
    pub alerts: Alerts,
    /// `[components]`: node-exporter and cAdvisor on or off.
    pub components: Components,
}

/// Alertmanager's routing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alerts {
    /// Receivers by name, sorted.
    pub receivers: Vec<Receiver>,
    /// The root route's receiver; `None` = the built-in receiver that notifies no one.
    pub default_receiver: Option<String>,
    /// Receiver of `severity="critical"`, when it differs from the default.
    pub critical_receiver: Option<String>,
    /// Receiver of `severity="warning"`, when it differs from the default.
    pub warning_receiver: Option<String>,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
}

impl Alerts {
    /// Every `.env` variable a receiver reads, sorted, each once.
    pub fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> =
            self.receivers
                .iter()
                .filter_map(|r| match &r.kind {
                    ReceiverKind::Email {
                        password_secret, ..
                    } => password_secret.clone(),
                    ReceiverKind::Webhook { url_secret }
                    | ReceiverKind::Slack { url_secret, .. } => Some(url_secret.clone()),
                })
                .collect();
        out.sort();
        out.dedup();
        out
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receiver {
    pub name: String,
    pub kind: ReceiverKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiverKind {
    Email {
        to: String,
        from: String,
        smarthost: String,
        auth_username: Option<String>,
        /// The `.env` variable holding the SMTP password.
        password_secret: Option<String>,
        require_tls: bool,
    },
    /// The `.env` variable holding the URL.
    Webhook { url_secret: String },
    Slack {
        url_secret: String,
        channel: Option<String>,
    },
}

/// One service-level objective of an app, measured on its server spans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slo {
    /// `availability`, or the latency percentile key (`p95`, `p99`, `p999`).
    pub key: &'static str,
    /// The objective in parts per million (99.5 % = 995_000), below 1_000_000.
    pub objective_ppm: u32,
    /// `None`: availability (requests not ending in an error); `Some`: latency, the
    /// threshold requests must be faster than.
    pub latency: Option<Duration>,
}

impl Slo {
    /// The objective as a fraction, e.g. `0.995`.
    pub fn objective(&self) -> f64 {
        f64::from(self.objective_ppm) / 1e6
    }

    /// The error budget, e.g. `0.005`.
    pub fn budget(&self) -> f64 {
        f64::from(1_000_000 - self.objective_ppm) / 1e6
    }

    /// `99.5%` as written back for people.
    pub fn objective_text(&self) -> String {
        let mut text = format!("{:.4}", f64::from(self.objective_ppm) / 1e4);
        while text.ends_with('0') {
            text.pop();
        }
        if text.ends_with('.') {
            text.pop();
        }
        format!("{text}%")
    }

    /// The `slo` label: `availability`, `latency-p99`.
    pub fn name(&self) -> String {
        match self.latency {
            None => self.key.to_owned(),
            Some(_) => format!("latency-{}", self.key),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metrics {
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub retention: Duration,
    /// `[metrics] external_labels`, besides `compose_project`.
    pub external_labels: BTreeMap<String, String>,
    /// `[[metrics.scrape]]` jobs, in file order.
    pub extra_scrapes: Vec<ExtraScrape>,
    /// `[[metrics.remote_write]]` endpoints, in file order.
    pub remote_writes: Vec<RemoteWrite>,
}

/// A remote-write endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteWrite {
    pub url: String,
    pub name: String,
    pub auth: RemoteWriteAuth,
}

/// How a remote-write endpoint authenticates; secrets are `.env` variable names, read by
/// Prometheus from `/run/secrets/<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteWriteAuth {
    None,
    Basic { username: String, secret: String },
    Bearer { secret: String },
}

impl Metrics {
    /// The `.env` variables Prometheus reads as files (remote-write credentials), sorted.
    pub fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .remote_writes
            .iter()
            .filter_map(|r| match &r.auth {
                RemoteWriteAuth::None => None,
                RemoteWriteAuth::Basic { secret, .. } | RemoteWriteAuth::Bearer { secret } => {
                    Some(secret.clone())
                }
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// A scrape job of targets outside compose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraScrape {
    pub job: String,
    pub targets: Vec<String>,
    pub path: Option<String>,
    /// `https`; `None` is Prometheus's default, http.
    pub https: bool,
    pub interval: Option<Duration>,
    pub labels: BTreeMap<String, String>,
}

/// `[grafana]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grafana {
    pub root_url: Option<String>,
    pub plugins: Vec<String>,
    pub anonymous: bool,
    pub smtp: Option<Smtp>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Smtp {
    pub host: String,
    pub user: Option<String>,
    /// The host variable holding the password.
    pub password_secret: Option<String>,
    pub from: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logs {
    pub retention: Duration,
    /// `[logs] level_field`: a JSON field tried first for the level, dotted for nesting.
    pub level_field: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Traces {
    pub retention: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Usage {
    pub poll_interval: Duration,
    pub lookback: Duration,
    pub database: String,
    /// The scraper's image reference: `[usage] image`, else stackc's published image at
    /// `[versions] usage_scraper`; when built, the local name the build is tagged with.
    pub image: String,
    /// `[usage] build = true`: the `usage-scraper` crate version the generated Dockerfile
    /// installs. `None`: compose pulls `image`.
    pub build: Option<String>,
    /// `[components.postgres]`: the external database events go to. `None`: the stack's
    /// own PostgreSQL container.
    pub external_db: Option<ExternalDb>,
}

/// An external PostgreSQL for usage events (`[components.postgres]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalDb {
    pub host: String,
    pub port: u16,
    pub sslmode: SslMode,
    /// The CA file, relative to `stack.toml`'s folder or absolute (never a named volume).
    pub root_cert: Option<VolumeSource>,
}

/// Which of the stack's optional services run (`[components]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Components {
    pub node_exporter: bool,
    pub cadvisor: bool,
}

impl Default for Components {
    fn default() -> Self {
        Self {
            node_exporter: true,
            cadvisor: true,
        }
    }
}

/// The stack's own compose services, in display order (dashboards, alerts): the fixed
/// core, then node-exporter and cAdvisor unless `[components]` turns them off, then the
/// usage scraper and its PostgreSQL while `[usage]` is on (PostgreSQL only when bundled).
/// The one list every target and the validator take the stack's services from.
pub fn own_services(
    components: &Components,
    usage: bool,
    bundled_postgres: bool,
) -> Vec<&'static str> {
    let mut out = vec![
        service::PROMETHEUS,
        service::ALLOY,
        service::LOKI,
        service::TEMPO,
        service::GRAFANA,
    ];
    if components.node_exporter {
        out.push(service::NODE_EXPORTER);
    }
    if components.cadvisor {
        out.push(service::CADVISOR);
    }
    out.push(service::ALERTMANAGER);
    if usage {
        out.push(service::USAGE_SCRAPER);
        if bundled_postgres {
            out.push(service::POSTGRES);
        }
    }
    out
}

impl Stack {
    /// The stack's own compose services that run, in display order (`own_services`).
    pub fn services(&self) -> Vec<&'static str> {
        own_services(
            &self.components,
            self.usage.is_some(),
            self.bundled_postgres(),
        )
    }

    /// Whether the stack runs its own service `name` (a `wiring::service` name).
    pub fn runs(&self, name: &str) -> bool {
        self.services().contains(&name)
    }

    /// Whether usage events go to the stack's own PostgreSQL container.
    pub fn bundled_postgres(&self) -> bool {
        self.usage.as_ref().is_some_and(|u| u.external_db.is_none())
    }
}

/// The stack's own services that can publish a host port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PortKey {
    Grafana,
    Prometheus,
    Loki,
    Tempo,
    Alloy,
    OtlpGrpc,
    OtlpHttp,
    Postgres,
    NodeExporter,
    Cadvisor,
    Alertmanager,
}

impl PortKey {
    pub const ALL: [PortKey; 11] = [
        PortKey::Grafana,
        PortKey::Prometheus,
        PortKey::Loki,
        PortKey::Tempo,
        PortKey::Alloy,
        PortKey::OtlpGrpc,
        PortKey::OtlpHttp,
        PortKey::Postgres,
        PortKey::NodeExporter,
        PortKey::Cadvisor,
        PortKey::Alertmanager,
    ];

    /// The key's name in `[ports]`.
    pub fn key(self) -> &'static str {
        match self {
            PortKey::Grafana => "grafana",
            PortKey::Prometheus => "prometheus",
            PortKey::Loki => "loki",
            PortKey::Tempo => "tempo",
            PortKey::Alloy => "alloy",
            PortKey::OtlpGrpc => "otlp_grpc",
            PortKey::OtlpHttp => "otlp_http",
            PortKey::Postgres => "postgres",
            PortKey::NodeExporter => "node_exporter",
            PortKey::Cadvisor => "cadvisor",
            PortKey::Alertmanager => "alertmanager",
        }
    }

    /// The default host port (and, except for PostgreSQL, the container port).
    pub fn default_port(self) -> u16 {
        match self {
            PortKey::Grafana => 3000,
            PortKey::Prometheus => 9090,
            PortKey::Loki => 3100,
            PortKey::Tempo => 3200,
            PortKey::Alloy => 12345,
            PortKey::OtlpGrpc => 4317,
            PortKey::OtlpHttp => 4318,
            PortKey::Postgres => 5433,
            PortKey::NodeExporter => 9100,
            PortKey::Cadvisor => 8080,
            PortKey::Alertmanager => 9093,
        }
    }

    /// The compose service that publishes this port.
    pub fn service(self) -> &'static str {
        match self {
            PortKey::Grafana => service::GRAFANA,
            PortKey::Prometheus => service::PROMETHEUS,
            PortKey::Loki => service::LOKI,
            PortKey::Tempo => service::TEMPO,
            PortKey::Alloy | PortKey::OtlpGrpc | PortKey::OtlpHttp => service::ALLOY,
            PortKey::Postgres => service::POSTGRES,
            PortKey::NodeExporter => service::NODE_EXPORTER,
            PortKey::Cadvisor => service::CADVISOR,
            PortKey::Alertmanager => service::ALERTMANAGER,
        }
    }

    /// The port the service listens on inside its container.
    pub fn container_port(self) -> u16 {
        match self {
            PortKey::Postgres => 5432,
            other => other.default_port(),
        }
    }
}

/// Host ports, `None` = not published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ports {
    pub host: BTreeMap<PortKey, Option<u16>>,
}

impl Ports {
    pub fn get(&self, key: PortKey) -> Option<u16> {
        self.host.get(&key).copied().flatten()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versions {
    pub alloy: String,
    pub prometheus: String,
    pub loki: String,
    pub tempo: String,
    pub grafana: String,
    pub postgres: String,
    pub node_exporter: String,
    pub cadvisor: String,
    /// Tag (and, when built, crate version) of stackc's usage scraper.
    pub usage_scraper: String,
    pub alertmanager: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppSource {
    /// A registry image reference.
    Image(String),
    /// A build context, relative to the directory of `stack.toml`, `/`-separated.
    Build(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct App {
    /// The compose service name, as written in `stack.toml`.
    pub name: String,
    /// `name` made a valid Alloy identifier / block label (`my-app` -> `my_app`).
    pub ident: String,
    pub source: AppSource,
    /// Container port serving HTTP and `/metrics`.
    pub port: u16,
    /// Set when Prometheus scrapes the app (`metrics = true` or "scrape", the default).
    pub scrape: Option<Scrape>,
    /// Inject the OpenTelemetry SDK variables pointing at Alloy (`otlp`, default true).
    pub otlp: bool,
    /// The app pushes its metrics over OTLP (`metrics = "otlp"`); implies `otlp`.
    pub otlp_metrics: bool,
    /// Its logs come from its SDK over OTLP (`logs = "otlp"`), not from stdout/stderr.
    pub otlp_logs: bool,
    /// Host port the app's port is published on.
    pub publish: Option<u16>,
    /// Literal environment.
    pub env: BTreeMap<String, String>,
    /// Secrets: the name the app reads -> the host variable (from `.env`) it comes from.
    pub secrets: BTreeMap<String, String>,
    /// compose's `pull_policy` (`missing`, `always`, `never`); `None` leaves compose's default.
    pub pull_policy: Option<&'static str>,
    /// Container port Prometheus scrapes (`metrics_port`, default `port`).
    pub metrics_port: u16,
    /// More container ports (`ports`).
    pub ports: Vec<AppPort>,
    /// `command` and `entrypoint`.
    pub command: Option<Command>,
    pub entrypoint: Option<Command>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    /// `volumes`, in file order.
    pub volumes: Vec<Volume>,
    /// Apps started first, sorted.
    pub depends_on: Vec<String>,
    pub healthcheck: Option<Healthcheck>,
    /// Container labels.
    pub labels: BTreeMap<String, String>,
    /// Prometheus target labels of the app's scrape job.
    pub target_labels: BTreeMap<String, String>,
    /// Memory (compose's byte units) and CPU limits.
    pub memory: Option<String>,
    pub cpus: Option<String>,
    /// `build` table options beside the context.
    pub build_options: BuildOptions,
    /// `[apps.x.slo]`: availability first, then latency objectives by percentile.
    pub slos: Vec<Slo>,
}

/// One more container port of an app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppPort {
    pub container: u16,
    pub publish: Option<u16>,
    pub udp: bool,
}

/// `command`/`entrypoint`: exec form or shell form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Exec(Vec<String>),
    Shell(String),
}

/// One of an app's volumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    pub source: VolumeSource,
    pub target: String,
    pub read_only: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VolumeSource {
    /// A named volume, declared at the top level of compose.yaml.
    Named(String),
    /// A host path relative to the directory of `stack.toml` (`/`-separated, inside it).
    Relative(String),
    /// An absolute host path.
    Absolute(String),
}

/// An app's health check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Healthcheck {
    pub test: HealthTest,
    pub interval: Duration,
    pub retries: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthTest {
    /// A path fetched on the app's `port`.
    Http(String),
    /// A command, exec form.
    Cmd(Vec<String>),
}

/// `build = { dockerfile, target, args }`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildOptions {
    pub dockerfile: Option<String>,
    pub target: Option<String>,
    pub args: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scrape {
    pub path: String,
    /// Set when the app has its own interval (else the global one applies).
    pub interval: Option<Duration>,
    /// Set when it differs from the global timeout, or the app has its own interval.
    pub timeout: Option<Duration>,
}

/// Makes a name a valid Alloy identifier, as Alloy's own `SanitizeIdentifier` does: every
/// character that is not a letter, digit or `_` becomes `_`, and a leading digit (or a
/// keyword) gets a `_` prefix.
pub fn sanitize_ident(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty()
        || out.starts_with(|c: char| c.is_ascii_digit())
        || matches!(out.as_str(), "true" | "false" | "null")
    {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitises_like_alloy() {
        assert_eq!(sanitize_ident("dice-roller"), "dice_roller");
        assert_eq!(sanitize_ident("my.app"), "my_app");
        assert_eq!(sanitize_ident("9lives"), "_9lives");
        assert_eq!(sanitize_ident("null"), "_null");
        assert_eq!(sanitize_ident("Web_2"), "Web_2");
    }

    #[test]
    fn ports_default_to_the_seed() {
        assert_eq!(PortKey::Postgres.default_port(), 5433);
        assert_eq!(PortKey::Postgres.container_port(), 5432);
        assert_eq!(PortKey::ALL.len(), 11);
    }
}
