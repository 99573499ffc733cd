//! `prometheus/prometheus.yml`: one job per app with metrics (its own interval and timeout
//! where set), node-exporter, cAdvisor and every stack component. Targets are static
//! (`service:port` on the compose network), so Prometheus needs no Docker socket.
//! Retention is `storage.tsdb.retention.time` in this file for Prometheus 3.8 and later
//! (where the command-line flag is deprecated), the flag in compose.yaml before that.
//! Apps that push OTLP metrics (`metrics = "otlp"`) have no job: Alloy remote-writes them.

use serde::Serialize;

use super::{Options, OutputFile};
use crate::model::Stack;
use crate::templates::Templates;
use crate::wiring::{port, service};

/// Load-bearing: used by `templates/prometheus/prometheus.yml.j2`.
#[derive(Serialize)]
struct Context {
    project: String,
    scrape_interval: String,
    scrape_timeout: String,
    /// Set when retention is configured here rather than by flag.
    retention: Option<String>,
    jobs: Vec<Job>,
}

/// One scrape job.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// `job_name`, which becomes the `job` label.
    pub name: String,
    /// The compose service it scrapes.
    pub service: String,
    /// `host:port` on the compose network.
    pub target: String,
    pub path: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
}

/// Every job of the stack, stack components first, then apps by name.
pub fn jobs(stack: &Stack) -> Vec<Job> {
    let component = |name: &str, svc: &str, p: u16| Job {
        name: name.to_owned(),
        service: svc.to_owned(),
        target: format!("{svc}:{p}"),
        path: None,
        interval: None,
        timeout: None,
    };
    let mut jobs = vec![
        component("prometheus", service::PROMETHEUS, port::PROMETHEUS),
        component("alloy", service::ALLOY, port::ALLOY_HTTP),
        component("loki", service::LOKI, port::LOKI),
        component("tempo", service::TEMPO, port::TEMPO),
        component("grafana", service::GRAFANA, port::GRAFANA),
        Job {
            target: super::compose::node_exporter_target(stack),
            ..component("node-exporter", service::NODE_EXPORTER, port::NODE_EXPORTER)
        },
        component("cadvisor", service::CADVISOR, port::CADVISOR),
    ];
    if stack.usage.is_some() {
        jobs.push(component(
            "usage-scraper",
            service::USAGE_SCRAPER,
            port::USAGE_SCRAPER,
        ));
    }
    for app in &stack.apps {
        let Some(scrape) = &app.scrape else {
            continue;
        };
        jobs.push(Job {
            name: app.name.clone(),
            service: app.name.clone(),
            target: format!("{}:{}", app.name, app.port),
            path: (scrape.path != "/metrics").then(|| scrape.path.clone()),
            interval: scrape.interval.map(|d| d.prometheus()),
            timeout: scrape.timeout.map(|d| d.prometheus()),
        });
    }
    jobs
}

pub fn render(
    stack: &Stack,
    templates: &Templates,
    _: &Options,
) -> anyhow::Result<Vec<OutputFile>> {
    let context = Context {
        project: stack.name.clone(),
        scrape_interval: stack.metrics.scrape_interval.prometheus(),
        scrape_timeout: stack.metrics.scrape_timeout.prometheus(),
        retention: super::compose::prometheus_retention_in_file(stack)
            .then(|| stack.metrics.retention.prometheus()),
        jobs: jobs(stack),
    };
    Ok(vec![templates.file(
        "prometheus/prometheus.yml",
        "prometheus/prometheus.yml.j2",
        &context,
    )?])
}
