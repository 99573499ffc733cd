//! The demo app and the stack agree (issue 10): every kind of line the demo app writes
//! (`crates/demo-app/testdata/log-lines.jsonl`, which the demo app's own tests keep equal in
//! shape to what the binary really prints) goes through what the generated stack does with
//! it: Alloy's `stage.json` finds `level`, `trace_id` and `span_id` at the top level, the
//! level is one the dashboards' `level` variable offers, the scraper's LogQL line filter
//! selects exactly the usage lines, and the scraper's own parser turns each into a row with
//! event, user and trace id.

use std::collections::BTreeMap;

use serde_json::Value;
use stackc::targets::grafana::dashboards;
use stackc::wiring::{label, metadata};

use crate::grafana::example_stacks;
use crate::support::repo;

fn fixture() -> Vec<(String, serde_json::Map<String, Value>)> {
    let text =
        std::fs::read_to_string(repo().join("crates/demo-app/testdata/log-lines.jsonl")).unwrap();
    let lines: Vec<_> = text
        .lines()
        .map(|line| {
            let Value::Object(obj) = serde_json::from_str(line).unwrap() else {
                panic!("not a JSON object: {line}")
            };
            (line.to_owned(), obj)
        })
        .collect();
    assert!(lines.len() >= 5, "fixture too small");
    lines
}

/// The extracted-map keys Alloy's `stage.json` fills (its `expressions` block).
fn alloy_json_keys(alloy: &str) -> Vec<String> {
    let start = alloy.find("stage.json {").expect("a stage.json block");
    let block = &alloy[start..start + alloy[start..].find("\n\t}").unwrap()];
    block
        .lines()
        .skip_while(|l| !l.contains("expressions = {"))
        .skip(1)
        .filter(|l| l.contains(" = ") && l.trim_end().ends_with(','))
        .map(|l| l.split('=').next().unwrap().trim().to_owned())
        .collect()
}

#[test]
fn demo_app_lines_fit_the_alloy_pipeline_the_dashboards_and_the_scraper() {
    let (_, stack, files) = example_stacks()
        .into_iter()
        .find(|(case, _, _)| case.ends_with("examples/demo"))
        .unwrap();
    let keys = alloy_json_keys(&files["alloy/config.alloy"]);
    assert_eq!(keys, [label::LEVEL, metadata::TRACE_ID, metadata::SPAN_ID]);

    let red = dashboards::dashboards(&stack)
        .into_iter()
        .find(|d| d.uid == "demo-red")
        .unwrap();
    let level_var = red
        .templating
        .list
        .iter()
        .find(|v| v.name == "level")
        .unwrap();
    let levels: Vec<&str> = level_var.options.iter().map(|o| o.value.as_str()).collect();

    let scraper: toml::Table = toml::from_str(&files["usage-scraper/scraper.toml"]).unwrap();
    let query = scraper["loki"]["query"].as_str().unwrap();
    assert!(
        query.ends_with(r#"|~ "\"usage\"\\s*:\\s*true""#),
        "scraper query: {query}"
    );
    let app_label = scraper["events"]["app_label"].as_str().unwrap();
    assert_eq!(app_label, label::COMPOSE_SERVICE);

    let mut usage_lines = 0;
    for (line, obj) in fixture() {
        // Flat: the keys Alloy reads are top-level strings, never nested.
        let level = obj["level"]
            .as_str()
            .unwrap_or_else(|| panic!("no level: {line}"));
        // Alloy normalises it; the demo app already writes the normalised names.
        assert_eq!(stackc::levels::normalise(level), level, "{line}");
        assert!(
            levels.contains(&level),
            "level `{level}` not offered: {line}"
        );
        for key in [metadata::TRACE_ID, metadata::SPAN_ID] {
            if let Some(v) = obj.get(key) {
                let v = v.as_str().unwrap();
                let len = if key == metadata::TRACE_ID { 32 } else { 16 };
                assert!(
                    v.len() == len
                        && v.bytes()
                            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                    "{key} of the wrong shape: {line}"
                );
            }
        }
        assert!(
            obj.values().all(|v| !v.is_object()),
            "nested object: {line}"
        );

        // The scraper's line filter `"usage"\s*:\s*true` (the demo app writes compact JSON).
        let selected = line.contains(r#""usage":true"#);
        assert_eq!(
            selected,
            obj.get("usage") == Some(&Value::Bool(true)),
            "{line}"
        );
        let entry = usage_scraper::loki::Entry {
            ts_ns: 1_767_268_800_000_000_000,
            labels: BTreeMap::from([
                (label::COMPOSE_PROJECT.to_owned(), "demo".to_owned()),
                (app_label.to_owned(), "dice-roller".to_owned()),
            ]),
            line: line.clone(),
        };
        match usage_scraper::event::to_row(&entry, app_label) {
            Ok(row) => {
                assert!(
                    selected,
                    "a row from a line the query would not select: {line}"
                );
                usage_lines += 1;
                assert_eq!(row.app, "dice-roller");
                assert_eq!(Some(row.event.as_str()), obj["event"].as_str());
                assert_eq!(row.user_id.as_deref(), obj["user"].as_str(), "{line}");
                assert_eq!(row.trace_id.as_deref(), obj["trace_id"].as_str(), "{line}");
                assert_eq!(row.level.as_deref(), Some(level));
                let attributes: Value = serde_json::from_str(&row.attributes).unwrap();
                assert!(attributes.get("usage").is_none() && attributes.get("event").is_none());
            }
            Err(reason) => assert!(!selected, "usage line refused ({reason:?}): {line}"),
        }
    }
    assert!(
        usage_lines >= 2,
        "the fixture has {usage_lines} usage lines"
    );
}

#[test]
fn the_demo_stack_runs_the_demo_app_everywhere() {
    let (_, stack, files) = example_stacks()
        .into_iter()
        .find(|(case, _, _)| case.ends_with("examples/demo"))
        .unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let compose: Value = serde_yaml_ng::from_str(&files["compose.yaml"]).unwrap();
    assert_eq!(stack.apps.len(), 7);
    for app in &stack.apps {
        let service = &compose["services"][app.name.as_str()];
        assert_eq!(
            service["image"],
            stackc::images::published(stackc::images::DEMO_APP, version),
            "{}: the published demo app of this version",
            app.name
        );
        assert_eq!(
            service["environment"]["OTEL_SERVICE_NAME"],
            app.name.as_str()
        );
        assert!(
            service.get("pull_policy").is_none(),
            "{}: pulled like any published image",
            app.name
        );
        for (key, value) in &app.env {
            assert!(
                key.starts_with("DEMO_"),
                "{}: `{key}` is not a demo app variable",
                app.name
            );
            if key == "DEMO_DOWNSTREAM" {
                let host = value
                    .trim_start_matches("http://")
                    .split(':')
                    .next()
                    .unwrap();
                assert!(stack.apps.iter().any(|a| a.name == host), "{value}");
            }
        }
    }
    // The variables the example sets are ones the demo app documents.
    let readme = std::fs::read_to_string(repo().join("crates/demo-app/README.md")).unwrap();
    for app in &stack.apps {
        for key in app.env.keys() {
            assert!(
                readme.contains(&format!("`{key}`")),
                "{key} is not in the demo app's README"
            );
        }
    }
}
