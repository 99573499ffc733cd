//! Secrets (issue 9 §4): no secret value ever reaches a generated file or stackc's output.
//!
//! Canary values are planted in the environment of every command for every secret
//! variable stackc knows (`wiring::secret`, each golden `.env.example`, each app's
//! `secrets`, and their `_FILE` forms) and in a `.env` left in the output directory, where
//! compose reads it; no generated file, diff or message may contain one, and the `.env`
//! stays as it was. Every secret is a required `${VAR:?…}` reference in `compose.yaml`,
//! listed (empty) in `.env.example`, and nothing else is interpolated; Grafana's provisioning
//! names its password by variable only, the scraper's settings name the variable, not the
//! value; Grafana's admin password comes from the environment and anonymous access is off.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use stackc::wiring::secret;

use crate::golden::tree;
use crate::support::{examples, repo};

/// The marker every canary value carries.
const CANARY: &str = "c4n4ry";

/// Every variable that holds a secret somewhere in a stackc stack.
fn secret_names() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = [
        secret::GRAFANA_ADMIN_PASSWORD,
        secret::POSTGRES_PASSWORD,
        secret::SCRAPER_DB_PASSWORD,
        secret::READER_DB_PASSWORD,
        // what the images read them as, and libpq's own
        "GF_SECURITY_ADMIN_PASSWORD",
        "PGPASSWORD",
        "DATABASE_URL",
    ]
    .map(str::to_owned)
    .into();
    for entry in std::fs::read_dir(repo().join("golden")).unwrap() {
        let path = entry.unwrap().path().join(".env.example");
        if let Ok(text) = std::fs::read_to_string(path) {
            names.extend(env_example_names(&text));
        }
    }
    names.extend(app_secrets());
    let files: Vec<String> = names.iter().map(|n| format!("{n}_FILE")).collect();
    names.extend(files);
    names
}

/// Every app's `secrets` in the examples.
fn app_secrets() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for dir in examples() {
        let stack: toml::Table =
            toml::from_str(&std::fs::read_to_string(dir.join("stack.toml")).unwrap()).unwrap();
        for app in stack
            .get("apps")
            .and_then(|a| a.as_table())
            .into_iter()
            .flat_map(|t| t.values())
        {
            // A list names host variables; a table maps container names to them.
            let secrets = app.get("secrets");
            for secret in secrets
                .and_then(|s| s.as_array())
                .into_iter()
                .flatten()
                .chain(
                    secrets
                        .and_then(|s| s.as_table())
                        .into_iter()
                        .flat_map(|t| t.values()),
                )
            {
                names.insert(secret.as_str().unwrap().to_owned());
            }
        }
    }
    names
}

/// The variable names of a `.env.example`, asserting each is listed empty.
fn env_example_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, value) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not NAME=: {l:?}"));
            assert_eq!(value, "", ".env.example gives `{name}` a value");
            name.to_owned()
        })
        .collect()
}

fn canaries() -> BTreeMap<String, String> {
    secret_names()
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let value = format!("{CANARY}{i}x{}", name.to_ascii_lowercase());
            (name, value)
        })
        .collect()
}

/// Files (by path) in which a canary appears.
fn leaks(files: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    files
        .iter()
        .filter(|(_, bytes)| String::from_utf8_lossy(bytes).contains(CANARY))
        .map(|(path, _)| path.clone())
        .collect()
}

fn stackc_with_canaries(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stackc"))
        .args(args)
        .current_dir(cwd)
        .envs(canaries())
        .output()
        .unwrap()
}

fn assert_quiet(output: &Output, what: &str) {
    for (stream, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        assert!(
            !String::from_utf8_lossy(bytes).contains(CANARY),
            "{what}: a secret reached {stream}"
        );
    }
}

#[test]
fn no_secret_in_the_environment_reaches_a_generated_file() {
    let names = secret_names();
    let own = [
        secret::GRAFANA_ADMIN_PASSWORD,
        secret::POSTGRES_PASSWORD,
        secret::SCRAPER_DB_PASSWORD,
        secret::READER_DB_PASSWORD,
    ];
    assert!(own.iter().all(|n| names.contains(*n)));
    let apps = app_secrets();
    assert!(!apps.is_empty(), "the examples have no app secret to plant");
    assert!(apps.is_subset(&names));
    for case in examples() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        crate::golden::copy_dir(&case, dir);
        for args in [
            &["check"][..],
            &["graph"],
            &["build", "--check"],
            &["build"],
            &["diff"],
        ] {
            let output = stackc_with_canaries(args, dir);
            assert_quiet(&output, &format!("{}: stackc {args:?}", case.display()));
        }
        let files = tree(&dir.join("generated"));
        assert!(files.contains_key("compose.yaml"));
        assert!(
            leaks(&files).is_empty(),
            "{}: {:?}",
            case.display(),
            leaks(&files)
        );
    }
}

#[test]
fn a_dot_env_beside_the_compose_file_is_kept_and_never_copied() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let stack =
        "[apps.web]\nimage = \"nginx:1.27\"\nsecrets = [\"WEB_TOKEN\"]\nenv = { MODE = \"a\" }\n";
    std::fs::write(dir.join("stack.toml"), stack).unwrap();
    assert!(stackc_with_canaries(&["build"], dir).status.success());
    // The user fills in .env next to compose.yaml, where compose reads it.
    let env: String = canaries()
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    std::fs::write(dir.join("generated/.env"), &env).unwrap();
    // Its canaries are found when they are there: the check below can fail.
    assert_eq!(
        leaks(&tree(&dir.join("generated"))),
        vec![".env".to_owned()]
    );

    // Drift, a diff and a rebuild, with the secrets in the environment as well.
    std::fs::write(dir.join("stack.toml"), stack.replace("\"a\"", "\"b\"")).unwrap();
    for args in [&["build", "--check"][..], &["diff"], &["build"]] {
        let output = stackc_with_canaries(args, dir);
        assert_quiet(&output, &format!("stackc {args:?}"));
    }
    let files = tree(&dir.join("generated"));
    assert_eq!(files[".env"], env.as_bytes(), ".env changed");
    assert!(
        String::from_utf8_lossy(&files["compose.yaml"]).contains("MODE: \"b\""),
        "the rebuild did not happen"
    );
    assert_eq!(leaks(&files), vec![".env".to_owned()]);
    let manifest = String::from_utf8_lossy(&files[".stackc-manifest"]).into_owned();
    assert!(!manifest.lines().any(|l| l == ".env"), "{manifest}");
}

/// Every interpolation in a compose (or Grafana provisioning) string: `(name, operator)`,
/// e.g. `("X", ":?")` for `${X:?msg}`, `("X", "")` for `$X` or `${X}`; `$$` is a literal.
fn references(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            rest = tail;
            continue;
        }
        if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').unwrap_or(body.len());
            let inner = &body[..end];
            let name_end = inner
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(inner.len());
            let op: String = inner[name_end..].chars().take(2).collect();
            out.push((inner[..name_end].to_owned(), op));
            rest = &body[end.min(body.len())..];
        } else {
            let name_end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            out.push((after[..name_end].to_owned(), String::new()));
            rest = &after[name_end..];
        }
    }
    out
}

fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            out.push(k.clone());
            strings(v, out);
        }),
        _ => {}
    }
}

#[test]
fn every_secret_is_required_and_listed_in_env_example() {
    assert_eq!(
        references("a $$HOME ${A:?m} $B ${C} ${D:-x} $${E}"),
        [("A", ":?"), ("B", ""), ("C", ""), ("D", ":-")]
            .map(|(n, o)| (n.to_owned(), o.to_owned()))
            .to_vec()
    );
    for case in examples() {
        let (_tmp, out) = crate::golden::build_example(&case);
        let read = |path: &str| std::fs::read_to_string(out.join(path)).unwrap();
        let compose: Value = serde_yaml_ng::from_str(&read("compose.yaml")).unwrap();
        let mut texts = Vec::new();
        strings(&compose, &mut texts);
        let mut required = BTreeSet::new();
        for text in &texts {
            for (name, op) in references(text) {
                // Only `${VAR:?…}`: compose refuses to start while a secret is unset,
                // instead of starting with an empty password or a default.
                assert_eq!(
                    op,
                    ":?",
                    "{}: `{text}` interpolates `{name}`",
                    case.display()
                );
                required.insert(name);
            }
        }
        // Alertmanager's secrets are compose secrets from `.env` variables (files under
        // /run/secrets/): compose refuses to start while one is unset ("environment
        // variable %q required by file %q is not set").
        for (name, definition) in compose["secrets"].as_object().into_iter().flatten() {
            assert_eq!(
                definition.as_object().unwrap().len(),
                1,
                "{name}: only `environment`"
            );
            let variable = definition["environment"].as_str().unwrap();
            assert_eq!(variable, name, "{}", case.display());
            required.insert(variable.to_owned());
        }
        let listed = env_example_names(&read(".env.example"));
        assert_eq!(required, listed, "{}", case.display());

        // Whatever the stack reads a password from, it is one of those references.
        let stack: toml::Table = toml::from_str(&read("../stack.toml")).unwrap();
        let usage = stack
            .get("usage")
            .and_then(|u| u.get("enabled"))
            .and_then(toml::Value::as_bool)
            .unwrap_or(true);
        let external_db = stack
            .get("components")
            .and_then(|c| c.get("postgres"))
            .is_some_and(toml::Value::is_table);
        let mut expected = vec![secret::GRAFANA_ADMIN_PASSWORD];
        if usage {
            expected.extend([secret::SCRAPER_DB_PASSWORD, secret::READER_DB_PASSWORD]);
        }
        if usage && !external_db {
            expected.push(secret::POSTGRES_PASSWORD);
        }
        for name in expected {
            assert!(required.contains(name), "{}: {name}", case.display());
        }
        for (service, definition) in compose["services"].as_object().unwrap() {
            for (key, value) in definition["environment"].as_object().into_iter().flatten() {
                let secretish = ["PASSWORD", "SECRET", "TOKEN", "_KEY"]
                    .iter()
                    .any(|w| key.contains(w));
                if secretish {
                    let value = value.as_str().unwrap();
                    assert!(
                        value.starts_with("${") && value.contains(":?"),
                        "{}: {service}.{key} = {value}",
                        case.display()
                    );
                }
            }
        }

        // Grafana reads the reader's password from its own environment, by name.
        let grafana_env = &compose["services"]["grafana"]["environment"];
        for (path, text) in tree(&out.join("grafana/provisioning")) {
            let value: Value = serde_yaml_ng::from_slice(&text).unwrap();
            let mut texts = Vec::new();
            strings(&value, &mut texts);
            for (name, _) in texts.iter().flat_map(|t| references(t)) {
                assert!(
                    grafana_env.get(&name).is_some(),
                    "{}: grafana/provisioning/{path} reads `{name}`, which compose does not pass",
                    case.display()
                );
            }
            assert_no_literal_password(&value, &format!("grafana/provisioning/{path}"));
        }

        // The scraper is told the variable's name, never a value.
        if usage {
            let scraper: toml::Table = toml::from_str(&read("usage-scraper/scraper.toml")).unwrap();
            let postgres = scraper["postgres"].as_table().unwrap();
            assert!(postgres.get("password").is_none(), "{}", case.display());
            let var = postgres["password_env"].as_str().unwrap();
            let passed = compose["services"]["usage-scraper"]["environment"][var]
                .as_str()
                .unwrap_or_else(|| panic!("{}: compose does not pass {var}", case.display()));
            assert!(passed.starts_with(&format!("${{{var}:?")), "{passed}");
        }
    }
}

/// Every `password`-like key holds a `${VAR}` reference, never a value.
fn assert_no_literal_password(value: &Value, file: &str) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let lower = key.to_ascii_lowercase();
                let secretish =
                    lower.contains("password") || lower.contains("secret") || lower == "token";
                if let Some(text) = v.as_str().filter(|_| secretish) {
                    let refs = references(text);
                    assert!(
                        !refs.is_empty() && text.starts_with('$') && text.ends_with('}'),
                        "{file}: `{key}` holds a literal"
                    );
                }
                assert_no_literal_password(v, file);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|v| assert_no_literal_password(v, file)),
        _ => {}
    }
}

#[test]
fn grafana_asks_for_a_login_with_a_password_from_the_environment() {
    for case in examples() {
        let (_tmp, out) = crate::golden::build_example(&case);
        let compose: Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(out.join("compose.yaml")).unwrap())
                .unwrap();
        let env = compose["services"]["grafana"]["environment"]
            .as_object()
            .unwrap();
        let get = |key: &str| env.get(key).and_then(Value::as_str);
        assert_eq!(
            get("GF_SECURITY_ADMIN_PASSWORD"),
            Some(stackc::targets::compose::required_env(secret::GRAFANA_ADMIN_PASSWORD).as_str()),
            "{}",
            case.display()
        );
        assert_eq!(get("GF_AUTH_ANONYMOUS_ENABLED"), Some("false"));
        assert_eq!(get("GF_AUTH_DISABLE_LOGIN_FORM"), Some("false"));
        assert_eq!(get("GF_USERS_ALLOW_SIGN_UP"), Some("false"));
        // Nothing that would open another way in.
        for key in env.keys() {
            assert!(
                !(key.starts_with("GF_AUTH_ANONYMOUS_") && key != "GF_AUTH_ANONYMOUS_ENABLED")
                    && key != "GF_AUTH_PROXY_ENABLED"
                    && key != "GF_AUTH_DISABLE_SIGNOUT_MENU"
                    && key != "GF_SECURITY_ALLOW_EMBEDDING"
                    && key != "GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION",
                "{}: grafana sets `{key}`",
                case.display()
            );
        }
        // No ini file that could override the environment's settings.
        let files = tree(&out);
        assert!(
            !files.keys().any(|p| p.ends_with(".ini")),
            "{}: {:?}",
            case.display(),
            files
                .keys()
                .filter(|p| p.ends_with(".ini"))
                .collect::<Vec<_>>()
        );
    }
}

/// A secret can be mapped to a host variable of its own, a secret two apps read is listed
/// once with both, and the tree keeps `.env` out of git with a `.gitignore` stackc owns.
#[test]
fn mapped_and_shared_secrets_and_the_gitignore() {
    let source = stackc::diagnostic::SourceFile {
        name: "stack.toml".into(),
        text: r#"
[apps.orders]
image = "ghcr.io/acme/orders:3"
secrets = ["STRIPE_KEY"]

[apps.billing]
image = "ghcr.io/acme/billing:1"
secrets = ["STRIPE_KEY"]

[apps.orders-db]
image = "postgres:17"
metrics = false
secrets = { POSTGRES_PASSWORD = "ORDERS_DB_PASSWORD" }
"#
        .into(),
    };
    let checked = stackc::validate::check(&source);
    assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
    let files: BTreeMap<String, String> =
        stackc::targets::render(&checked.stack.unwrap(), &Default::default())
            .unwrap()
            .into_iter()
            .map(|f| (f.path, f.contents))
            .collect();
    let compose: Value = serde_yaml_ng::from_str(&files["compose.yaml"]).unwrap();
    let db_env = &compose["services"]["orders-db"]["environment"];
    assert_eq!(
        db_env["POSTGRES_PASSWORD"],
        "${ORDERS_DB_PASSWORD:?set ORDERS_DB_PASSWORD in .env (see .env.example)}"
    );
    let example = &files[".env.example"];
    assert_eq!(example.matches("\nSTRIPE_KEY=").count(), 1, "{example}");
    assert!(example.contains("# read by app `billing`, app `orders`\nSTRIPE_KEY=\n"));
    assert!(
        example
            .contains("# read by app `orders-db` (as `POSTGRES_PASSWORD`)\nORDERS_DB_PASSWORD=\n")
    );
    // The stack's own POSTGRES_PASSWORD is listed once, for the stack.
    assert_eq!(example.matches("\nPOSTGRES_PASSWORD=").count(), 1);
    assert_eq!(files[".gitignore"].lines().last(), Some(".env"));
    let manifest = stackc::emit::with_manifest(
        stackc::targets::render(
            &stackc::validate::check(&source).stack.unwrap(),
            &Default::default(),
        )
        .unwrap(),
    );
    let listed = &manifest
        .iter()
        .find(|f| f.path == ".stackc-manifest")
        .unwrap()
        .contents;
    assert!(listed.lines().any(|l| l == ".gitignore"), "{listed}");
}
