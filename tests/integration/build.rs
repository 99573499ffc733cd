//! Build semantics: all files or none, stale generated files removed, foreign files never
//! touched, `build --check` and `diff` report drift with exit code 1.

use std::process::{Command, Output};

use crate::golden::tree;
use crate::support::repo;

fn stackc(args: &[&str], cwd: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stackc"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn setup(example: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    crate::golden::copy_dir(&repo().join("examples").join(example), tmp.path());
    tmp
}

#[test]
fn check_reports_new_changed_and_stale_files() {
    let tmp = setup("demo");
    let dir = tmp.path();
    let first = stackc(&["build", "--check"], dir);
    assert_eq!(first.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&first.stderr).contains("new      compose.yaml"));

    assert!(stackc(&["build"], dir).status.success());
    let clean = stackc(&["build", "--check"], dir);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );

    std::fs::write(dir.join("generated/loki/loki.yaml"), "edited\n").unwrap();
    let drift = stackc(&["build", "--check"], dir);
    assert_eq!(drift.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&drift.stderr);
    assert!(stderr.contains("changed  loki/loki.yaml"), "{stderr}");
    assert!(
        stderr.contains(
            "to fix: run `stackc build stack.toml`, then commit `generated` with `stack.toml`"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "build replaces the changed files: `stackc diff stack.toml` shows what it replaces"
        ),
        "{stderr}"
    );
    // What it says to run works: build, then the check passes.
    assert!(stackc(&["build", "stack.toml"], dir).status.success());
    assert_eq!(stackc(&["build", "--check"], dir).status.code(), Some(0));
    std::fs::write(dir.join("generated/loki/loki.yaml"), "edited\n").unwrap();

    let diff = stackc(&["diff"], dir);
    assert_eq!(diff.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&diff.stdout);
    assert!(stdout.contains("--- a/loki/loki.yaml"), "{stdout}");
    assert!(stdout.contains("+++ b/loki/loki.yaml"), "{stdout}");
    assert!(stdout.contains("-edited"), "{stdout}");
    // --check wrote nothing
    assert_eq!(
        std::fs::read_to_string(dir.join("generated/loki/loki.yaml")).unwrap(),
        "edited\n"
    );
}

#[test]
fn stale_files_go_and_foreign_files_stay() {
    let tmp = setup("demo");
    let dir = tmp.path();
    assert!(stackc(&["build"], dir).status.success());
    std::fs::write(dir.join("generated/NOTES.md"), "mine\n").unwrap();
    std::fs::create_dir_all(dir.join("generated/secrets")).unwrap();
    std::fs::write(dir.join("generated/secrets/token"), "s3cret\n").unwrap();
    std::fs::write(dir.join("generated/postgres/init/99-mine.sql"), "-- mine\n").unwrap();

    // Turning usage off makes the SQL and scraper files stale.
    let text = std::fs::read_to_string(dir.join("stack.toml")).unwrap();
    std::fs::write(
        dir.join("stack.toml"),
        text.replace("enabled = true", "enabled = false"),
    )
    .unwrap();
    let check = stackc(&["build", "--check"], dir);
    assert!(String::from_utf8_lossy(&check.stderr).contains("stale    usage-scraper/scraper.toml"));
    assert!(stackc(&["build"], dir).status.success());

    let files = tree(&dir.join("generated"));
    assert!(!files.contains_key("usage-scraper/scraper.toml"));
    assert!(!files.contains_key("postgres/init/01-schema.sql"));
    assert_eq!(files["NOTES.md"], b"mine\n");
    assert_eq!(files["secrets/token"], b"s3cret\n");
    assert_eq!(files["postgres/init/99-mine.sql"], b"-- mine\n");
    assert!(
        !dir.join("generated/usage-scraper").exists(),
        "emptied generated dir stays"
    );
}

#[test]
fn a_foreign_file_in_the_way_is_never_overwritten() {
    let tmp = setup("minimal");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("generated")).unwrap();
    std::fs::write(dir.join("generated/compose.yaml"), "# hand-written\n").unwrap();
    let out = stackc(&["build"], dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("was not written by stackc"));
    assert_eq!(
        std::fs::read_to_string(dir.join("generated/compose.yaml")).unwrap(),
        "# hand-written\n"
    );
    assert_eq!(tree(&dir.join("generated")).len(), 1);
}

/// Every foreign file in the way is named in one run, by `build` and by `build --check`,
/// and doing what the message says makes the build go through.
// See: https://example.invalid/stackc/issues/17
#[test]
fn every_foreign_file_in_the_way_is_listed_at_once() {
    let tmp = setup("minimal");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("generated/loki")).unwrap();
    std::fs::write(dir.join("generated/compose.yaml"), "# hand-written\n").unwrap();
    std::fs::write(dir.join("generated/loki/loki.yaml"), "# mine\n").unwrap();
    std::fs::write(dir.join("generated/NOTES.md"), "not in the way\n").unwrap();
    for args in [&["build"][..], &["build", "--check"][..]] {
        let out = stackc(args, dir);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(if args.len() == 1 { 2 } else { 1 }),
            "{stderr}"
        );
        assert!(
            stderr.contains("2 files in `generated` were not written by stackc"),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("  generated/compose.yaml\n"),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("  generated/loki/loki.yaml\n"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("NOTES.md"), "{args:?}: {stderr}");
        assert!(!stderr.contains("run `stackc build` to regenerate"));
    }
    std::fs::remove_file(dir.join("generated/compose.yaml")).unwrap();
    std::fs::remove_file(dir.join("generated/loki/loki.yaml")).unwrap();
    assert!(stackc(&["build"], dir).status.success());
    assert_eq!(stackc(&["build", "--check"], dir).status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(dir.join("generated/NOTES.md")).unwrap(),
        "not in the way\n"
    );
}

#[test]
fn invalid_input_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("stack.toml"), "[apps.web]\nport = 8080\n").unwrap();
    let out = stackc(&["build"], dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was written"));
    assert!(!dir.join("generated").exists());
}

#[test]
fn a_failed_write_keeps_the_previous_tree() {
    let tmp = setup("minimal");
    let dir = tmp.path();
    assert!(stackc(&["build"], dir).status.success());
    let before = tree(&dir.join("generated"));
    // An output path below a regular file cannot be created, even by root.
    std::fs::write(dir.join("out-file"), "x").unwrap();
    let out = stackc(&["build", "-o", "out-file/sub"], dir);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(dir.join("out-file")).unwrap(), "x");
    assert_eq!(tree(&dir.join("generated")), before);
}

#[cfg(unix)]
#[test]
fn a_read_only_parent_keeps_the_previous_tree() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = setup("minimal");
    let dir = tmp.path();
    assert!(stackc(&["build"], dir).status.success());
    let before = tree(&dir.join("generated"));
    let text = std::fs::read_to_string(dir.join("stack.toml")).unwrap();
    std::fs::write(
        dir.join("stack.toml"),
        text.replace("nginx:1.27", "nginx:1.28"),
    )
    .unwrap();
    // Root ignores permission bits, so as root the build runs as `nobody`, for whom the
    // directory (root's, 0755) is just as read-only.
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let mode = if root { 0o755 } else { 0o555 };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
    let out = if root {
        Command::new("runuser")
            .args(["-u", "nobody", "--", env!("CARGO_BIN_EXE_stackc"), "build"])
            .current_dir(dir)
            .output()
            .expect("runuser (util-linux) runs the build unprivileged")
    } else {
        stackc(&["build"], dir)
    };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was written"));
    assert_eq!(tree(&dir.join("generated")), before);
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("stackc-"))
        .collect();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
}

/// The extension points: a compose.override.yaml, dashboards, rule files and file_sd
/// targets of the user's own survive every build untouched, `build --check` ignores them,
/// and the generated files wire them in (mounts, a second dashboard provider, rule_files
/// and a file_sd job) so the real promtool loads the user's rules.
#[test]
fn extension_files_survive_build_and_are_wired_in() {
    let tmp = setup("demo");
    let dir = tmp.path();
    assert!(stackc(&["build"], dir).status.success());
    let out = dir.join("generated");
    let own: [(&str, &str); 4] = [
        (
            "compose.override.yaml",
            "services:\n  dice-roller:\n    cap_add: [NET_ADMIN]\n",
        ),
        (
            "grafana/extra-dashboards/mine.json",
            "{\"uid\": \"mine\", \"title\": \"Mine\", \"panels\": [], \"schemaVersion\": 41}\n",
        ),
        (
            "prometheus/extra/rules/mine.yml",
            "groups:\n  - name: mine\n    rules:\n      - alert: AlwaysFiring\n        expr: vector(1)\n",
        ),
        (
            "prometheus/extra/targets/hosts.yml",
            "- targets: [\"db.internal:9187\"]\n  labels:\n    job: orders-postgres\n",
        ),
    ];
    for (path, text) in own {
        std::fs::write(out.join(path), text).unwrap();
    }
    // A real change to the stack, then a rebuild: the user's files are untouched.
    let stack = std::fs::read_to_string(dir.join("stack.toml")).unwrap();
    std::fs::write(
        dir.join("stack.toml"),
        stack.replace("retention = \"15d\"", "retention = \"20d\""),
    )
    .unwrap();
    let rebuilt = stackc(&["build"], dir);
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    for (path, text) in own {
        assert_eq!(
            std::fs::read_to_string(out.join(path)).unwrap(),
            text,
            "{path}"
        );
    }
    let check = stackc(&["build", "--check"], dir);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    // Wired in: mounts, the second provider, rule_files and the file_sd job.
    let compose = std::fs::read_to_string(out.join("compose.yaml")).unwrap();
    assert!(compose.contains("./grafana/extra-dashboards:/var/lib/grafana/extra-dashboards:ro"));
    assert!(compose.contains("./prometheus/extra:/etc/prometheus/extra:ro"));
    let providers =
        std::fs::read_to_string(out.join("grafana/provisioning/dashboards/dashboards.yaml"))
            .unwrap();
    assert!(
        providers.contains("path: \"/var/lib/grafana/extra-dashboards\""),
        "{providers}"
    );
    let prometheus = std::fs::read_to_string(out.join("prometheus/prometheus.yml")).unwrap();
    assert!(prometheus.contains("rule_files:\n  - \"extra/rules/*.yml\""));
    assert!(prometheus.contains("- \"extra/targets/*.yml\""));
    // The real promtool follows rule_files into the user's rule file.
    if Command::new("promtool").arg("--version").output().is_ok() {
        let dir = out.join("prometheus");
        std::fs::write(
            dir.join("checked.yml"),
            crate::support::without_file_retention(&prometheus),
        )
        .unwrap();
        let checked = Command::new("promtool")
            .current_dir(&dir)
            .args(["check", "config", "checked.yml"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&checked.stdout).to_string();
        assert!(checked.status.success(), "{text}");
        assert!(
            text.contains("extra/rules/mine.yml") && text.contains("1 rules found"),
            "{text}"
        );
    } else {
        assert!(
            std::env::var("STACKC_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "promtool is required (STACKC_REQUIRE_TOOLS=1)"
        );
    }
}

/// An app's relative bind mount and build context are written relative to the output
/// directory (`./` or `../` first, so compose never reads one as a volume name); named
/// volumes are declared once at the top; health-gated dependencies wait for health.
#[test]
fn app_runtime_keys_reach_compose() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("apps/api")).unwrap();
    std::fs::write(dir.join("apps/api/Dockerfile"), "FROM node:22\n").unwrap();
    std::fs::write(
        dir.join("stack.toml"),
        r#"
[apps.api]
build = { context = "apps/api", target = "runtime" }
volumes = ["./config:/etc/api:ro", "api-cache:/cache", "/var/log/api:/logs"]
depends_on = ["db", "cache"]
command = ["node", "server.js"]
resources = { memory = "512m", cpus = 0.5 }

[apps.db]
image = "postgres:17"
metrics = false
volumes = ["api-cache:/shared"]
healthcheck = { cmd = ["pg_isready"] }

[apps.cache]
image = "redis:7"
metrics = false
"#,
    )
    .unwrap();
    let built = stackc(&["build"], dir);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let compose: serde_json::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(dir.join("generated/compose.yaml")).unwrap(),
    )
    .unwrap();
    let api = &compose["services"]["api"];
    assert_eq!(api["build"]["context"], "../apps/api");
    assert_eq!(api["build"]["target"], "runtime");
    assert_eq!(
        api["volumes"],
        serde_json::json!([
            "../config:/etc/api:ro",
            "api-cache:/cache",
            "/var/log/api:/logs"
        ])
    );
    assert_eq!(api["depends_on"]["db"]["condition"], "service_healthy");
    assert_eq!(api["depends_on"]["cache"]["condition"], "service_started");
    assert_eq!(api["command"], serde_json::json!(["node", "server.js"]));
    assert_eq!(api["deploy"]["resources"]["limits"]["memory"], "512m");
    assert_eq!(api["deploy"]["resources"]["limits"]["cpus"], "0.5");
    assert_eq!(
        compose["services"]["db"]["healthcheck"]["test"],
        serde_json::json!(["CMD", "pg_isready"])
    );
    // Declared once, though two apps use it.
    let volumes = compose["volumes"].as_object().unwrap();
    assert!(volumes.contains_key("api-cache"));
    assert_eq!(volumes.keys().filter(|k| *k == "api-cache").count(), 1);
}
