//! The names that tie the stack's files together, in one place: service names and ports,
//! the Loki labels Alloy writes and the queries read, datasource uids, database roles and
//! the environment variables that carry secrets. A name used by two files comes from here.

/// Compose service names of the stack's own components.
pub mod service {
    pub const ALLOY: &str = "alloy";
    pub const PROMETHEUS: &str = "prometheus";
    pub const LOKI: &str = "loki";
    pub const TEMPO: &str = "tempo";
    pub const GRAFANA: &str = "grafana";
    pub const POSTGRES: &str = "postgres";
    pub const NODE_EXPORTER: &str = "node-exporter";
    pub const CADVISOR: &str = "cadvisor";
    pub const USAGE_SCRAPER: &str = "usage-scraper";
    pub const ALERTMANAGER: &str = "alertmanager";
}

/// Container ports inside the compose network.
pub mod port {
    pub const ALLOY_HTTP: u16 = 12345;
    pub const OTLP_GRPC: u16 = 4317;
    pub const OTLP_HTTP: u16 = 4318;
    pub const PROMETHEUS: u16 = 9090;
    pub const LOKI: u16 = 3100;
    pub const TEMPO: u16 = 3200;
    pub const GRAFANA: u16 = 3000;
    pub const POSTGRES: u16 = 5432;
    pub const NODE_EXPORTER: u16 = 9100;
    pub const CADVISOR: u16 = 8080;
    pub const USAGE_SCRAPER: u16 = 9464;
    pub const ALERTMANAGER: u16 = 9093;
}

/// Loki stream labels Alloy attaches to every container log line.
pub mod label {
    pub const CONTAINER_NAME: &str = "container_name";
    pub const JOB: &str = "job";
    pub const COMPOSE_PROJECT: &str = "compose_project";
    pub const COMPOSE_SERVICE: &str = "compose_service";
    pub const SERVICE_NAME: &str = "service_name";
    pub const STREAM: &str = "stream";
    /// From the JSON line's `level` field.
    pub const LEVEL: &str = "level";
    /// Every stream label, in the order Alloy writes them.
    pub const ALL: [&str; 7] = [
        CONTAINER_NAME,
        JOB,
        COMPOSE_PROJECT,
        COMPOSE_SERVICE,
        SERVICE_NAME,
        STREAM,
        LEVEL,
    ];
}

/// Structured metadata keys Alloy extracts from JSON lines (never labels: high cardinality).
pub mod metadata {
    pub const TRACE_ID: &str = "trace_id";
    pub const SPAN_ID: &str = "span_id";
}

/// OTLP attribute names Alloy sets and Loki indexes, so OTLP data carries the same
/// labels as what Docker discovery and Prometheus scrapes produce.
pub mod otlp {
    /// The OpenTelemetry resource attribute stackc sets to the compose service name.
    pub const SERVICE_NAME: &str = "service.name";
    /// Resource attribute copies of the Loki labels (`label::COMPOSE_*`).
    pub const COMPOSE_SERVICE: &str = super::label::COMPOSE_SERVICE;
    pub const COMPOSE_PROJECT: &str = super::label::COMPOSE_PROJECT;
    /// The normalised level (`label::LEVEL`), moved onto the resource so Loki indexes it.
    pub const LEVEL: &str = super::label::LEVEL;
    /// Resource attributes Loki turns into index labels (`service.name` becomes
    /// `service_name`); the rest become structured metadata.
    pub const LOKI_INDEX_ATTRIBUTES: [&str; 4] =
        [COMPOSE_PROJECT, COMPOSE_SERVICE, SERVICE_NAME, LEVEL];
}

/// Folders of the generated tree that belong to the user: stackc writes only a README in
/// each (so the bind mounts have a source) and never touches anything else there.
pub mod extend {
    /// Dashboard JSON files of your own, provisioned into their own Grafana folder.
    pub const GRAFANA_DASHBOARDS: &str = "grafana/extra-dashboards";
    /// Where Grafana sees them.
    pub const GRAFANA_DASHBOARDS_MOUNT: &str = "/var/lib/grafana/extra-dashboards";
    /// Prometheus rule files (`rules/*.yml`) and file_sd target files (`targets/*.yml`).
    pub const PROMETHEUS: &str = "prometheus/extra";
    /// Where Prometheus sees them, beside its config (paths in it are relative to it).
    pub const PROMETHEUS_MOUNT: &str = "/etc/prometheus/extra";
    /// Globs in prometheus.yml, relative to the config file.
    pub const PROMETHEUS_RULES_GLOB: &str = "extra/rules/*.yml";
    pub const PROMETHEUS_TARGETS_GLOB: &str = "extra/targets/*.yml";
    /// The scrape job of the file_sd targets: `:` cannot be in an app name, so it never
    /// collides with an app's job.
    pub const PROMETHEUS_TARGETS_JOB: &str = "extra:file_sd";
    /// The compose file `docker compose` reads on top of `compose.yaml`.
    pub const COMPOSE_OVERRIDE: &str = "compose.override.yaml";
}

/// Grafana datasource uids, fixed so that links and dashboards can name them.
pub mod datasource {
    pub const PROMETHEUS: &str = "prometheus";
    pub const LOKI: &str = "loki";
    pub const TEMPO: &str = "tempo";
    pub const POSTGRES: &str = "postgres";
    pub const ALERTMANAGER: &str = "alertmanager";
}

/// Alert labels the rules set and Alertmanager routes, groups and inhibits on.
pub mod alert {
    /// `critical` (page) or `warning` (ticket).
    pub const SEVERITY: &str = "severity";
    /// The app an alert is about (its compose service).
    pub const APP: &str = "app";
    /// The stack's own component an alert is about (its compose service).
    pub const COMPONENT: &str = "component";
    /// The objective an SLO alert is about (`availability`, `latency-p99`).
    pub const SLO: &str = "slo";
    /// Where an SLO's indicator comes from: `spanmetrics`.
    pub const SLI: &str = "sli";
    pub const CRITICAL: &str = "critical";
    pub const WARNING: &str = "warning";
    /// The receiver that notifies no one (alerts stay visible in Grafana and Alertmanager).
    pub const NO_RECEIVER: &str = "none";
    /// Where Alertmanager reads its secrets: compose mounts each here by its variable name.
    pub const SECRETS_DIR: &str = "/run/secrets";
}

/// The usage database's tables and roles.
pub mod db {
    pub const EVENTS_TABLE: &str = "usage_events";
    pub const CURSOR_TABLE: &str = "usage_scraper_cursor";
    pub const WRITER_ROLE: &str = "usage_scraper";
    pub const READER_ROLE: &str = "usage_reader";
    pub const SUPERUSER: &str = "postgres";
    /// Where the scraper and Grafana find `[components.postgres] root_cert` (mounted
    /// read-only).
    pub const ROOT_CERT_MOUNT: &str = "/etc/stackc/usage-db-ca.pem";
}

/// Environment variables that carry the stack's own secrets (from `.env`).
pub mod secret {
    pub const GRAFANA_ADMIN_PASSWORD: &str = "GRAFANA_ADMIN_PASSWORD";
    pub const POSTGRES_PASSWORD: &str = "POSTGRES_PASSWORD";
    pub const SCRAPER_DB_PASSWORD: &str = "USAGE_SCRAPER_DB_PASSWORD";
    pub const READER_DB_PASSWORD: &str = "USAGE_READER_DB_PASSWORD";
}
