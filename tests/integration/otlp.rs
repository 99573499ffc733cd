//! Every signal a real app emits lands and is seen:
//! - log levels: real lines of each logger (tests/data/log-levels.jsonl) run through the
//!   level pipeline read back from the generated `config.alloy` (its JMESPath chain, its
//!   logfmt keys, its Go template, its OTTL statements) and through `stackc::levels`;
//! - routes: each OTLP signal is followed through the generated Alloy component graph
//!   to an exporter aimed at a store the stack runs, and the dashboards' OTLP queries use
//!   only the names and labels that route writes;
//! - churn: adding an app changes only the files that configure it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use stackc::diagnostic::SourceFile;
use stackc::targets::grafana::metrics;
use stackc::wiring::{label, otlp, port, service};

use crate::grafana::example_stacks;
use crate::support::repo;

fn render(toml: &str) -> BTreeMap<String, String> {
    let source = SourceFile {
        name: "stack.toml".into(),
        text: toml.to_owned(),
    };
    let checked = stackc::validate::check(&source);
    let stack = checked
        .stack
        .unwrap_or_else(|| panic!("invalid: {}", source.render(&checked.diagnostics)));
    stackc::targets::render(&stack, &Default::default())
        .unwrap()
        .into_iter()
        .map(|f| (f.path, f.contents))
        .collect()
}

/// Top-level Alloy blocks by `kind.label`, with their bodies.
fn alloy_blocks(alloy: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in alloy.lines() {
        if let Some((name, body)) = &mut current {
            if line == "}" {
                out.insert(name.clone(), std::mem::take(body));
                current = None;
            } else {
                body.push_str(line);
                body.push('\n');
            }
        } else if let Some(header) = line.strip_suffix(" {")
            && !line.starts_with(['\t', ' ', '/'])
        {
            let (kind, label) = header.split_once(' ').unwrap();
            current = Some((format!("{kind}.{}", label.trim_matches('"')), String::new()));
        }
    }
    out
}

/// Undoes Alloy's (Go's) string quoting.
fn unquote(text: &str) -> String {
    let inner = text
        .trim()
        .trim_end_matches(',')
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or_else(|| panic!("not a string: {text}"));
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next().unwrap() {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The value of `key = ...` (one line) inside a block body.
fn attribute<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.lines().find_map(|l| {
        let l = l.trim();
        l.strip_prefix(key)
            .and_then(|rest| rest.trim_start().strip_prefix('='))
            .map(str::trim)
    })
}

/// The quoted strings of a `statements = [...]` list following `context = "<context>"`.
fn statements(body: &str, context: &str) -> Vec<String> {
    let marker = format!("context    = \"{context}\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {context} statements"));
    body[start..]
        .lines()
        .skip_while(|l| !l.contains("statements = ["))
        .skip(1)
        .take_while(|l| l.trim() != "]")
        .map(unquote)
        .collect()
}

// ---- the level pipeline, read back from config.alloy ----

/// JMESPath `a || b || c` over quoted identifiers and dotted paths, with JMESPath's
/// truthiness: null, false, "", [] and {} fall through.
fn jmespath(expr: &str, obj: &Value) -> Option<Value> {
    for alternative in expr.split(" || ") {
        let mut keys = Vec::new();
        let mut rest = alternative.trim();
        while !rest.is_empty() {
            let body = rest.strip_prefix('"').expect("quoted identifiers only");
            let end = body.find('"').unwrap();
            keys.push(&body[..end]);
            rest = body[end + 1..].trim_start_matches('.');
        }
        let mut value = obj;
        for key in keys {
            value = value.get(key).unwrap_or(&Value::Null);
        }
        let truthy = match value {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => true,
        };
        if truthy {
            return Some(value.clone());
        }
    }
    None
}

/// logfmt `key=value` pairs (bare or double-quoted values).
fn logfmt(line: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().to_owned();
        let after = &rest[eq + 1..];
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            (q[..end].to_owned(), q.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        if !key.contains([' ', '{', '"']) {
            out.insert(key, value);
        }
        rest = next.trim_start();
    }
    out
}

/// The Go template's `{{ if eq $l "a" "b" }}level` groups, in order.
fn template_groups(template: &str) -> Vec<(String, Vec<String>)> {
    template
        .split("{{ ")
        .filter_map(|part| {
            let cond = part
                .strip_prefix("if eq $l ")
                .or_else(|| part.strip_prefix("else if eq $l "))?;
            let (names, level) = cond.split_once(" }}").unwrap();
            let names = names
                .split_whitespace()
                .map(|n| n.trim_matches('"').to_owned())
                .collect();
            Some((level.to_owned(), names))
        })
        .collect()
}

/// The first input the template's `with or ...` names that is set.
fn template_inputs(template: &str) -> Vec<String> {
    let start = template.find("{{ with or ").unwrap() + "{{ with or ".len();
    let end = start + template[start..].find(" }}").unwrap();
    template[start..end]
        .split_whitespace()
        .map(|k| k.trim_start_matches('.').to_owned())
        .collect()
}

struct LevelPipeline {
    jmespath: String,
    /// extracted key -> logfmt field
    logfmt: Vec<(String, String)>,
    inputs: Vec<String>,
    groups: Vec<(String, Vec<String>)>,
    ottl: Vec<String>,
}

impl LevelPipeline {
    fn from_alloy(alloy: &str) -> Self {
        let blocks = alloy_blocks(alloy);
        let process = &blocks["loki.process.container_logs"];
        let expressions = &process[process.find("stage.json").unwrap()..];
        let jmespath = unquote(attribute(expressions, label::LEVEL).unwrap());
        let logfmt_block = &process[process.find("stage.logfmt").unwrap()..];
        let logfmt = logfmt_block
            .lines()
            .skip(2)
            .take_while(|l| l.trim() != "}")
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap();
                (k.trim().to_owned(), unquote(v))
            })
            .collect();
        let template_block = &process[process.find("stage.template").unwrap()..];
        assert_eq!(
            unquote(attribute(template_block, "source").unwrap()),
            label::LEVEL
        );
        let template = unquote(attribute(template_block, "template").unwrap());
        let ottl = statements(&blocks["otelcol.processor.transform.logs"], "log");
        LevelPipeline {
            jmespath,
            logfmt,
            inputs: template_inputs(&template),
            groups: template_groups(&template),
            ottl,
        }
    }

    /// What Alloy's `loki.process` makes of a Docker log line.
    fn line(&self, line: &str) -> String {
        let mut extracted: BTreeMap<String, String> = BTreeMap::new();
        let pairs = logfmt(line);
        for (key, field) in &self.logfmt {
            if let Some(v) = pairs.get(field) {
                extracted.insert(key.clone(), v.clone());
            }
        }
        if let Ok(obj @ Value::Object(_)) = serde_json::from_str::<Value>(line)
            && let Some(v) = jmespath(&self.jmespath, &obj)
        {
            // `printf "%v"` of what stage.json extracted: numbers print without ".0".
            let text = match v {
                Value::String(s) => s,
                Value::Number(n) => n.as_f64().map(|f| f.to_string()).unwrap(),
                other => other.to_string(),
            };
            extracted.insert(label::LEVEL.to_owned(), text);
        }
        let Some(raw) = self
            .inputs
            .iter()
            .find_map(|k| extracted.get(k).filter(|v| !v.is_empty()))
        else {
            return stackc::levels::UNKNOWN.to_owned();
        };
        let lowered = raw.trim().to_lowercase();
        self.groups
            .iter()
            .find(|(_, names)| names.contains(&lowered))
            .map_or(stackc::levels::UNKNOWN.to_owned(), |(level, _)| {
                level.clone()
            })
    }

    /// What Alloy's OTTL statements make of an OTLP record's severity.
    fn record(&self, number: u64, text: &str) -> String {
        let mut level = None;
        for statement in &self.ottl {
            let (set, condition) = match statement.split_once(" where ") {
                Some((s, c)) => (s, Some(c)),
                None => (statement.as_str(), None),
            };
            let value = set.rsplit_once(", \"").unwrap().1.trim_end_matches("\")");
            let applies = match condition {
                None => true,
                Some(c) if c.starts_with("severity_number >= ") => {
                    let nums: Vec<u64> = c
                        .split_whitespace()
                        .filter_map(|w| w.parse().ok())
                        .collect();
                    (nums[0]..=nums[1]).contains(&number)
                }
                Some(c) if c.starts_with("severity_number == 0 and IsMatch(severity_text, ") => {
                    let alternatives =
                        &c[c.find("\\\\s*(").unwrap() + 5..c.rfind(")\\\\s*$").unwrap()];
                    assert!(c.contains("(?i)"), "case-insensitive: {c}");
                    number == 0
                        && alternatives
                            .split('|')
                            .any(|a| a == text.trim().to_lowercase())
                }
                Some(c) => panic!("unexpected OTTL condition: {c}"),
            };
            if applies {
                level = Some(value.to_owned());
            }
        }
        level.expect("the first statement always sets a level")
    }
}

#[test]
fn levels_of_real_loggers_normalise_to_one_set() {
    let fixture = std::fs::read_to_string(repo().join("tests/data/log-levels.jsonl")).unwrap();
    let plain = LevelPipeline::from_alloy(&render("")["alloy/config.alloy"]);
    let mut pipelines: BTreeMap<String, LevelPipeline> = BTreeMap::new();
    let mut loggers = BTreeSet::new();
    let mut allowed: Vec<&str> = stackc::levels::LEVELS.to_vec();
    allowed.push(stackc::levels::UNKNOWN);
    for line in fixture.lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let logger = case["logger"].as_str().unwrap();
        let expected = case["level"].as_str().unwrap();
        assert!(allowed.contains(&expected), "{logger}: {expected}");
        loggers.insert(logger.split(" (").next().unwrap().to_owned());
        if let Some(number) = case["severity_number"].as_u64() {
            let text = case["severity_text"].as_str().unwrap();
            assert_eq!(plain.record(number, text), expected, "{logger}: {line}");
            assert_eq!(
                stackc::levels::from_severity(number as u8, text),
                expected,
                "{logger}"
            );
            continue;
        }
        let raw = case["line"].as_str().unwrap();
        let pipeline = match case["level_field"].as_str() {
            Some(field) => pipelines.entry(field.to_owned()).or_insert_with(|| {
                LevelPipeline::from_alloy(
                    &render(&format!("[logs]\nlevel_field = \"{field}\"\n"))["alloy/config.alloy"],
                )
            }),
            None => &plain,
        };
        assert_eq!(pipeline.line(raw), expected, "{logger}: {raw}");
    }
    // The issue's list of loggers, each present in the fixture.
    for required in [
        "logrus JSON",
        "logrus text",
        "zap production",
        "Go slog JSON",
        "Go slog text",
        "pino",
        "bunyan",
        "python-json-logger",
        ".NET JSON console",
        "Serilog compact JSON",
        "ECS flat",
        "OTLP",
        "custom level_field",
    ] {
        assert!(loggers.contains(required), "fixture lacks {required}");
    }
    // Without the custom field the same line reads the ordinary `level`.
    assert_eq!(
        plain.line(r#"{"sev":{"name":"ERR"},"level":"info","msg":"x"}"#),
        "info"
    );
}

// ---- routes ----

/// Component references (`a.b.c.input`) in `key = [...]` of a block body.
fn refs(body: &str, key: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix(key)?.trim_start().strip_prefix('=')?;
            Some(
                rest.trim()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
            )
        })
        .flat_map(|list| {
            list.split(',')
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty())
                .collect::<Vec<_>>()
        })
        .map(|r| {
            r.rsplit_once('.')
                .map(|(component, _export)| component.to_owned())
                .unwrap()
        })
        .collect()
}

/// Follows one signal from the OTLP receiver to the blocks that send it out.
fn route(blocks: &BTreeMap<String, String>, signal: &str) -> Vec<String> {
    let mut path = vec!["otelcol.receiver.otlp.default".to_owned()];
    loop {
        let body = &blocks[path.last().unwrap()];
        let mut next = refs(body, signal);
        next.extend(refs(body, "forward_to"));
        match next.as_slice() {
            [] => return path,
            [one] => {
                assert!(!path.contains(one), "a loop at {one}");
                assert!(blocks.contains_key(one), "{one} is not defined");
                path.push(one.clone());
            }
            many => panic!("{signal} fans out to {many:?}"),
        }
    }
}

#[test]
fn every_otlp_signal_reaches_a_store_the_stack_runs() {
    for (case, stack, files) in example_stacks() {
        let blocks = alloy_blocks(&files["alloy/config.alloy"]);
        let compose: Value = serde_yaml_ng::from_str(&files["compose.yaml"]).unwrap();
        let runs = |svc: &str| compose["services"][svc].is_object();

        let receiver = &blocks["otelcol.receiver.otlp.default"];
        assert!(receiver.contains("grpc {") && receiver.contains("http {"));

        let traces = route(&blocks, "traces");
        let last = &blocks[traces.last().unwrap()];
        assert!(traces.last().unwrap().starts_with("otelcol.exporter.otlp."));
        assert_eq!(
            unquote(attribute(last, "endpoint").unwrap()),
            format!("{}:{}", service::TEMPO, port::OTLP_GRPC)
        );
        assert!(runs(service::TEMPO), "{case}");

        let metrics = route(&blocks, "metrics");
        assert_eq!(
            metrics[1..],
            [
                "otelcol.processor.transform.metrics",
                "otelcol.processor.batch.metrics",
                "otelcol.exporter.prometheus.default",
                "prometheus.remote_write.prometheus",
            ],
            "{case}"
        );
        let write = &blocks["prometheus.remote_write.prometheus"];
        assert_eq!(
            unquote(attribute(write, "url").unwrap()),
            format!(
                "http://{}:{}/api/v1/write",
                service::PROMETHEUS,
                port::PROMETHEUS
            )
        );
        let flags = compose["services"][service::PROMETHEUS]["command"].to_string();
        assert!(
            flags.contains("--web.enable-remote-write-receiver"),
            "{case}"
        );
        // The label the dashboards select OTLP metrics by is the one the route writes.
        let datapoint = statements(&blocks["otelcol.processor.transform.metrics"], "datapoint");
        assert_eq!(
            datapoint,
            [format!(
                "set(attributes[\"{}\"], resource.attributes[\"{}\"])",
                otlp::COMPOSE_SERVICE,
                otlp::SERVICE_NAME
            )]
        );
        // `job` is the compose service, as for scraped apps: the namespace is dropped.
        assert_eq!(
            statements(&blocks["otelcol.processor.transform.metrics"], "resource"),
            ["delete_key(attributes, \"service.namespace\")"]
        );

        let logs = route(&blocks, "logs");
        assert_eq!(
            logs[1..],
            [
                "otelcol.processor.transform.logs",
                "otelcol.processor.groupbyattrs.logs",
                "otelcol.processor.batch.logs",
                "otelcol.exporter.otlphttp.loki",
            ],
            "{case}"
        );
        assert_eq!(
            unquote(attribute(&blocks["otelcol.exporter.otlphttp.loki"], "endpoint").unwrap()),
            format!("http://{}:{}/otlp", service::LOKI, port::LOKI)
        );
        assert!(runs(service::LOKI), "{case}");
        // Loki indexes exactly the resource attributes Alloy sets, and they are the labels
        // Docker log streams carry, so one selector finds both kinds of line.
        let loki: Value = serde_yaml_ng::from_str(&files["loki/loki.yaml"]).unwrap();
        let resource = &loki["limits_config"]["otlp_config"]["resource_attributes"];
        assert_eq!(resource["ignore_defaults"], true);
        let indexed: BTreeSet<String> = resource["attributes_config"][0]["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().replace('.', "_"))
            .collect();
        assert_eq!(resource["attributes_config"][0]["action"], "index_label");
        let set_by_alloy = statements(&blocks["otelcol.processor.transform.logs"], "resource");
        assert_eq!(
            set_by_alloy,
            [
                format!(
                    "set(attributes[\"{}\"], attributes[\"{}\"])",
                    otlp::COMPOSE_SERVICE,
                    otlp::SERVICE_NAME
                ),
                format!(
                    "set(attributes[\"{}\"], \"{}\")",
                    otlp::COMPOSE_PROJECT,
                    stack.name
                ),
            ]
        );
        let grouped = attribute(&blocks["otelcol.processor.groupbyattrs.logs"], "keys").unwrap();
        assert_eq!(grouped, format!("[\"{}\"]", otlp::LEVEL));
        for needed in [
            label::COMPOSE_PROJECT,
            label::COMPOSE_SERVICE,
            label::SERVICE_NAME,
            label::LEVEL,
        ] {
            assert!(
                indexed.contains(needed),
                "{case}: Loki does not index {needed}"
            );
        }
        assert!(indexed.len() <= 15, "bounded label set");
    }
}

/// The OTLP metric names the dashboards query follow Prometheus's translation of the
/// semantic-convention instrument the demo app exports, and its README says so.
#[test]
fn dashboard_otlp_queries_use_names_the_route_produces() {
    // `http.server.request.duration`, unit `s`, histogram: what otelcol.exporter.prometheus
    // writes (dots to underscores, the unit as a suffix, histogram series suffixes).
    let base = "http.server.request.duration".replace('.', "_") + "_seconds";
    assert_eq!(
        metrics::otlp::HTTP_SERVER_DURATION_BUCKET,
        format!("{base}_bucket")
    );
    assert_eq!(
        metrics::otlp::HTTP_SERVER_DURATION_COUNT,
        format!("{base}_count")
    );
    for attribute in ["http.route", "http.response.status_code"] {
        let translated = attribute.replace('.', "_");
        assert!(
            [metrics::otlp::HTTP_ROUTE, metrics::otlp::HTTP_STATUS].contains(&translated.as_str())
        );
    }
    let readme = std::fs::read_to_string(repo().join("crates/demo-app/README.md")).unwrap();
    assert!(
        readme.contains("http.server.request.duration"),
        "the demo app documents the instrument it exports over OTLP"
    );
    // Every dashboard query that reads an OTLP metric selects by the label Alloy sets.
    for (case, stack, _) in example_stacks() {
        for d in stackc::targets::grafana::dashboards::dashboards(&stack) {
            let json = serde_json::to_string(&d).unwrap();
            for name in [
                metrics::otlp::HTTP_SERVER_DURATION_BUCKET,
                metrics::otlp::HTTP_SERVER_DURATION_COUNT,
            ] {
                for (i, _) in json.match_indices(&format!("{name}{{")) {
                    let selector = &json[i..i + json[i..].find('}').unwrap()];
                    assert!(
                        selector.contains(&format!("{}=\\\"$app\\\"", otlp::COMPOSE_SERVICE)),
                        "{case} {}: {selector}",
                        d.uid
                    );
                }
            }
        }
    }
}

#[test]
fn app_env_selects_exactly_the_signals_the_app_exports_over_otlp() {
    let files = render(
        r#"
[apps.scraped]
image = "a:1"
[apps.pushed]
image = "b:1"
metrics = "otlp"
logs = "otlp"
[apps.quiet]
image = "c:1"
otlp = false
"#,
    );
    let compose: Value = serde_yaml_ng::from_str(&files["compose.yaml"]).unwrap();
    let env = |app: &str| compose["services"][app]["environment"].clone();
    assert_eq!(env("scraped")["OTEL_METRICS_EXPORTER"], "none");
    assert_eq!(env("scraped")["OTEL_LOGS_EXPORTER"], "none");
    assert_eq!(env("scraped")["OTEL_TRACES_EXPORTER"], "otlp");
    assert_eq!(env("pushed")["OTEL_METRICS_EXPORTER"], "otlp");
    assert_eq!(env("pushed")["OTEL_LOGS_EXPORTER"], "otlp");
    // Pushed as often as Prometheus scrapes (15s), so rate windows hold enough samples.
    assert_eq!(env("pushed")["OTEL_METRIC_EXPORT_INTERVAL"], "15000");
    assert!(env("scraped")["OTEL_METRIC_EXPORT_INTERVAL"].is_null());
    assert_eq!(env("pushed")["OTEL_SERVICE_NAME"], "pushed");
    assert_eq!(
        env("pushed")["OTEL_EXPORTER_OTLP_ENDPOINT"],
        "http://alloy:4318"
    );
    assert_eq!(
        env("pushed")["OTEL_EXPORTER_OTLP_PROTOCOL"],
        "http/protobuf"
    );
    assert!(
        env("quiet").is_null(),
        "no OTEL variables with otlp = false"
    );

    // Not double-counted: the pushed app has no scrape job; the scraped one has.
    let prometheus: Value = serde_yaml_ng::from_str(&files["prometheus/prometheus.yml"]).unwrap();
    let jobs: Vec<&str> = prometheus["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_name"].as_str().unwrap())
        .collect();
    assert!(jobs.contains(&"scraped") && jobs.contains(&"quiet"));
    assert!(!jobs.contains(&"pushed"));
    // ...and its stdout is not tailed (its log records arrive over OTLP).
    let blocks = alloy_blocks(&files["alloy/config.alloy"]);
    let tailed = &blocks["discovery.relabel.tailed"];
    assert_eq!(unquote(attribute(tailed, "regex").unwrap()), "pushed");
    assert_eq!(unquote(attribute(tailed, "action").unwrap()), "drop");
    assert!(blocks["loki.source.docker.containers"].contains("discovery.relabel.tailed.output"));
    // Without such an app, every container is tailed.
    let plain = alloy_blocks(&render("[apps.a]\nimage = \"a:1\"\n")["alloy/config.alloy"]);
    assert!(!plain.contains_key("discovery.relabel.tailed"));
}

// ---- churn ----

#[test]
fn adding_an_app_changes_only_the_files_that_configure_it() {
    let demo = std::fs::read_to_string(repo().join("examples/demo/stack.toml")).unwrap();
    let before = render(&demo);
    let after = render(&format!(
        "{demo}\n[apps.checkout]\nimage = \"ghcr.io/acme/checkout:2.0.1\"\nport = 9000\n"
    ));
    let changed: BTreeSet<&str> = before
        .keys()
        .chain(after.keys())
        .filter(|path| before.get(*path) != after.get(*path))
        .map(String::as_str)
        .collect();
    assert_eq!(
        changed,
        BTreeSet::from(["compose.yaml", "prometheus/prometheus.yml"]),
        "files changed by adding one app"
    );
    // An app that pushes OTLP has no scrape job: only compose changes.
    let pushed = render(&format!(
        "{demo}\n[apps.checkout]\nimage = \"ghcr.io/acme/checkout:2.0.1\"\nmetrics = \"otlp\"\n"
    ));
    let changed: Vec<&str> = before
        .keys()
        .filter(|path| before.get(*path) != pushed.get(*path))
        .map(String::as_str)
        .collect();
    assert_eq!(changed, ["compose.yaml"]);
}
