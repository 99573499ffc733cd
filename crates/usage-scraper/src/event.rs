//! A Loki entry becomes a `usage_events` row here, without IO: the exact `"usage": true` test,
//! the field mapping (`event`, `user` → `user_id`, `trace_id`, `level`, the rest → `attributes`),
//! and the deterministic event id.
//!
//! The id is the first 16 bytes of SHA-256 over the length-prefixed, name-sorted indexed stream
//! labels, the big-endian ns timestamp and the length-prefixed raw line — Loki's own notion of
//! one entry, so re-reading an entry (restart, lookback, re-paging) yields the same primary key.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::loki::{Entry, Labels};

/// One row of the events table.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub id: Uuid,
    pub ts_ns: i64,
    pub app: String,
    pub event: String,
    pub user_id: Option<String>,
    pub trace_id: Option<String>,
    pub level: Option<String>,
    /// The line's other fields, as a JSON object (text; PostgreSQL stores it as jsonb).
    pub attributes: String,
    pub line: String,
    /// The indexed stream labels, as a JSON object (text; stored as jsonb).
    pub labels: String,
}

/// Why a line selected by the LogQL is not a usage event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Malformed {
    /// The line does not parse as JSON.
    NotJson,
    /// The line is JSON but not an object.
    NotObject,
    /// `usage` is absent or not `true` / `"true"`.
    UsageNotTrue,
    /// `event` is absent, empty or not a string.
    MissingEvent,
}

impl Malformed {
    /// Every reason, for metrics pre-registration.
    pub const ALL: [Malformed; 4] = [
        Self::NotJson,
        Self::NotObject,
        Self::UsageNotTrue,
        Self::MissingEvent,
    ];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotJson => "not_json",
            Self::NotObject => "not_object",
            Self::UsageNotTrue => "usage_not_true",
            Self::MissingEvent => "missing_event",
        }
    }
}

/// The app name when the stream lacks the configured label.
pub const UNKNOWN_APP: &str = "unknown";

/// Deterministic event id of an entry.
pub fn event_id(labels: &Labels, ts_ns: i64, line: &str) -> Uuid {
    let mut h = Sha256::new();
    h.update((labels.len() as u64).to_be_bytes());
    // BTreeMap iterates sorted by name.
    for (k, v) in labels {
        h.update((k.len() as u64).to_be_bytes());
        h.update(k.as_bytes());
        h.update((v.len() as u64).to_be_bytes());
        h.update(v.as_bytes());
    }
    h.update(ts_ns.to_be_bytes());
    h.update((line.len() as u64).to_be_bytes());
    h.update(line.as_bytes());
    let digest = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(b)
}

/// A scalar JSON value as text (`null`, objects and arrays are not scalars).
fn scalar_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Turns an entry into a row, or says why it is not a usage event.
pub fn to_row(entry: &Entry, app_label: &str) -> Result<EventRow, Malformed> {
    let id = event_id(&entry.labels, entry.ts_ns, &entry.line);
    into_row(entry.clone(), id, app_label).map_err(|(reason, _)| reason)
}

/// [`to_row`] for an owned entry whose id ([`event_id`]) is already known; a line that is
/// not a usage event gives the entry back with the reason.
pub fn into_row(entry: Entry, id: Uuid, app_label: &str) -> Result<EventRow, (Malformed, Entry)> {
    let value: serde_json::Value = match serde_json::from_str(&entry.line) {
        Ok(v) => v,
        Err(_) => return Err((Malformed::NotJson, entry)),
    };
    let serde_json::Value::Object(mut obj) = value else {
        return Err((Malformed::NotObject, entry));
    };
    match obj.remove("usage") {
        Some(serde_json::Value::Bool(true)) => {}
        Some(serde_json::Value::String(s)) if s == "true" => {}
        _ => return Err((Malformed::UsageNotTrue, entry)),
    }
    let event = match obj.remove("event") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s,
        _ => return Err((Malformed::MissingEvent, entry)),
    };
    let mut take = |key: &str| -> Option<String> {
        let text = scalar_text(obj.get(key)?)?;
        obj.remove(key);
        Some(text)
    };
    let user_id = take("user");
    let trace_id = take("trace_id");
    let level = take("level");
    let app = entry
        .labels
        .get(app_label)
        .cloned()
        .unwrap_or_else(|| UNKNOWN_APP.to_owned());
    // A map of strings and a map of JSON values always serialize.
    let labels = serde_json::to_string(&entry.labels).unwrap_or_default();
    let attributes = serde_json::to_string(&obj).unwrap_or_default();
    Ok(EventRow {
        id,
        ts_ns: entry.ts_ns,
        app,
        event,
        user_id,
        trace_id,
        level,
        attributes,
        line: entry.line,
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap()
    }

    fn entry(line: &str) -> Entry {
        Entry {
            ts_ns: 1_700_000_000_123_456_789,
            labels: Labels::from([
                ("compose_service".to_owned(), "dice".to_owned()),
                ("compose_project".to_owned(), "demo".to_owned()),
            ]),
            line: line.to_owned(),
        }
    }

    #[test]
    fn maps_fields() {
        let line = r#"{"level":"info","usage":true,"event":"dice_roll","user":"u-17","sides":20,"trace_id":"4bf9","msg":"rolled"}"#;
        let r = to_row(&entry(line), "compose_service").unwrap();
        assert_eq!(r.app, "dice");
        assert_eq!(r.event, "dice_roll");
        assert_eq!(r.user_id.as_deref(), Some("u-17"));
        assert_eq!(r.trace_id.as_deref(), Some("4bf9"));
        assert_eq!(r.level.as_deref(), Some("info"));
        assert_eq!(json(&r.attributes), json!({"sides": 20, "msg": "rolled"}));
        assert_eq!(r.line, line);
        assert_eq!(
            json(&r.labels),
            json!({"compose_service": "dice", "compose_project": "demo"})
        );
        assert_eq!(r.ts_ns, 1_700_000_000_123_456_789);
    }

    #[test]
    fn usage_string_true_numbers_and_missing_app() {
        let r = to_row(
            &entry(r#"{"usage":"true","event":"e","user":42,"level":null,"trace_id":{"a":1}}"#),
            "app",
        )
        .unwrap();
        assert_eq!(r.app, UNKNOWN_APP);
        assert_eq!(r.user_id.as_deref(), Some("42"));
        assert_eq!(r.level, None);
        assert_eq!(r.trace_id, None);
        assert_eq!(
            json(&r.attributes),
            json!({"level": null, "trace_id": {"a": 1}})
        );
    }

    #[test]
    fn malformed_reasons() {
        let cases = [
            ("not json \"usage\": true", Malformed::NotJson),
            (r#"{"usage": true, "event": "x""#, Malformed::NotJson),
            (r#"["usage", true]"#, Malformed::NotObject),
            (r#"{"usage": false, "event": "x"}"#, Malformed::UsageNotTrue),
            (r#"{"usage": "yes", "event": "x"}"#, Malformed::UsageNotTrue),
            (r#"{"usage": 1, "event": "x"}"#, Malformed::UsageNotTrue),
            (
                r#"{"event": "x", "msg": "\"usage\": true"}"#,
                Malformed::UsageNotTrue,
            ),
            (r#"{"usage": true}"#, Malformed::MissingEvent),
            (r#"{"usage": true, "event": 3}"#, Malformed::MissingEvent),
            (r#"{"usage": true, "event": ""}"#, Malformed::MissingEvent),
        ];
        for (line, want) in cases {
            assert_eq!(to_row(&entry(line), "app"), Err(want), "{line}");
        }
    }

    #[test]
    fn ids_are_deterministic_and_distinguish_every_part() {
        let l = Labels::from([("a".to_owned(), "b".to_owned())]);
        let id = event_id(&l, 1, "x");
        assert_eq!(id, event_id(&l, 1, "x"));
        assert_ne!(id, event_id(&l, 2, "x"));
        assert_ne!(id, event_id(&l, 1, "y"));
        let l2 = Labels::from([("a".to_owned(), "c".to_owned())]);
        assert_ne!(id, event_id(&l2, 1, "x"));
        // Length prefixes: moving a byte between name and value changes the id.
        let l3 = Labels::from([("ab".to_owned(), String::new())]);
        let l4 = Labels::from([("a".to_owned(), "b".to_owned())]);
        assert_ne!(event_id(&l3, 1, "x"), event_id(&l4, 1, "x"));
        // A fixed vector (computed independently with Python's hashlib), so an accidental
        // change of the hash input — which would duplicate every stored event — shows up.
        let l = Labels::from([("compose_service".to_owned(), "dice".to_owned())]);
        assert_eq!(
            event_id(
                &l,
                1_700_000_000_000_000_000,
                r#"{"usage":true,"event":"x"}"#
            )
            .to_string(),
            "def5ee57-e88b-56b0-ed53-96774218b35b"
        );
    }
}
