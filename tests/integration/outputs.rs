//! The generated files read back: every YAML and JSON file parses, `compose.yaml` validates
//! against the compose JSON schema, hostile values round-trip exactly, and promtool loads
//! `prometheus.yml` (required when `STACKC_REQUIRE_TOOLS=1`).

use std::process::Command;

use crate::golden::{build_example, tree};
use crate::support::{examples, repo, without_file_retention};

fn require_tools() -> bool {
    std::env::var("STACKC_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

#[test]
fn yaml_and_json_outputs_parse() {
    for case in examples() {
        let (_tmp, out) = build_example(&case);
        for (path, bytes) in tree(&out) {
            let text = String::from_utf8(bytes).unwrap();
            if path.ends_with(".yaml") || path.ends_with(".yml") {
                let parsed: Result<serde_yaml_ng::Value, _> = serde_yaml_ng::from_str(&text);
                assert!(parsed.is_ok(), "{}/{path}: {parsed:?}", case.display());
            } else if path.ends_with(".json") {
                let parsed: Result<serde_json::Value, _> = serde_json::from_str(&text);
                assert!(parsed.is_ok(), "{}/{path}: {parsed:?}", case.display());
            } else if path.ends_with(".toml") {
                let parsed: Result<toml::Table, _> = toml::from_str(&text);
                assert!(parsed.is_ok(), "{}/{path}: {parsed:?}", case.display());
            }
        }
    }
}

#[test]
fn compose_files_validate_against_the_compose_schema() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/data/compose-spec.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .build(&schema)
        .unwrap();
    for case in examples() {
        let (_tmp, out) = build_example(&case);
        let compose: serde_json::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(out.join("compose.yaml")).unwrap())
                .unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&compose)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", case.display());
    }
}

#[test]
fn hostile_env_values_round_trip_exactly() {
    let case = repo().join("examples/hostile");
    let (_tmp, out) = build_example(&case);
    let compose: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(out.join("compose.yaml")).unwrap())
            .unwrap();
    let stack: toml::Table =
        toml::from_str(&std::fs::read_to_string(case.join("stack.toml")).unwrap()).unwrap();
    let mut checked = 0;
    for (name, app) in stack["apps"].as_table().unwrap() {
        let Some(env) = app.get("env").and_then(|e| e.as_table()) else {
            continue;
        };
        let service = &compose["services"][name];
        assert!(service.is_object(), "service `{name}` missing");
        for (key, value) in env {
            let written = service["environment"][key].as_str().unwrap();
            // compose turns `$$` back into `$`
            assert_eq!(
                written.replace("$$", "$"),
                value.as_str().unwrap(),
                "{name}.{key}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} values checked");
    // The name and filter in Alloy are Go-quoted, the stack name reaches the labels.
    let alloy = std::fs::read_to_string(out.join("alloy/config.alloy")).unwrap();
    assert!(alloy.contains(r#"values = ["com.docker.compose.project=hostile_1-x"]"#));
}

/// `(major, minor)` from `promtool --version` ("promtool, version 2.42.0 (...)").
fn promtool_version(promtool: &str) -> (u32, u32) {
    let out = Command::new(promtool).arg("--version").output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let version = text
        .split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
        .unwrap_or_else(|| panic!("no version in {text}"));
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap())
}

fn promtool() -> Option<String> {
    let found = Command::new("promtool").arg("--version").output().is_ok();
    if found {
        Some("promtool".into())
    } else if require_tools() {
        panic!("promtool is required (STACKC_REQUIRE_TOOLS=1): apt-get install prometheus");
    } else {
        eprintln!(
            "promtool not found: skipping `promtool check config` (set STACKC_REQUIRE_TOOLS=1 to require it)"
        );
        None
    }
}

#[test]
fn promtool_loads_every_prometheus_config() {
    let Some(promtool) = promtool() else {
        return;
    };
    for case in examples() {
        let (_tmp, out) = build_example(&case);
        let dir = out.join("prometheus");
        // promtool before 3.8 does not know retention in the file: check the rest.
        let text = std::fs::read_to_string(dir.join("prometheus.yml")).unwrap();
        let file = if promtool_version(&promtool) < (3, 8) {
            std::fs::write(dir.join("checked.yml"), without_file_retention(&text)).unwrap();
            "checked.yml"
        } else {
            "prometheus.yml"
        };
        let output = Command::new(&promtool)
            .current_dir(&dir)
            .args(["check", "config", file])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: {}{}",
            case.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn promtool_rejects_a_broken_config() {
    // The check above can fail: a config with a timeout above its interval is refused.
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        "global:\n  scrape_interval: 5s\n  scrape_timeout: 10s\n",
    )
    .unwrap();
    let status = Command::new(&promtool)
        .current_dir(dir.path())
        .args(["check", "config", "prometheus.yml"])
        .output()
        .unwrap()
        .status;
    assert!(!status.success());
}

#[test]
fn the_usage_query_selects_what_alloy_labels() {
    // The scraper's LogQL selects on a label Alloy really writes.
    let (_tmp, out) = build_example(&repo().join("examples/demo"));
    let scraper: toml::Table =
        toml::from_str(&std::fs::read_to_string(out.join("usage-scraper/scraper.toml")).unwrap())
            .unwrap();
    let query = scraper["loki"]["query"].as_str().unwrap();
    let alloy = std::fs::read_to_string(out.join("alloy/config.alloy")).unwrap();
    let label = query.trim_start_matches('{').split('=').next().unwrap();
    assert!(
        alloy.contains(&format!("target_label  = \"{label}\"")),
        "{label}"
    );
    assert!(query.contains("compose_project=\"demo\""));
    assert_eq!(
        scraper["events"]["app_label"].as_str().unwrap(),
        stackc::wiring::label::COMPOSE_SERVICE
    );
}

#[test]
fn the_scraper_runs_unprivileged_after_healthy_loki_and_postgres() {
    let (_tmp, out) = build_example(&repo().join("examples/demo"));
    let compose: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(out.join("compose.yaml")).unwrap())
            .unwrap();
    let scraper = &compose["services"]["usage-scraper"];
    assert_eq!(scraper["user"], "10001:10001");
    assert_eq!(scraper["read_only"], true);
    for dependency in ["loki", "postgres"] {
        assert_eq!(
            scraper["depends_on"][dependency]["condition"],
            "service_healthy"
        );
    }
    let password = scraper["environment"]["USAGE_SCRAPER_DB_PASSWORD"]
        .as_str()
        .unwrap();
    assert!(
        password.starts_with("${USAGE_SCRAPER_DB_PASSWORD:?"),
        "{password}"
    );
}
