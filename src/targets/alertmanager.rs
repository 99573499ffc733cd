//! `alertmanager/alertmanager.yml`: the receivers of `[alerts]`, one route per severity,
//! grouping by alert and app (or component), and the inhibitions that keep a team from
//! being told the same thing twice: a page silences the ticket of the same problem, a
//! component down silences its own smaller alerts, and a telemetry component down
//! (Alloy, Tempo, Prometheus) silences the SLO alerts measured through it.
//!
//! Secrets never reach this file: each is a file Alertmanager reads
//! (`auth_password_file`, `url_file`, `api_url_file`) under `/run/secrets/`, where
//! compose mounts the `.env` variable of that name (see `compose.rs`).
//! `url_file` in `webhook_configs` needs Alertmanager 0.26 or later.

use serde::Serialize;

use super::{Options, OutputFile};
use crate::model::{ReceiverKind, Stack};
use crate::templates::Templates;
use crate::wiring::{alert, service};

/// Load-bearing: used by `templates/alertmanager/alertmanager.yml.j2`.
#[derive(Serialize)]
struct Context {
    receiver: String,
    group_by: Vec<&'static str>,
    group_wait: String,
    group_interval: String,
    repeat_interval: String,
    routes: Vec<Route>,
    inhibit_rules: Vec<Inhibit>,
    receivers: Vec<ReceiverContext>,
}

#[derive(Serialize)]
struct Route {
    receiver: String,
    matcher: String,
}

#[derive(Serialize)]
struct Inhibit {
    why: &'static str,
    source: Vec<String>,
    target: Vec<String>,
    equal: Vec<&'static str>,
}

#[derive(Serialize, Default)]
struct ReceiverContext {
    name: String,
    email: Option<Email>,
    webhook_url_file: Option<String>,
    slack: Option<Slack>,
}

#[derive(Serialize)]
struct Email {
    to: String,
    from: String,
    smarthost: String,
    auth_username: Option<String>,
    auth_password_file: Option<String>,
    require_tls: bool,
}

#[derive(Serialize)]
struct Slack {
    api_url_file: String,
    channel: Option<String>,
    /// Alertmanager templates: the alert and its app or component, then each summary.
    title: &'static str,
    text: &'static str,
}

/// Where Alertmanager finds the secret held by `.env` variable `name`.
pub fn secret_file(name: &str) -> String {
    format!("{}/{name}", alert::SECRETS_DIR)
}

fn matcher(label: &str, op: &str, value: &str) -> String {
    format!(
        "{label}{op}{}",
        serde_json::to_string(value).unwrap_or_default()
    )
}

pub fn render(
    stack: &Stack,
    templates: &Templates,
    _: &Options,
) -> anyhow::Result<Vec<OutputFile>> {
    let alerts = &stack.alerts;
    let mut receivers: Vec<ReceiverContext> = Vec::new();
    if alerts.default_receiver.is_none() {
        receivers.push(ReceiverContext {
            name: alert::NO_RECEIVER.into(),
            ..ReceiverContext::default()
        });
    }
    for r in &alerts.receivers {
        let mut ctx = ReceiverContext {
            name: r.name.clone(),
            ..ReceiverContext::default()
        };
        match &r.kind {
            ReceiverKind::Email {
                to,
                from,
                smarthost,
                auth_username,
                password_secret,
                require_tls,
            } => {
                ctx.email = Some(Email {
                    to: to.clone(),
                    from: from.clone(),
                    smarthost: smarthost.clone(),
                    auth_username: auth_username.clone(),
                    auth_password_file: password_secret.as_deref().map(secret_file),
                    require_tls: *require_tls,
                });
            }
            ReceiverKind::Webhook { url_secret } => {
                ctx.webhook_url_file = Some(secret_file(url_secret));
            }
            ReceiverKind::Slack {
                url_secret,
                channel,
            } => {
                ctx.slack = Some(Slack {
                    api_url_file: secret_file(url_secret),
                    channel: channel.clone(),
                    title: "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} {{ .CommonLabels.app }}{{ .CommonLabels.component }}",
                    text: "{{ range .Alerts }}*{{ .Labels.severity }}* {{ .Annotations.summary }}: {{ .Annotations.description }}\n{{ end }}",
                });
            }
        }
        receivers.push(ctx);
    }
    let mut routes = Vec::new();
    for (severity, receiver) in [
        (alert::CRITICAL, &alerts.critical_receiver),
        (alert::WARNING, &alerts.warning_receiver),
    ] {
        if let Some(receiver) = receiver {
            routes.push(Route {
                receiver: receiver.clone(),
                matcher: matcher(alert::SEVERITY, "=", severity),
            });
        }
    }
    let inhibit_rules = vec![
        Inhibit {
            why: "a page silences the ticket of the same problem",
            source: vec![matcher(alert::SEVERITY, "=", alert::CRITICAL)],
            target: vec![matcher(alert::SEVERITY, "=", alert::WARNING)],
            equal: vec!["alertname", alert::APP, alert::COMPONENT, alert::SLO],
        },
        Inhibit {
            why: "a component down silences its own other alerts",
            source: vec![matcher("alertname", "=", "StackComponentDown")],
            target: vec![matcher("alertname", "!=", "StackComponentDown")],
            equal: vec![alert::COMPONENT],
        },
        Inhibit {
            why: "span metrics pass through Alloy, Tempo and Prometheus: while one is down, SLOs measured on them are not trusted",
            source: vec![
                matcher("alertname", "=", "StackComponentDown"),
                matcher(
                    alert::COMPONENT,
                    "=~",
                    &[service::ALLOY, service::TEMPO, service::PROMETHEUS].join("|"),
                ),
            ],
            target: vec![matcher(alert::SLI, "=", "spanmetrics")],
            equal: vec![],
        },
    ];
    let context = Context {
        receiver: alerts
            .default_receiver
            .clone()
            .unwrap_or_else(|| alert::NO_RECEIVER.into()),
        group_by: vec!["alertname", alert::APP, alert::COMPONENT],
        group_wait: alerts.group_wait.prometheus(),
        group_interval: alerts.group_interval.prometheus(),
        repeat_interval: alerts.repeat_interval.prometheus(),
        routes,
        inhibit_rules,
        receivers,
    };
    Ok(vec![templates.file(
        "alertmanager/alertmanager.yml",
        "alertmanager/alertmanager.yml.j2",
        &context,
    )?])
}
