//! `raw::*` mirrors `stack.toml` exactly: every key optional, unknown keys refused, spans
//! kept for messages. Nothing here has defaults applied; `model` does that. These types are
//! also the source of `schema/stack.schema.json` (schemars), so a doc comment on a field is
//! the description an editor shows for that key.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

/// A `stack.toml`: one observability stack and the apps it watches.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(title = "stackc stack.toml")]
pub struct StackFile {
    /// The stack as a whole: compose project name and host bind address.
    pub stack: Option<StackSection>,
    /// Prometheus: scrape interval and retention.
    pub metrics: Option<MetricsSection>,
    /// Loki: log retention.
    pub logs: Option<LogsSection>,
    /// Tempo: trace retention.
    pub traces: Option<TracesSection>,
    /// The usage-stats scraper (Loki to PostgreSQL).
    pub usage: Option<UsageSection>,
    /// Host-published ports of the stack's own services; `false` keeps one unpublished.
    pub ports: Option<PortsSection>,
    /// Image tags of the stack's own services.
    pub versions: Option<VersionsSection>,
    /// Grafana: public URL, plugins, anonymous viewers, e-mail.
    pub grafana: Option<GrafanaSection>,
    /// The applications to observe, by compose service name.
    #[schemars(with = "Option<BTreeMap<String, App>>")]
    pub apps: Option<BTreeMap<Spanned<String>, App>>,
    /// Alert routing: Alertmanager's receivers and which severity goes where. Without it,
    /// alerts still fire and are visible in Grafana and Alertmanager's UI.
    pub alerts: Option<AlertsSection>,
    /// The stack's own services that can be left out (node-exporter, cAdvisor) or replaced
    /// (the usage database, by an external PostgreSQL).
    pub components: Option<ComponentsSection>,
}

/// `[components]`: which of the stack's own services run.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ComponentsSection {
    /// `false` runs no node-exporter: no machine panels on the host dashboard, no disk
    /// alerts (for hosts that already export node metrics elsewhere). Default `true`.
    #[schemars(with = "Option<bool>")]
    pub node_exporter: Option<Spanned<bool>>,
    /// `false` runs no cAdvisor: no per-container CPU, memory and network panels, no
    /// restart alerts. Default `true`.
    #[schemars(with = "Option<bool>")]
    pub cadvisor: Option<Spanned<bool>>,
    /// The usage events' database. `true` (default): a PostgreSQL container of the stack.
    /// A table `{ host, port, sslmode, root_cert }`: an external PostgreSQL (a managed
    /// database) instead; the roles' passwords still come from `.env`.
    pub postgres: Option<PostgresSetting>,
}

/// `[components] postgres`: `true` for the bundled database, or where the external one is.
/// Spans come from the span map by pointer (`/components/postgres/<key>`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PostgresSetting {
    Bundled(bool),
    External(ExternalPostgres),
}

impl JsonSchema for PostgresSetting {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PostgresSetting".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let table = generator.subschema_for::<ExternalPostgres>();
        schemars::json_schema!({
            "description": "`true`: the stack runs PostgreSQL for usage events (default). A table: the external PostgreSQL to use instead.",
            "anyOf": [ { "type": "boolean" }, table ]
        })
    }
}

/// `[components.postgres]`: an external PostgreSQL for usage events. Create the database,
/// then run the generated `postgres/init/*.sql` in it once (see docs/stack-toml.md).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ExternalPostgres {
    /// Host name or address, e.g. "usage-db.internal.example.com".
    pub host: String,
    /// Port (default 5432).
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
    /// TLS, with libpq's meaning: "verify-full" (default: encrypted, certificate and host
    /// name checked), "require" (encrypted; the certificate is checked against `root_cert`
    /// when given, the host name is not) or "disable".
    pub sslmode: Option<SslMode>,
    /// A PEM file of the CA that signed the server's certificate, relative to stack.toml or
    /// absolute, e.g. "certs/usage-db-ca.pem" (default: the system's CA certificates).
    pub root_cert: Option<String>,
}

/// How the usage scraper and Grafana use TLS to an external PostgreSQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    Require,
    VerifyFull,
}

impl SslMode {
    /// The value as libpq (and Grafana, and the scraper) spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Require => "require",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct AlertsSection {
    /// The receiver of every alert no severity route takes (default: none, alerts are only
    /// shown in Grafana and Alertmanager).
    #[schemars(with = "Option<String>")]
    pub default_receiver: Option<Spanned<String>>,
    /// The receiver of `severity="critical"` alerts (pages), e.g. "pager". Default: `default_receiver`.
    #[schemars(with = "Option<String>")]
    pub critical_receiver: Option<Spanned<String>>,
    /// The receiver of `severity="warning"` alerts (tickets), e.g. "team-email". Default: `default_receiver`.
    #[schemars(with = "Option<String>")]
    pub warning_receiver: Option<Spanned<String>>,
    /// How long Alertmanager waits to batch the first alerts of a group (default "30s").
    #[schemars(with = "Option<DurationText>")]
    pub group_wait: Option<Spanned<String>>,
    /// How long it waits before telling about new alerts of a group (default "5m").
    #[schemars(with = "Option<DurationText>")]
    pub group_interval: Option<Spanned<String>>,
    /// How long before an alert still firing is sent again (default "4h").
    #[schemars(with = "Option<DurationText>")]
    pub repeat_interval: Option<Spanned<String>>,
    /// Where notifications go, by receiver name.
    #[schemars(with = "Option<BTreeMap<String, Receiver>>")]
    pub receivers: Option<BTreeMap<Spanned<String>, Receiver>>,
}

/// One Alertmanager receiver. Credentials never appear in stack.toml: a `*_secret` key
/// names the `.env` variable that holds them.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Receiver {
    /// "email", "webhook" or "slack" (any Slack-compatible incoming webhook).
    #[schemars(with = "Option<ReceiverKind>")]
    pub kind: Option<Spanned<ReceiverKind>>,
    /// email: recipient address(es), e.g. "oncall@example.com".
    #[schemars(with = "Option<String>")]
    pub to: Option<Spanned<String>>,
    /// email: sender address.
    #[schemars(with = "Option<String>")]
    pub from: Option<Spanned<String>>,
    /// email: SMTP server as `host:port`, e.g. "smtp.example.com:587".
    #[schemars(with = "Option<String>")]
    pub smarthost: Option<Spanned<String>>,
    /// email: SMTP user name.
    #[schemars(with = "Option<String>")]
    pub auth_username: Option<Spanned<String>>,
    /// email: the `.env` variable holding the SMTP password, e.g. "SMTP_PASSWORD".
    #[schemars(with = "Option<String>")]
    pub auth_password_secret: Option<Spanned<String>>,
    /// email: require STARTTLS (default `true`).
    #[schemars(with = "Option<bool>")]
    pub require_tls: Option<Spanned<bool>>,
    /// webhook, slack: the `.env` variable holding the URL, e.g. "ALERT_WEBHOOK_URL".
    #[schemars(with = "Option<String>")]
    pub url_secret: Option<Spanned<String>>,
    /// slack: the channel, e.g. "#alerts" (default: the webhook's own).
    #[schemars(with = "Option<String>")]
    pub channel: Option<Spanned<String>>,
    /// Refused: a webhook URL is a credential. Put it in `.env` and name it with `url_secret`.
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<String>>,
    /// Refused: put the password in `.env` and name it with `auth_password_secret`.
    #[schemars(with = "Option<String>")]
    pub auth_password: Option<Spanned<String>>,
}

/// What kind of receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiverKind {
    Email,
    Webhook,
    Slack,
}

impl ReceiverKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiverKind::Email => "email",
            ReceiverKind::Webhook => "webhook",
            ReceiverKind::Slack => "slack",
        }
    }
}

/// An app's service-level objectives, measured on its server spans (Tempo's span metrics).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Slo {
    /// Share of requests that must succeed (not end in an error span), e.g. "99.5%".
    #[schemars(with = "Option<String>")]
    pub availability: Option<Spanned<String>>,
    /// Latency objectives by percentile, e.g. `{ p99 = "500ms" }`: 99 % of requests faster
    /// than 500 ms.
    pub latency: Option<LatencySlo>,
}

/// Latency thresholds by percentile (`p95`, `p99`, `p999` = 99.9 %).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct LatencySlo {
    /// 95 % of requests faster than this duration.
    #[schemars(with = "Option<DurationText>")]
    pub p95: Option<Spanned<String>>,
    /// 99 % of requests faster than this duration.
    #[schemars(with = "Option<DurationText>")]
    pub p99: Option<Spanned<String>>,
    /// 99.9 % of requests faster than this duration.
    #[schemars(with = "Option<DurationText>")]
    pub p999: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct StackSection {
    /// Compose project name and the `compose_project` label: `[a-z0-9][a-z0-9_-]*`.
    #[schemars(with = "Option<String>", regex(pattern = r"^[a-z0-9][a-z0-9_-]*$"))]
    pub name: Option<Spanned<String>>,
    /// Host address every published port binds to; "0.0.0.0" is an explicit opt-in.
    #[schemars(with = "Option<String>")]
    pub bind: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct MetricsSection {
    /// Global Prometheus scrape interval, e.g. "15s".
    #[schemars(with = "Option<DurationText>")]
    pub scrape_interval: Option<Spanned<String>>,
    /// Global scrape timeout; at most the interval. Default: the smaller of 10s and the interval.
    #[schemars(with = "Option<DurationText>")]
    pub scrape_timeout: Option<Spanned<String>>,
    /// Prometheus TSDB retention, e.g. "15d".
    #[schemars(with = "Option<DurationText>")]
    pub retention: Option<Spanned<String>>,
    /// Labels added to every series Prometheus sends elsewhere (remote write, federation,
    /// alerts), e.g. `{ env = "prod", region = "eu-1" }`; `compose_project` is stackc's.
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    pub external_labels: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    /// Extra scrape jobs for targets outside compose (`[[metrics.scrape]]`).
    pub scrape: Option<Vec<ExtraScrape>>,
    /// Also send every series to a hosted backend (`[[metrics.remote_write]]`).
    pub remote_write: Option<Vec<RemoteWrite>>,
}

/// One `[[metrics.remote_write]]` endpoint; credentials come from secrets, never inline.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RemoteWrite {
    /// The endpoint, e.g. `"https://prometheus.example.net/api/prom/push"`.
    #[schemars(with = "String")]
    pub url: Spanned<String>,
    /// A name for Prometheus's own remote-write metrics (default: the host of `url`).
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// Basic auth: the user, with `password_secret`.
    #[schemars(with = "Option<String>")]
    pub username: Option<Spanned<String>>,
    /// Basic auth: the `.env` variable holding the password.
    #[schemars(with = "Option<String>")]
    pub password_secret: Option<Spanned<String>>,
    /// The `.env` variable holding a bearer token (instead of basic auth).
    #[schemars(with = "Option<String>")]
    pub bearer_token_secret: Option<Spanned<String>>,
}

/// One `[[metrics.scrape]]` job: static targets outside the compose project.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ExtraScrape {
    /// The job name (the `job` label); unique among apps, the stack's jobs and each other.
    #[schemars(with = "String")]
    pub job: Spanned<String>,
    /// `host:port` targets, e.g. ["db.internal:9187"].
    #[schemars(with = "Vec<String>")]
    pub targets: Spanned<Vec<Spanned<String>>>,
    /// Path scraped (default "/metrics").
    #[schemars(with = "Option<String>")]
    pub metrics_path: Option<Spanned<String>>,
    /// "http" (default) or "https".
    pub scheme: Option<Scheme>,
    /// This job's interval, 1s to 1h (default: `[metrics] scrape_interval`).
    #[schemars(with = "Option<DurationText>")]
    pub scrape_interval: Option<Spanned<String>>,
    /// Labels added to every target of the job.
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    pub labels: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
}

/// A scrape scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    Http,
    Https,
}

/// `[grafana]`: what teams change most about Grafana.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct GrafanaSection {
    /// The URL users reach Grafana at, behind a proxy, e.g. `"https://grafana.example.com/"`
    /// (links in e-mails and redirects use it).
    #[schemars(with = "Option<String>")]
    pub root_url: Option<Spanned<String>>,
    /// Plugins installed when Grafana starts: ids, optionally `id@version`, e.g.
    /// `["grafana-clock-panel", "grafana-piechart-panel@1.6.4"]`.
    #[schemars(with = "Option<Vec<String>>")]
    pub plugins: Option<Vec<Spanned<String>>>,
    /// `true` lets anyone who reaches Grafana view dashboards without a login (as a
    /// Viewer); default `false`.
    #[schemars(with = "Option<bool>")]
    pub anonymous: Option<Spanned<bool>>,
    /// E-mail for Grafana (invites, alert notifications).
    pub smtp: Option<Smtp>,
}

/// `[grafana.smtp]`: Grafana's mail server; the password comes from a secret.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Smtp {
    /// `host:port` of the mail server, e.g. "smtp.example.com:587".
    #[schemars(with = "String")]
    pub host: Spanned<String>,
    /// The user to log in as.
    #[schemars(with = "Option<String>")]
    pub user: Option<Spanned<String>>,
    /// The host variable (from `.env`) that holds the password, e.g. "GRAFANA_SMTP_PASSWORD".
    #[schemars(with = "Option<String>")]
    pub password_secret: Option<Spanned<String>>,
    /// The sender address, e.g. "grafana@example.com".
    #[schemars(with = "Option<String>")]
    pub from: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct LogsSection {
    /// Loki retention, enforced by the compactor, e.g. "31d"; whole hours, at least 24h.
    #[schemars(with = "Option<DurationText>")]
    pub retention: Option<Spanned<String>>,
    /// A JSON field your apps write their log level in, tried before the usual names
    /// (`level`, `lvl`, `severity`, `log.level`, ...), e.g. "loglevel"; dots separate
    /// nested objects ("log.severity" reads `{"log":{"severity":...}}`).
    #[schemars(
        with = "Option<String>",
        regex(pattern = r"^[A-Za-z_@][A-Za-z0-9_@-]*(\.[A-Za-z_@][A-Za-z0-9_@-]*)*$")
    )]
    pub level_field: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct TracesSection {
    /// Tempo block retention, e.g. "48h".
    #[schemars(with = "Option<DurationText>")]
    pub retention: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct UsageSection {
    /// `false` removes the scraper, its database and its Grafana datasource.
    pub enabled: Option<bool>,
    /// How often the scraper polls Loki, e.g. "60s".
    #[schemars(with = "Option<DurationText>")]
    pub poll_interval: Option<Spanned<String>>,
    /// How far behind its cursor each poll looks again, for late lines, e.g. "2m".
    #[schemars(with = "Option<DurationText>")]
    pub lookback: Option<Spanned<String>>,
    /// PostgreSQL database name: `[a-z_][a-z0-9_]*`, at most 63 characters.
    #[schemars(with = "Option<String>", regex(pattern = r"^[a-z_][a-z0-9_]*$"))]
    pub database: Option<Spanned<String>>,
    /// The scraper's whole image reference, e.g. "registry.example.com/usage-scraper:0.1.0".
    /// Default: stackc's published image, "ghcr.io/stackc-dev/stackc-usage-scraper", tagged
    /// `[versions] usage_scraper`. Not together with `build = true`.
    #[schemars(with = "Option<String>")]
    pub image: Option<Spanned<String>>,
    /// `true` builds the scraper instead of pulling it: `build` writes
    /// `usage-scraper/Dockerfile`, which installs the `usage-scraper` crate at `[versions]
    /// usage_scraper` from crates.io, and `docker compose build` needs nothing else.
    #[schemars(with = "Option<bool>")]
    pub build: Option<Spanned<bool>>,
}

/// One host port: a number, or `false` for "not published".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortSetting {
    Port(u16),
    Off,
}

impl<'de> Deserialize<'de> for PortSetting {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Port(u16),
            Flag(bool),
        }
        match Either::deserialize(deserializer)? {
            Either::Port(0) => Err(serde::de::Error::custom("port 0 is not a valid host port")),
            Either::Port(port) => Ok(PortSetting::Port(port)),
            Either::Flag(false) => Ok(PortSetting::Off),
            Either::Flag(true) => Err(serde::de::Error::custom(
                "expected a port number or `false`, found `true`",
            )),
        }
    }
}

impl JsonSchema for PortSetting {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PortSetting".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A host port (1-65535), or `false` to leave the service unpublished.",
            "anyOf": [
                { "type": "integer", "minimum": 1, "maximum": 65535 },
                { "const": false }
            ]
        })
    }
}

/// Schema-only stand-in for a duration string such as "15s", "2m", "48h" or "31d".
pub struct DurationText;

impl JsonSchema for DurationText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A duration: an integer and a unit (`ms`, `s`, `m`, `h`, `d`, `w`), largest unit first, e.g. \"15s\", \"1h30m\", \"31d\".",
            "type": "string",
            "pattern": "^([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$"
        })
    }
}

macro_rules! ports_section {
    ($($(#[doc = $doc:literal])* $name:ident),* $(,)?) => {
        #[derive(Debug, Default, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields, rename_all = "snake_case")]
        pub struct PortsSection {
            $(
                $(#[doc = $doc])*
                #[schemars(with = "Option<PortSetting>")]
                pub $name: Option<Spanned<PortSetting>>,
            )*
        }
    };
}

ports_section! {
    /// Grafana UI (default 3000).
    grafana,
    /// Prometheus UI and API (default 9090).
    prometheus,
    /// Loki API (default 3100).
    loki,
    /// Tempo API (default 3200).
    tempo,
    /// Alloy UI (default 12345).
    alloy,
    /// OTLP gRPC into Alloy (default 4317).
    otlp_grpc,
    /// OTLP HTTP into Alloy (default 4318).
    otlp_http,
    /// PostgreSQL for host tools (default 5433); in-network clients use 5432.
    postgres,
    /// node-exporter (default 9100).
    node_exporter,
    /// cAdvisor (default 8080).
    cadvisor,
    /// Alertmanager UI and API (default 9093).
    alertmanager,
}

macro_rules! versions_section {
    ($($(#[doc = $doc:literal])* $name:ident),* $(,)?) => {
        #[derive(Debug, Default, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields, rename_all = "snake_case")]
        pub struct VersionsSection {
            $(
                $(#[doc = $doc])*
                #[schemars(with = "Option<String>")]
                pub $name: Option<Spanned<String>>,
            )*
        }
    };
}

versions_section! {
    /// Tag of `grafana/alloy`.
    alloy,
    /// Tag of `prom/prometheus`.
    prometheus,
    /// Tag of `grafana/loki`.
    loki,
    /// Tag of `grafana/tempo` (3.x).
    tempo,
    /// Tag of `grafana/grafana`.
    grafana,
    /// Tag of `postgres`.
    postgres,
    /// Tag of `prom/node-exporter`.
    node_exporter,
    /// Tag of `ghcr.io/google/cadvisor`.
    cadvisor,
    /// Tag of stackc's usage-scraper image; default: this stackc's own version. With
    /// `[usage] build = true`, the crate version (e.g. "0.1.0") the Dockerfile installs.
    usage_scraper,
    /// Tag of `prom/alertmanager`.
    alertmanager,
}

/// One application container.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct App {
    /// Image to run, e.g. "ghcr.io/acme/dice-roller:1.4.2". Give `image` or `build`, not both.
    #[schemars(with = "Option<String>")]
    pub image: Option<Spanned<String>>,
    /// Build context, relative to stack.toml, e.g. "apps/dice-roller"; or a table
    /// `{ context = "apps/api", dockerfile = "Dockerfile.prod", target = "runtime",
    /// args = { NODE_VERSION = "22" } }`.
    pub build: Option<BuildSetting>,
    /// Container port serving HTTP (default 8080); `publish` publishes it.
    #[schemars(with = "Option<u16>", range(min = 1, max = 65535))]
    pub port: Option<Spanned<u16>>,
    /// Container port Prometheus scrapes (default: `port`), e.g. 9464 beside HTTP on 8080.
    #[schemars(with = "Option<u16>", range(min = 1, max = 65535))]
    pub metrics_port: Option<Spanned<u16>>,
    /// More container ports, each optionally published on a host port:
    /// `[{ container = 9000, publish = 9001 }, { container = 5353, protocol = "udp" }]`.
    pub ports: Option<Vec<AppPort>>,
    /// The container's command: a list (exec form) or a string (run by a shell).
    pub command: Option<CommandSetting>,
    /// The container's entrypoint: a list (exec form) or a string.
    pub entrypoint: Option<CommandSetting>,
    /// The working directory inside the container.
    #[schemars(with = "Option<String>")]
    pub working_dir: Option<Spanned<String>>,
    /// The user the container runs as, e.g. "10001:10001" or "node".
    #[schemars(with = "Option<String>")]
    pub user: Option<Spanned<String>>,
    /// Volumes in compose's short syntax: a named volume ("orders-data:/var/lib/postgresql"),
    /// declared at the top of compose.yaml, or a bind mount relative to stack.toml
    /// ("./config:/etc/app:ro", which must stay inside its folder) or absolute.
    #[schemars(with = "Option<Vec<String>>")]
    pub volumes: Option<Vec<Spanned<String>>>,
    /// Apps to start first; those with a `healthcheck` must be healthy first.
    #[schemars(with = "Option<Vec<String>>")]
    pub depends_on: Option<Vec<Spanned<String>>>,
    /// The container's health check: `{ http = "/healthz" }` (fetched on `port` with the
    /// image's wget or curl) or `{ cmd = ["pg_isready"] }`, with `interval` (default "10s")
    /// and `retries` (default 3).
    pub healthcheck: Option<Healthcheck>,
    /// Container labels.
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    pub labels: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    /// Labels Prometheus adds to every series scraped from the app, e.g. `{ team = "payments" }`.
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    pub target_labels: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    /// Limits, so one runaway app cannot starve the stack: `{ memory = "512m", cpus = 1.5 }`.
    pub resources: Option<Resources>,
    /// Path Prometheus scrapes (default "/metrics").
    #[schemars(with = "Option<String>")]
    pub metrics_path: Option<Spanned<String>>,
    /// Where the app's metrics come from: `true` or "scrape" (default: Prometheus scrapes
    /// `metrics_path`), "otlp" (the app pushes OTLP metrics to Alloy; not scraped), or
    /// `false` (no metrics).
    #[schemars(with = "Option<MetricsSetting>")]
    pub metrics: Option<Spanned<MetricsSetting>>,
    /// Per-app scrape interval, between 1s and 1h.
    #[schemars(with = "Option<DurationText>")]
    pub scrape_interval: Option<Spanned<String>>,
    /// Per-app scrape timeout; at most the app's interval.
    #[schemars(with = "Option<DurationText>")]
    pub scrape_timeout: Option<Spanned<String>>,
    /// `true` (default) injects the OpenTelemetry SDK variables (`OTEL_SERVICE_NAME`, the
    /// OTLP endpoint and protocol, which signals to export) pointing at Alloy.
    #[schemars(with = "Option<bool>")]
    pub otlp: Option<Spanned<bool>>,
    /// Deprecated: the old name of `otlp`.
    #[schemars(with = "Option<bool>")]
    pub traces: Option<Spanned<bool>>,
    /// Where the app's logs are collected: "stdout" (default: its stdout and stderr,
    /// through Docker) or "otlp" (log records its OpenTelemetry SDK exports; stdout and
    /// stderr are then not collected, so no line is stored twice).
    pub logs: Option<LogsMode>,
    /// Host port to publish the app's port on.
    #[schemars(with = "Option<u16>", range(min = 1, max = 65535))]
    pub publish: Option<Spanned<u16>>,
    /// Extra environment, as literal strings (a `$` stays a `$`).
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    pub env: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    /// Host variables passed through at `compose up`, required and listed in .env.example:
    /// a list (`["STRIPE_KEY"]`, the same name inside the container), or a table from the
    /// name the app reads to the host variable (`{ POSTGRES_PASSWORD = "ORDERS_DB_PASSWORD" }`).
    pub secrets: Option<Secrets>,
    /// When compose pulls `image`: "missing" (compose's default), "always", or "never" for
    /// an image built or loaded locally, which no registry image may stand in for.
    pub pull_policy: Option<PullPolicy>,
    /// Service-level objectives (default: none): `availability = "99.5%"`,
    /// `latency = { p99 = "500ms" }`. Measured on the app's traces, so it needs `otlp`.
    pub slo: Option<Slo>,
}

/// An app's `build`: a context path, or a table.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum BuildSetting {
    Context(String),
    Table(BuildTable),
}

impl JsonSchema for BuildSetting {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "BuildSetting".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let table = generator.subschema_for::<BuildTable>();
        schemars::json_schema!({
            "description": "A build context relative to stack.toml, or a table with `context`, `dockerfile`, `target` and `args`.",
            "anyOf": [ { "type": "string" }, table ]
        })
    }
}

/// `build = { ... }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct BuildTable {
    /// The context, relative to stack.toml, e.g. "apps/api".
    pub context: String,
    /// The Dockerfile, relative to the context (default "Dockerfile").
    pub dockerfile: Option<String>,
    /// The stage to build, in a multi-stage Dockerfile.
    pub target: Option<String>,
    /// Build arguments (`ARG`), as literal strings.
    pub args: Option<BTreeMap<String, String>>,
}

/// One entry of an app's `ports`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct AppPort {
    /// The port inside the container.
    #[schemars(with = "u16", range(min = 1, max = 65535))]
    pub container: Spanned<u16>,
    /// The host port to publish it on (on `[stack] bind`); none keeps it internal.
    #[schemars(with = "Option<u16>", range(min = 1, max = 65535))]
    pub publish: Option<Spanned<u16>>,
    /// "tcp" (default) or "udp".
    pub protocol: Option<Protocol>,
}

/// A port's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Tcp,
    Udp,
}

/// `command` or `entrypoint`: exec form (a list) or shell form (a string).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum CommandSetting {
    Shell(String),
    Exec(Vec<String>),
}

impl JsonSchema for CommandSetting {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CommandSetting".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A list of arguments (exec form), or one string run by the image's shell.",
            "anyOf": [
                { "type": "string" },
                { "type": "array", "items": { "type": "string" } }
            ]
        })
    }
}

/// An app's `healthcheck`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Healthcheck {
    /// A URL path fetched on the app's `port`, e.g. "/healthz".
    #[schemars(with = "Option<String>")]
    pub http: Option<Spanned<String>>,
    /// A command run in the container (exec form), e.g. ["pg_isready", "-U", "orders"].
    #[schemars(with = "Option<Vec<String>>")]
    pub cmd: Option<Spanned<Vec<String>>>,
    /// Time between checks, 1s to 1h (default "10s").
    #[schemars(with = "Option<DurationText>")]
    pub interval: Option<Spanned<String>>,
    /// Failures in a row before the app is unhealthy, 1 to 100 (default 3).
    #[schemars(with = "Option<u32>", range(min = 1, max = 100))]
    pub retries: Option<Spanned<u32>>,
}

/// An app's `resources` (limits).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Resources {
    /// Memory limit: a number and `b`, `k`, `m` or `g`, e.g. "512m".
    #[schemars(with = "Option<String>")]
    pub memory: Option<Spanned<String>>,
    /// CPU limit in cores, e.g. 1.5.
    #[schemars(with = "Option<f64>", range(min = 0.01, max = 1024))]
    pub cpus: Option<Spanned<f64>>,
}

/// An app's `secrets`: names passed through as they are, or mapped to host variables.
/// Spans come from the span map by pointer (`/apps/<app>/secrets/<index or name>`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Secrets {
    List(Vec<String>),
    Map(BTreeMap<String, String>),
}

impl JsonSchema for Secrets {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Secrets".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Host variables the app reads: a list of names, or a table from the name inside the container to the host variable.",
            "anyOf": [
                { "type": "array", "items": { "type": "string" } },
                { "type": "object", "additionalProperties": { "type": "string" } }
            ]
        })
    }
}

/// An app's `metrics`: `true`/"scrape", "otlp", or `false`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsSetting {
    Scrape,
    Otlp,
    Off,
}

impl<'de> Deserialize<'de> for MetricsSetting {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Flag(bool),
            Word(String),
        }
        match Either::deserialize(deserializer)? {
            Either::Flag(true) => Ok(MetricsSetting::Scrape),
            Either::Flag(false) => Ok(MetricsSetting::Off),
            Either::Word(w) if w == "scrape" => Ok(MetricsSetting::Scrape),
            Either::Word(w) if w == "otlp" => Ok(MetricsSetting::Otlp),
            Either::Word(w) => Err(serde::de::Error::custom(format!(
                "expected `true`, `false`, \"scrape\" or \"otlp\", found \"{w}\""
            ))),
        }
    }
}

impl JsonSchema for MetricsSetting {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MetricsSetting".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`true` or \"scrape\": Prometheus scrapes the app; \"otlp\": the app pushes OTLP metrics; `false`: no metrics.",
            "anyOf": [
                { "type": "boolean" },
                { "enum": ["scrape", "otlp"] }
            ]
        })
    }
}

/// An app's `logs`: where its log lines are collected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogsMode {
    Stdout,
    Otlp,
}

/// compose's `pull_policy` for an app's image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PullPolicy {
    Missing,
    Always,
    Never,
}

impl PullPolicy {
    /// The value as compose spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Missing => "missing",
            PullPolicy::Always => "always",
            PullPolicy::Never => "never",
        }
    }
}
