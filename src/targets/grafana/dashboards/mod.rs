//! Grafana dashboards as typed JSON (serde, `json`), one file per dashboard under
//! `grafana/dashboards/<uid>.json`, all in the stack's folder and linked to each other by
//! tag. Datasources are referenced by their fixed uids from `wiring`, never by name; metric
//! names come from `super::metrics`, Loki labels from `wiring::label`.
//!
//! One module per dashboard: `overview`, `red` (per-app rate, errors, duration), `logs`,
//! `traces`, `host` (node-exporter and cAdvisor), `usage` (PostgreSQL, when `[usage]` is
//! on) and `health` (the stack's own components).

mod health;
mod host;
pub mod json;
mod logs;
mod overview;
mod red;
mod traces;
mod usage;

use crate::levels;
use crate::model::Stack;
use crate::targets::OutputFile;
use crate::targets::grafana::metrics::{labels, spanmetrics};
use crate::wiring::{db, label, service};
use json::{Dashboard, Pick, Variable, quote};

/// What every dashboard of a stack shares: names, tags and the selectors that keep queries
/// to this compose project. No app is named here: dashboards find the apps with query
/// variables when they load, so adding an app changes no dashboard.
#[derive(Debug)]
struct Ctx<'a> {
    stack: &'a Stack,
    tags: Vec<String>,
    /// `compose_project="<name>"`: the Loki stream selector of this stack.
    project: String,
}

impl<'a> Ctx<'a> {
    fn new(stack: &'a Stack) -> Self {
        Ctx {
            stack,
            tags: vec!["stackc".into(), stack.name.clone()],
            project: format!("{}={}", label::COMPOSE_PROJECT, quote(&stack.name)),
        }
    }

    /// `app`: the services Tempo's span metrics know (every app that sends traces).
    fn traced_apps(&self, pick: Pick<'_>) -> Variable {
        Variable::query(
            "app",
            "App",
            json::PROMETHEUS,
            format!(
                "label_values({}, {})",
                spanmetrics::CALLS,
                labels::SPAN_SERVICE
            ),
            pick,
        )
    }

    /// `service`: every compose service of this project that Loki has log lines of.
    fn logged_services(&self, pick: Pick<'_>) -> Variable {
        Variable::query(
            "service",
            "Service",
            json::LOKI,
            format!(
                "label_values({{{}}}, {})",
                self.project,
                label::COMPOSE_SERVICE
            ),
            pick,
        )
    }

    /// `app`: the apps that have stored usage events.
    fn usage_apps(&self, pick: Pick<'_>) -> Variable {
        Variable::query(
            "app",
            "App",
            json::POSTGRES,
            format!("SELECT DISTINCT app FROM {} ORDER BY app", db::EVENTS_TABLE),
            pick,
        )
    }

    fn uid(&self, slug: &str) -> String {
        format!("{}-{slug}", self.stack.name)
    }

    fn title(&self, what: &str) -> String {
        format!("{}: {what}", self.stack.name)
    }

    fn board(&self, slug: &str, what: &str, description: &str) -> json::Board {
        json::Board::new(
            self.uid(slug),
            self.title(what),
            description,
            self.tags.clone(),
        )
    }
}

/// The values of the `level` variables: the levels Alloy normalises every line to.
fn level_values() -> Vec<String> {
    levels::LEVELS
        .iter()
        .chain([&levels::UNKNOWN])
        .map(|l| (*l).to_owned())
        .collect()
}

/// The stack's own services that Prometheus scrapes (each is a `job`), in display order.
fn scraped_components(stack: &Stack) -> Vec<&'static str> {
    let mut out = components(stack);
    out.retain(|s| *s != service::POSTGRES);
    out
}

/// The stack's own compose services, in display order.
fn components(stack: &Stack) -> Vec<&'static str> {
    stack.services()
}

/// `a|b|c`: a regex over known names, to be quoted with `quote` (names carry no regex
/// metacharacter but `.`, which is escaped).
fn alternation<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|n| n.as_ref().replace('.', "\\."))
        .collect::<Vec<_>>()
        .join("|")
}

/// The dashboards of a stack, in a fixed order.
pub fn dashboards(stack: &Stack) -> Vec<Dashboard> {
    let ctx = Ctx::new(stack);
    let mut out = vec![
        overview::dashboard(&ctx),
        red::dashboard(&ctx),
        logs::dashboard(&ctx),
        traces::dashboard(&ctx),
    ];
    // Without node-exporter and cAdvisor there is nothing to show of the host.
    if stack.components.node_exporter || stack.components.cadvisor {
        out.push(host::dashboard(&ctx));
    }
    if stack.usage.is_some() {
        out.push(usage::dashboard(&ctx));
    }
    out.push(health::dashboard(&ctx));
    out
}

/// Renders every dashboard to `grafana/dashboards/<uid>.json`.
pub fn render(stack: &Stack) -> anyhow::Result<Vec<OutputFile>> {
    dashboards(stack)
        .into_iter()
        .map(|d| {
            let mut text = serde_json::to_string_pretty(&d)?;
            text.push('\n');
            Ok(OutputFile::new(
                format!("grafana/dashboards/{}.json", d.uid),
                text,
            ))
        })
        .collect()
}
