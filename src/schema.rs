//! Step 2a: the JSON Schema of `stack.toml`, generated from the `raw` types, and the
//! structural check that runs it over a parsed file: unknown keys (with "did you mean"),
//! wrong types, out-of-range numbers, malformed names. Each schema error becomes a
//! `Diagnostic` at the span its JSON pointer names.

use std::sync::OnceLock;

use serde_json::Value;

use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::load::{SpanMap, pointer_segment};
use crate::raw::StackFile;

/// The schema as pretty JSON with one trailing newline: what `stackc schema` prints and
/// `schema/stack.schema.json` holds.
pub fn schema_json() -> String {
    let mut text = serde_json::to_string_pretty(schema()).expect("a schema serializes");
    text.push('\n');
    text
}

/// The schema, generated once.
pub fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
        let mut value = generator.into_root_schema_for::<StackFile>().to_value();
        strip_null(&mut value);
        value
    })
}

/// TOML has no null: drop the `null` that schemars adds for `Option` fields, so the
/// schema says what a stack file may really hold.
fn strip_null(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            for key in ["anyOf", "oneOf"] {
                if let Some(Value::Array(alternatives)) = map.get_mut(key) {
                    alternatives.retain(|a| a.get("type").is_none_or(|t| t != "null"));
                    if alternatives.len() == 1 {
                        let only = alternatives.remove(0);
                        map.remove(key);
                        if let Value::Object(inner) = only {
                            for (k, v) in inner {
                                map.entry(k).or_insert(v);
                            }
                        }
                    }
                }
            }
            for child in map.values_mut() {
                strip_null(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_null),
        _ => {}
    }
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| jsonschema::validator_for(schema()).expect("the generated schema compiles"))
}

/// One value the schema refused: where it is, and what to tell the user.
#[derive(Debug)]
pub struct Problem {
    /// JSON pointer of the refused value (for an unknown key, of that key's value).
    pub pointer: String,
    pub diagnostic: Diagnostic,
}

/// Checks the document's shape; returns one problem per refused value, in source order.
pub fn check(json: &Value, spans: &SpanMap) -> Vec<Problem> {
    let mut out = Vec::new();
    for error in validator().iter_errors(json) {
        let pointer = error.instance_path().as_str().to_owned();
        out.extend(to_problems(json, spans, &pointer, error.kind()));
    }
    out.sort_by(|a, b| {
        (a.diagnostic.span.start, &a.diagnostic.message)
            .cmp(&(b.diagnostic.span.start, &b.diagnostic.message))
    });
    out.dedup_by(|a, b| a.pointer == b.pointer && a.diagnostic == b.diagnostic);
    out
}

fn to_problems(
    json: &Value,
    spans: &SpanMap,
    pointer: &str,
    kind: &jsonschema::error::ValidationErrorKind,
) -> Vec<Problem> {
    let at = |diagnostic: Diagnostic| Problem {
        pointer: pointer.to_owned(),
        diagnostic,
    };
    use jsonschema::error::ValidationErrorKind as K;
    let subschema = subschema_at(pointer);
    let place = describe_place(pointer);
    let found = spans.get(pointer).map_or("nothing", |n| n.kind);
    let value = value_at(json, pointer);
    if let (K::AnyOf { .. }, Some(Value::Object(_)), Some(schema)) = (kind, value, &subschema) {
        let problems = table_problems(json, spans, pointer, schema);
        if !problems.is_empty() {
            return problems;
        }
    }
    match kind {
        K::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|key| {
                let child = format!("{pointer}/{}", pointer_segment(key));
                let allowed = subschema
                    .as_ref()
                    .map(|s| table_alternative(s).unwrap_or(s))
                    .and_then(|s| s.get("properties"))
                    .and_then(Value::as_object)
                    .map(|p| p.keys().map(String::as_str).collect::<Vec<_>>())
                    .unwrap_or_default();
                let message = if pointer.is_empty() {
                    format!("unknown section `[{key}]`")
                } else {
                    format!("unknown key `{key}` in {place}")
                };
                let mut d = Diagnostic::error(spans.key_span(&child), message);
                let pointer = child.clone();
                let in_app = {
                    let segments: Vec<&str> = pointer.split('/').collect();
                    segments.len() == 4 && segments[1] == "apps"
                };
                d.help = did_you_mean(key, allowed.iter().copied())
                    .or_else(|| in_app.then(|| compose_key_help(key)).flatten())
                    .or_else(|| {
                        (!allowed.is_empty()).then(|| {
                            format!(
                                "{place} takes {}",
                                allowed
                                    .iter()
                                    .map(|k| format!("`{k}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        })
                    });
                Problem {
                    pointer,
                    diagnostic: d,
                }
            })
            .collect(),
        K::Type { .. } | K::AnyOf { .. } | K::OneOfNotValid { .. } | K::Constant { .. } => {
            let expected = subschema
                .as_ref()
                .map_or_else(|| "another type".to_owned(), describe);
            let found = found_text(found, value);
            let mut d = Diagnostic::error(
                spans.value_span(pointer),
                format!("{place} must be {expected}, found {found}"),
            );
            if found == "a datetime" {
                d.help = Some("quote it to make it a string".into());
            } else if expected.starts_with("a string")
                && matches!(value, Some(Value::Number(_) | Value::Bool(_)))
            {
                d.help = Some(string_help(pointer, subschema.as_ref()));
            }
            vec![at(d)]
        }
        K::Minimum { limit } | K::ExclusiveMinimum { limit } => vec![at(Diagnostic::error(
            spans.value_span(pointer),
            format!(
                "{place} must be at least {limit}, found {}",
                value.map_or(String::new(), Value::to_string)
            ),
        ))],
        K::Maximum { limit } | K::ExclusiveMaximum { limit } => vec![at(Diagnostic::error(
            spans.value_span(pointer),
            format!(
                "{place} must be at most {limit}, found {}",
                value.map_or(String::new(), Value::to_string)
            ),
        ))],
        K::Enum { options } => {
            let choices: Vec<String> = options
                .as_array()
                .map(|o| {
                    o.iter()
                        .map(|v| format!("`{}`", v.as_str().unwrap_or("?")))
                        .collect()
                })
                .unwrap_or_default();
            let mut d = Diagnostic::error(
                spans.value_span(pointer),
                format!(
                    "{place} must be one of {}, found {}",
                    choices.join(", "),
                    found_text(found, value)
                ),
            );
            if let Some(Value::String(text)) = value {
                let names: Vec<&str> = options
                    .as_array()
                    .map(|o| o.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                d.help = did_you_mean(text, names.iter().copied());
            }
            vec![at(d)]
        }
        // Durations, names and the like are checked again by `validate` with a message
        // that says what is wrong; a bare regex would help nobody.
        K::Pattern { .. } | K::MinLength { .. } | K::MaxLength { .. } => Vec::new(),
        other => vec![at(Diagnostic::error(
            spans.value_span(pointer),
            format!("{place} is invalid: {}", kind_text(other)),
        ))],
    }
}

fn kind_text(kind: &jsonschema::error::ValidationErrorKind) -> String {
    format!("{kind:?}").to_lowercase()
}

fn found_text(kind: &str, value: Option<&Value>) -> String {
    match (kind, value) {
        ("boolean", Some(Value::Bool(b))) => format!("`{b}`"),
        ("integer", Some(Value::Number(n))) => format!("`{n}`"),
        ("string", Some(Value::String(s))) if s.chars().count() <= 40 => {
            format!(
                "the string {}",
                serde_json::to_string(s).unwrap_or_default()
            )
        }
        ("array", _) => "an array".into(),
        ("integer", _) => "an integer".into(),
        (k, _) => format!("a {k}"),
    }
}

fn value_at<'v>(root: &'v Value, pointer: &str) -> Option<&'v Value> {
    root.pointer(pointer)
}

/// "`[metrics]`", "`scrape_interval` in `[metrics]`", "`port` of app `web`".
fn describe_place(pointer: &str) -> String {
    let segments: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    match segments.as_slice() {
        [] => "stack.toml".into(),
        [section] => format!("`[{section}]`"),
        [apps, name] if apps == "apps" => format!("`[apps.{name}]`"),
        [apps, name, key] if apps == "apps" => format!("`{key}` of app `{name}`"),
        [apps, name, key, rest @ ..] if apps == "apps" => {
            format!("`{key}.{}` of app `{name}`", rest.join("."))
        }
        [section, key] => format!("`{key}` in `[{section}]`"),
        [section, rest @ ..] => format!("`{}` in `[{section}]`", rest.join(".")),
    }
}

/// The schema that applies at an instance pointer, following `$ref`, `properties`,
/// `additionalProperties` and `items`.
fn subschema_at(pointer: &str) -> Option<Value> {
    let root = schema();
    let mut current = resolve(root, root)?;
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        // `true` or a table (`[components] postgres`, an app's `build`): a key is the table's.
        if let Some(table) = table_alternative(current) {
            current = table;
        }
        let next = if segment.parse::<usize>().is_ok() && current.get("items").is_some() {
            current.get("items")
        } else {
            current
                .get("properties")
                .and_then(|p| p.get(&segment))
                .or_else(|| {
                    current
                        .get("additionalProperties")
                        .filter(|a| a.is_object())
                })
        }?;
        current = resolve(root, next)?;
    }
    Some(current.clone())
}

/// The table alternative of an `anyOf` schema (one that has `properties`), resolved.
fn table_alternative(schema: &Value) -> Option<&'static Value> {
    let root = self::schema();
    let alternatives = schema.get("anyOf")?.as_array()?;
    let mut tables = alternatives
        .iter()
        .filter_map(|a| {
            // `schema` may be a clone: find the same alternative in the root by its `$ref`.
            let reference = a.get("$ref")?.as_str()?;
            let target = root.pointer(reference.strip_prefix('#')?)?;
            resolve(root, target)
        })
        .filter(|a| a.get("properties").is_some());
    let table = tables.next()?;
    tables.next().is_none().then_some(table)
}

/// A value that matched none of `anyOf` while being a table: checked against the table
/// alternative, so its own problems (an unknown key, a wrong enum value) are reported where
/// they are instead of "must be `true` or a table, found a table".
fn table_problems(json: &Value, spans: &SpanMap, pointer: &str, schema: &Value) -> Vec<Problem> {
    let Some(table) = table_alternative(schema) else {
        return Vec::new();
    };
    let Some(value) = value_at(json, pointer) else {
        return Vec::new();
    };
    let mut standalone = table.clone();
    if let (Some(map), Some(defs)) = (standalone.as_object_mut(), self::schema().get("$defs")) {
        map.insert("$defs".into(), defs.clone());
    }
    let Ok(validator) = jsonschema::validator_for(&standalone) else {
        return Vec::new();
    };
    validator
        .iter_errors(value)
        .flat_map(|error| {
            let child = format!("{pointer}{}", error.instance_path().as_str());
            to_problems(json, spans, &child, error.kind())
        })
        .collect()
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> Option<&'a Value> {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => root
            .pointer(reference.strip_prefix('#')?)
            .and_then(|s| resolve(root, s)),
        None => Some(schema),
    }
}

/// Service keys of the compose specification that an app table does not take.
const COMPOSE_SERVICE_KEYS: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "credential_spec",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "init",
    "ipc",
    "isolation",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "post_start",
    "pre_stop",
    "privileged",
    "profiles",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "user",
    "userns_mode",
    "uts",
    "volumes",
    "volumes_from",
    "working_dir",
];

/// The help for a compose service key in an app table: what stackc calls it, or where to
/// put what stackc does not manage.
fn compose_key_help(key: &str) -> Option<String> {
    match key {
        "environment" => Some(
            "stackc calls it `env` (literal values); values from the host's .env go in `secrets`"
                .into(),
        ),
        "ports" => Some(
            "stackc calls them `port` (the container port) and `publish` (its host port)".into(),
        ),
        _ if COMPOSE_SERVICE_KEYS.contains(&key) => Some(format!(
            "stackc does not manage `{key}`: set it for this service in a compose.override.yaml beside the generated compose.yaml, which `docker compose` reads on top of it and `stackc build` never touches (README: \"What stackc does not manage, and how to extend it\")"
        )),
        _ => None,
    }
}

/// The help for a number or boolean where a string belongs, by what the key is.
fn string_help(pointer: &str, subschema: Option<&Value>) -> String {
    let segments: Vec<&str> = pointer.split('/').collect();
    // `subschema_at` resolves `$ref`s: a duration is known by the Duration type's text.
    let is_duration = subschema
        .and_then(|s| s.get("description"))
        .and_then(Value::as_str)
        .is_some_and(|d| d.starts_with("A duration"));
    if segments.len() >= 4 && segments[1] == "apps" && segments[3] == "env" {
        "quote the value: environment values are strings".into()
    } else if is_duration {
        "a duration is a string with a unit, e.g. \"15s\", \"5m\" or \"31d\"".into()
    } else if segments.get(1) == Some(&"versions") {
        "an image tag is a string, e.g. \"v1.12.1\"; `[versions]` cannot turn a service off".into()
    } else {
        "quote the value".into()
    }
}

/// What a schema accepts, in words: "an integer from 1 to 65535 or `false`".
fn describe(schema: &Value) -> String {
    let root = self::schema();
    let schema = resolve(root, schema).unwrap_or(schema);
    if let Some(alternatives) = schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array)
    {
        return alternatives
            .iter()
            .map(describe)
            .collect::<Vec<_>>()
            .join(" or ");
    }
    if let Some(constant) = schema.get("const") {
        return format!("`{constant}`");
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        return options
            .iter()
            .map(|o| format!("`{o}`"))
            .collect::<Vec<_>>()
            .join(" or ");
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("integer") => match (schema.get("minimum"), schema.get("maximum")) {
            (Some(min), Some(max)) => format!("an integer from {min} to {max}"),
            _ => "an integer".into(),
        },
        Some("string") => "a string".into(),
        Some("boolean") => "`true` or `false`".into(),
        Some("array") => match schema.get("items") {
            Some(items) => format!("an array of {}", plural(&describe(items))),
            None => "an array".into(),
        },
        Some("object") => "a table".into(),
        _ => "another type".into(),
    }
}

fn plural(text: &str) -> String {
    text.strip_prefix("a ")
        .map_or_else(|| text.to_owned(), |rest| format!("{rest}s"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_read_naturally() {
        assert_eq!(describe_place("/metrics"), "`[metrics]`");
        assert_eq!(
            describe_place("/metrics/retention"),
            "`retention` in `[metrics]`"
        );
        assert_eq!(describe_place("/apps/web/port"), "`port` of app `web`");
        assert_eq!(describe_place("/apps/web/env/A"), "`env.A` of app `web`");
        assert_eq!(describe_place("/apps/web"), "`[apps.web]`");
    }

    #[test]
    fn describes_ports_and_arrays() {
        let port = subschema_at("/ports/grafana").unwrap();
        assert_eq!(describe(&port), "an integer from 1 to 65535 or `false`");
        let secrets = subschema_at("/apps/x/secrets").unwrap();
        assert_eq!(describe(&secrets), "an array of strings or a table");
    }

    #[test]
    fn schema_has_no_null() {
        assert!(!schema_json().contains("\"null\""));
    }
}
