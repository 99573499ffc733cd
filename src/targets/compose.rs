//! `compose.yaml`, `.env.example` and `.gitignore` (which keeps `.env` out of git): the
//! services of the stack and the apps, their images, ports (bound to `[stack].bind`),
//! health checks, start order and named volumes.
//!
//! Escaping: the template JSON-encodes every value; values that compose would
//! interpolate have `$` doubled here first, so an app's `env` reaches it literally.
//! Secrets are `${VAR:?…}` references to the user's `.env`, never values; Alertmanager's
//! are compose `secrets` (files under `/run/secrets/`) created from `.env` variables.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{HEADER, Options, OutputFile};
use crate::model::{AppSource, HealthTest, PortKey, Stack, VolumeSource};
use crate::templates::Templates;
use crate::wiring::{db, port, secret, service};

/// Load-bearing: used by `templates/compose/compose.yaml.j2`.
#[derive(Serialize)]
struct Context {
    name: String,
    /// `--storage.tsdb.retention.time=…` for a Prometheus older than 3.8, which cannot
    /// read retention from its config file; `None` when prometheus.yml carries it.
    prometheus_retention_flag: Option<String>,
    /// node-exporter runs in the host's network namespace (see `node_exporter_on_host`).
    node_exporter_host: Option<NodeExporterHost>,
    services: Services,
    /// The folders of your own files (dashboards, rules, targets), mounted read-only.
    extend: Extend,
    usage: Option<UsageContext>,
    apps: Vec<AppContext>,
    volumes: Vec<VolumeName>,
    /// Alertmanager's secrets: compose secrets of the same name, from `.env` variables,
    /// mounted at `/run/secrets/<name>`.
    alert_secrets: Vec<String>,
    /// Prometheus's remote-write credentials, the same way.
    prometheus_secrets: Vec<String>,
    /// Every compose secret (top level), each from the `.env` variable of its name.
    file_secrets: Vec<String>,
}

/// A top-level named volume: the stack's own (from `wiring`, written bare) or an app's
/// (quoted: `true` is a valid volume name).
#[derive(Serialize)]
struct VolumeName {
    name: String,
    wiring: bool,
}

#[derive(Serialize)]
struct Services {
    alloy: Service,
    prometheus: Service,
    loki: Service,
    tempo: Service,
    grafana: Service,
    postgres: Service,
    usage_scraper: Service,
    /// `None` when `[components]` turns it off.
    node_exporter: Option<Service>,
    cadvisor: Option<Service>,
    alertmanager: Service,
}

#[derive(Serialize, Default)]
struct Service {
    image: String,
    ports: Vec<Port>,
    /// `test` of the health check, when the image can run one.
    healthcheck: Option<Vec<String>>,
    depends_on: Vec<Dependency>,
    environment: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Port {
    target: u16,
    /// A string, as the compose spec's long syntax has it.
    published: String,
    host_ip: String,
    protocol: &'static str,
}

#[derive(Serialize)]
struct Dependency {
    service: String,
    /// A name from `wiring` (written bare); app names are quoted (`true` is a valid one).
    wiring: bool,
    condition: &'static str,
}

#[derive(Serialize)]
struct Extend {
    grafana_dashboards: &'static str,
    grafana_dashboards_mount: &'static str,
    prometheus: &'static str,
    prometheus_mount: &'static str,
}

#[derive(Serialize)]
struct NodeExporterHost {
    /// `--web.listen-address=…` on the host, e.g. `0.0.0.0:9100`.
    listen_arg: String,
}

#[derive(Serialize)]
struct UsageContext {
    /// `postgres-data:<data dir>`; the data dir moved in PostgreSQL 18's image.
    postgres_volume: &'static str,
    /// `[usage] build = true`: the scraper is built from `usage-scraper/Dockerfile`
    /// (`pull_policy: build`) instead of pulled.
    build: bool,
    /// `host:port/database (sslmode …)` of `[components.postgres]`; `None`: the stack's
    /// own PostgreSQL service.
    external_db: Option<String>,
    /// `<host path>:<mount>:ro` of the external database's CA file, for the scraper and
    /// Grafana.
    root_cert_volume: Option<String>,
}

#[derive(Serialize)]
struct AppContext {
    service: String,
    image: Option<String>,
    pull_policy: Option<&'static str>,
    build: Option<String>,
    /// `build` table options (`dockerfile`, `target`, `args`), `$` doubled.
    dockerfile: Option<String>,
    build_target: Option<String>,
    build_args: BTreeMap<String, String>,
    /// Exec form: a list; shell form: one string.
    command: Option<CommandContext>,
    entrypoint: Option<CommandContext>,
    working_dir: Option<String>,
    user: Option<String>,
    environment: BTreeMap<String, String>,
    ports: Vec<Port>,
    volumes: Vec<String>,
    labels: BTreeMap<String, String>,
    healthcheck: Option<AppHealthcheck>,
    memory: Option<String>,
    cpus: Option<String>,
    depends_on: Vec<Dependency>,
}

/// `command`/`entrypoint`: exec form (a block list) or shell form (a string).
#[derive(Serialize)]
struct CommandContext {
    exec: Option<Vec<String>>,
    shell: Option<String>,
}

#[derive(Serialize)]
struct AppHealthcheck {
    test: Vec<String>,
    interval: String,
    retries: u32,
}

/// A `${VAR:?…}` reference: compose refuses to start while `VAR` is unset.
pub fn required_env(name: &str) -> String {
    format!("${{{name}:?set {name} in .env (see .env.example)}}")
}

/// Doubles `$` so that compose passes it through literally.
pub fn escape_dollars(text: &str) -> String {
    text.replace('$', "$$")
}

/// `(major, minor, patch)` of an image tag like `v3.7.6` or `18-alpine`; `None` for
/// tags such as `latest`, which are then taken to be new enough for every feature.
pub fn tag_version(tag: &str) -> Option<(u32, u32, u32)> {
    let tag = tag.strip_prefix('v').unwrap_or(tag);
    let mut parts = tag
        .split(|c: char| !c.is_ascii_digit())
        .take_while(|p| !p.is_empty())
        .map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// Whether Prometheus reads retention from prometheus.yml (`storage.tsdb.retention`,
/// 3.8 and later, where the command-line flag is deprecated).
pub fn prometheus_retention_in_file(stack: &Stack) -> bool {
    at_least(&stack.versions.prometheus, (3, 8, 0))
}

/// Whether node-exporter shares the host's network namespace, so that its network
/// counters are the host's interfaces rather than its own container's.
///
/// Only when the stack binds every interface (`bind = "0.0.0.0"`) and publishes
/// node-exporter: Prometheus, on the compose network, reaches a host-network service only
/// through the Docker host gateway, which a loopback-only listener never answers. With
/// the default loopback bind, node-exporter stays on the compose network (host CPU,
/// memory and disks are still the host's, through `/host` and `pid: host`), and the host
/// dashboard leaves out the host network panels instead of showing one container's
/// traffic as the host's.
pub fn node_exporter_on_host(stack: &Stack) -> bool {
    let unspecified = stack
        .bind
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified());
    unspecified && stack.ports.get(PortKey::NodeExporter).is_some()
}

/// The address Prometheus scrapes node-exporter at.
pub fn node_exporter_target(stack: &Stack) -> String {
    match stack.ports.get(PortKey::NodeExporter) {
        Some(host_port) if node_exporter_on_host(stack) => {
            format!("{HOST_GATEWAY}:{host_port}")
        }
        _ => format!("{}:{}", service::NODE_EXPORTER, port::NODE_EXPORTER),
    }
}

/// The name compose maps to the Docker host (`extra_hosts: …:host-gateway`).
pub const HOST_GATEWAY: &str = "host.docker.internal";

fn at_least(tag: &str, version: (u32, u32, u32)) -> bool {
    tag_version(tag).is_none_or(|v| v >= version)
}

/// A health check that fetches a URL with the image's busybox `wget`.
fn wget_check(url: &str) -> Option<Vec<String>> {
    cmd(&["CMD", "wget", "-q", "--spider", url])
}

fn cmd(parts: &[&str]) -> Option<Vec<String>> {
    Some(parts.iter().map(|s| (*s).to_owned()).collect())
}

/// Whether Loki's image can check itself (`loki -health`, 3.6.5 and later).
pub fn loki_has_healthcheck(stack: &Stack) -> bool {
    at_least(&stack.versions.loki, (3, 6, 5))
}

/// Whether Tempo's image can check itself (`tempo -health`, 3.0 and later).
pub fn tempo_has_healthcheck(stack: &Stack) -> bool {
    at_least(&stack.versions.tempo, (3, 0, 0))
}

pub fn render(
    stack: &Stack,
    templates: &Templates,
    options: &Options,
) -> anyhow::Result<Vec<OutputFile>> {
    let bind = &stack.bind;
    let publish = |key: PortKey| -> Vec<Port> {
        stack
            .ports
            .get(key)
            .map(|host| Port {
                target: key.container_port(),
                published: host.to_string(),
                host_ip: bind.clone(),
                protocol: "tcp",
            })
            .into_iter()
            .collect()
    };
    let healthy = |name: &'static str| Dependency {
        service: name.to_owned(),
        wiring: true,
        condition: "service_healthy",
    };
    let started = |name: &'static str| Dependency {
        service: name.to_owned(),
        wiring: true,
        condition: "service_started",
    };
    let loki_ready = || {
        if loki_has_healthcheck(stack) {
            healthy(service::LOKI)
        } else {
            started(service::LOKI)
        }
    };
    let tempo_ready = || {
        if tempo_has_healthcheck(stack) {
            healthy(service::TEMPO)
        } else {
            started(service::TEMPO)
        }
    };
    let usage = stack.usage.as_ref();
    let v = &stack.versions;

    let mut alloy_ports = publish(PortKey::Alloy);
    alloy_ports.extend(publish(PortKey::OtlpGrpc));
    alloy_ports.extend(publish(PortKey::OtlpHttp));

    let mut grafana_env = BTreeMap::from([
        ("GF_SECURITY_ADMIN_USER".to_owned(), "admin".to_owned()),
        (
            "GF_SECURITY_ADMIN_PASSWORD".to_owned(),
            required_env(secret::GRAFANA_ADMIN_PASSWORD),
        ),
        ("GF_AUTH_ANONYMOUS_ENABLED".to_owned(), "false".to_owned()),
        ("GF_AUTH_DISABLE_LOGIN_FORM".to_owned(), "false".to_owned()),
        ("GF_USERS_ALLOW_SIGN_UP".to_owned(), "false".to_owned()),
        (
            "GF_ANALYTICS_REPORTING_ENABLED".to_owned(),
            "false".to_owned(),
        ),
        (
            "GF_ANALYTICS_CHECK_FOR_UPDATES".to_owned(),
            "false".to_owned(),
        ),
    ]);
    let g = &stack.grafana;
    if let Some(url) = &g.root_url {
        grafana_env.insert("GF_SERVER_ROOT_URL".to_owned(), escape_dollars(url));
    }
    if !g.plugins.is_empty() {
        // GF_INSTALL_PLUGINS is deprecated; Grafana 12+ reads GF_PLUGINS_PREINSTALL.
        grafana_env.insert("GF_PLUGINS_PREINSTALL".to_owned(), g.plugins.join(","));
    }
    if g.anonymous {
        grafana_env.insert("GF_AUTH_ANONYMOUS_ENABLED".to_owned(), "true".to_owned());
        grafana_env.insert("GF_AUTH_ANONYMOUS_ORG_ROLE".to_owned(), "Viewer".to_owned());
    }
    if let Some(smtp) = &g.smtp {
        grafana_env.insert("GF_SMTP_ENABLED".to_owned(), "true".to_owned());
        grafana_env.insert("GF_SMTP_HOST".to_owned(), escape_dollars(&smtp.host));
        if let Some(user) = &smtp.user {
            grafana_env.insert("GF_SMTP_USER".to_owned(), escape_dollars(user));
        }
        if let Some(secret) = &smtp.password_secret {
            grafana_env.insert("GF_SMTP_PASSWORD".to_owned(), required_env(secret));
        }
        if let Some(from) = &smtp.from {
            grafana_env.insert("GF_SMTP_FROM_ADDRESS".to_owned(), escape_dollars(from));
        }
    }
    let mut grafana_depends = vec![healthy(service::PROMETHEUS), loki_ready(), tempo_ready()];
    if usage.is_some() {
        grafana_env.insert(
            secret::READER_DB_PASSWORD.to_owned(),
            required_env(secret::READER_DB_PASSWORD),
        );
    }
    let mut scraper_depends = vec![loki_ready()];
    if stack.bundled_postgres() {
        grafana_depends.push(healthy(service::POSTGRES));
        scraper_depends.push(healthy(service::POSTGRES));
    }

    let postgres = match usage.filter(|_| stack.bundled_postgres()) {
        Some(usage) => Service {
            image: format!("postgres:{}", v.postgres),
            ports: publish(PortKey::Postgres),
            healthcheck: cmd(&[
                "CMD",
                "pg_isready",
                "-h",
                "127.0.0.1",
                "-U",
                db::SUPERUSER,
                "-d",
                &usage.database,
            ]),
            environment: BTreeMap::from([
                ("POSTGRES_DB".to_owned(), usage.database.clone()),
                ("POSTGRES_USER".to_owned(), db::SUPERUSER.to_owned()),
                (
                    "POSTGRES_PASSWORD".to_owned(),
                    required_env(secret::POSTGRES_PASSWORD),
                ),
                (
                    secret::SCRAPER_DB_PASSWORD.to_owned(),
                    required_env(secret::SCRAPER_DB_PASSWORD),
                ),
                (
                    secret::READER_DB_PASSWORD.to_owned(),
                    required_env(secret::READER_DB_PASSWORD),
                ),
            ]),
            ..Service::default()
        },
        None => Service::default(),
    };
    let usage_scraper = Service {
        image: usage.map(|u| u.image.clone()).unwrap_or_default(),
        depends_on: scraper_depends,
        environment: BTreeMap::from([(
            secret::SCRAPER_DB_PASSWORD.to_owned(),
            required_env(secret::SCRAPER_DB_PASSWORD),
        )]),
        ..Service::default()
    };

    let services = Services {
        alloy: Service {
            image: format!("grafana/alloy:{}", v.alloy),
            ports: alloy_ports,
            depends_on: vec![loki_ready(), tempo_ready()],
            ..Service::default()
        },
        prometheus: Service {
            image: format!("prom/prometheus:{}", v.prometheus),
            ports: publish(PortKey::Prometheus),
            healthcheck: wget_check(&format!("http://127.0.0.1:{}/-/ready", port::PROMETHEUS)),
            ..Service::default()
        },
        loki: Service {
            image: format!("grafana/loki:{}", v.loki),
            ports: publish(PortKey::Loki),
            healthcheck: loki_has_healthcheck(stack)
                .then(|| cmd(&["CMD", "/usr/bin/loki", "-health"]))
                .flatten(),
            ..Service::default()
        },
        tempo: Service {
            image: format!("grafana/tempo:{}", v.tempo),
            ports: publish(PortKey::Tempo),
            healthcheck: tempo_has_healthcheck(stack)
                .then(|| cmd(&["CMD", "/tempo", "-health"]))
                .flatten(),
            ..Service::default()
        },
        grafana: Service {
            image: format!("grafana/grafana:{}", v.grafana),
            ports: publish(PortKey::Grafana),
            healthcheck: wget_check(&format!("http://127.0.0.1:{}/api/health", port::GRAFANA)),
            depends_on: grafana_depends,
            environment: grafana_env,
        },
        postgres,
        usage_scraper,
        node_exporter: stack.components.node_exporter.then(|| Service {
            image: format!("prom/node-exporter:{}", v.node_exporter),
            // A host-network service cannot publish ports: it listens on the host itself.
            ports: if node_exporter_on_host(stack) {
                Vec::new()
            } else {
                publish(PortKey::NodeExporter)
            },
            healthcheck: wget_check(&format!(
                "http://127.0.0.1:{}/metrics",
                if node_exporter_on_host(stack) {
                    stack
                        .ports
                        .get(PortKey::NodeExporter)
                        .unwrap_or(port::NODE_EXPORTER)
                } else {
                    port::NODE_EXPORTER
                }
            )),
            ..Service::default()
        }),
        cadvisor: stack.components.cadvisor.then(|| Service {
            image: format!("ghcr.io/google/cadvisor:{}", v.cadvisor),
            ports: publish(PortKey::Cadvisor),
            ..Service::default()
        }),
        alertmanager: Service {
            image: format!("prom/alertmanager:{}", v.alertmanager),
            ports: publish(PortKey::Alertmanager),
            healthcheck: wget_check(&format!(
                "http://127.0.0.1:{}/-/healthy",
                port::ALERTMANAGER
            )),
            ..Service::default()
        },
    };

    let apps = stack
        .apps
        .iter()
        .map(|app| {
            let mut environment: BTreeMap<String, String> = BTreeMap::new();
            if app.otlp {
                environment.extend(otel_environment(stack, app));
            }
            for (key, value) in &app.env {
                environment.insert(key.clone(), escape_dollars(value));
            }
            for (inside, host) in &app.secrets {
                environment.insert(inside.clone(), required_env(host));
            }
            let (image, build) = match &app.source {
                AppSource::Image(image) => (Some(escape_dollars(image)), None),
                AppSource::Build(path) => (
                    None,
                    Some(escape_dollars(&join_path(&options.stack_dir, path))),
                ),
            };
            let mut depends_on = if app.otlp {
                vec![started(service::ALLOY)]
            } else {
                Vec::new()
            };
            for other in &app.depends_on {
                let gated = stack
                    .apps
                    .iter()
                    .any(|a| &a.name == other && a.healthcheck.is_some());
                depends_on.push(Dependency {
                    service: other.clone(),
                    wiring: false,
                    condition: if gated {
                        "service_healthy"
                    } else {
                        "service_started"
                    },
                });
            }
            let mut ports: Vec<Port> = app
                .publish
                .map(|host| Port {
                    target: app.port,
                    published: host.to_string(),
                    host_ip: bind.clone(),
                    protocol: "tcp",
                })
                .into_iter()
                .collect();
            ports.extend(app.ports.iter().filter_map(|p| {
                p.publish.map(|host| Port {
                    target: p.container,
                    published: host.to_string(),
                    host_ip: bind.clone(),
                    protocol: if p.udp { "udp" } else { "tcp" },
                })
            }));
            AppContext {
                service: app.name.clone(),
                pull_policy: app.pull_policy.filter(|_| image.is_some()),
                image,
                build,
                dockerfile: app.build_options.dockerfile.as_deref().map(escape_dollars),
                build_target: app.build_options.target.as_deref().map(escape_dollars),
                build_args: app
                    .build_options
                    .args
                    .iter()
                    .map(|(k, v)| (k.clone(), escape_dollars(v)))
                    .collect(),
                command: app.command.as_ref().map(command_value),
                entrypoint: app.entrypoint.as_ref().map(command_value),
                working_dir: app.working_dir.as_deref().map(escape_dollars),
                user: app.user.as_deref().map(escape_dollars),
                environment,
                ports,
                volumes: app
                    .volumes
                    .iter()
                    .map(|v| volume_spec(v, &options.stack_dir))
                    .collect(),
                labels: app
                    .labels
                    .iter()
                    .map(|(k, v)| (escape_dollars(k), escape_dollars(v)))
                    .collect(),
                healthcheck: app.healthcheck.as_ref().map(|h| AppHealthcheck {
                    test: match &h.test {
                        HealthTest::Http(path) => {
                            let url =
                                escape_dollars(&format!("http://127.0.0.1:{}{path}", app.port));
                            vec![
                                "CMD-SHELL".to_owned(),
                                format!(
                                    "wget -q -O /dev/null {url} || curl -fsS -o /dev/null {url}"
                                ),
                            ]
                        }
                        HealthTest::Cmd(args) => std::iter::once("CMD".to_owned())
                            .chain(args.iter().map(|a| escape_dollars(a)))
                            .collect(),
                    },
                    interval: h.interval.go(),
                    retries: h.retries,
                }),
                memory: app.memory.clone(),
                cpus: app.cpus.clone(),
                depends_on,
            }
        })
        .collect();

    let own = |name: &str| VolumeName {
        name: name.to_owned(),
        wiring: true,
    };
    let mut volumes: Vec<VolumeName> = [
        "alertmanager-data",
        "alloy-data",
        "grafana-data",
        "loki-data",
        "prometheus-data",
        "tempo-data",
    ]
    .iter()
    .map(|v| own(v))
    .collect();
    if stack.bundled_postgres() {
        volumes.push(own("postgres-data"));
    }
    // The apps' named volumes, declared once each (validation keeps them off the stack's).
    for app in &stack.apps {
        for volume in &app.volumes {
            if let VolumeSource::Named(name) = &volume.source {
                volumes.push(VolumeName {
                    name: name.clone(),
                    wiring: false,
                });
            }
        }
    }
    volumes.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    volumes.dedup_by(|a, b| a.name == b.name);
    let context = Context {
        name: stack.name.clone(),
        prometheus_retention_flag: (!prometheus_retention_in_file(stack)).then(|| {
            format!(
                "--storage.tsdb.retention.time={}",
                stack.metrics.retention.prometheus()
            )
        }),
        node_exporter_host: node_exporter_on_host(stack).then(|| NodeExporterHost {
            listen_arg: format!(
                "--web.listen-address={}:{}",
                if stack.bind.contains(':') {
                    format!("[{}]", stack.bind)
                } else {
                    stack.bind.clone()
                },
                stack
                    .ports
                    .get(PortKey::NodeExporter)
                    .unwrap_or(port::NODE_EXPORTER)
            ),
        }),
        services,
        extend: Extend {
            grafana_dashboards: crate::wiring::extend::GRAFANA_DASHBOARDS,
            grafana_dashboards_mount: crate::wiring::extend::GRAFANA_DASHBOARDS_MOUNT,
            prometheus: crate::wiring::extend::PROMETHEUS,
            prometheus_mount: crate::wiring::extend::PROMETHEUS_MOUNT,
        },
        usage: usage.map(|usage| UsageContext {
            postgres_volume: if at_least(&v.postgres, (18, 0, 0)) {
                "postgres-data:/var/lib/postgresql"
            } else {
                "postgres-data:/var/lib/postgresql/data"
            },
            build: usage.build.is_some(),
            external_db: usage.external_db.as_ref().map(|db| {
                format!(
                    "{}:{}/{} (sslmode {})",
                    db.host,
                    db.port,
                    usage.database,
                    db.sslmode.as_str()
                )
            }),
            root_cert_volume: usage
                .external_db
                .as_ref()
                .and_then(|db| db.root_cert.as_ref())
                .map(|cert| {
                    volume_spec(
                        &crate::model::Volume {
                            source: cert.clone(),
                            target: db::ROOT_CERT_MOUNT.to_owned(),
                            read_only: true,
                        },
                        &options.stack_dir,
                    )
                }),
        }),
        apps,
        volumes,
        alert_secrets: stack.alerts.secrets(),
        prometheus_secrets: stack.metrics.secrets(),
        file_secrets: {
            let mut all = stack.alerts.secrets();
            all.extend(stack.metrics.secrets());
            all.sort();
            all.dedup();
            all
        },
    };
    let compose = tidy_yaml(&templates.render("compose/compose.yaml.j2", &context)?);

    Ok(vec![
        OutputFile::new("compose.yaml", compose),
        OutputFile::new(".env.example", env_example(stack)),
        // `.env` holds the secrets: keep it out of the repository the tree is committed to.
        OutputFile::new(
            ".gitignore",
            format!("# {HEADER}\n# .env holds this stack's secrets (see .env.example).\n.env\n"),
        ),
    ])
}

/// The OpenTelemetry SDK variables of an app with `otlp` on: its service name (equal to
/// its compose service, which links traces to logs), Alloy's OTLP/HTTP endpoint, and which
/// signals the SDK exports (and, for OTLP metrics, how often). Traces always; metrics only
/// with `metrics = "otlp"` and logs only with `logs = "otlp"`, so that an SDK which exports every signal by default (the
/// Java agent, .NET, Node) does not count what Prometheus scrapes or Docker collects twice.
pub fn otel_environment(stack: &Stack, app: &crate::model::App) -> BTreeMap<String, String> {
    let exporter = |on: bool| if on { "otlp" } else { "none" }.to_owned();
    let mut env = BTreeMap::from([
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
            format!("http://{}:{}", service::ALLOY, port::OTLP_HTTP),
        ),
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(),
            "http/protobuf".to_owned(),
        ),
        ("OTEL_SERVICE_NAME".to_owned(), escape_dollars(&app.name)),
        (
            "OTEL_RESOURCE_ATTRIBUTES".to_owned(),
            format!("service.namespace={}", escape_dollars(&stack.name)),
        ),
        ("OTEL_TRACES_EXPORTER".to_owned(), exporter(true)),
        (
            "OTEL_METRICS_EXPORTER".to_owned(),
            exporter(app.otlp_metrics),
        ),
        ("OTEL_LOGS_EXPORTER".to_owned(), exporter(app.otlp_logs)),
    ]);
    if app.otlp_metrics {
        env.insert(
            "OTEL_METRIC_EXPORT_INTERVAL".to_owned(),
            otlp_metric_export_interval(stack).as_millis().to_string(),
        );
    }
    env
}

/// How often an app with `metrics = "otlp"` pushes: the stack's scrape interval, so its
/// series are as dense as a scraped app's and the dashboards' `$__rate_interval` windows
/// (4 scrape intervals) hold enough samples. The SDK default, 60s, would leave a 60s
/// window with a single sample and the rate panels empty. An `env` value of the app wins.
pub fn otlp_metric_export_interval(stack: &Stack) -> crate::duration::Duration {
    stack.metrics.scrape_interval
}

/// `.env.example`: every variable the stack reads from `.env`, empty.
fn env_example(stack: &Stack) -> String {
    let mut out = format!(
        "# {HEADER}\n# Copy to .env and fill in every value; compose refuses to start while one is empty.\n# .env holds secrets: keep it out of version control.\n\n"
    );
    out.push_str("# Grafana's `admin` user\n");
    out.push_str(&format!("{}=\n", secret::GRAFANA_ADMIN_PASSWORD));
    if stack.bundled_postgres() {
        out.push_str(
            "\n# PostgreSQL (usage statistics): superuser, scraper (writes) and Grafana (reads)\n",
        );
        for name in [
            secret::POSTGRES_PASSWORD,
            secret::SCRAPER_DB_PASSWORD,
            secret::READER_DB_PASSWORD,
        ] {
            out.push_str(&format!("{name}=\n"));
        }
    } else if stack.usage.is_some() {
        out.push_str(&format!(
            "\n# The external PostgreSQL of [components.postgres] (usage statistics): the passwords\n# of its roles {} (scraper, writes) and {} (Grafana, reads)\n",
            db::WRITER_ROLE,
            db::READER_ROLE
        ));
        for name in [secret::SCRAPER_DB_PASSWORD, secret::READER_DB_PASSWORD] {
            out.push_str(&format!("{name}=\n"));
        }
    }
    if let Some(secret) = stack
        .grafana
        .smtp
        .as_ref()
        .and_then(|s| s.password_secret.as_ref())
    {
        out.push_str(&format!(
            "\n# Grafana's SMTP password ([grafana.smtp])\n{secret}=\n"
        ));
    }
    // A receiver may share Grafana's SMTP password variable: listed once, above.
    let grafana_smtp = stack
        .grafana
        .smtp
        .as_ref()
        .and_then(|s| s.password_secret.clone());
    let alert_secrets: Vec<String> = stack
        .alerts
        .secrets()
        .into_iter()
        .filter(|s| Some(s) != grafana_smtp.as_ref())
        .collect();
    if !alert_secrets.is_empty() {
        out.push_str(
            "\n# Alertmanager receivers ([alerts.receivers]): SMTP passwords and webhook URLs\n",
        );
        for name in &alert_secrets {
            out.push_str(&format!("{name}=\n"));
        }
    }
    let remote_write: Vec<String> = stack
        .metrics
        .secrets()
        .into_iter()
        .filter(|s| !stack.alerts.secrets().contains(s) && Some(s) != grafana_smtp.as_ref())
        .collect();
    if !remote_write.is_empty() {
        out.push_str(
            "\n# Prometheus remote write ([[metrics.remote_write]]): passwords and tokens\n",
        );
        for name in &remote_write {
            out.push_str(&format!("{name}=\n"));
        }
    }
    // One line per host variable, with every app that reads it (and under which name).
    let mut readers: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for app in &stack.apps {
        for (inside, host) in &app.secrets {
            let who = if inside == host {
                format!("app `{}`", app.name)
            } else {
                format!("app `{}` (as `{inside}`)", app.name)
            };
            readers.entry(host.as_str()).or_default().push(who);
        }
    }
    for (host, apps) in readers {
        out.push_str(&format!("\n# read by {}\n{host}=\n", apps.join(", ")));
    }
    out
}

/// `command`/`entrypoint` as compose reads them, `$` doubled.
fn command_value(command: &crate::model::Command) -> CommandContext {
    match command {
        crate::model::Command::Shell(text) => CommandContext {
            exec: None,
            shell: Some(escape_dollars(text)),
        },
        crate::model::Command::Exec(args) => CommandContext {
            exec: Some(args.iter().map(|a| escape_dollars(a)).collect()),
            shell: None,
        },
    }
}

/// A volume in compose's short syntax; relative bind mounts become relative to the
/// output directory (`./` first, so compose never takes one for a volume name).
fn volume_spec(volume: &crate::model::Volume, stack_dir: &str) -> String {
    let source = match &volume.source {
        VolumeSource::Named(name) => name.clone(),
        VolumeSource::Absolute(path) => path.clone(),
        VolumeSource::Relative(path) => {
            let joined = join_path(stack_dir, path);
            if joined == "." || joined.starts_with("../") || joined == ".." {
                joined
            } else {
                format!("./{joined}")
            }
        }
    };
    let mode = if volume.read_only { ":ro" } else { "" };
    escape_dollars(&format!("{source}:{}{mode}", volume.target))
}

/// Joins the stack directory and a build path, dropping `.` segments.
fn join_path(base: &str, path: &str) -> String {
    let joined: Vec<&str> = base
        .split('/')
        .chain(path.split('/'))
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    if joined.is_empty() {
        ".".to_owned()
    } else {
        joined.join("/")
    }
}

/// Removes the blank lines that optional template blocks leave inside a service, and
/// collapses runs of blank lines.
fn tidy_yaml(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(text.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            let next = lines[i + 1..].iter().find(|l| !l.trim().is_empty());
            let inside = next.is_some_and(|n| n.starts_with("    "));
            let after_blank = out.ends_with("\n\n") || out.is_empty();
            if inside || after_blank || next.is_none() {
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert_eq!(tag_version("v3.14.0"), Some((3, 14, 0)));
        assert_eq!(tag_version("18"), Some((18, 0, 0)));
        assert_eq!(tag_version("18-alpine"), Some((18, 0, 0)));
        assert_eq!(tag_version("latest"), None);
        assert!(at_least("3.6.5", (3, 6, 5)));
        assert!(!at_least("3.6.4", (3, 6, 5)));
        assert!(at_least("main", (3, 6, 5)));
    }

    #[test]
    fn dollars_and_paths() {
        assert_eq!(escape_dollars("a$b$$c"), "a$$b$$$$c");
        assert_eq!(join_path("..", "apps/web"), "../apps/web");
        assert_eq!(join_path(".", "./web"), "web");
        assert_eq!(required_env("X"), "${X:?set X in .env (see .env.example)}");
    }
}
