//! The one list of Prometheus metric names the dashboards and the alerting rules
//! (`targets::rules`) may query, grouped by the part of the stack that produces them. They
//! name metrics only through these constants, and tests parse every dashboard query and
//! every rule and fail on a name that is not listed here for a source this stack runs (the
//! scraper's metrics exist only when `[usage]` is on), or on a listed name nothing uses.
//!
//! Sources: Prometheus's scrape of any target (`up`), node-exporter, cAdvisor, Tempo's
//! metrics generator (span metrics and service graphs, remote-written into Prometheus),
//! and the `/metrics` of Prometheus, Loki, Tempo, Alloy, Grafana and the usage scraper.

use crate::model::Stack;

macro_rules! catalog {
    ($( $(#[$doc:meta])* $source:ident { $( $konst:ident = $name:literal, )* } )*) => {
        $(
            $(#[$doc])*
            pub mod $source {
                $( pub const $konst: &str = $name; )*
            }
        )*
        /// Every listed metric with the module (source) it belongs to.
        pub const ALL: &[(&str, &str)] = &[ $( $( ($name, stringify!($source)), )* )* ];
    };
}

catalog! {
    /// Written by Prometheus for every scrape target.
    scrape {
        UP = "up",
    }
    /// node-exporter (the host).
    node {
        CPU_SECONDS = "node_cpu_seconds_total",
        LOAD1 = "node_load1",
        LOAD5 = "node_load5",
        LOAD15 = "node_load15",
        MEM_TOTAL = "node_memory_MemTotal_bytes",
        MEM_AVAILABLE = "node_memory_MemAvailable_bytes",
        FS_SIZE = "node_filesystem_size_bytes",
        FS_AVAIL = "node_filesystem_avail_bytes",
        DISK_READ = "node_disk_read_bytes_total",
        DISK_WRITTEN = "node_disk_written_bytes_total",
        NET_RX = "node_network_receive_bytes_total",
        NET_TX = "node_network_transmit_bytes_total",
    }
    /// cAdvisor (containers; Docker labels as `container_label_*`).
    cadvisor {
        CPU_SECONDS = "container_cpu_usage_seconds_total",
        MEM_WORKING_SET = "container_memory_working_set_bytes",
        NET_RX = "container_network_receive_bytes_total",
        NET_TX = "container_network_transmit_bytes_total",
        START_TIME = "container_start_time_seconds", // rules: a container restarting
    }
    /// Tempo's metrics generator: span metrics and service graphs (Prometheus remote write).
    spanmetrics {
        CALLS = "traces_spanmetrics_calls_total",
        LATENCY_BUCKET = "traces_spanmetrics_latency_bucket",
        GRAPH_REQUESTS = "traces_service_graph_request_total",
        GRAPH_FAILED = "traces_service_graph_request_failed_total",
    }
    /// Apps' OpenTelemetry HTTP server metrics (semantic conventions), pushed over OTLP
    /// and translated by Alloy's `otelcol.exporter.prometheus`.
    otlp_http {
        HTTP_SERVER_DURATION_BUCKET = "http_server_request_duration_seconds_bucket",
        HTTP_SERVER_DURATION_COUNT = "http_server_request_duration_seconds_count",
    }
    /// Prometheus's own `/metrics`.
    prometheus {
        SAMPLES_APPENDED = "prometheus_tsdb_head_samples_appended_total",
        HEAD_SERIES = "prometheus_tsdb_head_series",
        HTTP_REQUESTS = "prometheus_http_requests_total",
        RULE_EVALUATION_FAILURES = "prometheus_rule_evaluation_failures_total", // rules
    }
    /// Loki's own `/metrics`.
    loki {
        LINES_RECEIVED = "loki_distributor_lines_received_total",
        BYTES_RECEIVED = "loki_distributor_bytes_received_total",
        REQUEST_DURATION_COUNT = "loki_request_duration_seconds_count",
        DISCARDED_SAMPLES = "loki_discarded_samples_total", // rules: refused lines by `reason`
    }
    /// Tempo's own `/metrics`.
    tempo {
        SPANS_RECEIVED = "tempo_distributor_spans_received_total",
        BYTES_RECEIVED = "tempo_distributor_bytes_received_total",
        DISCARDED_SPANS = "tempo_discarded_spans_total",
    }
    /// Alloy's own `/metrics` (`loki.write` component metrics included).
    alloy {
        RUNNING_COMPONENTS = "alloy_component_controller_running_components",
        LOKI_SENT_ENTRIES = "loki_write_sent_entries_total",
        LOKI_DROPPED_ENTRIES = "loki_write_dropped_entries_total",
        REMOTE_SAMPLES_FAILED = "prometheus_remote_storage_samples_failed_total", // rules: `prometheus.remote_write`
    }
    /// Grafana's own `/metrics`.
    grafana {
        HTTP_REQUESTS_COUNT = "grafana_http_request_duration_seconds_count",
    }
    /// The usage scraper's `/metrics` (crates/usage-scraper/src/metrics.rs).
    usage_scraper {
        EVENTS_STORED = "usage_scraper_events_stored_total",
        DUPLICATES = "usage_scraper_duplicates_total",
        MALFORMED = "usage_scraper_malformed_lines_total",
        POLLS = "usage_scraper_polls_total",
        ERRORS = "usage_scraper_errors_total",
        LAG = "usage_scraper_lag_seconds",
        LAST_SUCCESS = "usage_scraper_last_success_timestamp_seconds",
    }
}

/// Label names that the sources above attach and the dashboards group or filter by.
pub mod labels {
    /// cAdvisor: the container's `com.docker.compose.project` label.
    pub const CADVISOR_PROJECT: &str = "container_label_com_docker_compose_project";
    /// cAdvisor: the container's `com.docker.compose.service` label.
    pub const CADVISOR_SERVICE: &str = "container_label_com_docker_compose_service";
    /// Span metrics: the span's `service.name`.
    pub const SPAN_SERVICE: &str = "service";
    pub const SPAN_NAME: &str = "span_name";
    pub const SPAN_KIND: &str = "span_kind";
    pub const STATUS_CODE: &str = "status_code";
    /// Service graphs: the calling and the called service.
    pub const GRAPH_CLIENT: &str = "client";
    pub const GRAPH_SERVER: &str = "server";
    /// The exemplar label Tempo's span metrics carry the trace id in.
    pub const TEMPO_EXEMPLAR_TRACE_ID: &str = "traceID";
}

/// Labels of OTLP metrics as Alloy writes them: the compose service it adds, and the
/// semantic-convention attributes with `.` turned into `_`.
pub mod otlp {
    pub use super::otlp_http::*;
    /// Set by Alloy from `service.name` (`wiring::otlp::COMPOSE_SERVICE`).
    pub const COMPOSE_SERVICE: &str = crate::wiring::otlp::COMPOSE_SERVICE;
    pub const HTTP_ROUTE: &str = "http_route";
    pub const HTTP_STATUS: &str = "http_response_status_code";
}

/// The metric names Prometheus will have for this stack: node-exporter's and cAdvisor's
/// only while `[components]` runs them.
/// Host network counters are the host's only when node-exporter shares the host's
/// network (`compose::node_exporter_on_host`); otherwise no dashboard may use them.
pub fn available(stack: &Stack) -> Vec<&'static str> {
    let host_network = crate::targets::compose::node_exporter_on_host(stack);
    ALL.iter()
        .filter(|(_, source)| *source != "usage_scraper" || stack.usage.is_some())
        .filter(|(_, source)| *source != "node" || stack.components.node_exporter)
        .filter(|(_, source)| *source != "cadvisor" || stack.components.cadvisor)
        .filter(|(name, _)| host_network || ![node::NET_RX, node::NET_TX].contains(name))
        .map(|(name, _)| *name)
        .collect()
}
