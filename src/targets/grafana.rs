//! Grafana provisioning: datasources with fixed uids and the links between them
//! (exemplars and derived fields to Tempo, traces to logs and metrics), the dashboard
//! provider, and the dashboards themselves (`dashboards`), built as typed JSON.

pub mod dashboards;
pub mod metrics;

use serde::Serialize;

use super::{Options, OutputFile};
use crate::model::Stack;
use crate::templates::Templates;
use crate::wiring::{datasource, db, label, metadata, port, secret, service};

/// Load-bearing: used by `templates/grafana/datasources.yaml.j2`.
#[derive(Serialize)]
struct DatasourcesContext {
    uids: Uids,
    urls: Urls,
    scrape_interval: String,
    metadata: Metadata,
    labels: Labels,
    usage: Option<UsageContext>,
}

#[derive(Serialize)]
struct Uids {
    prometheus: &'static str,
    loki: &'static str,
    tempo: &'static str,
    postgres: &'static str,
}

#[derive(Serialize)]
struct Urls {
    prometheus: String,
    loki: String,
    tempo: String,
    postgres: String,
}

#[derive(Serialize)]
struct Metadata {
    /// Loki structured metadata and the apps' own exemplars.
    trace_id: &'static str,
    /// The exemplar label of Tempo's span metrics.
    tempo_exemplar: &'static str,
}

#[derive(Serialize)]
struct Labels {
    compose_service: &'static str,
}

#[derive(Serialize)]
struct UsageContext {
    user: &'static str,
    database: String,
    postgres_version: u32,
    /// `${VAR}`: expanded by Grafana from its environment when it reads the file.
    password_ref: String,
}

/// Load-bearing: used by `templates/grafana/dashboards.yaml.j2`.
#[derive(Serialize)]
struct ProviderContext {
    folder: String,
    folder_uid: String,
}

/// The Grafana folder every dashboard of this stack lives in.
pub fn folder_uid(stack: &Stack) -> String {
    format!("stackc-{}", stack.name)
}

pub fn render(
    stack: &Stack,
    templates: &Templates,
    _: &Options,
) -> anyhow::Result<Vec<OutputFile>> {
    let postgres_version = crate::targets::compose::tag_version(&stack.versions.postgres)
        .map_or(1800, |(major, _, _)| major * 100);
    let context = DatasourcesContext {
        uids: Uids {
            prometheus: datasource::PROMETHEUS,
            loki: datasource::LOKI,
            tempo: datasource::TEMPO,
            postgres: datasource::POSTGRES,
        },
        urls: Urls {
            prometheus: format!("http://{}:{}", service::PROMETHEUS, port::PROMETHEUS),
            loki: format!("http://{}:{}", service::LOKI, port::LOKI),
            tempo: format!("http://{}:{}", service::TEMPO, port::TEMPO),
            postgres: format!("{}:{}", service::POSTGRES, port::POSTGRES),
        },
        scrape_interval: stack.metrics.scrape_interval.prometheus(),
        metadata: Metadata {
            trace_id: metadata::TRACE_ID,
            tempo_exemplar: metrics::labels::TEMPO_EXEMPLAR_TRACE_ID,
        },
        labels: Labels {
            compose_service: label::COMPOSE_SERVICE,
        },
        usage: stack.usage.as_ref().map(|usage| UsageContext {
            user: db::READER_ROLE,
            database: usage.database.clone(),
            postgres_version,
            password_ref: format!("${{{}}}", secret::READER_DB_PASSWORD),
        }),
    };
    let mut files = vec![
        templates.file(
            "grafana/provisioning/datasources/datasources.yaml",
            "grafana/datasources.yaml.j2",
            &context,
        )?,
        templates.file(
            "grafana/provisioning/dashboards/dashboards.yaml",
            "grafana/dashboards.yaml.j2",
            ProviderContext {
                folder: format!("{} stack", stack.name),
                folder_uid: folder_uid(stack),
            },
        )?,
    ];
    files.extend(dashboards::render(stack)?);
    Ok(files)
}
