//! `stackc diff --base REV` / `stackc diff OLD NEW` (issue 17): the risk rules, table-driven
//! (a pair of stacks and the exact findings each); the facts checked against the compose
//! file the stack renders; the JSON report against `schema/diff-report.schema.json`; a
//! real git repository with two commits; and the CI recipe in the README.
// See: https://example.invalid/stackc/issues/17

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use stackc::diagnostic::SourceFile;
use stackc::model::Stack;
use stackc::review::{self, Side};
use stackc::targets::{self, Options};

use crate::support::{examples, repo};

fn resolve(name: &str, text: &str) -> Stack {
    let checked = stackc::validate::check(&SourceFile {
        name: name.into(),
        text: text.into(),
    });
    assert!(
        !checked.has_errors(),
        "{name} is invalid: {:#?}",
        checked.diagnostics
    );
    checked.stack.unwrap()
}

fn report(old: Option<&str>, new: &str) -> review::Report {
    let old = old.map(|text| resolve("old", text));
    let new = resolve("new", new);
    let side = |source: &str, present| Side {
        source: source.into(),
        present,
    };
    review::review(
        old.as_ref(),
        &new,
        &Options::default(),
        (side("old", old.is_some()), side("new", true)),
    )
    .unwrap()
}

fn findings(old: Option<&str>, new: &str) -> Vec<String> {
    report(old, new).risks.iter().map(|f| f.key()).collect()
}

/// One app, no metrics, no published app port: the defaults do the rest (usage on, every
/// component's port published on 127.0.0.1).
const BASE: &str = r#"
[apps.web]
image = "nginx:1.27"
port = 80
metrics = false
"#;

/// An app that Prometheus scrapes.
const SCRAPED: &str = r#"
[apps.api]
image = "ghcr.io/acme/api:1.0.0"
port = 8080
"#;

fn with(extra: &str) -> String {
    format!("{extra}\n{BASE}")
}

struct Case {
    name: &'static str,
    old: Option<String>,
    new: String,
    expect: &'static [&'static str],
}

fn case(name: &'static str, old: &str, new: &str, expect: &'static [&'static str]) -> Case {
    Case {
        name,
        old: Some(old.to_owned()),
        new: new.to_owned(),
        expect,
    }
}

const RENAMED_DASHBOARDS: &[&str] = &[
    "high project-renamed stack: project",
    "medium dashboard-uid-changed component grafana: demo-health",
    "medium dashboard-uid-changed component grafana: demo-host",
    "medium dashboard-uid-changed component grafana: demo-logs",
    "medium dashboard-uid-changed component grafana: demo-overview",
    "medium dashboard-uid-changed component grafana: demo-red",
    "medium dashboard-uid-changed component grafana: demo-traces",
    "medium dashboard-uid-changed component grafana: demo-usage",
];

fn cases() -> Vec<Case> {
    vec![
        case("no change", BASE, &format!("# a comment\n{BASE}"), &[]),
        case(
            "an explicit value equal to the default is no change",
            BASE,
            &with("[logs]\nretention = \"31d\"\n[metrics]\nretention = \"15d\""),
            &[],
        ),
        case(
            "defaults count: 7d against the absent 31d is a cut",
            BASE,
            &with("[logs]\nretention = \"7d\""),
            &["high retention-lowered component loki: retention"],
        ),
        case(
            "every retention lowered",
            &with("[metrics]\nretention = \"30d\"\n[traces]\nretention = \"7d\""),
            &with(
                "[metrics]\nretention = \"2w\"\n[logs]\nretention = \"30d\"\n[traces]\nretention = \"48h\"",
            ),
            &[
                "high retention-lowered component loki: retention",
                "high retention-lowered component prometheus: retention",
                "high retention-lowered component tempo: retention",
            ],
        ),
        case(
            "retention raised",
            BASE,
            &with("[logs]\nretention = \"90d\""),
            &[],
        ),
        case(
            "project renamed: volumes and dashboard uids",
            BASE,
            &with("[stack]\nname = \"prod\""),
            RENAMED_DASHBOARDS,
        ),
        case(
            "a new database name on a renamed project is a fresh volume",
            BASE,
            &with("[stack]\nname = \"prod\"\n[usage]\ndatabase = \"events\""),
            RENAMED_DASHBOARDS,
        ),
        case(
            "database renamed",
            BASE,
            &with("[usage]\ndatabase = \"events\""),
            &["high database-renamed component postgres: database"],
        ),
        case(
            "bind moved off loopback: one finding for every published port",
            BASE,
            &with("[stack]\nbind = \"0.0.0.0\""),
            &["high port-exposed stack: bind"],
        ),
        case(
            "bind moved to another loopback address",
            BASE,
            &with("[stack]\nbind = \"127.0.0.2\""),
            &[],
        ),
        case(
            "an app published beyond loopback",
            &with("[stack]\nbind = \"0.0.0.0\""),
            &with("[stack]\nbind = \"0.0.0.0\"").replace("port = 80", "port = 80\npublish = 8088"),
            &["high port-exposed app web: ports"],
        ),
        case(
            "an app and a component published on loopback",
            &with("[ports]\ngrafana = false"),
            &BASE.replace("port = 80", "port = 80\npublish = 8088"),
            &[
                "low port-published component grafana: ports",
                "low port-published app web: ports",
            ],
        ),
        case(
            "a published port moved on loopback",
            BASE,
            &with("[ports]\ngrafana = 3001"),
            &[],
        ),
        case(
            "a secret newly required",
            BASE,
            &BASE.replace("port = 80", "port = 80\nsecrets = [\"API_KEY\"]"),
            &["medium secret-required app web: API_KEY"],
        ),
        case(
            "a secret moved to another app is still set",
            &format!(
                "{}{SCRAPED}",
                BASE.replace("port = 80", "port = 80\nsecrets = [\"API_KEY\"]")
            ),
            &format!(
                "{BASE}{}",
                SCRAPED.replace("port = 8080", "port = 8080\nsecrets = [\"API_KEY\"]")
            ),
            &[],
        ),
        case(
            "usage turned on: three database secrets and PostgreSQL's port",
            &with("[usage]\nenabled = false"),
            BASE,
            &[
                "medium secret-required component grafana: USAGE_READER_DB_PASSWORD",
                "medium secret-required component postgres: POSTGRES_PASSWORD",
                "medium secret-required component postgres: USAGE_SCRAPER_DB_PASSWORD",
                "low port-published component postgres: ports",
            ],
        ),
        case(
            "usage turned off: PostgreSQL's volume orphaned",
            BASE,
            &with("[usage]\nenabled = false"),
            &[
                "medium component-removed component postgres: postgres",
                "low dashboard-removed component grafana: demo-usage",
                "low service-removed component usage-scraper: usage-scraper",
            ],
        ),
        case(
            "node-exporter and cAdvisor turned off: their services and the host dashboard go",
            BASE,
            &with("[components]\nnode_exporter = false\ncadvisor = false"),
            &[
                "low service-removed component cadvisor: cadvisor",
                "low dashboard-removed component grafana: demo-host",
                "low service-removed component node-exporter: node-exporter",
            ],
        ),
        case(
            "usage events moved to an external database: the bundled one's volume is orphaned",
            BASE,
            &with("[components.postgres]\nhost = \"db.example.com\""),
            &["medium component-removed component postgres: postgres"],
        ),
        case(
            "an app removed",
            &format!("{BASE}{SCRAPED}"),
            BASE,
            &["low service-removed app api: api"],
        ),
        case(
            "an app image across a major version",
            BASE,
            &BASE.replace("nginx:1.27", "nginx:2.0"),
            &["medium image-major-changed app web: image"],
        ),
        case(
            "an app image within a major version, to another repository, or untagged",
            &format!("{BASE}{SCRAPED}"),
            &format!("{BASE}{SCRAPED}")
                .replace("nginx:1.27", "nginx:1.29")
                .replace("ghcr.io/acme/api:1.0.0", "ghcr.io/acme/api2:2.0.0"),
            &[],
        ),
        case(
            "a component image across a major version, and PostgreSQL's",
            &with("[versions]\nloki = \"3.7.6\"\npostgres = \"18\""),
            &with("[versions]\nloki = \"4.0.0\"\npostgres = \"17\""),
            &[
                "high image-major-changed component postgres: image",
                "medium image-major-changed component loki: image",
            ],
        ),
        case(
            "a tag that is not a version",
            BASE,
            &with("[versions]\ngrafana = \"latest\""),
            &[],
        ),
        case(
            "an app scraped at half the rate window is fine",
            &format!("{BASE}{SCRAPED}"),
            &format!(
                "{BASE}{}",
                SCRAPED.replace("port = 8080", "port = 8080\nscrape_interval = \"30s\"")
            ),
            &[],
        ),
        case(
            "an app scraped more slowly than half the rate window",
            &format!("{BASE}{SCRAPED}"),
            &format!(
                "{BASE}{}",
                SCRAPED.replace("port = 8080", "port = 8080\nscrape_interval = \"45s\"")
            ),
            &["medium scrape-interval-above-rate-window app api: scrape interval"],
        ),
        case(
            "the global interval lowered under an app's own interval shrinks the window",
            &format!(
                "[metrics]\nscrape_interval = \"30s\"\n{BASE}{}",
                SCRAPED.replace("port = 8080", "port = 8080\nscrape_interval = \"45s\"")
            ),
            &format!(
                "[metrics]\nscrape_interval = \"15s\"\n{BASE}{}",
                SCRAPED.replace("port = 8080", "port = 8080\nscrape_interval = \"45s\"")
            ),
            &["medium scrape-interval-above-rate-window app api: scrape interval"],
        ),
        case(
            "an app's metrics pushed over OTLP every 60s (its env overrides stackc's)",
            &format!("{BASE}{SCRAPED}"),
            &format!(
                "{BASE}{}",
                SCRAPED.replace(
                    "port = 8080",
                    "port = 8080\nmetrics = \"otlp\"\nenv = { OTEL_METRIC_EXPORT_INTERVAL = \"60000\" }"
                )
            ),
            &["medium scrape-interval-above-rate-window app api: metric export interval"],
        ),
        case(
            "an app's metrics pushed over OTLP as often as Prometheus scrapes (stackc's default)",
            &format!("{BASE}{SCRAPED}"),
            &format!(
                "{BASE}{}",
                SCRAPED.replace("port = 8080", "port = 8080\nmetrics = \"otlp\"")
            ),
            &[],
        ),
        case(
            "the global interval raised moves the window with it",
            &format!("{BASE}{SCRAPED}"),
            &format!("[metrics]\nscrape_interval = \"1m\"\n{BASE}{SCRAPED}"),
            &[],
        ),
        Case {
            name: "a first pull request: everything is new",
            old: None,
            new: BASE.to_owned(),
            expect: &[
                "medium secret-required component grafana: GRAFANA_ADMIN_PASSWORD",
                "medium secret-required component grafana: USAGE_READER_DB_PASSWORD",
                "medium secret-required component postgres: POSTGRES_PASSWORD",
                "medium secret-required component postgres: USAGE_SCRAPER_DB_PASSWORD",
                "low port-published component alertmanager: ports",
                "low port-published component alloy: ports",
                "low port-published component cadvisor: ports",
                "low port-published component grafana: ports",
                "low port-published component loki: ports",
                "low port-published component node-exporter: ports",
                "low port-published component postgres: ports",
                "low port-published component prometheus: ports",
                "low port-published component tempo: ports",
            ],
        },
        Case {
            name: "a first pull request bound to every interface",
            old: None,
            new: with(
                "[stack]\nbind = \"0.0.0.0\"\n[usage]\nenabled = false\n[ports]\nalloy = false\notlp_grpc = false\notlp_http = false\ncadvisor = false\nloki = false\ntempo = false\nnode_exporter = false\nprometheus = false",
            ),
            expect: &[
                "high port-exposed component alertmanager: ports",
                "high port-exposed component grafana: ports",
                "medium secret-required component grafana: GRAFANA_ADMIN_PASSWORD",
            ],
        },
    ]
}

#[test]
fn risk_rules() {
    let mut failures = Vec::new();
    let mut fired = BTreeSet::new();
    for case in cases() {
        let report = report(case.old.as_deref(), &case.new);
        fired.extend(report.risks.iter().map(|r| r.rule));
        let got: Vec<String> = report.risks.iter().map(|f| f.key()).collect();
        if got != case.expect {
            failures.push(format!(
                "{}:\n  expected {:#?}\n  got {got:#?}",
                case.name, case.expect
            ));
        }
        for risk in &report.risks {
            assert!(
                !risk.summary.is_empty() && risk.why.len() > 40,
                "{}: {risk:?} does not say why",
                case.name
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let rules: BTreeSet<&str> = review::rules::RULES.iter().map(|r| r.id).collect();
    assert_eq!(fired, rules, "every rule has a case that fires it");
}

#[test]
fn changes_are_grouped_and_defaults_count() {
    let report = report(
        Some(&format!("{BASE}{SCRAPED}")),
        &with("[logs]\nretention = \"7d\""),
    );
    let text: Vec<String> = report
        .changes
        .iter()
        .map(|c| {
            let items: Vec<String> = c
                .items
                .iter()
                .map(|i| format!("{}: {:?} -> {:?}", i.name, i.old, i.new))
                .collect();
            format!("{} {:?} [{}]", c.scope, c.status, items.join("; "))
        })
        .collect();
    assert_eq!(
        text,
        [
            r#"component loki Changed [retention: Some("31d") -> Some("7d")]"#,
            r#"app api Removed [image: Some("ghcr.io/acme/api:1.0.0") -> None; port: Some("8080") -> None; metrics: Some("scraped at /metrics") -> None; logs: Some("stdout") -> None; OTLP: Some("on") -> None]"#,
        ]
    );
    assert_eq!(report.summary.changes, 6);
    assert!(
        report.files.iter().any(|f| f.path == "loki/loki.yaml"
            && f.status == review::Status::Changed
            && f.added == 1
            && f.removed == 1),
        "{:?}",
        report.files
    );
}

#[test]
fn a_renamed_project_shows_its_volumes_move() {
    let report = report(Some(BASE), &with("[stack]\nname = \"prod\""));
    let loki = report
        .changes
        .iter()
        .find(|c| c.scope.name == "loki")
        .expect("loki's volume changes");
    assert_eq!(
        loki.items
            .iter()
            .map(|i| (i.name.as_str(), i.old.as_deref(), i.new.as_deref()))
            .collect::<Vec<_>>(),
        [(
            "volume loki-data",
            Some("demo_loki-data"),
            Some("prod_loki-data")
        )]
    );
}

/// The rate window comes from the rendered dashboards: `$__rate_interval` at four times
/// the Prometheus datasource's `timeInterval`, which follows `[metrics].scrape_interval`.
#[test]
fn the_rate_window_follows_the_datasource() {
    for (interval, window) in [("15s", 60), ("30s", 120), ("1m", 240)] {
        let stack = resolve(
            "stack",
            &with(&format!("[metrics]\nscrape_interval = \"{interval}\"")),
        );
        let files = targets::render(&stack, &Options::default()).unwrap();
        let facts = review::facts(&stack, &files).unwrap();
        assert_eq!(
            facts.rate_window,
            Some(stackc::duration::Duration::from_secs(window)),
            "{interval}"
        );
    }
}

/// The facts the review compares are what compose runs: every service, image, published
/// port, required variable and named volume of each example's `compose.yaml`.
#[test]
fn facts_match_the_compose_file() {
    for dir in examples() {
        let text = std::fs::read_to_string(dir.join("stack.toml")).unwrap();
        let stack = resolve("stack", &text);
        let files = targets::render(&stack, &Options::default()).unwrap();
        let facts = review::facts(&stack, &files).unwrap();
        let compose = &files
            .iter()
            .find(|f| f.path == "compose.yaml")
            .unwrap()
            .contents;
        let compose: serde_yaml_ng::Value = serde_yaml_ng::from_str(compose).unwrap();
        let named: BTreeSet<String> = compose["volumes"]
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
        let services = compose["services"].as_mapping().unwrap();
        let mut seen = BTreeSet::new();
        for (name, service) in services {
            let name = name.as_str().unwrap();
            let (scope, facts) = facts
                .services
                .iter()
                .find(|(scope, _)| scope.name == name)
                .unwrap_or_else(|| panic!("{}: no facts for `{name}`", dir.display()));
            seen.insert(scope.clone());
            let at = format!("{}: {name}", dir.display());
            assert_eq!(
                service["image"].as_str().map(|i| i.replace("$$", "$")),
                facts.image,
                "{at}: image"
            );
            // On the host's network, node-exporter listens on `bind:port` itself.
            let listen = service["command"].as_sequence().and_then(|args| {
                args.iter()
                    .filter_map(|a| a.as_str()?.strip_prefix("--web.listen-address="))
                    .next()
            });
            let ports: Vec<String> = match (service["network_mode"].as_str(), listen) {
                (Some("host"), Some(address)) => {
                    let port = address.rsplit(':').next().unwrap();
                    vec![format!("{address}:{port}")]
                }
                _ => service["ports"]
                    .as_sequence()
                    .map(|list| {
                        list.iter()
                            .map(|p| {
                                format!(
                                    "{}:{}:{}",
                                    p["host_ip"].as_str().unwrap(),
                                    p["published"].as_str().unwrap(),
                                    p["target"].as_u64().unwrap()
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            let published: Vec<String> = facts.published.iter().map(|p| p.to_string()).collect();
            assert_eq!(ports, published, "{at}: ports");
            let secrets: BTreeSet<String> = service["environment"]
                .as_mapping()
                .map(|env| {
                    env.values()
                        .filter_map(|v| v.as_str()?.strip_prefix("${"))
                        .filter_map(|v| v.split_once(":?").map(|(name, _)| name.to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            // ...and compose secrets (Alertmanager's receiver credentials, from `.env`)
            let mut secrets = secrets;
            for name in service["secrets"].as_sequence().into_iter().flatten() {
                secrets.insert(name.as_str().unwrap().to_owned());
            }
            assert_eq!(secrets, facts.secrets, "{at}: secrets");
            let volumes: Vec<String> = service["volumes"]
                .as_sequence()
                .map(|list| {
                    list.iter()
                        .filter_map(|v| v.as_str()?.split(':').next())
                        .filter(|v| named.contains(*v))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(volumes, facts.volumes, "{at}: volumes");
        }
        assert_eq!(
            seen.len(),
            facts.services.len(),
            "{}: facts of services compose does not run",
            dir.display()
        );
    }
}

fn stackc(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stackc"))
        .args(args)
        .current_dir(cwd)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn keys(report: &serde_json::Value) -> Vec<String> {
    report["risks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let scope = match r["scope"]["name"].as_str() {
                Some(name) => format!("{} {name}", r["scope"]["kind"].as_str().unwrap()),
                None => "stack".to_owned(),
            };
            format!(
                "{} {} {scope}: {}",
                r["severity"].as_str().unwrap(),
                r["rule"].as_str().unwrap(),
                r["subject"].as_str().unwrap()
            )
        })
        .collect()
}

fn schema() -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(repo().join("schema/diff-report.schema.json")).unwrap(),
    )
    .unwrap()
}

/// The JSON output validates against the checked-in schema, and the schema is strict
/// enough to reject what a bug would print.
#[test]
fn json_output_matches_its_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Most rules fire between these two, and every kind of scope and status appears.
    let old = format!(
        "[versions]\npostgres = \"17\"\n{BASE}{SCRAPED}[apps.gone]\nimage = \"x:1\"\nmetrics = false\n"
    );
    let new = format!(
        "[stack]\nname = \"prod\"\nbind = \"0.0.0.0\"\n[logs]\nretention = \"7d\"\n[usage]\nenabled = false\n{}{}[apps.fresh]\nimage = \"y:1\"\npublish = 8089\nscrape_interval = \"5m\"\nsecrets = [\"FRESH_KEY\"]\n",
        BASE.replace("nginx:1.27", "nginx:2"),
        SCRAPED
    );
    std::fs::write(dir.join("old.toml"), &old).unwrap();
    std::fs::write(dir.join("new.toml"), &new).unwrap();
    let validator = jsonschema::validator_for(&schema()).unwrap();
    for args in [
        vec!["diff", "old.toml", "new.toml", "--format", "json"],
        vec!["diff", "new.toml", "old.toml", "--format", "json"],
        vec!["diff", "old.toml", "old.toml", "--format", "json"],
    ] {
        let report = json(&stackc(&args, dir));
        let errors: Vec<String> = validator
            .iter_errors(&report)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{args:?}: {errors:#?}");
    }
    let mut report = json(&stackc(
        &["diff", "old.toml", "new.toml", "--format", "json"],
        dir,
    ));
    assert_eq!(report["summary"]["high"], 4, "{report:#}");
    assert!(report["files"].as_array().unwrap().len() > 5);

    // What the schema must refuse.
    let bad = |mutate: &dyn Fn(&mut serde_json::Value)| {
        let mut copy = report.clone();
        mutate(&mut copy);
        validator.is_valid(&copy)
    };
    assert!(!bad(&|r| r["risks"][0]["severity"] = "critical".into()));
    assert!(!bad(&|r| r["risks"][0]["rule"] = "made-up".into()));
    assert!(!bad(&|r| r["risks"][0]["extra"] = true.into()));
    assert!(!bad(&|r| r["changes"][0]["items"] = serde_json::json!([])));
    assert!(!bad(&|r| r["files"][0]["added"] = (-1).into()));
    assert!(!bad(&|r| r["version"] = 2.into()));
    report["risks"][0]["scope"] = serde_json::json!({"kind": "app"});
    assert!(!validator.is_valid(&report), "an app scope needs its name");
}

#[test]
fn the_schema_lists_every_rule() {
    let schema = schema();
    let listed: BTreeSet<&str> = schema["$defs"]["risk"]["properties"]["rule"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let rules: BTreeSet<&str> = review::rules::RULES.iter().map(|r| r.id).collect();
    assert_eq!(listed, rules);
}

#[test]
fn fail_on_gates_on_severity() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("old.toml"), BASE).unwrap();
    std::fs::write(
        dir.join("new.toml"),
        BASE.replace("port = 80", "port = 80\nsecrets = [\"API_KEY\"]"),
    )
    .unwrap();
    let run = |gate: &str| stackc(&["diff", "old.toml", "new.toml", "--fail-on", gate], dir);
    assert_eq!(run("high").status.code(), Some(0));
    let medium = run("medium");
    assert_eq!(medium.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&medium.stderr).contains("1 risk is at `medium` or worse"),
        "{}",
        String::from_utf8_lossy(&medium.stderr)
    );
    assert!(String::from_utf8_lossy(&medium.stdout).contains("secret-required"));
    assert_eq!(run("low").status.code(), Some(1));
}

#[test]
fn colour_only_when_asked_and_not_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("old.toml"), BASE).unwrap();
    std::fs::write(dir.join("new.toml"), with("[logs]\nretention = \"7d\"")).unwrap();
    let run = |env: &[(&str, &str)], format: &str| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_stackc"));
        command
            .args(["diff", "old.toml", "new.toml", "--format", format])
            .current_dir(dir)
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE");
        for (k, v) in env {
            command.env(k, v);
        }
        String::from_utf8(command.output().unwrap().stdout).unwrap()
    };
    let escape = "\x1b[";
    assert!(
        !run(&[], "text").contains(escape),
        "a pipe is not a terminal"
    );
    let forced = run(&[("CLICOLOR_FORCE", "1")], "text");
    assert!(forced.contains("\x1b[1;31mHIGH"), "{forced}");
    assert!(!run(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")], "text").contains(escape));
    assert!(!run(&[("CLICOLOR_FORCE", "1")], "markdown").contains(escape));
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=stackc tests",
            "-c",
            "user.email=tests@example.invalid",
        ])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A repository with the stack in `infra/`, two commits, `--base HEAD~1` from elsewhere.
#[test]
fn base_revision_in_a_real_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path();
    git(top, &["init", "-q"]);
    std::fs::create_dir_all(top.join("infra")).unwrap();
    std::fs::write(top.join("infra/stack.toml"), BASE).unwrap();
    git(top, &["add", "."]);
    git(top, &["commit", "-q", "-m", "stack"]);
    std::fs::write(
        top.join("infra/stack.toml"),
        with("[logs]\nretention = \"7d\""),
    )
    .unwrap();
    git(top, &["commit", "-q", "-am", "shorter log retention"]);

    // From the top, with a path; and from the stack's own directory, with the default.
    let from_top = json(&stackc(
        &[
            "diff",
            "--base",
            "HEAD~1",
            "infra/stack.toml",
            "--format",
            "json",
        ],
        top,
    ));
    assert_eq!(from_top["old"]["source"], "HEAD~1:infra/stack.toml");
    assert_eq!(from_top["old"]["present"], true);
    assert_eq!(from_top["new"]["source"], "infra/stack.toml");
    assert_eq!(
        keys(&from_top),
        ["high retention-lowered component loki: retention"]
    );
    let from_inside = json(&stackc(
        &["diff", "--base", "HEAD~1", "--format", "json"],
        &top.join("infra"),
    ));
    assert_eq!(from_inside["risks"], from_top["risks"]);

    // The working file, not HEAD: an uncommitted edit counts.
    std::fs::write(top.join("infra/stack.toml"), BASE).unwrap();
    let clean = json(&stackc(
        &[
            "diff",
            "--base",
            "HEAD~1",
            "infra/stack.toml",
            "--format",
            "json",
        ],
        top,
    ));
    assert_eq!(clean["risks"], serde_json::json!([]));
    assert_eq!(clean["changes"], serde_json::json!([]));

    let unknown = stackc(&["diff", "--base", "no-such-rev", "infra/stack.toml"], top);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("unknown revision `no-such-rev`"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );

    // An invalid stack at the base: exit 1, named by revision and path.
    std::fs::write(
        top.join("infra/stack.toml"),
        "[logs]\nretention = \"soon\"\n",
    )
    .unwrap();
    git(top, &["commit", "-q", "-am", "broken"]);
    std::fs::write(top.join("infra/stack.toml"), BASE).unwrap();
    let invalid = stackc(&["diff", "--base", "HEAD", "infra/stack.toml"], top);
    assert_eq!(invalid.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&invalid.stderr);
    assert!(stderr.contains("HEAD:infra/stack.toml:2:13"), "{stderr}");
    assert!(
        stderr.contains("`HEAD:infra/stack.toml`: 1 error; cannot compare"),
        "{stderr}"
    );
}

/// The stack file's first pull request: absent at the base, so everything is new.
#[test]
fn a_stack_absent_at_the_base_is_all_new() {
    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path();
    git(top, &["init", "-q"]);
    std::fs::write(top.join("README.md"), "infra\n").unwrap();
    git(top, &["add", "."]);
    git(top, &["commit", "-q", "-m", "readme"]);
    std::fs::write(top.join("stack.toml"), BASE).unwrap();
    git(top, &["add", "."]);
    git(top, &["commit", "-q", "-m", "stack"]);

    let out = stackc(&["diff", "--base", "HEAD~1", "--format", "json"], top);
    let report = json(&out);
    assert_eq!(report["old"]["source"], "HEAD~1:stack.toml");
    assert_eq!(report["old"]["present"], false);
    assert_eq!(keys(&report), findings(None, BASE));
    let statuses: BTreeSet<&str> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, BTreeSet::from(["added"]));
    let validator = jsonschema::validator_for(&schema()).unwrap();
    assert!(validator.is_valid(&report));

    let text = stackc(&["diff", "--base", "HEAD~1"], top);
    assert!(text.status.success());
    assert!(
        String::from_utf8_lossy(&text.stdout)
            .contains("`HEAD~1:stack.toml` does not exist: everything is new")
    );
}

#[test]
fn base_outside_a_repository() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("stack.toml"), BASE).unwrap();
    let out = stackc(&["diff", "--base", "HEAD"], tmp.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not in a git repository"), "{stderr}");
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).unwrap()
}

/// The README's GitHub Actions job is `docs/ci/stack-review.yml`, byte for byte, so the
/// file actionlint checks (`.ci/run`) is the one users copy.
#[test]
fn the_ci_recipe_in_the_readme_is_the_linted_file() {
    let file = std::fs::read_to_string(repo().join("docs/ci/stack-review.yml")).unwrap();
    let readme = readme();
    let start = readme
        .find("```yaml\n# .github/workflows/stack-review.yml")
        .expect("README has the stack-review workflow")
        + "```yaml\n".len();
    let end = start + readme[start..].find("```\n").unwrap();
    assert_eq!(&readme[start..end], file);
    assert!(file.contains(review::render::MARKER));
    assert!(file.contains("--format markdown"));
    assert!(file.contains("stackc build --check"));
}

/// The README's table of risks names every rule with its severity.
#[test]
fn the_readme_lists_every_rule() {
    let readme = readme();
    let rows: BTreeMap<&str, &str> = readme
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let id = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((id, *cells.get(2)?))
        })
        .collect();
    for rule in review::rules::RULES {
        assert_eq!(
            rows.get(rule.id).copied(),
            Some(rule.severity),
            "README's risk table: `{}`",
            rule.id
        );
    }
}

/// The README's terminal example is the `review-text` snapshot, cut short with `...`.
#[test]
fn the_readme_example_is_the_snapshot() {
    let readme = readme();
    let start = readme
        .find("```\nstackc diff: old.toml → new.toml\n")
        .expect("README shows a review")
        + "```\n".len();
    let end = start + readme[start..].find("```\n").unwrap();
    let snapshot = std::fs::read_to_string(repo().join("tests/cmd/review-text.stdout")).unwrap();
    let lines: BTreeSet<&str> = snapshot.lines().collect();
    for line in readme[start..end].lines() {
        assert!(
            line.trim() == "..." || lines.contains(line),
            "README's example has `{line}`, which `stackc diff` no longer prints"
        );
    }
}
