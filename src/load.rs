//! Step 1 of the pipeline: read `stack.toml` and parse it, keeping every span.
//!
//! The parse is done once, with recovery, so that every syntax error is reported at once.
//! The document is then seen two ways: as JSON (for the schema check, `schema.rs`) with a
//! map from JSON pointer to the spans of each key and value, and as the serde `raw` types.

use std::collections::HashMap;
use std::ops::Range;

use serde::Deserialize;
use serde_json::{Map, Value};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::{Diagnostic, SourceFile};
use crate::raw::StackFile;

/// Where one value of the document sits in the source.
#[derive(Clone, Debug)]
pub struct Node {
    /// The key naming this value (for array items: none).
    pub key: Option<Range<usize>>,
    pub value: Range<usize>,
    /// TOML type name, for "found a string" messages.
    pub kind: &'static str,
}

/// JSON pointer (`/apps/dice-roller/port`) to the spans of that key and value.
#[derive(Debug, Default)]
pub struct SpanMap {
    nodes: HashMap<String, Node>,
}

impl SpanMap {
    pub fn get(&self, pointer: &str) -> Option<&Node> {
        self.nodes.get(pointer)
    }

    /// The span to underline for a problem with the value at `pointer`: the value itself,
    /// or, for a whole table, its key (or header).
    pub fn value_span(&self, pointer: &str) -> Range<usize> {
        match self.nodes.get(pointer) {
            Some(node) if node.kind == "table" => node.key.clone().unwrap_or(node.value.clone()),
            Some(node) => node.value.clone(),
            None => 0..0,
        }
    }

    /// The span of the key at `pointer`, falling back to the value.
    pub fn key_span(&self, pointer: &str) -> Range<usize> {
        match self.nodes.get(pointer) {
            Some(node) => node.key.clone().unwrap_or(node.value.clone()),
            None => 0..0,
        }
    }
}

/// Escapes one JSON pointer segment (RFC 6901).
pub fn pointer_segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// A parsed stack file: its text, its JSON view with spans, and the syntax errors found.
pub struct Parsed<'s> {
    pub table: Spanned<DeTable<'s>>,
    pub json: Value,
    pub spans: SpanMap,
}

/// Parses the text; on syntax errors returns all of them.
pub fn parse(source: &SourceFile) -> Result<Parsed<'_>, Vec<Diagnostic>> {
    let (table, errors) = DeTable::parse_recoverable(&source.text);
    if !errors.is_empty() {
        let mut diagnostics: Vec<Diagnostic> = errors
            .iter()
            .map(|e| {
                let span = e.span().unwrap_or(0..0);
                Diagnostic::error(
                    span,
                    format!("invalid TOML: {}", lowercase_first(e.message())),
                )
            })
            .collect();
        diagnostics.sort_by_key(|d| d.span.start);
        diagnostics.dedup_by(|a, b| a.span == b.span);
        return Err(diagnostics);
    }
    let mut spans = SpanMap::default();
    spans.nodes.insert(
        String::new(),
        Node {
            key: None,
            value: table.span(),
            kind: "table",
        },
    );
    let json = table_to_json(table.get_ref(), "", &mut spans);
    Ok(Parsed { table, json, spans })
}

/// Deserializes the raw types; only called after the schema check passed, so an error
/// here is a disagreement between schema and types, reported where serde points.
pub fn deserialize(table: Spanned<DeTable<'_>>) -> Result<StackFile, Diagnostic> {
    let de = toml::de::Deserializer::from(table);
    StackFile::deserialize(de)
        .map_err(|e| Diagnostic::error(e.span().unwrap_or(0..0), lowercase_first(e.message())))
}

fn lowercase_first(message: &str) -> String {
    let message = message.trim_end().trim_end_matches('.');
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn table_to_json(table: &DeTable<'_>, pointer: &str, spans: &mut SpanMap) -> Value {
    let mut map = Map::new();
    for (key, value) in table.iter() {
        let child = format!("{pointer}/{}", pointer_segment(key.get_ref()));
        let json = value_to_json(value.get_ref(), &child, spans);
        spans.nodes.insert(
            child,
            Node {
                key: Some(key.span()),
                value: value.span(),
                kind: kind(value.get_ref()),
            },
        );
        map.insert(key.get_ref().to_string(), json);
    }
    Value::Object(map)
}

fn value_to_json(value: &DeValue<'_>, pointer: &str, spans: &mut SpanMap) -> Value {
    match value {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            let digits = digits
                .trim_start_matches("0x")
                .trim_start_matches("0o")
                .trim_start_matches("0b");
            match i64::from_str_radix(digits, i.radix()) {
                Ok(n) => Value::from(n),
                // out of range for i64: keep it a number the schema will refuse
                Err(_) => Value::from(f64::MAX),
            }
        }
        DeValue::Float(f) => f
            .as_str()
            .replace('_', "")
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::from(f64::MAX), Value::Number),
        DeValue::Boolean(b) => Value::Bool(*b),
        // No stack.toml key takes a date; keep it as something no schema type accepts
        // except "string", and tag the kind so messages say "found a datetime".
        DeValue::Datetime(d) => Value::Array(vec![Value::String(d.to_string())]),
        DeValue::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    let child = format!("{pointer}/{index}");
                    let json = value_to_json(item.get_ref(), &child, spans);
                    spans.nodes.insert(
                        child,
                        Node {
                            key: None,
                            value: item.span(),
                            kind: kind(item.get_ref()),
                        },
                    );
                    json
                })
                .collect(),
        ),
        DeValue::Table(table) => table_to_json(table, pointer, spans),
    }
}

fn kind(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "string",
        DeValue::Integer(_) => "integer",
        DeValue::Float(_) => "float",
        DeValue::Boolean(_) => "boolean",
        DeValue::Datetime(_) => "datetime",
        DeValue::Array(_) => "array",
        DeValue::Table(_) => "table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> SourceFile {
        SourceFile {
            name: "stack.toml".into(),
            text: text.into(),
        }
    }

    #[test]
    fn records_spans_by_pointer() {
        let src = source("[apps.\"a/b\"]\nport = 8080\n");
        let parsed = parse(&src).map_err(|_| ()).unwrap();
        let node = parsed.spans.get("/apps/a~1b/port").unwrap();
        assert_eq!(&src.text[node.key.clone().unwrap()], "port");
        assert_eq!(&src.text[node.value.clone()], "8080");
        assert_eq!(parsed.json["apps"]["a/b"]["port"], 8080);
    }

    #[test]
    fn reports_every_syntax_error() {
        let src = source("a = \nb = \"x\nc = 1\n");
        let errors = parse(&src).err().unwrap();
        assert!(errors.len() >= 2, "{errors:?}");
        assert!(
            errors
                .iter()
                .all(|e| e.message.starts_with("invalid TOML: "))
        );
    }
}
