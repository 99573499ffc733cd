//! Property tests over *valid* stacks: arbitrary app names (within the validator's rules),
//! ports, binds, images, build paths and env values (unicode, quotes, `$`, `#`,
//! backslashes, newlines, YAML look-alikes, characters YAML cannot hold raw, very long
//! strings). Every generated stack checks without errors and renders; every YAML, JSON and
//! TOML output parses; `compose.yaml` validates against the compose schema; each env
//! value, image and build path reaches compose exactly (after compose's `$$` → `$`); each
//! published port binds to `[stack].bind`; each secret is a `${VAR:?…}` reference listed
//! in `.env.example`.
//!
//! Cases: 96 by default, `PROPTEST_CASES` overrides.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use proptest::prelude::*;
use stackc::diagnostic::SourceFile;
use stackc::model::{PortKey, sanitize_ident};

use crate::properties::cases;
use crate::support::repo;

/// Characters that break naive quoting in some file type, or that YAML only accepts
/// escaped (C0/C1 controls, DEL, NEL, line and paragraph separators, BOM, non-characters).
const SPECIALS: &[char] = &[
    '"',
    '\'',
    '$',
    '#',
    '\\',
    '\n',
    '\r',
    '\t',
    '{',
    '}',
    '%',
    ':',
    '-',
    '?',
    '*',
    '&',
    '!',
    '|',
    '>',
    '@',
    '`',
    ' ',
    ',',
    '[',
    ']',
    '\u{1}',
    '\u{1b}',
    '\u{7f}',
    '\u{80}',
    '\u{85}',
    '\u{9f}',
    '\u{a0}',
    '\u{2028}',
    '\u{2029}',
    '\u{feff}',
    '\u{fffe}',
    '\u{ffff}',
    'é',
    '日',
    '🚀',
    '\u{10ffff}',
    '\u{e000}',
    '\u{d7ff}',
];

/// Whole values that YAML, TOML or compose interpolation could read as something else.
const LOOKALIKES: &[&str] = &[
    "",
    " ",
    "yes",
    "no",
    "on",
    "null",
    "~",
    "true",
    "1e3",
    "0x1F",
    "012",
    ".inf",
    "- a",
    "---",
    "...",
    "&a *a",
    "!!str x",
    "$",
    "$$",
    "${X}",
    "$${X}",
    "${X:-default}",
    "${X:?required}",
    "$X",
    "{{ x }}",
    "{% if %}",
    "<<: *a",
    "# comment",
    "key: value",
    "a\\",
    "\\u0041",
    "\"",
    "'",
];

fn env_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>().prop_map(|c| if c == '\0' { '0' } else { c }),
        2 => prop::sample::select(SPECIALS),
        2 => prop::char::range('a', 'z'),
    ]
}

fn env_value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec(env_char(), 0..40).prop_map(|v| v.into_iter().collect()),
        2 => prop::sample::select(LOOKALIKES).prop_map(str::to_owned),
        1 => (prop::collection::vec(env_char(), 1..8), 500usize..3000)
            .prop_map(|(piece, n)| piece.into_iter().collect::<String>().repeat(n)),
    ]
}

/// One app as written in stack.toml.
#[derive(Clone, Debug)]
struct AppSpec {
    name: String,
    image: Option<String>,
    build: Option<String>,
    port: u16,
    publish: Option<u16>,
    metrics: bool,
    metrics_path: Option<String>,
    scrape_interval: Option<&'static str>,
    traces: bool,
    env: BTreeMap<String, String>,
    secrets: Vec<String>,
}

#[derive(Clone, Debug)]
struct StackSpec {
    name: Option<String>,
    bind: Option<&'static str>,
    usage: bool,
    ports: BTreeMap<&'static str, Option<u16>>,
    apps: Vec<AppSpec>,
    /// `[components]`: node-exporter, cAdvisor, and an external database's host.
    node_exporter: bool,
    cadvisor: bool,
    external_db: Option<String>,
}

const RESERVED: [&str; 9] = [
    "alloy",
    "prometheus",
    "loki",
    "tempo",
    "grafana",
    "postgres",
    "node-exporter",
    "cadvisor",
    "usage-scraper",
];

fn app() -> impl Strategy<Value = AppSpec> {
    let source = prop_oneof![
        "[a-z0-9./:@_$-]{1,40}".prop_map(|i| (Some(i), None)),
        "[a-zA-Z0-9 ._$#'-]{1,12}(/[a-zA-Z0-9 ._-]{1,12}){0,2}/?".prop_map(|b| (None, Some(b))),
    ];
    (
        "[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}",
        source,
        1u16..=65535,
        prop::option::of(20000u16..30000),
        any::<bool>(),
        prop::option::of("/[a-zA-Z0-9/_.:~-]{0,20}"),
        prop::option::of(prop::sample::select(&["1s", "5s", "30s", "1m", "1h"][..])),
        any::<bool>(),
        prop::collection::btree_map("[A-Za-z_][A-Za-z0-9_]{0,30}", env_value(), 0..8),
        prop::collection::btree_set("[A-Z_][A-Z0-9_]{0,20}", 0..3),
    )
        .prop_map(
            |(
                name,
                (image, build),
                port,
                publish,
                metrics,
                metrics_path,
                scrape_interval,
                traces,
                env,
                secrets,
            )| {
                // A secret and a literal of the same name is an error: the secret wins here.
                let mut env = env;
                for secret in &secrets {
                    env.remove(secret);
                }
                AppSpec {
                    name,
                    image,
                    build,
                    port,
                    publish,
                    metrics,
                    metrics_path: metrics_path.filter(|_| metrics),
                    scrape_interval: scrape_interval.filter(|_| metrics),
                    traces,
                    env,
                    secrets: secrets.into_iter().collect(),
                }
            },
        )
}

fn stack() -> impl Strategy<Value = StackSpec> {
    let port_keys: Vec<&'static str> = PortKey::ALL.iter().map(|k| k.key()).collect();
    (
        prop::option::of("[a-z0-9][a-z0-9_-]{0,29}"),
        prop::option::of(prop::sample::select(
            &["127.0.0.1", "0.0.0.0", "10.1.2.3", "::1", "::"][..],
        )),
        any::<bool>(),
        prop::collection::vec(prop::option::of(prop::option::of(30000u16..40000)), 10),
        prop::collection::vec(app(), 1..6),
        (
            any::<bool>(),
            any::<bool>(),
            prop::option::of(prop_oneof![
                "[a-z][a-z0-9-]{0,20}(\\.[a-z][a-z0-9-]{0,10}){0,3}",
                Just("10.0.0.7".to_owned()),
                Just("::1".to_owned()),
            ]),
        ),
    )
        .prop_map(move |(name, bind, usage, port_choices, apps, components)| {
            let (node_exporter, cadvisor, external_db) = components;
            // Distinct names after sanitising, none reserved, distinct host ports.
            let mut idents = BTreeSet::new();
            let mut published = BTreeSet::new();
            let apps = apps
                .into_iter()
                .filter(|a| !RESERVED.contains(&a.name.as_str()))
                .filter(|a| idents.insert(sanitize_ident(&a.name)))
                .map(|mut a| {
                    a.publish = a.publish.filter(|p| published.insert(*p));
                    a
                })
                .collect();
            let mut ports = BTreeMap::new();
            let mut taken = BTreeSet::new();
            for (key, choice) in port_keys.iter().zip(port_choices) {
                match choice {
                    // unset: the default port
                    None => {}
                    Some(None) => {
                        ports.insert(*key, None);
                    }
                    Some(Some(port)) if taken.insert(port) => {
                        ports.insert(*key, Some(port));
                    }
                    Some(Some(_)) => {}
                }
            }
            // A port of a service the stack does not run only warns: leave those unset.
            let runs = |key: &str| match key {
                "node_exporter" => node_exporter,
                "cadvisor" => cadvisor,
                "postgres" => usage && external_db.is_none(),
                _ => true,
            };
            ports.retain(|key, _| runs(key));
            // With usage off, `[components.postgres]` only warns: keep it to usage on.
            let external_db = external_db.filter(|_| usage);
            StackSpec {
                name,
                bind,
                usage,
                ports,
                apps,
                node_exporter,
                cadvisor,
                external_db,
            }
        })
}

/// The stack as TOML, written by the `toml` serializer (which escapes as TOML needs).
fn to_toml(spec: &StackSpec) -> String {
    use toml::{Table, Value};
    let mut doc = Table::new();
    let mut section = Table::new();
    if let Some(name) = &spec.name {
        section.insert("name".into(), name.clone().into());
    }
    if let Some(bind) = spec.bind {
        section.insert("bind".into(), bind.into());
    }
    doc.insert("stack".into(), Value::Table(section));
    let mut usage = Table::new();
    usage.insert("enabled".into(), spec.usage.into());
    doc.insert("usage".into(), Value::Table(usage));
    let mut ports = Table::new();
    for (key, port) in &spec.ports {
        let value = match port {
            Some(p) => Value::Integer(i64::from(*p)),
            None => Value::Boolean(false),
        };
        ports.insert((*key).into(), value);
    }
    doc.insert("ports".into(), Value::Table(ports));
    let mut components = Table::new();
    components.insert("node_exporter".into(), spec.node_exporter.into());
    components.insert("cadvisor".into(), spec.cadvisor.into());
    if let Some(host) = &spec.external_db {
        let mut db = Table::new();
        db.insert("host".into(), host.clone().into());
        db.insert("sslmode".into(), "require".into());
        components.insert("postgres".into(), Value::Table(db));
    }
    doc.insert("components".into(), Value::Table(components));
    let mut apps = Table::new();
    for app in &spec.apps {
        let mut t = Table::new();
        if let Some(image) = &app.image {
            t.insert("image".into(), image.clone().into());
        }
        if let Some(build) = &app.build {
            t.insert("build".into(), build.clone().into());
        }
        t.insert("port".into(), i64::from(app.port).into());
        if let Some(publish) = app.publish {
            t.insert("publish".into(), i64::from(publish).into());
        }
        t.insert("metrics".into(), app.metrics.into());
        if let Some(path) = &app.metrics_path {
            t.insert("metrics_path".into(), path.clone().into());
        }
        if let Some(interval) = app.scrape_interval {
            t.insert("scrape_interval".into(), interval.into());
        }
        t.insert("traces".into(), app.traces.into());
        let env: Table = app
            .env
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        t.insert("env".into(), Value::Table(env));
        let secrets: Vec<Value> = app.secrets.iter().map(|s| s.clone().into()).collect();
        t.insert("secrets".into(), Value::Array(secrets));
        apps.insert(app.name.clone(), Value::Table(t));
    }
    doc.insert("apps".into(), Value::Table(apps));
    toml::to_string(&doc).expect("the toml serializer writes any table")
}

/// Compose's interpolation applied to a value stackc wrote: `$$` is `$`, and a lone `$`
/// (which compose would expand) is a failure.
fn compose_unescape(written: &str) -> Result<String, String> {
    let mut out = String::with_capacity(written.len());
    let mut chars = written.chars();
    while let Some(c) = chars.next() {
        if c == '$' {
            match chars.next() {
                Some('$') => out.push('$'),
                _ => return Err(format!("a lone `$` compose would expand in {written:?}")),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn compose_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo().join("tests/data/compose-spec.json")).unwrap(),
        )
        .unwrap();
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .build(&schema)
            .unwrap()
    })
}

/// Checks and renders the stack in process (what `stackc build` writes, without the disk).
fn render(text: &str) -> BTreeMap<String, String> {
    let source = SourceFile {
        name: "stack.toml".into(),
        text: text.to_owned(),
    };
    let checked = stackc::validate::check(&source);
    assert!(
        !checked.has_errors(),
        "a valid stack was refused:\n{}\n{text}",
        source.render(&checked.diagnostics)
    );
    let stack = checked.stack.expect("no errors, so a stack");
    let files = stackc::targets::render(&stack, &stackc::targets::Options::default())
        .expect("a valid stack renders");
    stackc::emit::with_manifest(files)
        .into_iter()
        .map(|f| (f.path, f.contents))
        .collect()
}

fn assert_outputs(spec: &StackSpec, files: &BTreeMap<String, String>) {
    for (path, text) in files {
        if path.ends_with(".yaml") || path.ends_with(".yml") {
            if let Err(e) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) {
                panic!("{path} does not parse as YAML: {e}");
            }
        } else if path.ends_with(".json") {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
                panic!("{path} does not parse as JSON: {e}");
            }
        } else if path.ends_with(".toml")
            && let Err(e) = toml::from_str::<toml::Table>(text)
        {
            panic!("{path} does not parse as TOML: {e}");
        }
    }

    let compose: serde_json::Value = serde_yaml_ng::from_str(&files["compose.yaml"]).unwrap();
    let errors: Vec<String> = compose_validator()
        .iter_errors(&compose)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "compose schema: {errors:#?}");

    // Every published port binds to [stack].bind.
    let bind = spec.bind.unwrap_or("127.0.0.1");
    let services = compose["services"].as_object().unwrap();
    for (name, service) in services {
        for port in service["ports"].as_array().into_iter().flatten() {
            assert_eq!(port["host_ip"], bind, "{name}: {port}");
        }
    }
    // The stack's own published ports are exactly those [ports] asks for.
    let published: BTreeSet<String> = services
        .values()
        .flat_map(|s| s["ports"].as_array().cloned().unwrap_or_default())
        .map(|p| p["published"].as_str().unwrap().to_owned())
        .collect();
    for key in PortKey::ALL {
        let runs = match key {
            PortKey::Postgres => spec.usage && spec.external_db.is_none(),
            PortKey::NodeExporter => spec.node_exporter,
            PortKey::Cadvisor => spec.cadvisor,
            _ => true,
        };
        if !runs {
            // Not run, not published, not even present.
            assert!(services.get(key.service()).is_none(), "{key:?}");
            continue;
        }
        let unspecified = bind
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified());
        let on_host =
            key == PortKey::NodeExporter && unspecified && spec.ports.get(key.key()) != Some(&None);
        if on_host {
            // node-exporter shares the host's network: it listens on bind:port itself.
            let port = spec
                .ports
                .get(key.key())
                .copied()
                .flatten()
                .unwrap_or(key.default_port());
            let service = &services["node-exporter"];
            assert_eq!(service["network_mode"], "host");
            assert!(service["ports"].is_null());
            assert!(
                service["command"]
                    .as_array()
                    .unwrap()
                    .contains(&serde_json::Value::from(if bind.contains(':') {
                        format!("--web.listen-address=[{bind}]:{port}")
                    } else {
                        format!("--web.listen-address={bind}:{port}")
                    })),
                "{service}"
            );
            continue;
        }
        match spec.ports.get(key.key()) {
            Some(Some(port)) => assert!(published.contains(&port.to_string()), "{key:?}"),
            None => assert!(
                published.contains(&key.default_port().to_string()),
                "{key:?}"
            ),
            Some(None) => {}
        }
    }

    // An external database: the scraper and Grafana both point at it, compose runs none.
    if let Some(host) = &spec.external_db {
        let scraper: toml::Table = toml::from_str(&files["usage-scraper/scraper.toml"]).unwrap();
        assert_eq!(scraper["postgres"]["host"].as_str(), Some(host.as_str()));
        assert_eq!(scraper["postgres"]["sslmode"].as_str(), Some("require"));
        let datasources: serde_json::Value =
            serde_yaml_ng::from_str(&files["grafana/provisioning/datasources/datasources.yaml"])
                .unwrap();
        let postgres = datasources["datasources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["uid"] == "postgres")
            .expect("a PostgreSQL datasource");
        let url = if host.contains(':') {
            format!("[{host}]:5432")
        } else {
            format!("{host}:5432")
        };
        assert_eq!(postgres["url"], url.as_str());
        assert!(services.get("postgres").is_none());
    }

    let env_example = &files[".env.example"];
    for app in &spec.apps {
        let service = &compose["services"][&app.name];
        assert!(service.is_object(), "service `{}` missing", app.name);
        for (key, value) in &app.env {
            let written = service["environment"][key]
                .as_str()
                .unwrap_or_else(|| panic!("{}.{key} missing", app.name));
            assert_eq!(
                &compose_unescape(written).unwrap(),
                value,
                "{}.{key}",
                app.name
            );
        }
        for secret in &app.secrets {
            let written = service["environment"][secret].as_str().unwrap();
            assert!(
                written.starts_with(&format!("${{{secret}:?")),
                "{}.{secret}: {written}",
                app.name
            );
            assert!(
                env_example.lines().any(|l| l == format!("{secret}=")),
                "{secret} not in .env.example"
            );
        }
        if let Some(image) = &app.image {
            let written = service["image"].as_str().unwrap();
            assert_eq!(&compose_unescape(written).unwrap(), image);
        }
        if let Some(build) = &app.build {
            let written = service["build"]["context"].as_str().unwrap();
            let context = compose_unescape(written).unwrap();
            // `..` (stack.toml's directory, from `generated/`) then the path as written,
            // less its no-op `.` segments and trailing `/`.
            let expected: Vec<&str> = std::iter::once("..")
                .chain(build.split('/'))
                .filter(|s| !s.is_empty() && *s != ".")
                .collect();
            assert_eq!(context, expected.join("/"), "{}", app.name);
        }
        match app.publish {
            Some(host) => {
                let ports = service["ports"].as_array().unwrap();
                assert_eq!(ports.len(), 1);
                assert_eq!(ports[0]["published"], host.to_string());
                assert_eq!(ports[0]["target"], app.port);
            }
            None => assert!(service.get("ports").is_none(), "{}", app.name),
        }
    }

    // Every app with metrics is a Prometheus job scraping its path.
    let prometheus: serde_json::Value =
        serde_yaml_ng::from_str(&files["prometheus/prometheus.yml"]).unwrap();
    let jobs = prometheus["scrape_configs"].as_array().unwrap();
    for app in &spec.apps {
        let job = jobs
            .iter()
            .find(|j| j["static_configs"][0]["labels"]["compose_service"] == app.name.as_str());
        match (app.metrics, job) {
            (true, Some(job)) => {
                let path = app.metrics_path.as_deref().unwrap_or("/metrics");
                let written = job["metrics_path"].as_str().unwrap_or("/metrics");
                assert_eq!(written, path, "{}", app.name);
                assert_eq!(
                    job["static_configs"][0]["targets"][0],
                    format!("{}:{}", app.name, app.port)
                );
            }
            (false, None) => {}
            (metrics, job) => panic!("{}: metrics = {metrics}, job {job:?}", app.name),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(96)))]

    #[test]
    fn valid_stacks_build_and_read_back(spec in stack()) {
        let text = to_toml(&spec);
        let files = render(&text);
        assert_outputs(&spec, &files);
    }
}

#[test]
fn yaml_hostile_characters_round_trip() {
    // The characters a YAML parser refuses raw or folds (C1 controls, DEL, NEL, U+2028,
    // U+2029, BOM, non-characters) in one deterministic case, so that a regression does
    // not depend on the random draw.
    let value: String = SPECIALS.iter().collect();
    let spec = StackSpec {
        name: None,
        bind: None,
        usage: true,
        ports: BTreeMap::new(),
        node_exporter: true,
        cadvisor: true,
        external_db: None,
        apps: vec![AppSpec {
            name: "web".into(),
            image: Some("nginx:1.27".into()),
            build: None,
            port: 80,
            publish: Some(20080),
            metrics: true,
            metrics_path: None,
            scrape_interval: None,
            traces: true,
            env: BTreeMap::from([
                ("ALL".into(), value.clone()),
                ("LONG".into(), value.repeat(2000)),
            ]),
            secrets: vec!["WEB_TOKEN".into()],
        }],
    };
    let files = render(&to_toml(&spec));
    assert_outputs(&spec, &files);
}

#[test]
fn the_unescape_helper_refuses_a_lone_dollar() {
    // The round-trip check above can fail: compose would expand an unescaped `$`.
    assert!(compose_unescape("a$b").is_err());
    assert!(compose_unescape("a$").is_err());
    assert_eq!(compose_unescape("a$$b$$$$").unwrap(), "a$b$$");
}
