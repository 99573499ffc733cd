//! The risk rules of a review: each looks at the facts of the old and the new stack and
//! says what can go wrong when the change is deployed, how badly, and why. [`RULES`] is
//! the list the README's table documents (a test keeps the two in step); [`risks`] runs
//! them all, most severe first.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use super::{Facts, Finding, Scope, ScopeKind, Service, Severity, is_loopback};
use crate::duration::Duration;
use crate::targets::compose::tag_version;
use crate::wiring::service;

/// A rule as documented: its id, severity and when it fires.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub id: &'static str,
    pub severity: &'static str,
    pub when: &'static str,
}

/// Every rule, most severe first.
pub const RULES: &[Rule] = &[
    Rule {
        id: "retention-lowered",
        severity: "high",
        when: "`[metrics]`, `[logs]` or `[traces]` retention goes down",
    },
    Rule {
        id: "project-renamed",
        severity: "high",
        when: "`[stack].name` changes",
    },
    Rule {
        id: "port-exposed",
        severity: "high",
        when: "a port becomes reachable beyond loopback (newly published, or `bind` moved off loopback)",
    },
    Rule {
        id: "database-renamed",
        severity: "high",
        when: "`[usage].database` changes while PostgreSQL keeps its volume",
    },
    Rule {
        id: "image-major-changed",
        severity: "medium (high for PostgreSQL)",
        when: "an image tag moves across a major version, up or down",
    },
    Rule {
        id: "component-removed",
        severity: "medium",
        when: "a component with a data volume goes (PostgreSQL when `[usage]` is turned off)",
    },
    Rule {
        id: "secret-required",
        severity: "medium",
        when: "a variable is newly required from `.env`",
    },
    Rule {
        id: "dashboard-uid-changed",
        severity: "medium",
        when: "a dashboard's uid changes (the stack was renamed)",
    },
    Rule {
        id: "scrape-interval-above-rate-window",
        severity: "medium",
        when: "an app's metrics arrive (scraped, or pushed over OTLP) less often than every half of the dashboards' shortest rate window",
    },
    Rule {
        id: "port-published",
        severity: "low",
        when: "a port is newly published on loopback",
    },
    Rule {
        id: "service-removed",
        severity: "low",
        when: "an app, or a component without a volume, goes",
    },
    Rule {
        id: "dashboard-removed",
        severity: "low",
        when: "a dashboard goes (the usage dashboard when `[usage]` is turned off)",
    },
];

/// Every risk of going from `old` (`None`: no stack before) to `new`, most severe first.
pub fn risks(old: Option<&Facts>, new: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(old) = old {
        retention_lowered(old, new, &mut out);
        project_renamed(old, new, &mut out);
        database_renamed(old, new, &mut out);
        image_major_changed(old, new, &mut out);
        removed(old, new, &mut out);
        dashboards(old, new, &mut out);
    }
    ports(old, new, &mut out);
    secrets(old, new, &mut out);
    scrape_intervals(old, new, &mut out);
    out.sort_by(|a, b| {
        (Reverse(a.severity), &a.scope, a.rule, &a.subject).cmp(&(
            Reverse(b.severity),
            &b.scope,
            b.rule,
            &b.subject,
        ))
    });
    out
}

fn finding(
    rule: &'static str,
    severity: Severity,
    scope: &Scope,
    subject: impl Into<String>,
    summary: impl Into<String>,
    why: impl Into<String>,
) -> Finding {
    Finding {
        rule,
        severity,
        scope: scope.clone(),
        subject: subject.into(),
        summary: summary.into(),
        why: why.into(),
    }
}

/// Pairs of services present on both sides.
fn both<'a>(
    old: &'a Facts,
    new: &'a Facts,
) -> impl Iterator<Item = (&'a Scope, &'a Service, &'a Service)> {
    new.services
        .iter()
        .filter_map(|(scope, after)| old.services.get(scope).map(|before| (scope, before, after)))
}

fn setting<'a>(service: &'a Service, name: &str) -> Option<&'a str> {
    service
        .settings
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn retention_lowered(old: &Facts, new: &Facts, out: &mut Vec<Finding>) {
    for (scope, before, after) in both(old, new) {
        let (Some(was), Some(now)) = (before.retention, after.retention) else {
            continue;
        };
        if now >= was {
            continue;
        }
        let (data, when) = match scope.name.as_str() {
            service::PROMETHEUS => ("metrics", "Prometheus's next compaction"),
            service::LOKI => ("logs", "the next run of Loki's compactor"),
            service::TEMPO => ("traces", "the next run of Tempo's compactor"),
            _ => ("data", "the next compaction"),
        };
        let lost = Duration::from_millis(was.as_millis() - now.as_millis());
        out.push(finding(
            "retention-lowered",
            Severity::High,
            scope,
            "retention",
            format!("retention {was} → {now}"),
            format!(
                "{data} older than {now} are deleted at {when} after the deploy, for good: \
                 {lost} of the history kept today is lost"
            ),
        ));
    }
}

fn project_renamed(old: &Facts, new: &Facts, out: &mut Vec<Finding>) {
    if old.project == new.project {
        return;
    }
    let (was, now) = (&old.project, &new.project);
    out.push(finding(
        "project-renamed",
        Severity::High,
        &Scope::stack(),
        "project",
        format!("compose project `{was}` → `{now}`"),
        format!(
            "compose names containers and volumes after the project: `docker compose up -d` \
             creates new, empty `{now}_*` volumes, so the stack starts without its metrics, logs, \
             traces, Grafana state and usage data, which stay in the orphaned `{was}_*` volumes; \
             the old project's containers keep running and hold the published ports until \
             `docker compose -p {was} down` (without `-v`, which would delete the old data)"
        ),
    ));
}

fn database_renamed(old: &Facts, new: &Facts, out: &mut Vec<Finding>) {
    for (scope, before, after) in both(old, new) {
        if scope.name != service::POSTGRES {
            continue;
        }
        let (Some(was), Some(now)) = (setting(before, "database"), setting(after, "database"))
        else {
            continue;
        };
        if was == now || old.project != new.project {
            continue;
        }
        out.push(finding(
            "database-renamed",
            Severity::High,
            scope,
            "database",
            format!("usage database `{was}` → `{now}`"),
            format!(
                "PostgreSQL runs `postgres/init/` only on an empty data directory: on the existing \
                 volume the database `{now}` and its tables are never created, so the usage scraper \
                 and Grafana's usage datasource fail until you create them, or recreate the volume \
                 (which deletes the usage data in `{was}`)"
            ),
        ));
    }
}

/// `(repository, tag)` of an image reference; no tag for `repo` or `repo@sha256:…`.
pub fn split_image(reference: &str) -> (&str, Option<&str>) {
    let name = reference.split('@').next().unwrap_or(reference);
    match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => (&name[..i], Some(&name[i + 1..])),
        _ => (name, None),
    }
}

fn image_major_changed(old: &Facts, new: &Facts, out: &mut Vec<Finding>) {
    for (scope, before, after) in both(old, new) {
        let (Some(was), Some(now)) = (&before.image, &after.image) else {
            continue;
        };
        let ((repo, Some(was_tag)), (now_repo, Some(now_tag))) =
            (split_image(was), split_image(now))
        else {
            continue;
        };
        if repo != now_repo {
            continue;
        }
        let (Some((was_major, ..)), Some((now_major, ..))) =
            (tag_version(was_tag), tag_version(now_tag))
        else {
            continue;
        };
        if was_major == now_major {
            continue;
        }
        let postgres = scope.kind == ScopeKind::Component && scope.name == service::POSTGRES;
        let why = if postgres {
            format!(
                "PostgreSQL opens only a data directory of its own major version: on the existing \
                 volume the {now_major} container does not start until the {was_major} data is \
                 upgraded (pg_upgrade, or pg_dump and restore)"
            )
        } else if now_major < was_major {
            format!(
                "a downgrade across a major version may not read the data or the config that \
                 {was_major}.x wrote; check {repo}'s release notes"
            )
        } else {
            format!(
                "a major version may rename or drop settings and change its storage format; read \
                 {repo}'s release notes for {now_major}.0 before deploying"
            )
        };
        out.push(finding(
            "image-major-changed",
            if postgres {
                Severity::High
            } else {
                Severity::Medium
            },
            scope,
            "image",
            format!("{repo} {was_tag} → {now_tag}"),
            why,
        ));
    }
}

fn removed(old: &Facts, new: &Facts, out: &mut Vec<Finding>) {
    for (scope, before) in &old.services {
        if new.services.contains_key(scope) {
            continue;
        }
        let orphans = "`docker compose up -d` leaves its container running (compose warns about \
                       orphan containers): deploy with `docker compose up -d --remove-orphans`";
        if scope.kind == ScopeKind::Component && !before.volumes.is_empty() {
            let volumes: Vec<String> = before
                .volumes
                .iter()
                .map(|v| format!("`{}_{v}`", old.project))
                .collect();
            let volumes = volumes.join(", ");
            out.push(finding(
                "component-removed",
                Severity::Medium,
                scope,
                scope.name.clone(),
                format!("removed; volume {volumes} orphaned"),
                format!(
                    "its data stays in {volumes} until `docker volume rm`, and is picked up again \
                     if the component comes back; {orphans}"
                ),
            ));
        } else {
            out.push(finding(
                "service-removed",
                Severity::Low,
                scope,
                scope.name.clone(),
                "removed",
                orphans,
            ));
        }
    }
}

fn dashboards(old: &Facts, new: &Facts, out: &mut Vec<Finding>) {
    let grafana = Scope::component(service::GRAFANA);
    for (key, before) in &old.dashboards {
        match new.dashboards.get(key) {
            Some(after) if after.uid == before.uid => {}
            Some(after) => out.push(finding(
                "dashboard-uid-changed",
                Severity::Medium,
                &grafana,
                before.uid.clone(),
                format!(
                    "dashboard `{}` → `{}` ({})",
                    before.uid, after.uid, after.title
                ),
                format!(
                    "links, bookmarks and shared URLs to `/d/{}` stop working: Grafana serves \
                     the dashboard under `/d/{}` only",
                    before.uid, after.uid
                ),
            )),
            None => out.push(finding(
                "dashboard-removed",
                Severity::Low,
                &grafana,
                before.uid.clone(),
                format!("dashboard `{}` ({}) removed", before.uid, before.title),
                format!("links and bookmarks to `/d/{}` stop working", before.uid),
            )),
        }
    }
}

fn ports(old: Option<&Facts>, new: &Facts, out: &mut Vec<Finding>) {
    // The bind address moving off loopback exposes every port published before: one
    // finding for the stack, rather than one per port.
    let rebound = old.is_some_and(|o| is_loopback(&o.bind)) && !is_loopback(&new.bind);
    let mut carried = Vec::new();
    for (scope, after) in &new.services {
        let before = old.and_then(|o| o.services.get(scope));
        let mut published = Vec::new();
        let mut exposed = Vec::new();
        for port in &after.published {
            let was = before.and_then(|b| b.published.iter().find(|p| p.item == port.item));
            match was {
                None if port.loopback() => published.push(port.to_string()),
                None => exposed.push(port.to_string()),
                Some(w) if w.loopback() && !port.loopback() && rebound => {
                    carried.push(format!("{} {}", scope.name, port.host_port));
                }
                Some(w) if w.loopback() && !port.loopback() => {
                    exposed.push(format!("{port} (was {w})"));
                }
                Some(_) => {}
            }
        }
        if !published.is_empty() {
            out.push(finding(
                "port-published",
                Severity::Low,
                scope,
                "ports",
                format!("publishes {}", published.join(", ")),
                "reachable from the host itself by any local user or process, not from the \
                 network",
            ));
        }
        if !exposed.is_empty() {
            let what = match (scope.kind, scope.name.as_str()) {
                (ScopeKind::App, _) => "the app answers anyone who reaches it".to_owned(),
                (_, service::GRAFANA) => {
                    "Grafana's login is all that stands in the way (see SECURITY.md)".to_owned()
                }
                (_, service::POSTGRES) => {
                    "PostgreSQL takes password logins for the usage database from the network"
                        .to_owned()
                }
                (_, service::ALLOY) => {
                    "anyone who reaches it can send telemetry into the stack and read Alloy's UI"
                        .to_owned()
                }
                (_, name) => format!(
                    "{name} has no authentication: anyone who reaches it reads what it serves"
                ),
            };
            out.push(finding(
                "port-exposed",
                Severity::High,
                scope,
                "ports",
                format!("publishes {}", exposed.join(", ")),
                format!(
                    "{} is not a loopback address: reachable from every network the host is on, \
                     and {what}; keep `[stack].bind = \"127.0.0.1\"`, or put a firewall or a TLS \
                     proxy in front",
                    new.bind
                ),
            ));
        }
    }
    if !carried.is_empty() {
        let was = old.map_or("", |o| o.bind.as_str());
        out.push(finding(
            "port-exposed",
            Severity::High,
            &Scope::stack(),
            "bind",
            format!(
                "bind {was} → {} exposes {}: {}",
                new.bind,
                if carried.len() == 1 {
                    "1 published port".to_owned()
                } else {
                    format!("{} published ports", carried.len())
                },
                carried.join(", ")
            ),
            format!(
                "{} is not a loopback address: every published port is reachable from every \
                 network the host is on; of the stack's own services only Grafana asks for a \
                 login, and PostgreSQL for a password; keep `[stack].bind = \"127.0.0.1\"`, or \
                 put a firewall or a TLS proxy in front (see SECURITY.md)",
                new.bind
            ),
        ));
    }
}

fn secrets(old: Option<&Facts>, new: &Facts, out: &mut Vec<Finding>) {
    let required = |facts: &Facts| -> BTreeMap<String, BTreeSet<Scope>> {
        let mut map: BTreeMap<String, BTreeSet<Scope>> = BTreeMap::new();
        for (scope, service) in &facts.services {
            for name in &service.secrets {
                map.entry(name.clone()).or_default().insert(scope.clone());
            }
        }
        map
    };
    let before = old.map(required).unwrap_or_default();
    for (name, scopes) in required(new) {
        if before.contains_key(&name) {
            continue;
        }
        let Some(first) = scopes.first() else {
            continue;
        };
        let names: Vec<&str> = scopes.iter().map(|s| s.name.as_str()).collect();
        out.push(finding(
            "secret-required",
            Severity::Medium,
            first,
            name.clone(),
            format!("requires `{name}` in .env"),
            format!(
                "compose refuses to start {} until `{name}` is set: add it to the deployment's \
                 `.env` (it is listed in `.env.example`) before `docker compose up`",
                listing(&names)
            ),
        ));
    }
}

/// "`a`", "`a` and `b`", "`a`, `b` and `c`".
fn listing(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

/// Whether a target scraped every `interval` has two samples in every `window`.
fn fits(interval: Duration, window: Option<Duration>) -> bool {
    window.is_none_or(|w| interval.as_millis() * 2 <= w.as_millis())
}

fn scrape_intervals(old: Option<&Facts>, new: &Facts, out: &mut Vec<Finding>) {
    let Some(window) = new.rate_window else {
        return;
    };
    for (scope, after) in &new.services {
        let Some((interval, what)) = after.sample_interval() else {
            continue;
        };
        if fits(interval, Some(window)) {
            continue;
        }
        let fitted_before = old
            .and_then(|o| o.services.get(scope).map(|s| (s, o.rate_window)))
            .and_then(|(s, w)| s.sample_interval().map(|(i, _)| fits(i, w)))
            .unwrap_or(true);
        if !fitted_before {
            continue;
        }
        let half = Duration::from_millis(window.as_millis() / 2);
        let (verb, fix) = if what == "scrape interval" {
            (
                "scraped",
                format!("scrape it every {half} or less, or raise `[metrics].scrape_interval`"),
            )
        } else {
            (
                "pushed",
                format!(
                    "set `OTEL_METRIC_EXPORT_INTERVAL` in its `env` to {} (milliseconds) or less, \
                     or raise `[metrics].scrape_interval`",
                    half.as_millis()
                ),
            )
        };
        out.push(finding(
            "scrape-interval-above-rate-window",
            Severity::Medium,
            scope,
            what,
            format!("{verb} every {interval}; the dashboards' shortest rate window is {window}"),
            format!(
                "rate() needs two samples inside its window, and the dashboards' windows \
                 (Grafana's `$__rate_interval`: at least 4 × the Prometheus datasource's scrape \
                 interval) can be as short as {window}: this app's rates come back empty at \
                 short time ranges; {fix}"
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_split() {
        assert_eq!(split_image("nginx:1.27"), ("nginx", Some("1.27")));
        assert_eq!(
            split_image("registry.example.com:5000/team/app"),
            ("registry.example.com:5000/team/app", None)
        );
        assert_eq!(
            split_image("registry.example.com:5000/team/app:2@sha256:00"),
            ("registry.example.com:5000/team/app", Some("2"))
        );
        assert_eq!(split_image("app@sha256:00"), ("app", None));
    }

    #[test]
    fn two_samples_per_window() {
        let s = Duration::from_secs;
        assert!(fits(s(30), Some(s(60))));
        assert!(!fits(s(31), Some(s(60))));
        assert!(fits(s(3600), None));
    }

    #[test]
    fn lists_read_as_prose() {
        assert_eq!(listing(&["a"]), "`a`");
        assert_eq!(listing(&["a", "b"]), "`a` and `b`");
        assert_eq!(listing(&["a", "b", "c"]), "`a`, `b` and `c`");
    }

    #[test]
    fn rules_are_listed_once() {
        let ids: BTreeSet<&str> = RULES.iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), RULES.len());
    }
}
