//! Every example is executable documentation: it checks clean, validates against the
//! checked-in schema, and the schema file equals what `stackc schema` prints.

use crate::support::{examples, overwrite, repo};

#[test]
fn schema_file_matches_the_types() {
    let path = repo().join("schema/stack.schema.json");
    let generated = stackc::schema::schema_json();
    if overwrite() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap();
    assert!(
        on_disk == generated,
        "schema/stack.schema.json is stale: run `SNAPSHOTS=overwrite cargo test` and review the diff"
    );
}

#[test]
fn examples_validate_against_the_schema() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schema/stack.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let list = examples();
    assert!(list.len() >= 2, "examples/ lost its examples");
    for dir in list {
        let text = std::fs::read_to_string(dir.join("stack.toml")).unwrap();
        let value: serde_json::Value = toml::from_str(&text).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", dir.display());
    }
}

#[test]
fn examples_check_without_diagnostics() {
    for dir in examples() {
        let source = stackc::cli::read_source(&dir.join("stack.toml")).unwrap();
        let mut checked = stackc::validate::check(&source);
        // The hostile example writes `${PATH}` into an env value on purpose (it must reach
        // the app literally): that one warning is expected there, and nothing else.
        // The no-usage example publishes on every interface on purpose: the warning that
        // names what that exposes is expected there.
        if dir.ends_with("no-usage") {
            let before = checked.diagnostics.len();
            checked.diagnostics.retain(|d| {
                !d.message
                    .starts_with("`bind = \"0.0.0.0\"` exposes services")
            });
            assert_eq!(before - checked.diagnostics.len(), 1, "the bind warning");
        }
        // The team example's API sends its logs over OTLP on purpose: the warning that
        // its usage events are not counted is expected there.
        if dir.ends_with("team") {
            let before = checked.diagnostics.len();
            checked
                .diagnostics
                .retain(|d| !d.message.starts_with("usage events of app `api`"));
            assert_eq!(before - checked.diagnostics.len(), 1, "the usage warning");
        }
        if dir.ends_with("hostile") {
            let before = checked.diagnostics.len();
            checked
                .diagnostics
                .retain(|d| !d.message.contains("`${...}` in `env.DOLLARS`"));
            assert_eq!(
                before - checked.diagnostics.len(),
                1,
                "the `${{...}}` warning"
            );
        }
        assert!(
            checked.diagnostics.is_empty(),
            "{}:\n{}",
            dir.display(),
            source.render(&checked.diagnostics)
        );
        assert!(checked.stack.is_some());
    }
}

#[test]
fn the_schema_rejects_what_check_rejects() {
    // A misspelt key must fail both the editor-facing schema and `stackc check`.
    let schema = stackc::schema::schema();
    let validator = jsonschema::validator_for(schema).unwrap();
    let value: serde_json::Value =
        toml::from_str("[metrics]\nscrape_intervall = \"15s\"\n").unwrap();
    assert!(!validator.is_valid(&value));
}

#[test]
fn init_writes_the_demo_example() {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_stackc"))
        .args(["init"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let written = std::fs::read_to_string(dir.path().join("stack.toml")).unwrap();
    let demo = std::fs::read_to_string(repo().join("examples/demo/stack.toml")).unwrap();
    assert_eq!(written, demo);
    for app in [
        "dice-roller",
        "shiny-curl-gui",
        "stage1",
        "stage2",
        "stage3",
        "stage4",
        "stage5",
    ] {
        assert!(written.contains(&format!("[apps.{app}]")), "{app}");
    }
}

#[test]
fn the_demo_resolves_to_the_seed_defaults() {
    let source = stackc::cli::read_source(&repo().join("examples/demo/stack.toml")).unwrap();
    let stack = stackc::validate::check(&source).stack.unwrap();
    // A stack that sets nothing but one app: every built-in default.
    let minimal = stackc::diagnostic::SourceFile {
        name: "stack.toml".into(),
        text: "[apps.web]\nimage = \"nginx:1.27\"\n".into(),
    };
    let minimal = stackc::validate::check(&minimal).stack.unwrap();
    // Every default written out in the demo equals the built-in default.
    assert_eq!(stack.metrics, minimal.metrics);
    assert_eq!(stack.logs, minimal.logs);
    assert_eq!(stack.traces, minimal.traces);
    assert_eq!(stack.usage, minimal.usage);
    assert_eq!(stack.ports, minimal.ports);
    assert_eq!(stack.versions, minimal.versions);
    assert_eq!(stack.bind, "127.0.0.1");
    assert_eq!(stack.logs.retention.go(), "744h");
    assert_eq!(stack.traces.retention.go(), "48h");
    assert_eq!(stack.apps.len(), 7);
    assert_eq!(stack.apps[0].name, "dice-roller");
    assert_eq!(stack.apps[0].ident, "dice_roller");
}

/// Both starters open with a `#:schema` line naming this version's schema, so editors
/// with a TOML language server (taplo, Even Better TOML) complete and check keys.
#[test]
fn starters_point_editors_at_this_versions_schema() {
    let directive = stackc::cli::schema_directive();
    assert!(directive.ends_with(&format!(
        "/v{}/schema/stack.schema.json",
        env!("CARGO_PKG_VERSION")
    )));
    for starter in [stackc::cli::STARTER, stackc::cli::STARTER_MINIMAL] {
        assert_eq!(starter.lines().next(), Some(directive.as_str()));
    }
}

#[test]
fn init_takes_a_name_and_a_minimal_starter() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_stackc"))
            .args(args)
            .current_dir(tmp.path())
            .output()
            .unwrap()
    };
    let out = run(&["init", "--name", "shop", "--minimal", "small"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let source = stackc::cli::read_source(&tmp.path().join("small/stack.toml")).unwrap();
    let checked = stackc::validate::check(&source);
    assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
    let stack = checked.stack.unwrap();
    assert_eq!(stack.name, "shop");
    assert!(stack.usage.is_none());
    assert_eq!(stack.apps.len(), 1);

    let out = run(&["init", "--name", "orders", "full"]);
    assert!(out.status.success());
    let source = stackc::cli::read_source(&tmp.path().join("full/stack.toml")).unwrap();
    let stack = stackc::validate::check(&source).stack.unwrap();
    assert_eq!(stack.name, "orders");
    assert_eq!(stack.apps.len(), 7);
    // Only the name differs from the demo starter.
    assert_eq!(
        source.text,
        stackc::cli::STARTER.replacen("\nname = \"demo\"", "\nname = \"orders\"", 1)
    );

    let out = run(&["init", "--name", "Not OK", "bad"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be a stack name"));
    assert!(!tmp.path().join("bad").exists(), "nothing is written");
}
