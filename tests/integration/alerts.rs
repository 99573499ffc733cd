//! Alerting (issue 16) tested as code: every generated rule file passes `promtool check
//! rules`, every generated unit-test file passes `promtool test rules` (and a broken
//! expectation fails it), each family has alerts that fire and alerts that stay silent,
//! every metric a rule reads is catalogued for a source the stack runs, every alert links to
//! a real dashboard panel, and `amtool check-config` accepts every Alertmanager config.
//! The tools are required when `STACKC_REQUIRE_TOOLS=1`.
//! See: issue 16.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use stackc::model::Stack;
use stackc::targets::grafana::{dashboards, metrics};
use stackc::targets::rules::{self, Family};

use crate::golden::build_example;
use crate::grafana::{example_stacks, promql_metric_names, require_tools};
use crate::support::examples;

/// A tool's name when it runs here; `None` (skip, with a message) otherwise, a panic under
/// `STACKC_REQUIRE_TOOLS=1`.
fn tool(name: &str, package: &str) -> Option<&'static str> {
    let found = Command::new(name).arg("--version").output().is_ok();
    match (found, require_tools()) {
        (true, _) => Some(if name == "amtool" {
            "amtool"
        } else {
            "promtool"
        }),
        (false, true) => {
            panic!("{name} is required (STACKC_REQUIRE_TOOLS=1): apt-get install {package}")
        }
        (false, false) => {
            eprintln!("{name} not found: skipped (set STACKC_REQUIRE_TOOLS=1 to require it)");
            None
        }
    }
}

fn run(dir: &Path, program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn rule_files(dir: &Path, suffix: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .collect();
    out.sort();
    out
}

#[test]
fn every_rule_file_passes_promtool_check_and_its_unit_tests() {
    let Some(promtool) = tool("promtool", "prometheus") else {
        return;
    };
    let mut unit_tests = 0;
    for case in examples() {
        let (_tmp, out) = build_example(&case);
        let dir = out.join("prometheus/rules");
        let rules = rule_files(&dir, ".rules.yml");
        let tests = rule_files(&dir, ".test.yml");
        assert!(rules.len() >= 3, "{}: {rules:?}", case.display());
        // one test file beside each rule file
        let stems = |v: &[String], s: &str| -> Vec<String> {
            v.iter().map(|n| n.trim_end_matches(s).to_owned()).collect()
        };
        assert_eq!(stems(&rules, ".rules.yml"), stems(&tests, ".test.yml"));
        let mut args = vec!["check", "rules"];
        args.extend(rules.iter().map(String::as_str));
        let (ok, text) = run(&dir, promtool, &args);
        assert!(ok, "{}: promtool check rules:\n{text}", case.display());
        let mut args = vec!["test", "rules"];
        args.extend(tests.iter().map(String::as_str));
        let (ok, text) = run(&dir, promtool, &args);
        assert!(ok, "{}: promtool test rules:\n{text}", case.display());
        assert_eq!(
            text.matches("SUCCESS").count(),
            tests.len(),
            "{}: {text}",
            case.display()
        );
        for file in &tests {
            let doc: Value =
                serde_yaml_ng::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
            unit_tests += doc["tests"].as_array().unwrap().len();
        }
    }
    assert!(unit_tests >= 40, "only {unit_tests} promtool unit tests");
}

#[test]
fn a_wrong_expectation_fails_promtool_test() {
    // The unit tests can fail: the same file with one expected severity changed.
    let Some(promtool) = tool("promtool", "prometheus") else {
        return;
    };
    let (_tmp, out) = build_example(&crate::support::repo().join("examples/demo"));
    let dir = out.join("prometheus/rules");
    for (file, from, to) in [
        ("targets.test.yml", "\"critical\"", "\"warning\""),
        (
            "slo.test.yml",
            "exp_alerts: []",
            "exp_alerts: [{exp_labels: {}}]",
        ),
        ("host.test.yml", "18.2%", "18.3%"),
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(text.contains(from), "{file}: {from}");
        std::fs::write(dir.join("broken.test.yml"), text.replacen(from, to, 1)).unwrap();
        let (ok, text) = run(&dir, promtool, &["test", "rules", "broken.test.yml"]);
        assert!(!ok, "{file} with `{to}` passed:\n{text}");
    }
}

#[test]
fn each_family_has_alerts_that_fire_and_alerts_that_stay_silent() {
    for (case, stack, _) in example_stacks() {
        let families = rules::families(&stack);
        let names: Vec<&str> = families.iter().map(|f| f.name).collect();
        let mut expected = vec!["targets", "pipeline", "host"];
        if stack.usage.is_some() {
            expected.push("usage");
        }
        if stack.apps.iter().any(|a| !a.slos.is_empty()) {
            expected.push("slo");
        }
        assert_eq!(names, expected, "{case}");
        for family in &families {
            let alerts: BTreeSet<&str> = family
                .groups
                .iter()
                .flat_map(|g| &g.rules)
                .filter_map(|r| r.alert.as_deref())
                .collect();
            let checks: Vec<_> = family
                .tests
                .iter()
                .flat_map(|t| &t.alert_rule_test)
                .collect();
            let fired: BTreeSet<&str> = checks
                .iter()
                .filter(|c| !c.exp_alerts.is_empty())
                .map(|c| c.alertname.as_str())
                .collect();
            assert!(
                checks.iter().any(|c| c.exp_alerts.is_empty()),
                "{case} {}: nothing asserted silent",
                family.name
            );
            assert!(!fired.is_empty(), "{case} {}: nothing fires", family.name);
            // every alerting rule is tested firing, except the app-restart alert when the
            // stack has no app to restart
            for alert in &alerts {
                assert!(
                    fired.contains(alert),
                    "{case} {}: `{alert}` never fires in a test",
                    family.name
                );
            }
            for check in &checks {
                for exp in &check.exp_alerts {
                    assert!(
                        exp.exp_labels.contains_key("severity"),
                        "{case} {}",
                        family.name
                    );
                    for key in ["summary", "description", "dashboard"] {
                        assert!(
                            exp.exp_annotations.contains_key(key),
                            "{case} {}: {key}",
                            family.name
                        );
                    }
                }
            }
        }
        // SLOs: every objective of every app has a page, a ticket-only and a silent case.
        if let Some(slo) = families.iter().find(|f| f.name == "slo") {
            let objectives: usize = stack.apps.iter().map(|a| a.slos.len()).sum();
            assert_eq!(slo.tests.len(), 3 * objectives, "{case}");
        }
    }
}

/// Every metric a rule reads: names in its expression, minus the recording rules of the
/// same stack.
fn rule_metrics(families: &[Family]) -> BTreeMap<String, String> {
    let recorded: BTreeSet<&str> = families
        .iter()
        .flat_map(|f| &f.groups)
        .flat_map(|g| &g.rules)
        .filter_map(|r| r.record.as_deref())
        .collect();
    let mut out = BTreeMap::new();
    for rule in families
        .iter()
        .flat_map(|f| &f.groups)
        .flat_map(|g| &g.rules)
    {
        for name in promql_metric_names(&rule.expr) {
            if !recorded.contains(name.as_str()) {
                out.insert(name, rule.expr.clone());
            }
        }
    }
    out
}

/// The catalogued metrics the rules of `stack` read (used by the catalog's unused check).
pub(crate) fn metrics_rules_read(stack: &Stack) -> BTreeSet<String> {
    rule_metrics(&rules::families(stack)).into_keys().collect()
}

#[test]
fn rules_read_only_metrics_this_stack_produces() {
    for (case, stack, _) in example_stacks() {
        let available: BTreeSet<&str> = metrics::available(&stack).into_iter().collect();
        let used = rule_metrics(&rules::families(&stack));
        assert!(used.len() >= 10, "{case}: {used:?}");
        for (name, expr) in &used {
            assert!(
                available.contains(name.as_str()),
                "{case}: `{name}` is not produced by this stack (src/targets/grafana/metrics.rs): {expr}"
            );
        }
        let scraper = used.keys().any(|m| m.starts_with("usage_scraper_"));
        assert_eq!(
            scraper,
            stack.usage.is_some(),
            "{case}: scraper rules only with [usage]"
        );
    }
}

#[test]
fn the_rule_metric_parser_skips_labels_strings_and_recorded_names() {
    let names = promql_metric_names(
        "label_replace(up{job=~\"a|b\"} == 0, \"component\", \"$1\", \"job\", \"(.+)\") and predict_linear(x_bytes{m=\"/\"}[6h], 24 * 3600) < 0 or app:ratio:rate5m{app=\"a\"} > (14.4 * 0.005)",
    );
    assert_eq!(
        names,
        BTreeSet::from(["up".into(), "x_bytes".into(), "app:ratio:rate5m".into()])
    );
}

#[test]
fn every_alert_has_severity_annotations_and_links_to_a_real_panel() {
    for (case, stack, _) in example_stacks() {
        let boards = dashboards::dashboards(&stack);
        let mut alerts = 0;
        for rule in rules::families(&stack)
            .iter()
            .flat_map(|f| &f.groups)
            .flat_map(|g| &g.rules)
            .filter(|r| r.alert.is_some())
        {
            alerts += 1;
            let name = rule.alert.as_deref().unwrap();
            let severity = rule.labels["severity"].as_str();
            assert!(["critical", "warning"].contains(&severity), "{case} {name}");
            for key in ["summary", "description"] {
                assert!(!rule.annotations[key].is_empty(), "{case} {name}: {key}");
            }
            let link = &rule.annotations["dashboard"];
            let root = stack
                .grafana
                .root_url
                .as_deref()
                .map_or("", |r| r.trim_end_matches('/'));
            let rest = link
                .strip_prefix(root)
                .and_then(|l| l.strip_prefix("/d/"))
                .expect("[grafana] root_url, then /d/");
            let (uid, query) = rest.split_once('?').unwrap();
            let board = boards
                .iter()
                .find(|b| b.uid == uid)
                .unwrap_or_else(|| panic!("{case} {name}: no dashboard {uid}"));
            let params: BTreeMap<&str, &str> = query
                .split('&')
                .map(|p| p.split_once('=').unwrap())
                .collect();
            let panel: u32 = params["viewPanel"].parse().unwrap();
            assert!(
                board
                    .panels
                    .iter()
                    .any(|p| p.id == panel && p.kind != "row"),
                "{case} {name}: {link}"
            );
            if let Some(app) = params.get("var-app") {
                assert_eq!(
                    rule.labels.get("app").map(String::as_str),
                    Some(*app),
                    "{case} {name}"
                );
                assert!(board.templating.list.iter().any(|v| v.name == "app"));
            }
            // summaries and descriptions name the app or component they are about
            let text = format!(
                "{} {}",
                rule.annotations["summary"], rule.annotations["description"]
            );
            assert!(
                text.contains("$value") || name.ends_with("TargetDown"),
                "{case} {name}: no value"
            );
        }
        assert!(alerts >= 13, "{case}: {alerts} alerts");
    }
}

#[test]
fn prometheus_loads_the_rules_and_sends_to_alertmanager() {
    for (case, stack, files) in example_stacks() {
        let prom: Value = serde_yaml_ng::from_str(&files["prometheus/prometheus.yml"]).unwrap();
        assert!(
            prom["rule_files"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == stackc::targets::prometheus::RULE_FILES),
            "{case}"
        );
        assert_eq!(
            prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0],
            "alertmanager:9093"
        );
        // the glob takes the rule files and none of the unit tests
        for path in files.keys().filter(|p| p.starts_with("prometheus/rules/")) {
            let loaded = path.ends_with(".rules.yml");
            assert_eq!(loaded, !path.ends_with(".test.yml"), "{case}: {path}");
        }
        let compose: Value = serde_yaml_ng::from_str(&files["compose.yaml"]).unwrap();
        let volumes = compose["services"]["prometheus"]["volumes"].to_string();
        assert!(
            volumes.contains("./prometheus/rules:/etc/prometheus/rules:ro"),
            "{case}"
        );
        let am = &compose["services"]["alertmanager"];
        assert!(
            am["image"]
                .as_str()
                .unwrap()
                .starts_with("prom/alertmanager:v")
        );
        assert_eq!(
            am["ports"][0]["host_ip"],
            stack.bind.as_str(),
            "{case}: bound like every port"
        );
        assert!(
            am["healthcheck"]["test"]
                .to_string()
                .contains("http://127.0.0.1:9093/-/healthy")
        );
        let ds: Value =
            serde_yaml_ng::from_str(&files["grafana/provisioning/datasources/datasources.yaml"])
                .unwrap();
        let am_ds = ds["datasources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["type"] == "alertmanager")
            .expect("Alertmanager datasource");
        assert_eq!(am_ds["uid"], stackc::wiring::datasource::ALERTMANAGER);
        assert_eq!(am_ds["jsonData"]["implementation"], "prometheus");
        let overview = dashboards::dashboards(&stack)
            .into_iter()
            .find(|d| d.uid.ends_with("-overview"))
            .unwrap();
        assert!(
            overview.panels.iter().any(|p| p.kind == "alertlist"),
            "{case}"
        );
    }
}

/// amtool 0.25 (Debian's) predates `webhook_configs[].url_file` (Alertmanager 0.26,
/// prometheus/alertmanager#3223), which the pinned Alertmanager reads: it rejects it with
/// "field url_file not found in type config.plain". This checks that each `url_file` is
/// exactly a path under /run/secrets/ and returns the file with each replaced by a `url`,
/// so that everything else is checked by the real amtool.
fn without_url_file(text: &str) -> String {
    text.lines()
        .map(|line| match line.split_once("- url_file: ") {
            Some((indent, path)) => {
                let path: String = serde_json::from_str(path).unwrap();
                assert!(path.starts_with("/run/secrets/"), "{path}");
                format!("{indent}- url: \"http://127.0.0.1:9/stackc-check\"")
            }
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn amtool_accepts_every_alertmanager_config() {
    let Some(amtool) = tool("amtool", "prometheus-alertmanager") else {
        return;
    };
    // `amtool, version 0.25.0 (...)`: before 0.26, no `url_file`.
    let version = run(Path::new("."), amtool, &["--version"]).1;
    let number = version
        .split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
        .unwrap_or_else(|| panic!("no version in {version}"));
    let mut parts = number.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let old = (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) < (0, 26);
    for case in examples() {
        let (_tmp, out) = build_example(&case);
        let dir = out.join("alertmanager");
        let text = std::fs::read_to_string(dir.join("alertmanager.yml")).unwrap();
        let file = if old && text.contains("url_file:") {
            std::fs::write(dir.join("checked.yml"), without_url_file(&text)).unwrap();
            "checked.yml"
        } else {
            "alertmanager.yml"
        };
        let (ok, output) = run(&dir, amtool, &["check-config", file]);
        assert!(ok, "{}: {output}", case.display());
    }
    // and amtool refuses a broken config: a route to a receiver that does not exist
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yml"),
        "route:\n  receiver: nobody\nreceivers:\n  - name: somebody\n",
    )
    .unwrap();
    assert!(!run(dir.path(), amtool, &["check-config", "bad.yml"]).0);
}

#[test]
fn receiver_secrets_are_files_from_env_never_values() {
    let case = crate::support::repo().join("examples/alerting");
    let (_tmp, out) = build_example(&case);
    let am = std::fs::read_to_string(out.join("alertmanager/alertmanager.yml")).unwrap();
    let compose: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(out.join("compose.yaml")).unwrap())
            .unwrap();
    let env = std::fs::read_to_string(out.join(".env.example")).unwrap();
    let parsed: Value = serde_yaml_ng::from_str(&am).unwrap();
    let mut files = BTreeSet::new();
    for receiver in parsed["receivers"].as_array().unwrap() {
        for (kind, key) in [
            ("email_configs", "auth_password_file"),
            ("webhook_configs", "url_file"),
            ("slack_configs", "api_url_file"),
        ] {
            for config in receiver[kind].as_array().into_iter().flatten() {
                assert!(config.get("url").is_none() && config.get("api_url").is_none());
                assert!(config.get("auth_password").is_none());
                files.insert(config[key].as_str().unwrap().to_owned());
            }
        }
    }
    assert_eq!(files.len(), 3, "{files:?}");
    let mounted = &compose["services"]["alertmanager"]["secrets"];
    for file in &files {
        let name = file.strip_prefix("/run/secrets/").unwrap();
        assert!(
            mounted.as_array().unwrap().iter().any(|s| s == name),
            "{name}"
        );
        assert_eq!(compose["secrets"][name]["environment"], name);
        assert!(
            env.lines().any(|l| l == format!("{name}=")),
            "{name} in .env.example"
        );
    }
    // no app sees them
    for (service, def) in compose["services"].as_object().unwrap() {
        if service != "alertmanager" {
            assert!(def.get("secrets").is_none(), "{service}");
        }
    }
    // routing: severity routes, grouping by alert and app, inhibitions
    assert_eq!(parsed["route"]["receiver"], "chat");
    assert_eq!(
        parsed["route"]["group_by"],
        serde_json::json!(["alertname", "app", "component"])
    );
    let routes: Vec<(String, String)> = parsed["route"]["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["receiver"].as_str().unwrap().to_owned(),
                r["matchers"][0].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        routes,
        vec![
            ("pager".into(), "severity=\"critical\"".into()),
            ("team-email".into(), "severity=\"warning\"".into())
        ]
    );
    let inhibit = parsed["inhibit_rules"].to_string();
    assert!(inhibit.contains("sli=\\\"spanmetrics\\\""), "{inhibit}");
}

#[test]
fn latency_thresholds_are_span_metric_buckets() {
    for (case, stack, files) in example_stacks() {
        let tempo: Value = serde_yaml_ng::from_str(&files["tempo/tempo.yaml"]).unwrap();
        let buckets = &tempo["metrics_generator"]["processor"]["span_metrics"]["histogram_buckets"];
        let thresholds = rules::latency_thresholds(&stack);
        if thresholds.is_empty() {
            assert!(buckets.is_null(), "{case}: Tempo's defaults");
            continue;
        }
        let bounds: Vec<f64> = buckets
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_f64().unwrap())
            .collect();
        assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{case}: sorted");
        for t in thresholds {
            #[allow(clippy::cast_precision_loss)]
            let secs = t.as_millis() as f64 / 1000.0;
            assert!(bounds.contains(&secs), "{case}: {t} is not a bucket bound");
            // and the rule's regex matches how Tempo writes it
            let re = rules::le_regex(t);
            let tempo_text = format!("{secs}");
            let regex = format!("^(?:{re})$").replace("\\.", "[.]");
            assert!(
                simple_match(&regex, &tempo_text),
                "{case}: {re} vs {tempo_text}"
            );
        }
    }
}

/// Matches the tiny regexes `le_regex` writes (`0[.]5`, `1([.]0+)?`) without a regex crate.
fn simple_match(regex: &str, text: &str) -> bool {
    let body = regex.trim_start_matches("^(?:").trim_end_matches(")$");
    match body.split_once("([.]0+)?") {
        Some((int, "")) => {
            text == int
                || text
                    .strip_prefix(int)
                    .and_then(|r| r.strip_prefix('.'))
                    .is_some_and(|z| !z.is_empty() && z.chars().all(|c| c == '0'))
        }
        _ => body.replace("[.]", ".") == text,
    }
}

/// Found by the fuzz target: an objective far below what can page (a large error budget)
/// made the generated unit-test traffic overflow. Every objective from the lowest to the
/// highest renders, and its unit tests still pass promtool.
#[test]
fn any_objective_renders_and_its_unit_tests_hold() {
    for objective in ["0.0001%", "1%", "50%", "70%", "93%", "99.99%", "99.9999%"] {
        let source = stackc::diagnostic::SourceFile {
            name: "stack.toml".into(),
            text: format!(
                "[metrics]\nretention = \"3d\"\n[apps.api]\nimage = \"a:1\"\nslo = {{ availability = \"{objective}\", latency = {{ p99 = \"250ms\" }} }}\n"
            ),
        };
        let checked = stackc::validate::check(&source);
        let stack = checked
            .stack
            .unwrap_or_else(|| panic!("{objective}: {:?}", checked.diagnostics));
        let files = stackc::targets::render(&stack, &Default::default()).unwrap();
        let Some(promtool) = tool("promtool", "prometheus") else {
            continue;
        };
        let tmp = tempfile::tempdir().unwrap();
        for f in files
            .iter()
            .filter(|f| f.path.starts_with("prometheus/rules/"))
        {
            let path = tmp.path().join(&f.path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, &f.contents).unwrap();
        }
        let dir = tmp.path().join("prometheus/rules");
        let (ok, out) = run(&dir, promtool, &["test", "rules", "slo.test.yml"]);
        assert!(ok, "{objective}: {out}");
    }
}
