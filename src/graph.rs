//! `stackc graph`: the data flow of one stack as a Mermaid diagram, shaped like the seed's
//! diagram but with this stack's apps and host ports.

use std::fmt::Write;

use crate::model::{PortKey, Stack};

/// Renders the diagram; pure, deterministic.
pub fn mermaid(stack: &Stack) -> String {
    let port = |key: PortKey| match stack.ports.get(key) {
        Some(p) => format!("<br/>:{p}"),
        None => String::new(),
    };
    let mut out = String::new();
    let _ = writeln!(out, "graph TB");
    let _ = writeln!(out, "    subgraph apps[\"Applications\"]");
    for app in &stack.apps {
        let publish = app.publish.map_or(String::new(), |p| format!("<br/>:{p}"));
        let _ = writeln!(
            out,
            "        app_{}[\"{}{publish}\"]",
            app.ident,
            escape(&app.name)
        );
    }
    let _ = writeln!(out, "    end");
    let _ = writeln!(
        out,
        "    Alloy[\"Grafana Alloy{}<br/>OTLP{}{}\"]",
        port(PortKey::Alloy),
        port(PortKey::OtlpGrpc),
        port(PortKey::OtlpHttp)
    );
    let _ = writeln!(
        out,
        "    Prometheus[\"Prometheus{}\"]",
        port(PortKey::Prometheus)
    );
    let _ = writeln!(out, "    Loki[\"Loki{}\"]", port(PortKey::Loki));
    let _ = writeln!(out, "    Tempo[\"Tempo{}\"]", port(PortKey::Tempo));
    let _ = writeln!(out, "    Grafana[\"Grafana{}\"]", port(PortKey::Grafana));
    if stack.components.node_exporter {
        let _ = writeln!(
            out,
            "    NodeExp[\"node-exporter{}\"]",
            port(PortKey::NodeExporter)
        );
    }
    if stack.components.cadvisor {
        let _ = writeln!(out, "    cAdvisor[\"cAdvisor{}\"]", port(PortKey::Cadvisor));
    }
    if let Some(usage) = &stack.usage {
        match &usage.external_db {
            Some(db) => {
                let _ = writeln!(
                    out,
                    "    Postgres[(\"PostgreSQL {}<br/>external: {}:{}\")]",
                    usage.database,
                    escape(&db.host),
                    db.port
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "    Postgres[(\"PostgreSQL {}{}\")]",
                    usage.database,
                    port(PortKey::Postgres)
                );
            }
        }
        let _ = writeln!(
            out,
            "    Scraper[\"usage-scraper<br/>every {}\"]",
            usage.poll_interval
        );
    }
    for app in &stack.apps {
        if app.scrape.is_some() {
            let _ = writeln!(out, "    app_{} -->|metrics| Prometheus", app.ident);
        }
        if app.otlp_logs {
            let _ = writeln!(out, "    app_{} -->|logs OTLP| Alloy", app.ident);
        } else {
            let _ = writeln!(out, "    app_{} -->|logs stdout/stderr| Alloy", app.ident);
        }
        if app.otlp_metrics {
            let _ = writeln!(out, "    app_{} -->|metrics OTLP| Alloy", app.ident);
        }
        if app.otlp {
            let _ = writeln!(out, "    app_{} -->|traces OTLP| Alloy", app.ident);
        }
    }
    for (line, shown) in [
        ("Alloy -->|logs| Loki", true),
        ("Alloy -->|traces| Tempo", true),
        ("Alloy -->|OTLP metrics| Prometheus", true),
        ("Tempo -->|span metrics| Prometheus", true),
        (
            "NodeExp -->|host metrics| Prometheus",
            stack.components.node_exporter,
        ),
        (
            "cAdvisor -->|container metrics| Prometheus",
            stack.components.cadvisor,
        ),
        ("Prometheus -->|metrics| Grafana", true),
        ("Loki -->|logs| Grafana", true),
        ("Tempo -->|traces| Grafana", true),
    ] {
        if shown {
            let _ = writeln!(out, "    {line}");
        }
    }
    if stack.usage.is_some() {
        let _ = writeln!(out, "    Loki -->|usage events| Scraper");
        let _ = writeln!(out, "    Scraper -->|rows| Postgres");
        let _ = writeln!(out, "    Postgres -->|usage stats| Grafana");
    }
    out
}

/// Mermaid labels are double-quoted: keep quotes and angle brackets out.
fn escape(text: &str) -> String {
    text.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}
