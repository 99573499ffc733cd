//! Grafana checks (issue 5): the correlation links agree with what Alloy, Tempo and compose
//! actually emit; every dashboard query names only metrics this stack's exporters and
//! Tempo's span metrics produce and only labels Alloy writes; uids and panel ids are
//! unique and every datasource uid resolves; every PromQL expression parses in the real
//! promtool (required when `STACKC_REQUIRE_TOOLS=1`). The SQL panels run against a real
//! PostgreSQL in `grafana_sql`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;
use stackc::diagnostic::SourceFile;
use stackc::model::Stack;
use stackc::targets::grafana::dashboards::{
    self,
    json::{Dashboard, Target},
};
use stackc::targets::grafana::metrics;
use stackc::wiring::{datasource, label, metadata};

use crate::support::examples;

pub(crate) fn require_tools() -> bool {
    std::env::var("STACKC_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// Every example's stack and its rendered files by path.
pub(crate) fn example_stacks() -> Vec<(String, Stack, BTreeMap<String, String>)> {
    examples()
        .into_iter()
        .map(|dir| {
            let source = SourceFile {
                name: "stack.toml".into(),
                text: std::fs::read_to_string(dir.join("stack.toml")).unwrap(),
            };
            let stack = stackc::validate::check(&source)
                .stack
                .expect("examples are valid");
            let files = stackc::targets::render(&stack, &Default::default())
                .unwrap()
                .into_iter()
                .map(|f| (f.path, f.contents))
                .collect();
            (dir.display().to_string(), stack, files)
        })
        .collect()
}

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

/// The Loki labels Alloy's config writes: every `target_label` of its relabel rules and
/// every key of its `stage.labels` block.
fn alloy_labels(alloy: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in alloy.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("target_label") {
            out.insert(
                rest.trim_start_matches([' ', '='])
                    .trim_matches('"')
                    .to_owned(),
            );
        }
    }
    out.extend(block_keys(alloy, "stage.labels"));
    out
}

/// The keys of `name { values = { k = "", ... } }` blocks in an Alloy config.
fn block_keys(alloy: &str, name: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut inside = false;
    for line in alloy.lines() {
        let line = line.trim();
        if line.starts_with(name) && line.ends_with('{') {
            inside = true;
        } else if inside && line == "}" {
            inside = false;
        } else if inside && line.ends_with("= \"\",") {
            out.insert(line.split('=').next().unwrap().trim().to_owned());
        }
    }
    out
}

fn datasource_by_uid<'a>(datasources: &'a Value, uid: &str) -> &'a Value {
    datasources["datasources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["uid"] == uid)
        .unwrap_or_else(|| panic!("no datasource with uid {uid}"))
}

#[test]
fn correlation_links_match_what_alloy_tempo_and_compose_emit() {
    for (case, stack, files) in example_stacks() {
        let alloy = &files["alloy/config.alloy"];
        let labels = alloy_labels(alloy);
        let structured = block_keys(alloy, "stage.structured_metadata");
        let ds = yaml(&files["grafana/provisioning/datasources/datasources.yaml"]);

        // Every stream label the wiring promises is written by Alloy, and nothing else.
        let promised: BTreeSet<String> = label::ALL.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(labels, promised, "{case}: Alloy's labels");
        assert!(
            structured.contains(metadata::TRACE_ID),
            "{case}: {structured:?}"
        );
        assert!(
            structured.contains(metadata::SPAN_ID),
            "{case}: {structured:?}"
        );

        // Loki -> Tempo: the derived field matches the structured-metadata key Alloy writes.
        let loki = datasource_by_uid(&ds, datasource::LOKI);
        let derived = &loki["jsonData"]["derivedFields"][0];
        assert_eq!(derived["matcherType"], "label", "{case}");
        let key = derived["matcherRegex"].as_str().unwrap();
        assert!(structured.contains(key), "{case}: derived field on `{key}`");
        assert_eq!(derived["datasourceUid"], datasource::TEMPO, "{case}");
        assert_eq!(
            derived["url"], "$${__value.raw}",
            "{case}: escaped for provisioning"
        );

        // Tempo -> Loki: span `service.name` maps onto a label Alloy writes, and every app
        // that sends traces names itself after its compose service.
        let tempo = datasource_by_uid(&ds, datasource::TEMPO);
        let to_logs = &tempo["jsonData"]["tracesToLogsV2"];
        assert_eq!(to_logs["datasourceUid"], datasource::LOKI, "{case}");
        assert_eq!(to_logs["filterByTraceID"], true, "{case}");
        for tag in to_logs["tags"].as_array().unwrap() {
            assert_eq!(tag["key"], "service.name", "{case}");
            let value = tag["value"].as_str().unwrap();
            assert!(
                labels.contains(value),
                "{case}: tracesToLogs maps to `{value}`"
            );
            assert_eq!(value, label::COMPOSE_SERVICE, "{case}");
        }
        let compose = yaml(&files["compose.yaml"]);
        for app in stack.apps.iter().filter(|a| a.otlp) {
            let env = &compose["services"][app.name.as_str()]["environment"];
            assert_eq!(
                env["OTEL_SERVICE_NAME"], app.name,
                "{case}: service.name of `{}` must equal its compose service",
                app.name
            );
        }

        // Tempo -> Prometheus: span-metrics label names and the service map.
        let to_metrics = &tempo["jsonData"]["tracesToMetrics"];
        assert_eq!(
            to_metrics["datasourceUid"],
            datasource::PROMETHEUS,
            "{case}"
        );
        assert_eq!(
            to_metrics["tags"][0]["value"],
            metrics::labels::SPAN_SERVICE,
            "{case}"
        );
        for q in to_metrics["queries"].as_array().unwrap() {
            let q = q["query"].as_str().unwrap();
            assert!(q.contains(metrics::spanmetrics::CALLS), "{case}: {q}");
            assert!(q.contains("$$__tags"), "{case}: {q} must escape $__tags");
        }
        assert_eq!(
            tempo["jsonData"]["serviceMap"]["datasourceUid"],
            datasource::PROMETHEUS
        );

        // Prometheus -> Tempo: exemplars by Tempo's label and by the apps' label; Tempo
        // really remote-writes exemplars, and Prometheus stores them.
        let prom = datasource_by_uid(&ds, datasource::PROMETHEUS);
        let names: BTreeSet<&str> = prom["jsonData"]["exemplarTraceIdDestinations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                assert_eq!(d["datasourceUid"], datasource::TEMPO);
                d["name"].as_str().unwrap()
            })
            .collect();
        assert_eq!(
            names,
            BTreeSet::from([metrics::labels::TEMPO_EXEMPLAR_TRACE_ID, metadata::TRACE_ID]),
            "{case}"
        );
        let tempo_cfg = yaml(&files["tempo/tempo.yaml"]);
        assert_eq!(
            tempo_cfg["metrics_generator"]["storage"]["remote_write"][0]["send_exemplars"],
            true
        );
        let processors = &tempo_cfg["overrides"]["defaults"]["metrics_generator"]["processors"];
        assert_eq!(
            processors,
            &yaml("[service-graphs, span-metrics]"),
            "{case}"
        );
        let prom_cmd = compose["services"]["prometheus"]["command"].to_string();
        assert!(
            prom_cmd.contains("--enable-feature=exemplar-storage"),
            "{case}"
        );
        assert!(
            prom_cmd.contains("--web.enable-remote-write-receiver"),
            "{case}"
        );

        // PostgreSQL: the read-only role, password from the environment, never inline.
        if let Some(usage) = &stack.usage {
            let pg = datasource_by_uid(&ds, datasource::POSTGRES);
            assert_eq!(pg["type"], "grafana-postgresql-datasource");
            assert_eq!(pg["user"], stackc::wiring::db::READER_ROLE);
            assert_eq!(
                pg["secureJsonData"]["password"],
                format!("${{{}}}", stackc::wiring::secret::READER_DB_PASSWORD)
            );
            assert_eq!(pg["jsonData"]["database"], usage.database.as_str());
        }
    }
}

/// The metric names of a PromQL expression: identifiers that are not functions,
/// aggregations, keywords, label names or inside strings, matchers or ranges.
pub(crate) fn promql_metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: [&str; 25] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset", // aggregations, which may come before their `by (...)`:
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut out = BTreeSet::new();
    let mut i = 0;
    let mut skip_list = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                while i < chars.len() && chars[i] != close {
                    if chars[i] == '"' {
                        i += 1;
                        while i < chars.len() && chars[i] != '"' {
                            if chars[i] == '\\' {
                                i += 1;
                            }
                            i += 1;
                        }
                    }
                    i += 1;
                }
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i]))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut j = i;
                while j < chars.len() && chars[j] == ' ' {
                    j += 1;
                }
                let call = j < chars.len() && chars[j] == '(';
                if KEYWORDS.contains(&word.as_str()) {
                    skip_list = matches!(
                        word.as_str(),
                        "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                    );
                } else if !call {
                    out.insert(word);
                }
                if skip_list && call {
                    while i < chars.len() && chars[i] != ')' {
                        i += 1;
                    }
                    skip_list = false;
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out
}

fn prom_exprs(d: &Dashboard) -> Vec<(u32, String)> {
    d.panels
        .iter()
        .flat_map(|p| {
            p.targets.iter().filter_map(move |t| match t {
                Target::Prometheus(t) => Some((p.id, t.expr.clone())),
                _ => None,
            })
        })
        .collect()
}

#[test]
fn the_metric_name_parser_finds_names_and_only_names() {
    let names = promql_metric_names(
        "histogram_quantile(0.95, sum by (le) (rate(a_bucket{service=\"x\", k=~\"y|z\"}[$__rate_interval]))) / on (job) group_left (instance) b + time() - c offset 5m",
    );
    assert_eq!(
        names,
        BTreeSet::from(["a_bucket".into(), "b".into(), "c".into()])
    );
    assert!(promql_metric_names("1 - avg(rate(x{mode=\"idle\"}[5m]))").contains("x"));
}

#[test]
fn dashboards_query_only_metrics_this_stack_produces() {
    for (case, stack, _) in example_stacks() {
        let available: BTreeSet<&str> = metrics::available(&stack).into_iter().collect();
        let mut used = BTreeSet::new();
        for d in dashboards::dashboards(&stack) {
            for (panel, expr) in prom_exprs(&d) {
                let names = promql_metric_names(&expr);
                assert!(
                    !names.is_empty(),
                    "{case} {} panel {panel}: no metric in {expr}",
                    d.uid
                );
                for name in names {
                    assert!(
                        available.contains(name.as_str()),
                        "{case} {} panel {panel}: `{name}` is not produced by this stack (src/targets/grafana/metrics.rs): {expr}",
                        d.uid
                    );
                    used.insert(name);
                }
            }
        }
        // and the catalog lists nothing the dashboards and the alerting rules never use
        used.extend(crate::alerts::metrics_rules_read(&stack));
        let unused: Vec<&&str> = available.iter().filter(|m| !used.contains(**m)).collect();
        assert!(
            unused.is_empty(),
            "{case}: catalogued but unused: {unused:?}"
        );
    }
}

#[test]
fn the_scraper_exports_every_metric_the_dashboards_read() {
    let registry = usage_scraper::metrics::Metrics::default();
    let registry = std::sync::Arc::new(registry).register();
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for (name, source) in metrics::ALL {
        if *source == "usage_scraper" {
            assert!(
                text.lines()
                    .any(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{'])),
                "the scraper exports no `{name}`:\n{text}"
            );
        }
    }
}

/// The Loki stream selectors' label names in a LogQL expression.
fn logql_labels(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map(|c| open + c).unwrap();
        for matcher in rest[open + 1..close].split(", ") {
            let name: String = matcher
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.insert(name);
        }
        rest = &rest[close + 1..];
    }
    if let Some(by) = expr.find("by (") {
        let list = &expr[by + 4..];
        let list = &list[..list.find(')').unwrap()];
        out.extend(list.split(',').map(|s| s.trim().to_owned()));
    }
    out
}

#[test]
fn log_queries_use_only_labels_alloy_writes() {
    for (case, stack, files) in example_stacks() {
        let written = alloy_labels(&files["alloy/config.alloy"]);
        let mut seen = 0;
        for d in dashboards::dashboards(&stack) {
            for p in &d.panels {
                for t in &p.targets {
                    if let Target::Loki(t) = t {
                        seen += 1;
                        let used = logql_labels(&t.expr);
                        assert!(
                            used.contains(label::COMPOSE_PROJECT),
                            "{case} {}: {} is not limited to the project",
                            d.uid,
                            t.expr
                        );
                        for l in used {
                            assert!(
                                written.contains(&l),
                                "{case} {}: label `{l}` in {}",
                                d.uid,
                                t.expr
                            );
                        }
                    }
                }
            }
        }
        assert!(seen >= 6, "{case}: only {seen} Loki queries");
    }
}

#[test]
fn uids_ids_and_datasources_are_consistent() {
    for (case, stack, files) in example_stacks() {
        let ds = yaml(&files["grafana/provisioning/datasources/datasources.yaml"]);
        let provisioned: BTreeSet<String> = ds["datasources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["uid"].as_str().unwrap().to_owned())
            .collect();
        let defaults = ds["datasources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["isDefault"] == true)
            .count();
        assert_eq!(defaults, 1, "{case}: exactly one default datasource");
        let provider = yaml(&files["grafana/provisioning/dashboards/dashboards.yaml"]);
        let folder_uid = provider["providers"][0]["folderUid"].as_str().unwrap();
        assert!(folder_uid.len() <= 40, "{case}: folder uid too long");

        let boards = dashboards::dashboards(&stack);
        let expected = if stack.usage.is_some() { 7 } else { 6 };
        assert_eq!(boards.len(), expected, "{case}");
        let mut uids = BTreeSet::new();
        let mut titles = BTreeSet::new();
        for d in &boards {
            assert!(uids.insert(d.uid.clone()), "{case}: uid {} twice", d.uid);
            assert!(
                titles.insert(d.title.clone()),
                "{case}: title {} twice",
                d.title
            );
            assert!(
                d.uid.len() <= 40,
                "{case}: uid {} longer than Grafana's 40",
                d.uid
            );
            let file = format!("grafana/dashboards/{}.json", d.uid);
            let json: Value = serde_json::from_str(&files[&file]).unwrap();
            assert_eq!(json["uid"], d.uid.as_str());
            let mut ids = BTreeSet::new();
            for p in &d.panels {
                // Grafana's core panel plugin ids (case matters: `nodeGraph`).
                assert!(
                    [
                        "row",
                        "stat",
                        "timeseries",
                        "logs",
                        "table",
                        "nodeGraph",
                        "alertlist"
                    ]
                    .contains(&p.kind),
                    "{case} {}: unknown panel type `{}`",
                    d.uid,
                    p.kind
                );
                assert!(
                    ids.insert(p.id),
                    "{case} {}: panel id {} twice",
                    d.uid,
                    p.id
                );
                assert!(
                    p.grid_pos.x + p.grid_pos.w <= 24,
                    "{case} {}: panel {}",
                    d.uid,
                    p.id
                );
                // rows, and the alert list, which reads Grafana's alerting API, not a query
                if p.kind != "row" && p.kind != "alertlist" {
                    let ds = p.datasource.expect("panel datasource");
                    assert!(provisioned.contains(ds.uid), "{case} {}: {}", d.uid, ds.uid);
                    assert!(
                        !p.targets.is_empty(),
                        "{case} {}: panel {} has no query",
                        d.uid,
                        p.id
                    );
                }
                for t in &p.targets {
                    assert!(provisioned.contains(t.datasource().uid), "{case} {}", d.uid);
                }
            }
            // Every `datasource` anywhere in the JSON is a {type, uid} of a provisioned one.
            fn walk(v: &Value, provisioned: &BTreeSet<String>, at: &str) {
                match v {
                    Value::Object(map) => {
                        for (k, v) in map {
                            if k == "datasource" {
                                let uid = v.get("uid").and_then(Value::as_str);
                                assert!(
                                    v.get("type").is_some()
                                        && uid.is_some_and(|u| provisioned.contains(u)),
                                    "{at}: datasource {v}"
                                );
                            }
                            walk(v, provisioned, at);
                        }
                    }
                    Value::Array(items) => items.iter().for_each(|v| walk(v, provisioned, at)),
                    _ => {}
                }
            }
            walk(&json, &provisioned, &format!("{case} {file}"));
        }
        // Every jsonData datasourceUid resolves.
        let text = &files["grafana/provisioning/datasources/datasources.yaml"];
        for line in text.lines().filter(|l| l.contains("datasourceUid:")) {
            let uid = line.split(':').nth(1).unwrap().trim().trim_matches('"');
            assert!(provisioned.contains(uid), "{case}: {line}");
        }
    }
}

#[test]
fn every_promql_expression_parses_in_promtool() {
    let Ok(promtool) = which("promtool") else {
        assert!(
            !require_tools(),
            "promtool is required (STACKC_REQUIRE_TOOLS=1)"
        );
        eprintln!("skipped: promtool not found");
        return;
    };
    for (case, stack, _) in example_stacks() {
        let mut rules = Vec::new();
        for d in dashboards::dashboards(&stack) {
            for (panel, expr) in prom_exprs(&d) {
                rules.push(serde_json::json!({
                    "record": format!("stackc:{}:{panel}:{}", d.uid.replace('-', "_"), rules.len()),
                    "expr": grafana_variables(&expr),
                }));
            }
        }
        assert!(rules.len() > 30, "{case}: {} expressions", rules.len());
        let doc = serde_json::json!({ "groups": [{ "name": "dashboards", "rules": rules }] });
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rules.yml");
        std::fs::write(&file, serde_json::to_string(&doc).unwrap()).unwrap();
        let out = Command::new(&promtool)
            .args(["check", "rules"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{case}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Grafana's variables and interval macros, replaced as Grafana would before the query
/// reaches Prometheus.
pub(crate) fn grafana_variables(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$__auto", "1m")
        .replace("$app", "dice-roller")
        .replace("$level", ".*")
}

fn which(tool: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(tool))
                .find(|p| p.is_file())
        })
        .ok_or(())
}

#[test]
fn every_dashboard_links_to_the_others_by_tag() {
    for (case, stack, _) in example_stacks() {
        for d in dashboards::dashboards(&stack) {
            assert_eq!(d.links.len(), 1, "{case}");
            assert_eq!(d.links[0].kind, "dashboards");
            assert_eq!(d.links[0].tags, d.tags, "{case} {}", d.uid);
            assert!(d.tags.contains(&stack.name));
        }
    }
}

/// Grafana's SQL macros and the `app` variable expanded as Grafana's PostgreSQL datasource
/// does, over the time range `from`..`to` (RFC 3339) with a 1 m interval.
fn expand_sql(sql: &str, from: &str, to: &str, apps: &[String]) -> String {
    let apps: Vec<String> = apps
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', "''")))
        .collect();
    let mut out = sql
        .replace("$__interval", "1m")
        .replace("$app", &apps.join(","));
    while let Some(start) = out.find("$__") {
        let open = start + out[start..].find('(').unwrap();
        let close = open + out[open..].find(')').unwrap();
        let name = &out[start + 3..open];
        let args: Vec<&str> = out[open + 1..close].split(',').map(str::trim).collect();
        let expanded = match name {
            "timeFilter" => format!("{} BETWEEN '{from}' AND '{to}'", args[0]),
            "timeGroupAlias" => {
                let seconds = match args[1].trim_matches('\'') {
                    "1m" => 60,
                    "1d" => 86_400,
                    other => panic!("interval {other}"),
                };
                format!(
                    "floor(extract(epoch from {})/{seconds})*{seconds} AS \"time\"",
                    args[0]
                )
            }
            other => panic!("macro $__{other} has no test expansion"),
        };
        out.replace_range(start..=close, &expanded);
    }
    out
}

#[test]
fn every_usage_query_runs_as_grafanas_role_and_returns_its_columns() {
    let case = crate::support::repo().join("examples/demo");
    let (_tmp, tree) = crate::golden::build_example(&case);
    let Some(db) = crate::pg::load(&tree) else {
        return; // pg::load explained why; it panics under STACKC_REQUIRE_TOOLS=1
    };
    let (_, stack, _) = example_stacks()
        .into_iter()
        .find(|(c, _, _)| c.ends_with("examples/demo"))
        .unwrap();
    let apps: Vec<String> = stack.apps.iter().map(|a| a.name.clone()).collect();
    // 300 events over the last 50 minutes, 7 apps, 4 event names, 25 users, a few
    // without user or trace id; and one event outside the range that must not count.
    db.admin(
        "INSERT INTO usage_events (id, ts, ts_ns, app, event, user_id, trace_id, level, attributes, line)
         SELECT md5(i::text)::uuid, now() - (i * 10 || ' seconds')::interval, 0,
                (ARRAY['dice-roller','shiny-curl-gui','stage1','stage2','stage3','stage4','stage5'])[1 + i % 7],
                (ARRAY['dice_roll','login','export','search'])[1 + i % 4],
                CASE WHEN i % 13 = 0 THEN NULL ELSE 'u-' || (i % 25) END,
                CASE WHEN i % 11 = 0 THEN NULL ELSE md5(i::text) END,
                'info', jsonb_build_object('sides', i % 20), '{}'
         FROM generate_series(1, 300) AS i;
         INSERT INTO usage_events (id, ts, ts_ns, app, event, user_id, line)
         VALUES (md5('old')::uuid, now() - interval '3 days', 0, 'stage1', 'ancient', 'u-x', '{}');",
    );
    let range = db.admin("SELECT to_char((now() - interval '1 hour') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
    let (from, to) = (range[0][0].clone().unwrap(), range[0][1].clone().unwrap());

    let usage = dashboards::dashboards(&stack)
        .into_iter()
        .find(|d| d.uid == "demo-usage")
        .expect("usage dashboard");
    let mut client = db.connect(stackc::wiring::db::READER_ROLE).unwrap();
    let mut checked = 0;
    for panel in &usage.panels {
        for target in &panel.targets {
            let Target::Sql(t) = target else { continue };
            let sql = expand_sql(&t.raw_sql, &from, &to, &apps);
            let statement = client
                .prepare(&sql)
                .unwrap_or_else(|e| panic!("panel `{}`: {e}\n{sql}", panel.title));
            let columns: Vec<&str> = statement.columns().iter().map(|c| c.name()).collect();
            assert_eq!(columns, t.columns, "panel `{}`", panel.title);
            let rows = client.query(&statement, &[]).unwrap();
            assert!(
                !rows.is_empty(),
                "panel `{}` returned nothing\n{sql}",
                panel.title
            );
            let types: Vec<String> = statement
                .columns()
                .iter()
                .map(|c| c.type_().name().to_owned())
                .collect();
            if t.format == "time_series" {
                assert_eq!(columns[0], "time", "panel `{}`", panel.title);
                assert!(
                    ["timestamptz", "numeric", "float8"].contains(&types[0].as_str()),
                    "panel `{}`: time column is {}",
                    panel.title,
                    types[0]
                );
                let last = types.last().unwrap();
                assert!(
                    ["int8", "numeric", "float8"].contains(&last.as_str()),
                    "panel `{}`: value column is {last}",
                    panel.title
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 8, "SQL queries checked");

    // The figures are right, not just well-formed: the old event is outside the range.
    let count = expand_sql(
        "SELECT count(*) FROM usage_events WHERE $__timeFilter(ts) AND app IN ($app)",
        &from,
        &to,
        &apps,
    );
    let rows = client.query(&count, &[]).unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 300);
}
