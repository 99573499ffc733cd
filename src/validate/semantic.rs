//! The semantic checks: what the schema cannot say. Durations and their bounds, names
//! (compose project, services, Alloy labels after sanitising), host-port collisions, image
//! tags, environment names, secrets. Each check that passes contributes its resolved value
//! to the `Stack`; each that fails leaves a located diagnostic and a default in its place,
//! so that every problem is found in one pass.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::ops::Range;

use toml::Spanned;

use crate::diagnostic::Diagnostic;
use crate::duration::Duration;
use crate::images;
use crate::load::SpanMap;
use crate::model::{
    App, AppSource, ExtraScrape, Grafana, Logs, Metrics, PortKey, Ports, Scrape, Smtp, Stack,
    Traces, Usage, Versions, defaults, sanitize_ident,
};
use crate::raw::{self, PortSetting, StackFile};

/// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved).
fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// `host:port` with a port from 1 to 65535 and a host without spaces, `/` or a scheme.
fn is_host_port(text: &str) -> bool {
    let Some((host, port)) = text.rsplit_once(':') else {
        return false;
    };
    !host.is_empty()
        && !host.contains(['/', ' ', '\t'])
        && !host.chars().any(char::is_control)
        && port.parse::<u16>().is_ok_and(|p| p > 0)
}

/// A table of Prometheus labels (`external_labels`, a job's `labels`), checked.
fn resolve_labels(
    cx: &mut Cx<'_>,
    raw: Option<&BTreeMap<Spanned<String>, Spanned<String>>>,
    place: &str,
    taken: &[&str],
    taken_by: &str,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, value) in raw.into_iter().flatten() {
        let name = key.get_ref();
        if !is_label_name(name) {
            cx.error(
                Diagnostic::error(
                    key.span(),
                    format!("`{name}` in {place} is not a Prometheus label name"),
                )
                .with_help(
                    "use letters, digits and `_`, starting with a letter or `_` (but not `__`)",
                ),
            );
        } else if taken.contains(&name.as_str()) {
            cx.error(
                Diagnostic::error(
                    key.span(),
                    format!("`{name}` in {place} is set by {taken_by}"),
                )
                .with_help("the stack's files and dashboards rely on it: choose another name"),
            );
        } else if value.get_ref().chars().any(char::is_control) {
            cx.error(Diagnostic::error(
                value.span(),
                format!("the value of `{name}` in {place} contains a control character"),
            ));
        } else {
            out.insert(name.clone(), value.get_ref().clone());
        }
    }
    out
}

fn resolve_external_labels(
    cx: &mut Cx<'_>,
    metrics: &raw::MetricsSection,
) -> BTreeMap<String, String> {
    resolve_labels(
        cx,
        metrics.external_labels.as_ref(),
        "`external_labels` of `[metrics]`",
        &[crate::wiring::label::COMPOSE_PROJECT],
        "stackc",
    )
}

/// `[[metrics.scrape]]`: job names unique among the stack's jobs, the apps and each other.
fn resolve_extra_scrapes(
    cx: &mut Cx<'_>,
    metrics: &raw::MetricsSection,
    apps: &[App],
) -> Vec<ExtraScrape> {
    let mut seen: BTreeMap<String, Range<usize>> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, job) in metrics.scrape.iter().flatten().enumerate() {
        let place = format!("`[[metrics.scrape]]` number {}", i + 1);
        let name = job.job.get_ref();
        if name.is_empty() || name.chars().any(char::is_control) {
            cx.error(Diagnostic::error(
                job.job.span(),
                format!("`job` of {place} must be a non-empty name"),
            ));
        } else if cx.own_services.contains(&name.as_str())
            || name == crate::wiring::extend::PROMETHEUS_TARGETS_JOB
        {
            cx.error(
                Diagnostic::error(
                    job.job.span(),
                    format!("job `{name}` is one of the stack's own scrape jobs"),
                )
                .with_help("choose another `job` name"),
            );
        } else if apps.iter().any(|a| a.scrape.is_some() && &a.name == name) {
            cx.error(
                Diagnostic::error(
                    job.job.span(),
                    format!("job `{name}` is also the scrape job of app `{name}`"),
                )
                .with_help("choose another `job` name: Prometheus refuses two jobs of one name"),
            );
        } else if let Some(first) = seen.get(name) {
            cx.error(
                Diagnostic::error(
                    job.job.span(),
                    format!("job `{name}` is defined twice in `[[metrics.scrape]]`"),
                )
                .with_related(first.clone(), "first defined here"),
            );
        } else {
            seen.insert(name.clone(), job.job.span());
        }
        if job.targets.get_ref().is_empty() {
            cx.error(
                Diagnostic::error(job.targets.span(), format!("`targets` of {place} is empty"))
                    .with_help("list `host:port` targets, e.g. [\"db.internal:9187\"]"),
            );
        }
        for target in job.targets.get_ref() {
            if !is_host_port(target.get_ref()) {
                cx.error(
                    Diagnostic::error(
                        target.span(),
                        format!(
                            "target `{}` of {place} is not `host:port`",
                            target.get_ref()
                        ),
                    )
                    .with_help("no scheme or path: set `scheme` and `metrics_path` for those"),
                );
            }
        }
        let path = job.metrics_path.as_ref().map(|p| {
            let text = p.get_ref();
            if !text.starts_with('/') || text.chars().any(|c| c.is_whitespace() || c == '?' || c == '#') {
                cx.error(Diagnostic::error(
                    p.span(),
                    format!("`metrics_path` of {place} must be a URL path starting with `/`, found `{text}`"),
                ));
            }
            text.clone()
        });
        let interval = job.scrape_interval.as_ref().map(|value| {
            cx.duration_within(
                Some(value),
                defaults::SCRAPE_INTERVAL,
                &format!("`scrape_interval` of {place}"),
                Duration::from_secs(1),
                Some(Duration::from_secs(3600)),
            )
        });
        let labels = resolve_labels(
            cx,
            job.labels.as_ref(),
            &format!("`labels` of {place}"),
            &["job", "instance"],
            "Prometheus (the job name and the target)",
        );
        out.push(ExtraScrape {
            job: name.clone(),
            targets: job
                .targets
                .get_ref()
                .iter()
                .map(|t| t.get_ref().clone())
                .collect(),
            path,
            https: job.scheme == Some(raw::Scheme::Https),
            interval,
            labels,
        });
    }
    out
}

/// `[[metrics.remote_write]]`: an http(s) URL without credentials in it, and basic auth
/// or a bearer token from secrets.
fn resolve_remote_writes(
    cx: &mut Cx<'_>,
    metrics: &raw::MetricsSection,
) -> Vec<crate::model::RemoteWrite> {
    use crate::model::{RemoteWrite, RemoteWriteAuth};
    let mut out = Vec::new();
    let mut names: BTreeMap<String, Range<usize>> = BTreeMap::new();
    for (i, rw) in metrics.remote_write.iter().flatten().enumerate() {
        let place = format!("`[[metrics.remote_write]]` number {}", i + 1);
        let url = rw.url.get_ref();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
        match host {
            None | Some("") => {
                cx.error(
                    Diagnostic::error(
                        rw.url.span(),
                        format!("`url` of {place} must be an http(s) URL, found `{url}`"),
                    )
                    .with_help("e.g. \"https://prometheus.example.net/api/prom/push\""),
                );
                continue;
            }
            Some(host) if host.contains('@') => {
                cx.error(
                    Diagnostic::error(rw.url.span(), format!("`url` of {place} has credentials in it"))
                        .with_help("stack.toml is committed: give `username` and `password_secret` (a variable in .env) instead"),
                );
                continue;
            }
            _ => {}
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            cx.error(Diagnostic::error(
                rw.url.span(),
                format!("`url` of {place} contains spaces"),
            ));
            continue;
        }
        let secret = |cx: &mut Cx<'_>, s: &Spanned<String>| -> Option<String> {
            let text = s.get_ref();
            if !is_env_name(text) {
                cx.error(
                    Diagnostic::error(
                        s.span(),
                        format!("`{text}` is not a valid environment variable name"),
                    )
                    .with_help(
                        "name the variable in .env that holds it, e.g. \"REMOTE_WRITE_PASSWORD\"",
                    ),
                );
                None
            } else if let Some(what) = cx.own_secrets.get(text.as_str()).copied() {
                cx.error(Diagnostic::error(
                    s.span(),
                    format!("`{text}` is the stack's own `{text}` ({what})"),
                ));
                None
            } else {
                Some(text.clone())
            }
        };
        let auth = match (&rw.username, &rw.password_secret, &rw.bearer_token_secret) {
            (None, None, None) => RemoteWriteAuth::None,
            (Some(user), Some(password), None) => match secret(cx, password) {
                Some(secret) => RemoteWriteAuth::Basic {
                    username: user.get_ref().clone(),
                    secret,
                },
                None => continue,
            },
            (None, None, Some(token)) => match secret(cx, token) {
                Some(secret) => RemoteWriteAuth::Bearer { secret },
                None => continue,
            },
            (_, _, Some(token)) => {
                cx.error(
                    Diagnostic::error(
                        token.span(),
                        format!("{place} has both basic auth and a bearer token"),
                    )
                    .with_help("keep one"),
                );
                continue;
            }
            (Some(user), None, None) => {
                cx.error(
                    Diagnostic::error(
                        user.span(),
                        format!("`username` of {place} needs `password_secret`"),
                    )
                    .with_help("name the variable in .env that holds the password"),
                );
                continue;
            }
            (None, Some(password), None) => {
                cx.error(Diagnostic::error(
                    password.span(),
                    format!("`password_secret` of {place} needs `username`"),
                ));
                continue;
            }
        };
        let name = match &rw.name {
            Some(n) => n.get_ref().clone(),
            None => host.unwrap_or_default().to_owned(),
        };
        let name_span = rw
            .name
            .as_ref()
            .map_or_else(|| rw.url.span(), Spanned::span);
        if let Some(first) = names.get(&name) {
            cx.error(
                Diagnostic::error(
                    name_span,
                    format!("remote write name `{name}` is used twice"),
                )
                .with_related(first.clone(), "first used here")
                .with_help("give each endpoint its own `name`"),
            );
            continue;
        }
        names.insert(name.clone(), name_span);
        out.push(RemoteWrite {
            url: url.clone(),
            name,
            auth,
        });
    }
    out
}

/// `[grafana]`: root URL, plugins, anonymous viewers, SMTP with a secret password.
fn resolve_grafana(cx: &mut Cx<'_>, raw: Option<&raw::GrafanaSection>) -> Grafana {
    let Some(raw) = raw else {
        return Grafana::default();
    };
    let root_url = raw.root_url.as_ref().map(|url| {
        let text = url.get_ref();
        if !(text.starts_with("http://") || text.starts_with("https://"))
            || text.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            cx.error(
                Diagnostic::error(
                    url.span(),
                    format!("`root_url` in `[grafana]` must be an http(s) URL, found `{text}`"),
                )
                .with_help("e.g. \"https://grafana.example.com/\""),
            );
        }
        text.clone()
    });
    let mut plugins = Vec::new();
    for plugin in raw.plugins.iter().flatten() {
        let text = plugin.get_ref();
        let (id, version) = match text.split_once('@') {
            Some((id, version)) => (id, Some(version)),
            None => (text.as_str(), None),
        };
        let id_ok = id
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && id.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
            });
        let version_ok = version.is_none_or(|v| {
            v.starts_with(|c: char| c.is_ascii_digit())
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        });
        if !id_ok || !version_ok {
            cx.error(
                Diagnostic::error(
                    plugin.span(),
                    format!("`{text}` in `plugins` of `[grafana]` is not a plugin id"),
                )
                .with_help("write the id from grafana.com/plugins, optionally with a version: \"grafana-clock-panel\" or \"grafana-clock-panel@2.1.8\""),
            );
        } else if plugins.contains(text) {
            cx.error(Diagnostic::error(
                plugin.span(),
                format!("plugin `{text}` is listed twice"),
            ));
        } else {
            plugins.push(text.clone());
        }
    }
    let smtp = raw.smtp.as_ref().map(|smtp| {
        if !is_host_port(smtp.host.get_ref()) {
            cx.error(
                Diagnostic::error(
                    smtp.host.span(),
                    format!("`host` in `[grafana.smtp]` must be `host:port`, found `{}`", smtp.host.get_ref()),
                )
                .with_help("e.g. \"smtp.example.com:587\""),
            );
        }
        if let Some(from) = &smtp.from
            && (!from.get_ref().contains('@') || from.get_ref().chars().any(char::is_whitespace))
        {
            cx.error(Diagnostic::error(
                from.span(),
                format!("`from` in `[grafana.smtp]` must be an e-mail address, found `{}`", from.get_ref()),
            ));
        }
        if let Some(secret) = &smtp.password_secret {
            let text = secret.get_ref();
            if !is_env_name(text) {
                cx.error(
                    Diagnostic::error(secret.span(), format!("`{text}` is not a valid environment variable name"))
                        .with_help("name the host variable (in .env) that holds the password, e.g. \"GRAFANA_SMTP_PASSWORD\""),
                );
            } else if let Some(what) = cx.own_secrets.get(text.as_str()).copied() {
                cx.error(
                    Diagnostic::error(secret.span(), format!("`password_secret` `{text}` is the stack's own `{text}` ({what})"))
                        .with_help("name a variable of its own, e.g. \"GRAFANA_SMTP_PASSWORD\""),
                );
            }
        }
        Smtp {
            host: smtp.host.get_ref().clone(),
            user: smtp.user.as_ref().map(|u| u.get_ref().clone()),
            password_secret: smtp.password_secret.as_ref().map(|p| p.get_ref().clone()),
            from: smtp.from.as_ref().map(|f| f.get_ref().clone()),
        }
    });
    Grafana {
        root_url,
        plugins,
        anonymous: raw.anonymous.as_ref().is_some_and(|a| *a.get_ref()),
        smtp,
    }
}

/// A bind beyond loopback publishes every port of `[ports]` on the network: a warning that
/// names each service it exposes that asks for no credentials.
fn warn_exposed(cx: &mut Cx<'_>, bind: &Spanned<String>, ports: &Ports) {
    let open: Vec<String> = [
        (PortKey::Prometheus, "Prometheus (every metric)"),
        (PortKey::Loki, "Loki (every log line, and its push API)"),
        (PortKey::Tempo, "Tempo (every trace)"),
        (PortKey::Alloy, "Alloy's UI"),
        (
            PortKey::OtlpGrpc,
            "Alloy's OTLP gRPC receiver (anyone can send data)",
        ),
        (
            PortKey::OtlpHttp,
            "Alloy's OTLP HTTP receiver (anyone can send data)",
        ),
        (PortKey::NodeExporter, "node-exporter (the host's metrics)"),
        (PortKey::Cadvisor, "cAdvisor (every container's metrics)"),
        (
            PortKey::Alertmanager,
            "Alertmanager (every alert, and anyone can silence them)",
        ),
    ]
    .into_iter()
    .filter_map(|(key, what)| ports.get(key).map(|port| format!("{port} {what}")))
    .collect();
    if open.is_empty() {
        return;
    }
    cx.error(
        Diagnostic::warning(
            bind.span(),
            format!(
                "`bind = \"{}\"` exposes services that ask for no credentials: {}",
                bind.get_ref(),
                open.join(", ")
            ),
        )
        .with_help("Grafana asks for a login and PostgreSQL for a password; for the others, set `[ports] <service> = false`, firewall them, or put an authenticating proxy in front (SECURITY.md)"),
    );
}

/// The `.env` variables the stack itself reads, with what each is for.
pub(crate) fn stack_secrets(
    usage: bool,
    bundled_postgres: bool,
) -> BTreeMap<&'static str, &'static str> {
    use crate::wiring::secret;
    let mut out = BTreeMap::from([(
        secret::GRAFANA_ADMIN_PASSWORD,
        "the password of Grafana's admin user",
    )]);
    if usage {
        if bundled_postgres {
            out.insert(
                secret::POSTGRES_PASSWORD,
                "the superuser password of the usage database",
            );
        }
        out.insert(
            secret::SCRAPER_DB_PASSWORD,
            "the usage scraper's database password",
        );
        out.insert(
            secret::READER_DB_PASSWORD,
            "Grafana's read-only database password",
        );
    }
    out
}

/// An app name as the start of an environment variable name: `orders-db` -> `ORDERS_DB`.
fn env_prefix(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Longest app name: it is a hostname on the compose network (one DNS label).
const MAX_SERVICE_NAME: usize = 63;

/// Longest `[stack].name`: Grafana uids (`<name>-overview`, `stackc-<name>`) hold 40.
const MAX_PROJECT_NAME: usize = 30;

struct Cx<'a> {
    spans: &'a SpanMap,
    pruned: &'a BTreeSet<String>,
    out: Vec<Diagnostic>,
    /// The stack's own compose services that run (`model::own_services`): names apps and
    /// scrape jobs cannot take.
    own_services: Vec<&'static str>,
    /// The stack's own secret variables, with what each holds.
    own_secrets: BTreeMap<&'static str, &'static str>,
}

impl Cx<'_> {
    fn error(&mut self, diagnostic: Diagnostic) {
        self.out.push(diagnostic);
    }

    /// Parses a duration at `place`, or reports why not and gives the default.
    fn duration(
        &mut self,
        value: Option<&Spanned<String>>,
        default: &str,
        place: &str,
    ) -> Duration {
        let fallback = Duration::parse(default).expect("defaults are valid durations");
        let Some(value) = value else {
            return fallback;
        };
        match Duration::parse(value.get_ref()) {
            Ok(d) => d,
            Err(why) => {
                self.error(
                    Diagnostic::error(
                        value.span(),
                        format!("invalid duration `{}` for {place}: {why}", value.get_ref()),
                    )
                    .with_help("durations are an integer and a unit: `500ms`, `15s`, `2m`, `48h`, `31d`, `1w`"),
                );
                fallback
            }
        }
    }

    /// `duration`, then the bounds `min..=max` (checked only when the file sets a value).
    fn duration_within(
        &mut self,
        value: Option<&Spanned<String>>,
        default: &str,
        place: &str,
        min: Duration,
        max: Option<Duration>,
    ) -> Duration {
        let duration = self.duration(value, default, place);
        let Some(value) = value else {
            return duration;
        };
        if duration < min {
            self.error(Diagnostic::error(
                value.span(),
                format!(
                    "{place} must be at least {min}, found `{}`",
                    value.get_ref()
                ),
            ));
        } else if let Some(max) = max.filter(|max| duration > *max) {
            self.error(Diagnostic::error(
                value.span(),
                format!("{place} must be at most {max}, found `{}`", value.get_ref()),
            ));
        }
        duration
    }
}

/// Resolves the raw file into a `Stack`; returns it with every diagnostic found.
pub(crate) fn resolve(
    raw: &StackFile,
    spans: &SpanMap,
    pruned: &BTreeSet<String>,
) -> (Option<Stack>, Vec<Diagnostic>) {
    let mut cx = Cx {
        spans,
        pruned,
        out: Vec::new(),
        own_services: Vec::new(),
        own_secrets: BTreeMap::new(),
    };

    // [stack]
    let stack_section: &raw::StackSection = raw.stack.as_ref().unwrap_or(&EMPTY_STACK);
    let name = match &stack_section.name {
        Some(name) => {
            if !is_project_name(name.get_ref()) {
                cx.error(
                    Diagnostic::error(
                        name.span(),
                        format!("`{}` is not a valid compose project name", name.get_ref()),
                    )
                    .with_help(format!(
                        "use lowercase letters, digits, `-` and `_`, starting with a letter or digit, e.g. `{}`",
                        suggest_project_name(name.get_ref())
                    )),
                );
            }
            if name.get_ref().len() > MAX_PROJECT_NAME {
                cx.error(
                    Diagnostic::error(
                        name.span(),
                        format!(
                            "`name` in `[stack]` is longer than {MAX_PROJECT_NAME} characters"
                        ),
                    )
                    .with_help("it becomes part of Grafana dashboard and folder uids, which hold at most 40 characters"),
                );
            }
            name.get_ref().clone()
        }
        None => defaults::NAME.to_owned(),
    };
    let bind = match &stack_section.bind {
        Some(bind) => {
            if bind.get_ref().parse::<IpAddr>().is_err() {
                cx.error(
                    Diagnostic::error(
                        bind.span(),
                        format!("`bind` must be an IP address, found `{}`", bind.get_ref()),
                    )
                    .with_help("use \"127.0.0.1\" (the default) to stay on this host, or \"0.0.0.0\" to publish on every interface"),
                );
            }
            bind.get_ref().clone()
        }
        None => defaults::BIND.to_owned(),
    };

    // [metrics]
    let metrics_section = raw::MetricsSection::default();
    let metrics_raw = raw.metrics.as_ref().unwrap_or(&metrics_section);
    let scrape_interval = cx.duration_within(
        metrics_raw.scrape_interval.as_ref(),
        defaults::SCRAPE_INTERVAL,
        "`scrape_interval` in `[metrics]`",
        Duration::from_secs(1),
        Some(Duration::from_secs(3600)),
    );
    let scrape_timeout = match &metrics_raw.scrape_timeout {
        Some(_) => cx.duration(
            metrics_raw.scrape_timeout.as_ref(),
            "10s",
            "`scrape_timeout` in `[metrics]`",
        ),
        None => scrape_interval.min(Duration::from_secs(10)),
    };
    if let Some(timeout) = &metrics_raw.scrape_timeout
        && scrape_timeout > scrape_interval
    {
        let mut d = Diagnostic::error(
            timeout.span(),
            format!(
                "`scrape_timeout` ({}) is longer than `scrape_interval` ({scrape_interval})",
                timeout.get_ref()
            ),
        )
        .with_help("Prometheus refuses a timeout longer than the interval");
        if let Some(interval) = &metrics_raw.scrape_interval {
            d = d.with_related(interval.span(), "the interval is set here");
        }
        cx.error(d);
    }
    let metrics_retention = cx.duration_within(
        metrics_raw.retention.as_ref(),
        defaults::METRICS_RETENTION,
        "`retention` in `[metrics]`",
        Duration::from_secs(3600),
        None,
    );

    // [logs], [traces]
    let logs_retention = cx.duration_within(
        raw.logs.as_ref().and_then(|l| l.retention.as_ref()),
        defaults::LOGS_RETENTION,
        "`retention` in `[logs]`",
        Duration::from_secs(24 * 3600),
        None,
    );
    if let Some(value) = raw.logs.as_ref().and_then(|l| l.retention.as_ref())
        && !logs_retention.as_millis().is_multiple_of(3_600_000)
    {
        cx.error(
            Diagnostic::error(
                value.span(),
                format!(
                    "`retention` in `[logs]` must be whole hours, found `{}`",
                    value.get_ref()
                ),
            )
            .with_help("Loki's compactor applies retention per hour of index"),
        );
    }
    if let Some(field) = raw.logs.as_ref().and_then(|l| l.level_field.as_ref())
        && !is_field_path(field.get_ref())
    {
        cx.error(
            Diagnostic::error(
                field.span(),
                format!(
                    "`level_field` in `[logs]` must be a JSON key or a dotted path of keys, found `{}`",
                    field.get_ref()
                ),
            )
            .with_help("keys are letters, digits, `_`, `@` and `-`, not starting with a digit or `-`; `.` separates nested objects, e.g. \"log.severity\""),
        );
    }
    let traces_retention = cx.duration_within(
        raw.traces.as_ref().and_then(|t| t.retention.as_ref()),
        defaults::TRACES_RETENTION,
        "`retention` in `[traces]`",
        Duration::from_secs(3600),
        None,
    );

    // [usage]
    let usage_section = raw::UsageSection::default();
    let usage_raw = raw.usage.as_ref().unwrap_or(&usage_section);
    let poll_interval = cx.duration_within(
        usage_raw.poll_interval.as_ref(),
        defaults::POLL_INTERVAL,
        "`poll_interval` in `[usage]`",
        Duration::from_secs(1),
        Some(Duration::from_secs(3600)),
    );
    let lookback = cx.duration_within(
        usage_raw.lookback.as_ref(),
        defaults::LOOKBACK,
        "`lookback` in `[usage]`",
        Duration::from_secs(1),
        Some(Duration::from_secs(24 * 3600)),
    );
    let database = match &usage_raw.database {
        Some(db) => {
            if !is_sql_identifier(db.get_ref()) {
                cx.error(
                    Diagnostic::error(
                        db.span(),
                        format!("`{}` is not a valid database name", db.get_ref()),
                    )
                    .with_help("use lowercase letters, digits and `_`, starting with a letter or `_`, at most 63 characters"),
                );
            }
            db.get_ref().clone()
        }
        None => defaults::DATABASE.to_owned(),
    };

    // [versions]
    let versions = resolve_versions(&mut cx, raw.versions.as_ref());

    let enabled = usage_raw.enabled.unwrap_or(true);
    let scraper = resolve_scraper_image(&mut cx, usage_raw, raw.versions.as_ref(), &versions);
    // [components]
    let (components, external_db) = resolve_components(&mut cx, raw, enabled);
    cx.own_services = crate::model::own_services(&components, enabled, external_db.is_none());
    cx.own_secrets = stack_secrets(enabled, external_db.is_none());
    let usage = enabled.then_some(Usage {
        poll_interval,
        lookback,
        database,
        image: scraper.0,
        build: scraper.1,
        external_db,
    });

    // [ports] and the apps' `publish`: host ports must not collide.
    let ports = resolve_ports(&mut cx, raw);
    if let Some(bind_raw) = &stack_section.bind
        && let Ok(ip) = bind.parse::<IpAddr>()
        && !ip.is_loopback()
    {
        warn_exposed(&mut cx, bind_raw, &ports);
    }

    // [apps.*]
    let apps = resolve_apps(
        &mut cx,
        raw,
        usage.is_some(),
        scrape_interval,
        scrape_timeout,
    );

    let external_labels = resolve_external_labels(&mut cx, metrics_raw);
    let extra_scrapes = resolve_extra_scrapes(&mut cx, metrics_raw, &apps);
    let remote_writes = resolve_remote_writes(&mut cx, metrics_raw);
    let grafana = resolve_grafana(&mut cx, raw.grafana.as_ref());
    // [alerts]; SLO windows need the metrics they look back over.
    let alerts = resolve_alerts(&mut cx, raw, &apps);
    if let Some(retention) = &metrics_raw.retention
        && metrics_retention < Duration::from_secs(3 * 24 * 3600)
        && apps.iter().any(|a| !a.slos.is_empty())
    {
        cx.error(
            Diagnostic::warning(
                retention.span(),
                format!(
                    "`retention` in `[metrics]` ({}) is shorter than the 3d window of the SLO ticket alerts",
                    retention.get_ref()
                ),
            )
            .with_help("the slowest burn-rate alert averages over 3 days; with less data it measures a shorter window and fires on shorter, smaller burns. Keep at least \"3d\""),
        );
    }

    let stack = Stack {
        name,
        bind,
        metrics: Metrics {
            scrape_interval,
            scrape_timeout,
            retention: metrics_retention,
            external_labels,
            extra_scrapes,
            remote_writes,
        },
        logs: Logs {
            retention: logs_retention,
            level_field: raw
                .logs
                .as_ref()
                .and_then(|l| l.level_field.as_ref())
                .map(|f| f.get_ref().clone()),
        },
        traces: Traces {
            retention: traces_retention,
        },
        usage,
        ports,
        versions,
        grafana,
        apps,
        alerts,
        components,
    };
    (Some(stack), cx.out)
}

/// `[components]`: node-exporter and cAdvisor on or off, and the usage database (the
/// stack's own, or an external PostgreSQL).
fn resolve_components(
    cx: &mut Cx<'_>,
    raw: &StackFile,
    usage: bool,
) -> (crate::model::Components, Option<crate::model::ExternalDb>) {
    let mut components = crate::model::Components::default();
    let Some(section) = &raw.components else {
        return (components, None);
    };
    if let Some(on) = &section.node_exporter {
        components.node_exporter = *on.get_ref();
    }
    if let Some(on) = &section.cadvisor {
        components.cadvisor = *on.get_ref();
    }
    let external = match &section.postgres {
        None | Some(raw::PostgresSetting::Bundled(true)) => None,
        Some(raw::PostgresSetting::Bundled(false)) => {
            if usage {
                cx.error(
                    Diagnostic::error(
                        cx.spans.value_span("/components/postgres"),
                        "`postgres = false` in `[components]` leaves usage events without a database",
                    )
                    .with_help("name an external PostgreSQL instead: `[components.postgres]` with `host = \"db.example.com\"`; or turn usage events off with `[usage] enabled = false`"),
                );
            }
            None
        }
        Some(raw::PostgresSetting::External(db)) => {
            if usage {
                resolve_external_db(cx, db)
            } else {
                cx.error(
                    Diagnostic::warning(
                        cx.spans.key_span("/components/postgres"),
                        "`[components.postgres]` has no effect with `[usage] enabled = false`",
                    )
                    .with_help(
                        "only usage events use PostgreSQL; remove it, or enable the usage scraper",
                    ),
                );
                None
            }
        }
    };
    (components, external)
}

/// How deep a relative `/`-separated path ends below its folder, and whether it ever
/// climbs above it (`a/../../b`).
fn path_depth(relative: &str) -> (i32, bool) {
    let mut depth = 0i32;
    let mut escapes = false;
    for segment in relative.split('/').filter(|s| !s.is_empty() && *s != ".") {
        depth += if segment == ".." { -1 } else { 1 };
        escapes |= depth < 0;
    }
    (depth, escapes)
}

/// The host and port of a `postgres://user:password@host:port/db` URL (never the rest).
fn url_host_port(url: &str) -> Option<(&str, Option<u16>)> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, p.parse().ok()),
        _ => (host_port, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then_some((host, port))
}

/// `[components.postgres]` as a table: where the external database is.
fn resolve_external_db(
    cx: &mut Cx<'_>,
    db: &raw::ExternalPostgres,
) -> Option<crate::model::ExternalDb> {
    use crate::model::{ExternalDb, SslMode, VolumeSource};
    let at = |key: &str| format!("/components/postgres/{key}");
    let host = db.host.trim();
    let bad_host = if host.is_empty() {
        Some("is empty")
    } else if host.contains("://") || host.contains('@') {
        Some("is a URL, not a host name")
    } else if host.contains(['/', '?']) || host.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        Some("is not a host name")
    } else if host
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.contains(':') && p.parse::<u16>().is_ok())
    {
        Some("has a port in it")
    } else {
        None
    };
    let host_ok = bad_host.is_none();
    if let Some(why) = bad_host {
        // A URL may hold a password: the message never repeats it.
        let shown = if why.contains("URL") {
            String::new()
        } else {
            format!(": `{}`", db.host)
        };
        let url_parts = url_host_port(host)
            .or_else(|| {
                let (h, p) = host.rsplit_once(':')?;
                Some((h, Some(p.parse().ok()?)))
            })
            .filter(|_| why != "is not a host name")
            .map(|(h, p)| {
                format!(
                    "here: `host = \"{h}\"`{}; ",
                    p.map_or(String::new(), |p| format!(", `port = {p}`"))
                )
            });
        cx.error(
            Diagnostic::error(
                cx.spans.value_span(&at("host")),
                format!("`host` of `[components.postgres]` {why}{shown}"),
            )
            .with_help(format!("give the host name or address alone, {}the port goes in `port`, the database name in `[usage] database`, and the passwords in .env (USAGE_SCRAPER_DB_PASSWORD, USAGE_READER_DB_PASSWORD), never in stack.toml", url_parts.unwrap_or_else(|| "e.g. \"usage-db.internal.example.com\"; ".to_owned()))),
        );
    }
    let sslmode = db.sslmode.unwrap_or(SslMode::VerifyFull);
    let root_cert = match db.root_cert.as_deref() {
        None => None,
        Some(path) => {
            let span = cx.spans.value_span(&at("root_cert"));
            let relative = path.strip_prefix("./").unwrap_or(path);
            let (depth, escapes) = path_depth(relative);
            if path.starts_with('/') {
                Some(VolumeSource::Absolute(path.to_owned()))
            } else if path.trim().is_empty() || depth == 0 || path.ends_with('/') {
                cx.error(
                    Diagnostic::error(span, format!("`root_cert` of `[components.postgres]` is not a file path: `{path}`"))
                        .with_help("name the PEM file of the CA, relative to stack.toml or absolute, e.g. \"certs/usage-db-ca.pem\""),
                );
                return None;
            } else if escapes || path.chars().any(char::is_control) {
                cx.error(
                    Diagnostic::error(
                        span,
                        format!("`root_cert` `{path}` leaves the folder of stack.toml"),
                    )
                    .with_help(
                        "keep the file inside the folder of stack.toml, or give an absolute path",
                    ),
                );
                return None;
            } else {
                Some(VolumeSource::Relative(
                    relative
                        .split('/')
                        .filter(|s| !s.is_empty() && *s != ".")
                        .collect::<Vec<_>>()
                        .join("/"),
                ))
            }
        }
    };
    if sslmode == SslMode::Disable {
        let span = if root_cert.is_some() {
            Some(cx.spans.key_span(&at("root_cert")))
        } else {
            None
        };
        if let Some(span) = span {
            cx.error(
                Diagnostic::warning(
                    span,
                    "`root_cert` has no effect with `sslmode = \"disable\"`",
                )
                .with_help(
                    "use `sslmode = \"verify-full\"` to check the server with it, or remove it",
                ),
            );
        }
    }
    if !host_ok {
        return None;
    }
    Some(ExternalDb {
        host: host.to_owned(),
        port: db.port.unwrap_or(crate::wiring::port::POSTGRES),
        sslmode,
        root_cert,
    })
}

static EMPTY_STACK: raw::StackSection = raw::StackSection {
    name: None,
    bind: None,
};

fn resolve_versions(cx: &mut Cx<'_>, raw: Option<&raw::VersionsSection>) -> Versions {
    let mut tag = |value: Option<&Spanned<String>>, default: &str, key: &str| -> String {
        let Some(value) = value else {
            return default.to_owned();
        };
        let text = value.get_ref();
        if !is_image_tag(text) {
            let help = if text.contains(':') || text.contains('/') {
                format!("give only the tag, e.g. `{key} = \"{default}\"`")
            } else {
                "a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
                    .to_owned()
            };
            cx.error(
                Diagnostic::error(
                    value.span(),
                    format!("`{text}` is not a valid image tag for `{key}`"),
                )
                .with_help(help),
            );
        }
        text.clone()
    };
    let empty = raw::VersionsSection::default();
    let raw = raw.unwrap_or(&empty);
    Versions {
        alloy: tag(raw.alloy.as_ref(), defaults::ALLOY, "alloy"),
        prometheus: tag(raw.prometheus.as_ref(), defaults::PROMETHEUS, "prometheus"),
        loki: tag(raw.loki.as_ref(), defaults::LOKI, "loki"),
        tempo: tag(raw.tempo.as_ref(), defaults::TEMPO, "tempo"),
        grafana: tag(raw.grafana.as_ref(), defaults::GRAFANA, "grafana"),
        postgres: tag(raw.postgres.as_ref(), defaults::POSTGRES, "postgres"),
        node_exporter: tag(
            raw.node_exporter.as_ref(),
            defaults::NODE_EXPORTER,
            "node_exporter",
        ),
        cadvisor: tag(raw.cadvisor.as_ref(), defaults::CADVISOR, "cadvisor"),
        usage_scraper: tag(raw.usage_scraper.as_ref(), images::VERSION, "usage_scraper"),
        alertmanager: tag(
            raw.alertmanager.as_ref(),
            defaults::ALERTMANAGER,
            "alertmanager",
        ),
    }
}

/// The scraper's image reference and, with `[usage] build = true`, the crate version its
/// Dockerfile installs. Settings that cannot take effect are warned about.
fn resolve_scraper_image(
    cx: &mut Cx<'_>,
    usage: &raw::UsageSection,
    versions_raw: Option<&raw::VersionsSection>,
    versions: &Versions,
) -> (String, Option<String>) {
    let tag = &versions.usage_scraper;
    let tag_raw = versions_raw.and_then(|v| v.usage_scraper.as_ref());
    let build = usage.build.as_ref().filter(|b| *b.get_ref());
    if usage.enabled == Some(false) {
        for (key, span) in [
            ("image", usage.image.as_ref().map(Spanned::span)),
            ("build", usage.build.as_ref().map(Spanned::span)),
        ] {
            if let Some(span) = span {
                cx.error(
                    Diagnostic::warning(
                        span,
                        format!("`{key}` in `[usage]` has no effect with `enabled = false`"),
                    )
                    .with_help("remove it, or enable the usage scraper"),
                );
            }
        }
    }
    match (&usage.image, build) {
        (Some(image), Some(build)) => {
            cx.error(
                Diagnostic::error(build.span(), "`[usage]` has both `image` and `build = true`")
                    .with_related(image.span(), "`image` is set here")
                    .with_help(format!(
                        "keep one: `image` runs that image, `build = true` builds usage-scraper {tag} from crates.io"
                    )),
            );
            (image.get_ref().clone(), None)
        }
        (Some(image), None) => {
            let text = image.get_ref();
            if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
                cx.error(
                    Diagnostic::error(
                        image.span(),
                        "`image` in `[usage]` must be an image reference without spaces",
                    )
                    .with_help(format!(
                        "e.g. \"{}\", or remove it for stackc's own image",
                        images::published(images::USAGE_SCRAPER, images::VERSION)
                    )),
                );
            }
            if let Some(tag_raw) = tag_raw {
                cx.error(
                    Diagnostic::warning(
                        tag_raw.span(),
                        "`usage_scraper` in `[versions]` has no effect with `[usage] image`",
                    )
                    .with_related(image.span(), "`image` names the whole reference here")
                    .with_help("put the tag in `image`, and remove `usage_scraper`"),
                );
            }
            (text.clone(), None)
        }
        (None, Some(build)) => {
            // An invalid tag has been reported by `resolve_versions` already.
            if is_image_tag(tag) && !is_crate_version(tag) {
                let span = tag_raw.map_or(0..0, Spanned::span);
                cx.error(
                    Diagnostic::error(
                        span,
                        format!(
                            "`usage_scraper` in `[versions]` must be a crate version with `[usage] build = true`, found `{tag}`"
                        ),
                    )
                    .with_help(format!(
                        "the Dockerfile installs that version of the `usage-scraper` crate, e.g. `usage_scraper = \"{}\"`",
                        images::VERSION
                    ))
                    .with_related(build.span(), "`build = true` is set here"),
                );
            }
            (images::local(images::USAGE_SCRAPER, tag), Some(tag.clone()))
        }
        (None, None) => (images::published(images::USAGE_SCRAPER, tag), None),
    }
}

fn port_setting(raw: &raw::PortsSection, key: PortKey) -> Option<&Spanned<PortSetting>> {
    match key {
        PortKey::Grafana => raw.grafana.as_ref(),
        PortKey::Prometheus => raw.prometheus.as_ref(),
        PortKey::Loki => raw.loki.as_ref(),
        PortKey::Tempo => raw.tempo.as_ref(),
        PortKey::Alloy => raw.alloy.as_ref(),
        PortKey::OtlpGrpc => raw.otlp_grpc.as_ref(),
        PortKey::OtlpHttp => raw.otlp_http.as_ref(),
        PortKey::Postgres => raw.postgres.as_ref(),
        PortKey::NodeExporter => raw.node_exporter.as_ref(),
        PortKey::Cadvisor => raw.cadvisor.as_ref(),
        PortKey::Alertmanager => raw.alertmanager.as_ref(),
    }
}

/// Who holds a host port: its span (if written in the file) and a description.
struct Claim {
    span: Option<Range<usize>>,
    who: String,
}

fn resolve_ports(cx: &mut Cx<'_>, raw: &StackFile) -> Ports {
    let empty = raw::PortsSection::default();
    let section = raw.ports.as_ref().unwrap_or(&empty);
    let mut host = BTreeMap::new();
    let mut claims: HashMap<u16, Claim> = HashMap::new();
    let mut claim = |cx: &mut Cx<'_>, port: u16, span: Option<Range<usize>>, who: String| {
        if let Some(first) = claims.get(&port) {
            let (primary, secondary) = match (&span, &first.span) {
                (Some(here), _) => (here.clone(), first.span.clone()),
                (None, Some(there)) => (there.clone(), None),
                (None, None) => (0..0, None),
            };
            let (this, that) = if span.is_some() {
                (&who, &first.who)
            } else {
                (&first.who, &who)
            };
            let mut d = Diagnostic::error(
                primary,
                format!("host port {port} of {this} is already used by {that}"),
            )
            .with_help("give one of them another port, or `false` for a stack port to leave it unpublished");
            if let Some(secondary) = secondary {
                d = d.with_related(secondary, format!("{that} uses {port} here"));
            } else {
                d.help = Some(format!(
                    "{that} publishes {port} by default: give one of them another port, or set `{}` to `false`",
                    that.trim_matches('`')
                ));
            }
            cx.error(d);
        } else {
            claims.insert(port, Claim { span, who });
        }
    };
    for key in PortKey::ALL {
        let setting = port_setting(section, key);
        let port = match setting.map(|s| *s.get_ref()) {
            Some(PortSetting::Off) => None,
            Some(PortSetting::Port(port)) => Some(port),
            None => Some(key.default_port()),
        };
        // A service the stack does not run publishes nothing (no PostgreSQL without the
        // usage scraper or with an external database; node-exporter or cAdvisor turned off).
        let runs = cx.own_services.contains(&key.service());
        if !runs
            && let Some(setting) = setting
            && matches!(setting.get_ref(), PortSetting::Port(_))
        {
            cx.error(
                Diagnostic::warning(
                    setting.span(),
                    format!("`[ports] {}` has no effect: the stack runs no {}", key.key(), key.service()),
                )
                .with_help(match key {
                    PortKey::Postgres if cx.own_services.contains(&crate::wiring::service::USAGE_SCRAPER) => {
                        "usage events go to the external database of `[components.postgres]`; remove the port"
                    }
                    PortKey::Postgres => "only usage events use PostgreSQL, and `[usage]` is off; remove the port",
                    _ => "`[components]` turns it off; remove the port",
                }),
            );
        }
        let port = port.filter(|_| runs);
        if let Some(port) = port {
            claim(
                cx,
                port,
                setting.map(Spanned::span),
                format!("`[ports] {}`", key.key()),
            );
        }
        host.insert(key, port);
    }
    if let Some(apps) = &raw.apps {
        for (name, app) in apps {
            if let Some(publish) = &app.publish {
                claim(
                    cx,
                    *publish.get_ref(),
                    Some(publish.span()),
                    format!("app `{}`", name.get_ref()),
                );
            }
            for extra in app.ports.iter().flatten() {
                if let Some(publish) = &extra.publish {
                    claim(
                        cx,
                        *publish.get_ref(),
                        Some(publish.span()),
                        format!("app `{}`", name.get_ref()),
                    );
                }
            }
        }
    }
    Ports { host }
}

fn resolve_apps(
    cx: &mut Cx<'_>,
    raw: &StackFile,
    usage: bool,
    global_interval: Duration,
    global_timeout: Duration,
) -> Vec<App> {
    let Some(apps) = &raw.apps else {
        return Vec::new();
    };
    let reserved = cx.own_services.clone();
    let stack_secrets = cx.own_secrets.clone();
    let mut idents: BTreeMap<String, &Spanned<String>> = BTreeMap::new();
    let mut out = Vec::new();
    for (name_spanned, app) in apps {
        let name = name_spanned.get_ref();
        let name_span = name_spanned.span();
        let pointer = format!("/apps/{}", crate::load::pointer_segment(name));
        let header = cx.spans.key_span(&pointer);
        let span = if header.is_empty() {
            name_span.clone()
        } else {
            header
        };

        if name.len() > MAX_SERVICE_NAME && has_service_name_chars(name) {
            cx.error(
                Diagnostic::error(
                    span.clone(),
                    format!(
                        "app name `{name}` is {} characters long; at most {MAX_SERVICE_NAME}",
                        name.len()
                    ),
                )
                .with_help("the name is the app's hostname on the compose network, and a DNS label holds at most 63 characters: shorten it"),
            );
        } else if !is_service_name(name) {
            cx.error(
                Diagnostic::error(
                    span.clone(),
                    format!("`{name}` is not a valid compose service name"),
                )
                .with_help(
                    "use letters, digits, `.`, `_` and `-`, starting with a letter or digit",
                ),
            );
        } else if reserved.contains(&name.as_str()) {
            cx.error(
                Diagnostic::error(
                    span.clone(),
                    format!("app name `{name}` is taken by the stack's own `{name}` service"),
                )
                .with_help("rename the app"),
            );
        }
        let ident = sanitize_ident(name);
        if let Some(first) = idents.get(&ident) {
            cx.error(
                Diagnostic::error(
                    span.clone(),
                    format!(
                        "app names `{}` and `{name}` both become `{ident}` in Alloy labels",
                        first.get_ref()
                    ),
                )
                .with_related(
                    first.span(),
                    format!("`{}` is defined here", first.get_ref()),
                )
                .with_help("rename one of them"),
            );
        } else {
            idents.insert(ident.clone(), name_spanned);
        }

        let place = |key: &str| format!("`{key}` of app `{name}`");
        let source = match (&app.image, &app.build) {
            (Some(image), None) => {
                let text = image.get_ref();
                if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    cx.error(Diagnostic::error(
                        image.span(),
                        format!(
                            "{} must be an image reference without spaces",
                            place("image")
                        ),
                    ));
                }
                AppSource::Image(text.clone())
            }
            (None, Some(build)) => {
                let build_pointer = format!("{pointer}/build");
                let (text, span) = match build {
                    raw::BuildSetting::Context(text) => {
                        (text.clone(), cx.spans.value_span(&build_pointer))
                    }
                    raw::BuildSetting::Table(table) => (
                        table.context.clone(),
                        cx.spans.value_span(&format!("{build_pointer}/context")),
                    ),
                };
                if text.contains("://") || text.starts_with("git@") {
                    cx.error(
                        Diagnostic::error(
                            span,
                            format!("{} is a URL; stackc builds only from a folder", place("build")),
                        )
                        .with_help("clone the repository beside stack.toml and give its path, or run a published `image`"),
                    );
                } else if text.is_empty()
                    || text.starts_with('/')
                    || text.contains('\\')
                    || text.chars().any(char::is_control)
                    || (text.len() >= 2 && text.as_bytes()[1] == b':')
                {
                    cx.error(
                        Diagnostic::error(
                            span,
                            format!(
                                "{} must be a relative path with `/` separators",
                                place("build")
                            ),
                        )
                        .with_help(
                            "write the build context relative to stack.toml, e.g. \"apps/web\"",
                        ),
                    );
                }
                AppSource::Build(text.trim_end_matches('/').to_owned())
            }
            (Some(image), Some(_)) => {
                cx.error(
                    Diagnostic::error(cx.spans.key_span(&format!("{pointer}/build")), format!("app `{name}` has both `image` and `build`"))
                        .with_related(image.span(), "`image` is set here")
                        .with_help("keep one: `image` runs a published image, `build` builds one from a directory"),
                );
                AppSource::Image(image.get_ref().clone())
            }
            (None, None) => {
                let image_pruned = cx.pruned.contains(&format!("{pointer}/image"))
                    || cx.pruned.contains(&format!("{pointer}/build"));
                if !image_pruned {
                    cx.error(
                        Diagnostic::error(
                            span.clone(),
                            format!("app `{name}` needs `image` or `build`"),
                        )
                        .with_help(
                            "add `image = \"registry/name:tag\"` or `build = \"path/to/context\"`",
                        ),
                    );
                }
                AppSource::Image(String::new())
            }
        };

        let port = app
            .port
            .as_ref()
            .map_or(defaults::APP_PORT, |p| *p.get_ref());
        let otlp = resolve_otlp(cx, app, name);
        let metrics = app
            .metrics
            .as_ref()
            .map_or(raw::MetricsSetting::Scrape, |m| *m.get_ref());
        if let Some(setting) = &app.metrics
            && *setting.get_ref() == raw::MetricsSetting::Otlp
            && !otlp
        {
            cx.error(
                Diagnostic::error(
                    setting.span(),
                    format!("app `{name}` sets `metrics = \"otlp\"`, but `otlp = false`"),
                )
                .with_help("OTLP metrics need the OpenTelemetry variables: remove `otlp = false`, or scrape the app (`metrics = true`)"),
            );
        }
        let otlp_logs = app.logs == Some(raw::LogsMode::Otlp);
        if otlp_logs && !otlp {
            cx.error(
                Diagnostic::error(
                    cx.spans.key_span(&format!("{pointer}/logs")),
                    format!("app `{name}` sets `logs = \"otlp\"`, but `otlp = false`"),
                )
                .with_help("OTLP logs need the OpenTelemetry variables: remove `otlp = false`, or collect stdout (`logs = \"stdout\"`)"),
            );
        } else if otlp_logs && usage {
            cx.error(
                Diagnostic::warning(
                    cx.spans.key_span(&format!("{pointer}/logs")),
                    format!("usage events of app `{name}` are not counted with `logs = \"otlp\"`"),
                )
                .with_help("the usage scraper reads `\"usage\": true` JSON lines from stdout; keep `logs = \"stdout\"` for an app that logs usage events, or set `[usage] enabled = false`"),
            );
        }
        let scrape = if metrics == raw::MetricsSetting::Scrape {
            let path = match &app.metrics_path {
                Some(path) => {
                    let text = path.get_ref();
                    if !text.starts_with('/')
                        || text
                            .chars()
                            .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
                    {
                        cx.error(
                            Diagnostic::error(
                                path.span(),
                                format!(
                                    "{} must be a URL path starting with `/`, found `{text}`",
                                    place("metrics_path")
                                ),
                            )
                            .with_help("e.g. \"/metrics\"; no spaces, query or fragment"),
                        );
                    }
                    text.clone()
                }
                None => defaults::METRICS_PATH.to_owned(),
            };
            let interval = app.scrape_interval.as_ref().map(|value| {
                cx.duration_within(
                    Some(value),
                    defaults::SCRAPE_INTERVAL,
                    &place("scrape_interval"),
                    Duration::from_secs(1),
                    Some(Duration::from_secs(3600)),
                )
            });
            let effective_interval = interval.unwrap_or(global_interval);
            let timeout = match &app.scrape_timeout {
                Some(value) => {
                    let d = cx.duration(Some(value), "10s", &place("scrape_timeout"));
                    if d > effective_interval {
                        let mut diag = Diagnostic::error(
                            value.span(),
                            format!(
                                "{} ({}) is longer than the app's scrape interval ({effective_interval})",
                                place("scrape_timeout"),
                                value.get_ref()
                            ),
                        )
                        .with_help("Prometheus refuses a timeout longer than the interval");
                        if let Some(interval) = &app.scrape_interval {
                            diag = diag.with_related(interval.span(), "the interval is set here");
                        }
                        cx.error(diag);
                    }
                    Some(d)
                }
                None => {
                    let inherited = global_timeout.min(effective_interval);
                    (interval.is_some() || inherited != global_timeout).then_some(inherited)
                }
            };
            Some(Scrape {
                path,
                interval,
                timeout,
            })
        } else {
            for (key, span) in [
                ("metrics_path", app.metrics_path.as_ref().map(Spanned::span)),
                (
                    "scrape_interval",
                    app.scrape_interval.as_ref().map(Spanned::span),
                ),
                (
                    "scrape_timeout",
                    app.scrape_timeout.as_ref().map(Spanned::span),
                ),
            ] {
                if let Some(span) = span {
                    cx.error(
                        Diagnostic::warning(
                            span,
                            format!(
                                "{} has no effect with `metrics = {}`",
                                place(key),
                                if metrics == raw::MetricsSetting::Otlp { "\"otlp\"" } else { "false" }
                            ),
                        )
                        .with_help("it sets how Prometheus scrapes the app: remove it, or scrape the app (`metrics = true`)"),
                    );
                }
            }
            None
        };

        let mut env = BTreeMap::new();
        for (key, value) in app.env.iter().flatten() {
            let key_text = key.get_ref();
            if !is_env_name(key_text) {
                cx.error(
                    Diagnostic::error(
                        key.span(),
                        format!("`{key_text}` is not a valid environment variable name"),
                    )
                    .with_help("use letters, digits and `_`, not starting with a digit"),
                );
            }
            if value.get_ref().contains('\0') {
                cx.error(Diagnostic::error(
                    value.span(),
                    format!("the value of `{key_text}` contains a NUL character, which no environment can hold"),
                ));
            }
            if value.get_ref().contains("${") {
                cx.error(
                    Diagnostic::warning(
                        value.span(),
                        format!("`${{...}}` in `env.{key_text}` of app `{name}` stays literal: stackc writes env values as they are, so compose does not read it from .env"),
                    )
                    .with_help(format!(
                        "to pass a host variable, use `secrets = [\"{key_text}\"]`, or map one: `secrets = {{ {key_text} = \"HOST_VARIABLE\" }}`"
                    )),
                );
            } else if looks_secret(key_text) && !value.get_ref().is_empty() {
                cx.error(
                    Diagnostic::warning(value.span(), format!("`{key_text}` looks like a secret, written in stack.toml in plain text"))
                        .with_help(format!(
                            "remove it from `env` and add `secrets = [\"{key_text}\"]` to app `{name}`: the value then comes from the host's environment or .env at `compose up`"
                        )),
                );
            }
            if otlp && key_text == "OTEL_SERVICE_NAME" && value.get_ref() != name {
                cx.error(
                    Diagnostic::warning(value.span(), format!("`OTEL_SERVICE_NAME` replaces the value stackc sets (`{name}`)"))
                        .with_help("trace-to-logs links match a span's service name to the `compose_service` label; keep them equal"),
                );
            }
            env.insert(key_text.clone(), value.get_ref().clone());
        }
        // (name inside the container, host variable, span of the name, span of the host
        // variable) for each secret, as listed or mapped.
        let entries: Vec<(String, String, Range<usize>, Range<usize>)> = match &app.secrets {
            None => Vec::new(),
            Some(raw::Secrets::List(names)) => names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let span = cx.spans.value_span(&format!("{pointer}/secrets/{i}"));
                    (n.clone(), n.clone(), span.clone(), span)
                })
                .collect(),
            Some(raw::Secrets::Map(map)) => map
                .iter()
                .map(|(inside, host)| {
                    let at = format!("{pointer}/secrets/{}", crate::load::pointer_segment(inside));
                    (
                        inside.clone(),
                        host.clone(),
                        cx.spans.key_span(&at),
                        cx.spans.value_span(&at),
                    )
                })
                .collect(),
        };
        let mut secrets = BTreeMap::new();
        for (inside, host, inside_span, host_span) in entries {
            let mut ok = true;
            let mut names = vec![(&inside, &inside_span)];
            if host != inside {
                names.push((&host, &host_span));
            }
            for (text, span) in names {
                if !is_env_name(text) {
                    ok = false;
                    cx.error(
                        Diagnostic::error(
                            span.clone(),
                            format!("`{text}` is not a valid environment variable name"),
                        )
                        .with_help("use letters, digits and `_`, not starting with a digit"),
                    );
                }
            }
            if !ok {
                continue;
            }
            if secrets.contains_key(&inside) {
                cx.error(Diagnostic::error(
                    inside_span,
                    format!("secret `{inside}` is listed twice"),
                ));
                continue;
            }
            if let Some((key, _)) = app
                .env
                .iter()
                .flatten()
                .find(|(k, _)| k.get_ref() == &inside)
            {
                cx.error(
                    Diagnostic::error(
                        inside_span.clone(),
                        format!("`{inside}` is both a secret and a literal `env` value"),
                    )
                    .with_related(key.span(), "the literal is here")
                    .with_help("keep the secret and remove the literal from `env`"),
                );
            }
            if let Some(what) = stack_secrets.get(host.as_str()) {
                cx.error(
                    Diagnostic::error(
                        host_span,
                        format!(
                            "secret `{host}` of app `{name}` is the stack's own `{host}` ({what}): both would read one value from .env"
                        ),
                    )
                    .with_help(format!(
                        "map it to a host variable of its own: `secrets = {{ {inside} = \"{}_{inside}\" }}` passes host `{}_{inside}` in as `{inside}`",
                        env_prefix(name),
                        env_prefix(name)
                    )),
                );
            }
            secrets.insert(inside, host);
        }

        if app.pull_policy.is_some() && matches!(source, AppSource::Build(_)) {
            cx.error(
                Diagnostic::error(
                    cx.spans.key_span(&format!("{pointer}/pull_policy")),
                    format!("app `{name}` sets `pull_policy`, but it is built, not pulled"),
                )
                .with_help("remove `pull_policy`, or run a published `image` instead of `build`"),
            );
        }
        let runtime = resolve_runtime(cx, app, name, &pointer);
        out.push(App {
            name: name.clone(),
            ident,
            source,
            port,
            scrape,
            otlp,
            otlp_metrics: metrics == raw::MetricsSetting::Otlp && otlp,
            otlp_logs: otlp_logs && otlp,
            publish: app.publish.as_ref().map(|p| *p.get_ref()),
            env,
            secrets,
            pull_policy: app.pull_policy.map(crate::raw::PullPolicy::as_str),
            metrics_port: app.metrics_port.as_ref().map_or(port, |p| *p.get_ref()),
            ports: runtime.ports,
            command: runtime.command,
            entrypoint: runtime.entrypoint,
            working_dir: runtime.working_dir,
            user: runtime.user,
            volumes: runtime.volumes,
            depends_on: runtime.depends_on,
            healthcheck: runtime.healthcheck,
            labels: runtime.labels,
            target_labels: runtime.target_labels,
            memory: runtime.memory,
            cpus: runtime.cpus,
            build_options: runtime.build_options,
            slos: resolve_slos(cx, app, name, &pointer, otlp),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    check_dependencies(cx, raw, &out);
    out
}

/// What an app's container runs with, beyond image and environment.
struct Runtime {
    ports: Vec<crate::model::AppPort>,
    command: Option<crate::model::Command>,
    entrypoint: Option<crate::model::Command>,
    working_dir: Option<String>,
    user: Option<String>,
    volumes: Vec<crate::model::Volume>,
    depends_on: Vec<String>,
    healthcheck: Option<crate::model::Healthcheck>,
    labels: BTreeMap<String, String>,
    target_labels: BTreeMap<String, String>,
    memory: Option<String>,
    cpus: Option<String>,
    build_options: crate::model::BuildOptions,
}

fn command(raw: Option<&raw::CommandSetting>) -> Option<crate::model::Command> {
    raw.map(|c| match c {
        raw::CommandSetting::Shell(s) => crate::model::Command::Shell(s.clone()),
        raw::CommandSetting::Exec(v) => crate::model::Command::Exec(v.clone()),
    })
}

/// Named volumes the stack itself declares; an app's volume may not take one.
const STACK_VOLUMES: [&str; 7] = [
    "alloy-data",
    "alertmanager-data",
    "grafana-data",
    "loki-data",
    "postgres-data",
    "prometheus-data",
    "tempo-data",
];

fn resolve_runtime(cx: &mut Cx<'_>, app: &raw::App, name: &str, pointer: &str) -> Runtime {
    use crate::model::{AppPort, BuildOptions, HealthTest, Volume, VolumeSource};
    let place = |key: &str| format!("`{key}` of app `{name}`");

    let ports = app
        .ports
        .iter()
        .flatten()
        .map(|p| AppPort {
            container: *p.container.get_ref(),
            publish: p.publish.as_ref().map(|h| *h.get_ref()),
            udp: p.protocol == Some(raw::Protocol::Udp),
        })
        .collect();

    let mut volumes = Vec::new();
    for volume in app.volumes.iter().flatten() {
        let text = volume.get_ref();
        let parts: Vec<&str> = text.split(':').collect();
        let (source, target, mode) = match parts.as_slice() {
            [s, t] => (*s, *t, None),
            [s, t, m] => (*s, *t, Some(*m)),
            _ => ("", "", None),
        };
        let bad = |cx: &mut Cx<'_>, why: String, help: &str| {
            cx.error(
                Diagnostic::error(
                    volume.span(),
                    format!("volume `{text}` of app `{name}`: {why}"),
                )
                .with_help(help.to_owned()),
            );
        };
        if source.is_empty() || target.is_empty() {
            bad(
                cx,
                "expected `source:target` or `source:target:ro`".into(),
                "e.g. \"orders-data:/var/lib/postgresql\" or \"./config:/etc/app:ro\"",
            );
            continue;
        }
        if !target.starts_with('/') {
            bad(
                cx,
                format!("the target `{target}` is not an absolute path in the container"),
                "e.g. \"/var/lib/app\"",
            );
            continue;
        }
        if !matches!(mode, None | Some("ro" | "rw")) {
            bad(
                cx,
                format!(
                    "the mode `{}` is not `ro` or `rw`",
                    mode.unwrap_or_default()
                ),
                "append `:ro` for read-only, or nothing",
            );
            continue;
        }
        let source = if let Some(rel) = source
            .strip_prefix("./")
            .or_else(|| (source == ".").then_some(""))
        {
            let (_, escapes) = path_depth(rel);
            if escapes {
                bad(
                    cx,
                    "the bind mount leaves the folder of stack.toml".into(),
                    "keep relative bind mounts inside the folder of stack.toml, or give an absolute path",
                );
                continue;
            }
            VolumeSource::Relative(rel.trim_end_matches('/').to_owned())
        } else if source.starts_with("../") || source == ".." {
            bad(
                cx,
                "the bind mount leaves the folder of stack.toml".into(),
                "keep relative bind mounts inside the folder of stack.toml, or give an absolute path",
            );
            continue;
        } else if source.starts_with('/') {
            VolumeSource::Absolute(source.to_owned())
        } else if is_service_name(source) {
            if STACK_VOLUMES.contains(&source) {
                bad(
                    cx,
                    format!("`{source}` is one of the stack's own volumes"),
                    "name the volume after the app, e.g. \"<app>-data\"",
                );
                continue;
            }
            VolumeSource::Named(source.to_owned())
        } else {
            bad(
                cx,
                format!("the source `{source}` is neither a volume name nor a path"),
                "start a bind mount with `./` (relative to stack.toml) or `/`",
            );
            continue;
        };
        volumes.push(Volume {
            source,
            target: target.to_owned(),
            read_only: mode == Some("ro"),
        });
    }

    let mut depends_on: Vec<String> = app
        .depends_on
        .iter()
        .flatten()
        .map(|d| d.get_ref().clone())
        .collect();
    depends_on.sort();
    depends_on.dedup();

    let healthcheck = app.healthcheck.as_ref().and_then(|h| {
        let at = format!("{pointer}/healthcheck");
        let test = match (&h.http, &h.cmd) {
            (Some(path), None) => {
                let text = path.get_ref();
                if !text.starts_with('/') || text.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\'' || c == '"') {
                    cx.error(Diagnostic::error(path.span(), format!("`http` of {} must be a URL path starting with `/`, found `{text}`", place("healthcheck"))));
                    return None;
                }
                HealthTest::Http(text.clone())
            }
            (None, Some(cmd)) => {
                if cmd.get_ref().is_empty() || cmd.get_ref()[0].is_empty() {
                    cx.error(Diagnostic::error(cmd.span(), format!("`cmd` of {} is empty", place("healthcheck"))));
                    return None;
                }
                HealthTest::Cmd(cmd.get_ref().clone())
            }
            (Some(_), Some(_)) | (None, None) => {
                cx.error(
                    Diagnostic::error(cx.spans.key_span(&at), format!("{} needs exactly one of `http` and `cmd`", place("healthcheck")))
                        .with_help("`http = \"/healthz\"` fetches a path on the app's port; `cmd = [\"...\"]` runs a command"),
                );
                return None;
            }
        };
        let interval = cx.duration_within(
            h.interval.as_ref(),
            "10s",
            &format!("`interval` of {}", place("healthcheck")),
            Duration::from_secs(1),
            Some(Duration::from_secs(3600)),
        );
        Some(crate::model::Healthcheck {
            test,
            interval,
            retries: h.retries.as_ref().map_or(3, |r| *r.get_ref()),
        })
    });

    let labels = {
        let mut out = BTreeMap::new();
        for (key, value) in app.labels.iter().flatten() {
            let k = key.get_ref();
            if k.is_empty()
                || k.chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '=')
            {
                cx.error(Diagnostic::error(
                    key.span(),
                    format!("`{k}` in {} is not a label name", place("labels")),
                ));
            } else if k.starts_with("com.docker.compose.") {
                cx.error(
                    Diagnostic::error(
                        key.span(),
                        format!("`{k}` in {} is compose's own label", place("labels")),
                    )
                    .with_help("Alloy finds containers by compose's labels: choose another name"),
                );
            } else {
                out.insert(k.clone(), value.get_ref().clone());
            }
        }
        out
    };
    let target_labels = resolve_labels(
        cx,
        app.target_labels.as_ref(),
        &place("target_labels"),
        &["job", "instance", crate::wiring::label::COMPOSE_SERVICE],
        "stackc (the job, the target and the compose service)",
    );

    let (memory, cpus) = match &app.resources {
        None => (None, None),
        Some(r) => {
            let memory = r.memory.as_ref().and_then(|m| {
                let text = m.get_ref().to_ascii_lowercase();
                let digits = text.trim_end_matches(['b', 'k', 'm', 'g']);
                let unit_ok = text.len() - digits.len() <= 1;
                if digits.is_empty() || !unit_ok || digits.parse::<u64>().map_or(true, |n| n == 0) {
                    cx.error(
                        Diagnostic::error(m.span(), format!("`memory` of {} must be a number and `b`, `k`, `m` or `g`, found `{}`", place("resources"), m.get_ref()))
                            .with_help("e.g. \"512m\" or \"2g\""),
                    );
                    None
                } else {
                    Some(text)
                }
            });
            let cpus = r.cpus.as_ref().map(|c| {
                let v = *c.get_ref();
                let text = format!("{v}");
                text
            });
            (memory, cpus)
        }
    };

    let build_options = match &app.build {
        Some(raw::BuildSetting::Table(table)) => BuildOptions {
            dockerfile: table.dockerfile.clone(),
            target: table.target.clone(),
            args: table.args.clone().unwrap_or_default(),
        },
        _ => BuildOptions::default(),
    };

    Runtime {
        ports,
        command: command(app.command.as_ref()),
        entrypoint: command(app.entrypoint.as_ref()),
        working_dir: app.working_dir.as_ref().map(|w| w.get_ref().clone()),
        user: app.user.as_ref().map(|u| u.get_ref().clone()),
        volumes,
        depends_on,
        healthcheck,
        labels,
        target_labels,
        memory,
        cpus,
        build_options,
    }
}

/// `depends_on`: every name is an app, no app waits for itself, and no cycle.
fn check_dependencies(cx: &mut Cx<'_>, raw: &StackFile, apps: &[App]) {
    let names: BTreeSet<&str> = apps.iter().map(|a| a.name.as_str()).collect();
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, app) in raw.apps.iter().flatten() {
        for dep in app.depends_on.iter().flatten() {
            let d = dep.get_ref();
            if d == name.get_ref() {
                cx.error(Diagnostic::error(
                    dep.span(),
                    format!("app `{d}` depends on itself"),
                ));
            } else if !names.contains(d.as_str()) {
                let mut diag = Diagnostic::error(
                    dep.span(),
                    format!(
                        "app `{}` depends on `{d}`, which is not an app of this stack",
                        name.get_ref()
                    ),
                );
                if let Some(help) = crate::diagnostic::did_you_mean(d, names.iter().copied()) {
                    diag = diag.with_help(help);
                } else {
                    diag = diag.with_help(
                        "the stack's own services start in their own order; list only apps",
                    );
                }
                cx.error(diag);
            } else {
                edges
                    .entry(name.get_ref().as_str())
                    .or_default()
                    .push(d.as_str());
            }
        }
    }
    // A cycle: depth-first search, reporting each cycle once at the first app that closes it.
    fn visit<'a>(
        node: &'a str,
        edges: &BTreeMap<&'a str, Vec<&'a str>>,
        state: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
        found: &mut Vec<Vec<&'a str>>,
    ) {
        state.insert(node, 1);
        path.push(node);
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next).copied().unwrap_or(0) {
                0 => visit(next, edges, state, path, found),
                1 => {
                    let start = path.iter().position(|n| n == next).unwrap_or(0);
                    found.push(path[start..].to_vec());
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(node, 2);
    }
    let mut state = BTreeMap::new();
    let mut found = Vec::new();
    for node in edges.keys() {
        if state.get(node).copied().unwrap_or(0) == 0 {
            visit(node, &edges, &mut state, &mut Vec::new(), &mut found);
        }
    }
    for cycle in found {
        let first = cycle[0];
        let span = cx.spans.key_span(&format!(
            "/apps/{}/depends_on",
            crate::load::pointer_segment(first)
        ));
        let mut ring: Vec<&str> = cycle.clone();
        ring.push(first);
        cx.error(
            Diagnostic::error(
                span,
                format!("`depends_on` makes a cycle: {}", ring.join(" -> ")),
            )
            .with_help("compose cannot start any app of a cycle: remove one dependency"),
        );
    }
}

/// The highest objective whose fast-burn page can still fire: 14.4 times the budget must
/// stay below 100 % (objective above 93.06 %).
const MIN_PAGEABLE_PPM: u32 = 930_556;

/// `[apps.x.slo]`: availability and latency objectives, measured on Tempo's span metrics.
fn resolve_slos(
    cx: &mut Cx<'_>,
    app: &raw::App,
    name: &str,
    pointer: &str,
    otlp: bool,
) -> Vec<crate::model::Slo> {
    let Some(slo) = &app.slo else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if !otlp {
        cx.error(
            Diagnostic::error(
                cx.spans.key_span(&format!("{pointer}/slo")),
                format!("app `{name}` has an `slo`, but `otlp = false`: there is nothing to measure it on"),
            )
            .with_help("objectives are measured on the app's server spans (Tempo's span metrics): remove `otlp = false` and have the app send traces"),
        );
    }
    if let Some(availability) = &slo.availability
        && let Some(ppm) = percentage(cx, availability, &format!("`availability` of app `{name}`"))
    {
        out.push(crate::model::Slo {
            key: "availability",
            objective_ppm: ppm,
            latency: None,
        });
    }
    if let Some(latency) = &slo.latency {
        for (key, ppm, value) in [
            ("p95", 950_000, latency.p95.as_ref()),
            ("p99", 990_000, latency.p99.as_ref()),
            ("p999", 999_000, latency.p999.as_ref()),
        ] {
            let Some(value) = value else { continue };
            let threshold = match Duration::parse(value.get_ref()) {
                Ok(d) => d,
                Err(why) => {
                    cx.error(
                        Diagnostic::error(
                            value.span(),
                            format!(
                                "invalid duration `{}` for the `{key}` latency objective of app `{name}`: {why}",
                                value.get_ref()
                            ),
                        )
                        .with_help("a latency threshold is a duration, e.g. `p99 = \"500ms\"`"),
                    );
                    continue;
                }
            };
            if threshold > Duration::from_secs(3600) {
                cx.error(
                    Diagnostic::error(
                        value.span(),
                        format!("the `{key}` latency objective of app `{name}` is longer than 1h"),
                    )
                    .with_help("Tempo's span-metrics histogram holds request durations up to about an hour"),
                );
                continue;
            }
            out.push(crate::model::Slo {
                key,
                objective_ppm: ppm,
                latency: Some(threshold),
            });
        }
    }
    out
}

/// `"99.5%"` in parts per million; an error (and `None`) unless strictly between 0 and 100 %.
fn percentage(cx: &mut Cx<'_>, value: &Spanned<String>, place: &str) -> Option<u32> {
    let text = value.get_ref().trim();
    let number = text.strip_suffix('%').map(str::trim);
    let parsed = number.and_then(|n| {
        let valid = !n.is_empty()
            && n.chars().all(|c| c.is_ascii_digit() || c == '.')
            && n.matches('.').count() <= 1
            && !n.starts_with('.')
            && !n.ends_with('.');
        valid.then(|| n.parse::<f64>().ok()).flatten()
    });
    let Some(percent) = parsed else {
        cx.error(
            Diagnostic::error(
                value.span(),
                format!("{place} must be a percentage, found `{}`", value.get_ref()),
            )
            .with_help("write the share of good requests with a `%`, e.g. \"99.5%\""),
        );
        return None;
    };
    if percent >= 100.0 || percent <= 0.0 {
        cx.error(
            Diagnostic::error(
                value.span(),
                format!("{place} must be above 0% and below 100%, found `{}`", value.get_ref()),
            )
            .with_help("100% leaves no error budget: every failed request would page; common objectives are \"99%\", \"99.5%\" and \"99.9%\""),
        );
        return None;
    }
    let ppm = (percent * 10_000.0).round();
    if (ppm - percent * 10_000.0).abs() > 1e-6 || ppm >= 1_000_000.0 {
        cx.error(
            Diagnostic::error(
                value.span(),
                format!("{place} has more than four decimals: `{}`", value.get_ref()),
            )
            .with_help("e.g. \"99.99%\""),
        );
        return None;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let ppm = ppm as u32;
    if ppm < MIN_PAGEABLE_PPM {
        cx.error(
            Diagnostic::warning(
                value.span(),
                format!("{place} is below 93.06%: its fast-burn page can never fire"),
            )
            .with_help("the page fires when 14.4 times the error budget is burnt; with a budget above 6.94% that is more than every request failing. The slower ticket alerts still work"),
        );
    }
    Some(ppm)
}

/// `[alerts]`: receivers (credentials only through `.env` variables) and the routes.
fn resolve_alerts(cx: &mut Cx<'_>, raw: &StackFile, apps: &[App]) -> crate::model::Alerts {
    use crate::model::{Receiver, ReceiverKind};
    let empty = raw::AlertsSection::default();
    let section = raw.alerts.as_ref().unwrap_or(&empty);
    let own_secrets: Vec<&str> = cx.own_secrets.keys().copied().collect();
    let mut receivers = Vec::new();
    for (name, receiver) in section.receivers.iter().flatten() {
        let name_text = name.get_ref();
        let pointer = format!(
            "/alerts/receivers/{}",
            crate::load::pointer_segment(name_text)
        );
        let header = cx.spans.key_span(&pointer);
        let header = if header.is_empty() {
            name.span()
        } else {
            header
        };
        if !is_receiver_name(name_text) {
            cx.error(
                Diagnostic::error(
                    header.clone(),
                    format!("`{name_text}` is not a valid receiver name"),
                )
                .with_help("use letters, digits, `_` and `-`, starting with a letter"),
            );
        }
        if name_text == crate::wiring::alert::NO_RECEIVER {
            cx.error(
                Diagnostic::error(header.clone(), format!("`{name_text}` is the name of stackc's built-in receiver that notifies no one"))
                    .with_help("give the receiver another name"),
            );
        }
        let place = format!("receiver `{name_text}`");
        for (key, value, instead) in [
            ("url", receiver.url.as_ref(), "url_secret"),
            (
                "auth_password",
                receiver.auth_password.as_ref(),
                "auth_password_secret",
            ),
        ] {
            if let Some(value) = value {
                cx.error(
                    Diagnostic::error(
                        value.span(),
                        format!("`{key}` of {place} is written inline; it is a credential and must come from a secret"),
                    )
                    .with_help(format!(
                        "put it in .env as a variable, e.g. `ALERT_{}={}`, and write `{instead} = \"ALERT_{}\"`: generated files never hold it",
                        name_text.to_ascii_uppercase().replace('-', "_"),
                        if key == "url" { "https://..." } else { "..." },
                        name_text.to_ascii_uppercase().replace('-', "_"),
                    )),
                );
            }
        }
        let secret = |cx: &mut Cx<'_>,
                      key: &str,
                      value: Option<&Spanned<String>>|
         -> Option<String> {
            let value = value?;
            let text = value.get_ref();
            if !is_env_name(text) {
                cx.error(
                    Diagnostic::error(value.span(), format!("`{key}` of {place} must name an environment variable, found `{text}`"))
                        .with_help("use letters, digits and `_`, not starting with a digit, e.g. \"ALERT_WEBHOOK_URL\"; the value goes in .env"),
                );
            } else if own_secrets.contains(&text.as_str()) {
                cx.error(
                    Diagnostic::error(
                        value.span(),
                        format!("`{text}` is one of the stack's own secrets"),
                    )
                    .with_help("give the receiver's secret its own variable name"),
                );
            } else if let Some(app) = apps
                .iter()
                .find(|a| a.secrets.values().any(|host| host == text))
            {
                cx.error(
                    Diagnostic::error(value.span(), format!("`{text}` is also a secret of app `{}`", app.name))
                        .with_help("give the receiver's secret its own variable name: an app should never see the alerting credentials"),
                );
            }
            Some(text.clone())
        };
        let Some(kind) = &receiver.kind else {
            cx.error(
                Diagnostic::error(header.clone(), format!("{place} needs a `kind`"))
                    .with_help("add `kind = \"email\"`, `\"webhook\"` or `\"slack\"`"),
            );
            continue;
        };
        let field = |key: &str, v: Option<&Spanned<String>>| v.map(|v| (key.to_owned(), v.span()));
        let fields: Vec<(String, std::ops::Range<usize>)> = [
            field("to", receiver.to.as_ref()),
            field("from", receiver.from.as_ref()),
            field("smarthost", receiver.smarthost.as_ref()),
            field("auth_username", receiver.auth_username.as_ref()),
            field(
                "auth_password_secret",
                receiver.auth_password_secret.as_ref(),
            ),
            receiver
                .require_tls
                .as_ref()
                .map(|v| ("require_tls".to_owned(), v.span())),
            field("url_secret", receiver.url_secret.as_ref()),
            field("channel", receiver.channel.as_ref()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let allowed: &[&str] = match kind.get_ref() {
            raw::ReceiverKind::Email => &[
                "to",
                "from",
                "smarthost",
                "auth_username",
                "auth_password_secret",
                "require_tls",
            ],
            raw::ReceiverKind::Webhook => &["url_secret"],
            raw::ReceiverKind::Slack => &["url_secret", "channel"],
        };
        for (key, span) in &fields {
            if !allowed.contains(&key.as_str()) {
                cx.error(
                    Diagnostic::error(
                        span.clone(),
                        format!(
                            "`{key}` does not apply to {place}, a `{}` receiver",
                            kind.get_ref().as_str()
                        ),
                    )
                    .with_help(format!(
                        "a `{}` receiver takes {}",
                        kind.get_ref().as_str(),
                        allowed
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
            }
        }
        let required = |cx: &mut Cx<'_>, key: &str, value: Option<&Spanned<String>>| -> String {
            match value {
                Some(v) if !v.get_ref().trim().is_empty() => v.get_ref().clone(),
                Some(v) => {
                    cx.error(Diagnostic::error(
                        v.span(),
                        format!("`{key}` of {place} is empty"),
                    ));
                    String::new()
                }
                None => {
                    cx.error(Diagnostic::error(
                        header.clone(),
                        format!("{place} (`{}`) needs `{key}`", kind.get_ref().as_str()),
                    ));
                    String::new()
                }
            }
        };
        let resolved = match kind.get_ref() {
            raw::ReceiverKind::Email => {
                let to = required(cx, "to", receiver.to.as_ref());
                let from = required(cx, "from", receiver.from.as_ref());
                let smarthost = required(cx, "smarthost", receiver.smarthost.as_ref());
                if let Some(host) = &receiver.smarthost
                    && !is_host_port(host.get_ref())
                {
                    cx.error(
                        Diagnostic::error(
                            host.span(),
                            format!(
                                "`smarthost` of {place} must be `host:port`, found `{}`",
                                host.get_ref()
                            ),
                        )
                        .with_help("e.g. \"smtp.example.com:587\""),
                    );
                }
                ReceiverKind::Email {
                    to,
                    from,
                    smarthost,
                    auth_username: receiver.auth_username.as_ref().map(|u| u.get_ref().clone()),
                    password_secret: secret(
                        cx,
                        "auth_password_secret",
                        receiver.auth_password_secret.as_ref(),
                    ),
                    require_tls: receiver.require_tls.as_ref().is_none_or(|t| *t.get_ref()),
                }
            }
            raw::ReceiverKind::Webhook | raw::ReceiverKind::Slack => {
                let url_secret = match secret(cx, "url_secret", receiver.url_secret.as_ref()) {
                    Some(s) => s,
                    None => {
                        if receiver.url.is_none() {
                            cx.error(
                                Diagnostic::error(header.clone(), format!("{place} (`{}`) needs `url_secret`", kind.get_ref().as_str()))
                                    .with_help("name the .env variable that holds the URL, e.g. `url_secret = \"ALERT_WEBHOOK_URL\"`"),
                            );
                        }
                        String::new()
                    }
                };
                if *kind.get_ref() == raw::ReceiverKind::Webhook {
                    ReceiverKind::Webhook { url_secret }
                } else {
                    ReceiverKind::Slack {
                        url_secret,
                        channel: receiver.channel.as_ref().map(|c| c.get_ref().clone()),
                    }
                }
            }
        };
        receivers.push(Receiver {
            name: name_text.clone(),
            kind: resolved,
        });
    }
    let names: Vec<&str> = receivers.iter().map(|r| r.name.as_str()).collect();
    let reference =
        |cx: &mut Cx<'_>, key: &str, value: Option<&Spanned<String>>| -> Option<String> {
            let value = value?;
            let text = value.get_ref();
            if !names.contains(&text.as_str()) {
                let mut d = Diagnostic::error(
                    value.span(),
                    format!("`{key}` names an unknown receiver `{text}`"),
                );
                d = match crate::diagnostic::did_you_mean(text, names.iter().copied()) {
                    Some(close) => d.with_help(close),
                    None if names.is_empty() => d.with_help(format!(
                        "define it as `[alerts.receivers.{text}]` with a `kind`"
                    )),
                    None => d.with_help(format!(
                        "the receivers are {}",
                        names
                            .iter()
                            .map(|n| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                };
                cx.error(d);
            }
            Some(text.clone())
        };
    let default_receiver = reference(cx, "default_receiver", section.default_receiver.as_ref());
    let critical_receiver = reference(cx, "critical_receiver", section.critical_receiver.as_ref());
    let warning_receiver = reference(cx, "warning_receiver", section.warning_receiver.as_ref());
    let group_wait = cx.duration_within(
        section.group_wait.as_ref(),
        defaults::GROUP_WAIT,
        "`group_wait` in `[alerts]`",
        Duration::from_secs(1),
        Some(Duration::from_secs(3600)),
    );
    let group_interval = cx.duration_within(
        section.group_interval.as_ref(),
        defaults::GROUP_INTERVAL,
        "`group_interval` in `[alerts]`",
        Duration::from_secs(1),
        Some(Duration::from_secs(24 * 3600)),
    );
    let repeat_interval = cx.duration_within(
        section.repeat_interval.as_ref(),
        defaults::REPEAT_INTERVAL,
        "`repeat_interval` in `[alerts]`",
        Duration::from_secs(60),
        Some(Duration::from_secs(7 * 24 * 3600)),
    );
    if let Some(section_span) = raw.alerts.as_ref().map(|_| cx.spans.key_span("/alerts"))
        && !receivers.is_empty()
        && default_receiver.is_none()
        && (critical_receiver.is_none() || warning_receiver.is_none())
    {
        cx.error(
            Diagnostic::warning(
                section_span,
                "`[alerts]` has receivers, but some alerts reach none of them",
            )
            .with_help(
                "set `default_receiver`, or both `critical_receiver` and `warning_receiver`",
            ),
        );
    }
    for (name, receiver) in section.receivers.iter().flatten() {
        let used = [&default_receiver, &critical_receiver, &warning_receiver]
            .iter()
            .any(|r| r.as_deref() == Some(name.get_ref().as_str()));
        if !used && receiver.kind.is_some() {
            cx.error(
                Diagnostic::warning(
                    name.span(),
                    format!("receiver `{}` is never used", name.get_ref()),
                )
                .with_help(
                    "name it in `default_receiver`, `critical_receiver` or `warning_receiver`",
                ),
            );
        }
    }
    let differs = |r: Option<String>| r.filter(|r| Some(r) != default_receiver.as_ref());
    crate::model::Alerts {
        receivers,
        critical_receiver: differs(critical_receiver),
        warning_receiver: differs(warning_receiver),
        default_receiver,
        group_wait,
        group_interval,
        repeat_interval,
    }
}

/// Alertmanager receiver names as stackc accepts them: `[A-Za-z][A-Za-z0-9_-]*`.
fn is_receiver_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// An app's `otlp`, or its deprecated alias `traces` (a warning; both together are an error).
fn resolve_otlp(cx: &mut Cx<'_>, app: &raw::App, name: &str) -> bool {
    match (&app.otlp, &app.traces) {
        (Some(otlp), Some(traces)) => {
            cx.error(
                Diagnostic::error(
                    traces.span(),
                    format!("app `{name}` sets both `otlp` and its old name `traces`"),
                )
                .with_related(otlp.span(), "`otlp` is set here")
                .with_help("remove `traces`"),
            );
            *otlp.get_ref()
        }
        (Some(otlp), None) => *otlp.get_ref(),
        (None, Some(traces)) => {
            cx.error(
                Diagnostic::warning(
                    traces.span(),
                    format!("`traces` of app `{name}` is deprecated; it is now called `otlp`"),
                )
                .with_help(format!(
                    "write `otlp = {}`: it covers traces, metrics and logs",
                    traces.get_ref()
                )),
            );
            *traces.get_ref()
        }
        (None, None) => true,
    }
}

/// `[logs] level_field`: JSON keys (`[A-Za-z_@][A-Za-z0-9_@-]*`) joined by `.`.
fn is_field_path(path: &str) -> bool {
    path.split('.').all(|key| {
        let mut chars = key.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '@')
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '@' | '-'))
    })
}

/// `[a-z0-9][a-z0-9_-]*`: compose's rule for project names.
pub fn is_project_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn suggest_project_name(name: &str) -> String {
    let mut out: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    out = out.trim_start_matches(['-', '_']).to_owned();
    if out.is_empty() {
        "stack".to_owned()
    } else {
        out
    }
}

/// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`: the compose spec's service names (pattern `^[a-zA-Z0-9._-]+$`),
/// also required to start with a letter or digit so that they make valid container names.
pub(crate) fn is_service_name(name: &str) -> bool {
    has_service_name_chars(name) && name.len() <= MAX_SERVICE_NAME
}

/// Letters, digits, `_`, `.`, `-`, starting with a letter or digit (any length).
fn has_service_name_chars(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn is_sql_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Docker's tag grammar: `[\w][\w.-]{0,127}`.
fn is_image_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    tag.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `MAJOR.MINOR.PATCH` with an optional `-pre-release`: what `cargo install crate@VERSION`
/// takes as one exact version (no `+build` part: a Docker tag cannot hold a `+`).
fn is_crate_version(text: &str) -> bool {
    let (core, pre) = match text.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (text, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    numbers.len() == 3
        && numbers.iter().all(|n| {
            !n.is_empty()
                && n.chars().all(|c| c.is_ascii_digit())
                && (n.len() == 1 || !n.starts_with('0'))
        })
        && pre.is_none_or(|pre| {
            pre.split('.').all(|part| {
                !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
        })
}

/// `*PASSWORD*`, `*TOKEN*`, `*SECRET*`, `*_KEY`.
fn looks_secret(key: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    upper.contains("PASSWORD")
        || upper.contains("TOKEN")
        || upper.contains("SECRET")
        || upper.ends_with("_KEY")
        || upper == "KEY"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_project_name("demo"));
        assert!(is_project_name("9-lives_x"));
        assert!(!is_project_name("Demo"));
        assert!(!is_project_name("-x"));
        assert!(!is_project_name(""));
        assert!(is_service_name("dice-roller"));
        assert!(is_service_name("My.App_2"));
        assert!(!is_service_name("-x"));
        assert!(!is_service_name("a b"));
        assert!(!is_service_name("é"));
        assert!(is_env_name("_A1"));
        assert!(!is_env_name("1A"));
        assert!(!is_env_name("A-B"));
        assert!(is_image_tag("v1.18.1"));
        assert!(!is_image_tag("grafana/grafana:13"));
        assert!(!is_image_tag(".x"));
        assert_eq!(suggest_project_name("My Stack"), "my-stack");
        for version in ["0.1.0", "10.20.30", "1.0.0-rc.1", "1.0.0-alpha-2"] {
            assert!(is_crate_version(version), "{version}");
        }
        for version in [
            "0.1",
            "v0.1.0",
            "latest",
            "01.0.0",
            "1.0.0-",
            "1.0.0-a..b",
            "1.0.0+x",
        ] {
            assert!(!is_crate_version(version), "{version}");
        }
    }

    #[test]
    fn secret_looking_keys() {
        for key in [
            "DB_PASSWORD",
            "api_token",
            "CLIENT_SECRET",
            "STRIPE_KEY",
            "KEY",
        ] {
            assert!(looks_secret(key), "{key}");
        }
        for key in ["KEYBOARD", "MONKEY", "FEATURE_X", "LOG_LEVEL"] {
            assert!(!looks_secret(key), "{key}");
        }
    }
}
