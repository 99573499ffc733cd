//! `prometheus/prometheus.yml`: one job per app with metrics (its own interval and timeout
//! where set), node-exporter, cAdvisor and every stack component. Targets are static
//! (`service:port` on the compose network), so Prometheus needs no Docker socket.
//! Retention is `storage.tsdb.retention.time` in this file for Prometheus 3.8 and later
//! (where the command-line flag is deprecated), the flag in compose.yaml before that.
//! Apps that push OTLP metrics (`metrics = "otlp"`) have no job: Alloy remote-writes them.
//! The alerting rules are loaded from `rules/*.rules.yml` (`targets::rules`) and their
//! alerts sent to Alertmanager.

use serde::Serialize;

use super::{Options, OutputFile};
use crate::model::{RemoteWriteAuth, Stack};
use crate::templates::Templates;
use crate::wiring::{extend, port, service};

/// Load-bearing: used by `templates/prometheus/prometheus.yml.j2`.
#[derive(Serialize)]
struct Context {
    project: String,
    /// `[metrics] external_labels`, `$` doubled (Prometheus expands `$VAR` there).
    external_labels: Vec<(String, String)>,
    scrape_interval: String,
    scrape_timeout: String,
    /// Set when retention is configured here rather than by flag.
    retention: Option<String>,
    jobs: Vec<Job>,
    /// `[[metrics.remote_write]]`, credentials as files under /run/secrets/.
    remote_writes: Vec<RemoteWriteContext>,
    /// Your own rule files and file_sd targets (`prometheus/extra/`).
    extra_rules: &'static str,
    extra_targets: &'static str,
    extra_job: &'static str,
    /// `rule_files` glob, relative to prometheus.yml (`targets::rules` writes them).
    rule_files: &'static str,
    /// `host:port` of Alertmanager.
    alertmanager: String,
}

#[derive(Serialize)]
struct RemoteWriteContext {
    url: String,
    name: String,
    username: Option<String>,
    password_file: Option<String>,
    credentials_file: Option<String>,
}

/// Where Prometheus reads a secret: compose mounts `secrets:` at `/run/secrets/<name>`.
pub fn secret_file(name: &str) -> String {
    format!("/run/secrets/{name}")
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
    /// `https` for `[[metrics.scrape]]` jobs that ask for it.
    pub scheme: Option<&'static str>,
    /// Target labels besides `compose_service` (`[[metrics.scrape]]` `labels`).
    pub labels: Vec<(String, String)>,
    /// Targets outside compose (`[[metrics.scrape]]`): all of `targets`, no compose service.
    pub targets: Vec<String>,
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
        scheme: None,
        labels: Vec::new(),
        targets: Vec::new(),
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
        component("alertmanager", service::ALERTMANAGER, port::ALERTMANAGER),
    ];
    // node-exporter and cAdvisor only while `[components]` runs them.
    jobs.retain(|job| stack.runs(&job.service));
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
            target: format!("{}:{}", app.name, app.metrics_port),
            path: (scrape.path != "/metrics").then(|| scrape.path.clone()),
            interval: scrape.interval.map(|d| d.prometheus()),
            timeout: scrape.timeout.map(|d| d.prometheus()),
            scheme: None,
            labels: app
                .target_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            targets: Vec::new(),
        });
    }
    for extra in &stack.metrics.extra_scrapes {
        jobs.push(Job {
            name: extra.job.clone(),
            service: String::new(),
            target: String::new(),
            path: extra.path.clone().filter(|p| p != "/metrics"),
            interval: extra.interval.map(|d| d.prometheus()),
            timeout: extra
                .interval
                .map(|d| d.min(stack.metrics.scrape_timeout).prometheus()),
            scheme: extra.https.then_some("https"),
            labels: extra
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            targets: extra.targets.clone(),
        });
    }
    jobs
}

const EXTRA_RULES_README: &str = "<!-- generated by stackc from stack.toml; do not edit -->
# Your own Prometheus rules

Every `*.yml` rule file here is loaded by Prometheus (`rule_files` in prometheus.yml).
Check one with `promtool check rules FILE`. Prometheus reads new files on restart or on
`SIGHUP`. `stackc build` never changes or removes anything here but this README.
";

const EXTRA_TARGETS_README: &str = "<!-- generated by stackc from stack.toml; do not edit -->
# Your own scrape targets

Every `*.yml` file here is a Prometheus file_sd target list, scraped by the job
`extra:file_sd` at the stack's scrape interval, for targets outside compose:

```yaml
- targets: [\"db-host.internal:9187\"]
  labels:
    job: orders-postgres
```

Prometheus watches these files: edits apply without a restart. `stackc build` never
changes or removes anything here but this README.
";
/// The rule files Prometheus loads, relative to `prometheus.yml`: not the `*.test.yml`
/// unit tests beside them.
pub const RULE_FILES: &str = "rules/*.rules.yml";

pub fn render(
    stack: &Stack,
    templates: &Templates,
    _: &Options,
) -> anyhow::Result<Vec<OutputFile>> {
    let context = Context {
        project: stack.name.clone(),
        external_labels: stack
            .metrics
            .external_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.replace('$', "$$")))
            .collect(),
        scrape_interval: stack.metrics.scrape_interval.prometheus(),
        scrape_timeout: stack.metrics.scrape_timeout.prometheus(),
        retention: super::compose::prometheus_retention_in_file(stack)
            .then(|| stack.metrics.retention.prometheus()),
        jobs: jobs(stack),
        remote_writes: stack
            .metrics
            .remote_writes
            .iter()
            .map(|rw| {
                let mut c = RemoteWriteContext {
                    url: rw.url.clone(),
                    name: rw.name.clone(),
                    username: None,
                    password_file: None,
                    credentials_file: None,
                };
                match &rw.auth {
                    RemoteWriteAuth::None => {}
                    RemoteWriteAuth::Basic { username, secret } => {
                        c.username = Some(username.clone());
                        c.password_file = Some(secret_file(secret));
                    }
                    RemoteWriteAuth::Bearer { secret } => {
                        c.credentials_file = Some(secret_file(secret));
                    }
                }
                c
            })
            .collect(),
        extra_rules: extend::PROMETHEUS_RULES_GLOB,
        extra_targets: extend::PROMETHEUS_TARGETS_GLOB,
        extra_job: extend::PROMETHEUS_TARGETS_JOB,
        rule_files: RULE_FILES,
        alertmanager: format!("{}:{}", service::ALERTMANAGER, port::ALERTMANAGER),
    };
    Ok(vec![
        templates.file(
            "prometheus/prometheus.yml",
            "prometheus/prometheus.yml.j2",
            &context,
        )?,
        OutputFile::new(
            format!("{}/rules/README.md", extend::PROMETHEUS),
            EXTRA_RULES_README.to_owned(),
        ),
        OutputFile::new(
            format!("{}/targets/README.md", extend::PROMETHEUS),
            EXTRA_TARGETS_README.to_owned(),
        ),
    ])
}
