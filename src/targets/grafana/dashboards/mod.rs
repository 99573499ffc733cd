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

use crate::model::Stack;
use crate::targets::OutputFile;
use crate::wiring::{label, service};
use json::{Dashboard, quote};

/// What every dashboard of a stack shares: names, tags and the selectors that keep queries
/// to this compose project.
#[derive(Debug)]
struct Ctx<'a> {
    stack: &'a Stack,
    tags: Vec<String>,
    /// `compose_project="<name>"`: the Loki stream selector of this stack.
    project: String,
    /// The apps, sorted.
    apps: Vec<String>,
    /// Every compose service of the stack: the apps, then the stack's own components.
    services: Vec<String>,
}

impl<'a> Ctx<'a> {
    fn new(stack: &'a Stack) -> Self {
        let apps: Vec<String> = stack.apps.iter().map(|a| a.name.clone()).collect();
        let mut services = apps.clone();
        services.extend(components(stack).iter().map(|s| (*s).to_owned()));
        Ctx {
            stack,
            tags: vec!["stackc".into(), stack.name.clone()],
            project: format!("{}={}", label::COMPOSE_PROJECT, quote(&stack.name)),
            apps,
            services,
        }
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

/// The values of the `level` variables: what apps write in their JSON `level` field.
const LEVELS: [&str; 6] = ["debug", "info", "warn", "warning", "error", "fatal"];

/// The stack's own services that Prometheus scrapes, in display order.
fn components(stack: &Stack) -> Vec<&'static str> {
    let mut out = vec![
        service::PROMETHEUS,
        service::ALLOY,
        service::LOKI,
        service::TEMPO,
        service::GRAFANA,
        service::NODE_EXPORTER,
        service::CADVISOR,
    ];
    if stack.usage.is_some() {
        out.push(service::USAGE_SCRAPER);
        out.push(service::POSTGRES);
    }
    out
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
        host::dashboard(&ctx),
    ];
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
