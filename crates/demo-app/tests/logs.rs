//! stdout of the real binary: every line is one flat JSON object with a lowercase `level`;
//! lines written inside a request carry `trace_id`/`span_id` of the right shape; usage events
//! have `"usage": true`, `event` and `user`; and every line has the key shape of its kind in
//! `testdata/log-lines.jsonl`, the fixture that stackc's own tests check against its Alloy
//! pipeline and the usage scraper. `SNAPSHOTS=overwrite` rewrites the fixture from a run.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;
use support::{App, is_id, poll};

const FIXTURE: &str = "testdata/log-lines.jsonl";

/// `(msg, level)` of the lines every run must show: start, requests of each outcome, usage
/// events, a slow request, both simulated failures, shutdown.
const REQUIRED_KINDS: [(&str, &str); 11] = [
    ("listening", "info"),
    ("request", "info"),
    ("request", "warn"),
    ("request", "error"),
    ("dice rolled", "info"),
    ("work done", "info"),
    ("slow request", "warn"),
    ("roll failed", "error"),
    ("db query failed", "error"),
    ("shutting down", "info"),
    ("stopped", "info"),
];

/// Runs the binary until every kind of line has shown up, then stops it with SIGTERM.
fn run() -> Vec<String> {
    let app = App::spawn(&[
        ("DEMO_RPS", "40"),
        ("DEMO_ERROR_RATE", "0.3"),
        ("DEMO_SLOW_RATE", "0.3"),
        ("DEMO_SLOW_MS", "20"),
        ("DEMO_LATENCY_MS", "2"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_SERVICE_NAME", "dice-roller"),
    ]);
    // A 4xx, which the load loop never makes.
    let client = std::net::TcpStream::connect(app.addr).expect("connect");
    send_get(client, "/roll?sides=1");
    let seen = poll(|| {
        let kinds: BTreeSet<(String, String)> =
            app.lines().iter().filter_map(|l| kind(l)).collect();
        REQUIRED_KINDS[..REQUIRED_KINDS.len() - 2]
            .iter()
            .all(|(m, l)| kinds.contains(&((*m).to_owned(), (*l).to_owned())))
            .then_some(())
    });
    assert!(
        seen.is_some(),
        "not every kind of line showed up: {:?}",
        app.lines()
    );
    let (status, lines) = app.terminate();
    assert!(status.success(), "exit after SIGTERM: {status}");
    lines
}

/// A plain HTTP/1.1 GET, enough for one request in a test.
fn send_get(mut stream: std::net::TcpStream, path: &str) {
    use std::io::{Read as _, Write as _};
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
}

/// `(msg, level)` of a JSON line.
fn kind(line: &str) -> Option<(String, String)> {
    let v: Value = serde_json::from_str(line).ok()?;
    Some((
        v["msg"].as_str()?.to_owned(),
        v["level"].as_str()?.to_owned(),
    ))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The key shape of a line: every key with the JSON type of its value.
fn shape(v: &Value) -> BTreeMap<String, &'static str> {
    v.as_object()
        .expect("a JSON object")
        .iter()
        .map(|(k, v)| (k.clone(), type_name(v)))
        .collect()
}

fn parse(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn stdout_is_flat_json_with_trace_ids_and_usage_events() {
    let lines = run();
    let values = parse(&lines);
    let mut usage_traces = Vec::new();
    let mut request_spans: BTreeMap<String, String> = BTreeMap::new();
    for (raw, v) in lines.iter().zip(&values) {
        let obj = v
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {raw}"));
        let level = v["level"]
            .as_str()
            .unwrap_or_else(|| panic!("no level: {raw}"));
        assert!(
            ["debug", "info", "warn", "error"].contains(&level),
            "level {level:?}: {raw}"
        );
        assert!(
            v["msg"].as_str().is_some_and(|m| !m.is_empty()),
            "msg: {raw}"
        );
        let ts = v["ts"].as_str().unwrap_or_else(|| panic!("no ts: {raw}"));
        assert!(humantime::parse_rfc3339(ts).is_ok(), "ts {ts:?}: {raw}");
        for (k, value) in obj {
            assert!(
                !matches!(value, Value::Object(_) | Value::Array(_)),
                "nested `{k}`: {raw}"
            );
        }
        let lifecycle =
            ["listening", "shutting down", "stopped"].contains(&v["msg"].as_str().unwrap());
        if lifecycle {
            assert!(v.get("trace_id").is_none(), "no span at {raw}");
            continue;
        }
        // Everything else is written inside a request.
        let trace_id = v["trace_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no trace_id: {raw}"));
        let span_id = v["span_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no span_id: {raw}"));
        assert!(is_id(trace_id, 32), "trace_id {trace_id:?}: {raw}");
        assert!(is_id(span_id, 16), "span_id {span_id:?}: {raw}");
        if v["msg"] == "request" {
            request_spans.insert(trace_id.to_owned(), span_id.to_owned());
            let status = v["status"].as_u64().expect("status");
            let expected = match status {
                500.. => "error",
                400..500 => "warn",
                _ => "info",
            };
            assert_eq!(level, expected, "level of a {status}: {raw}");
        }
        if v.get("usage").is_some() {
            assert_eq!(v["usage"], true, "{raw}");
            let event = v["event"].as_str().expect("event");
            assert!(["dice_roll", "work_done"].contains(&event), "{raw}");
            let user = v["user"].as_str().expect("user");
            let n: u32 = user
                .strip_prefix("u-")
                .and_then(|n| n.parse().ok())
                .expect("u-<n>");
            assert!((1..=50).contains(&n), "{raw}");
            if event == "dice_roll" {
                let sides = v["sides"].as_u64().expect("sides");
                let result = v["result"].as_u64().expect("result");
                assert!((1..=sides).contains(&result), "{raw}");
            }
            usage_traces.push((trace_id.to_owned(), span_id.to_owned()));
        }
        if v["msg"] == "db query failed" || v["msg"] == "roll failed" {
            assert!(
                v["error"].as_str().is_some_and(|e| e.contains("simulated")),
                "{raw}"
            );
        }
    }
    assert!(!usage_traces.is_empty(), "no usage event line");
    // A usage event is logged in its request's server span: same trace, same span.
    for (trace_id, span_id) in &usage_traces {
        if let Some(request_span) = request_spans.get(trace_id) {
            assert_eq!(
                request_span, span_id,
                "usage event outside its request span"
            );
        }
    }
    // A failure is logged in a child span: same trace as its request, another span.
    let child = values
        .iter()
        .find(|v| v["msg"] == "db query failed")
        .expect("a db query failure");
    let trace_id = child["trace_id"].as_str().unwrap();
    assert_ne!(
        request_spans.get(trace_id).map(String::as_str),
        child["span_id"].as_str(),
        "a child span has its own span_id"
    );
    assert!(
        request_spans.contains_key(trace_id),
        "its request line shares the trace"
    );
}

/// Fixed values for the fields that change from run to run, so that a rewritten fixture
/// differs only where the app's output really changed.
fn normalise(mut v: Value) -> Value {
    let fixed: [(&str, Value); 10] = [
        ("ts", "2026-01-01T12:00:00.000Z".into()),
        ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736".into()),
        ("span_id", "00f067aa0ba902b7".into()),
        ("addr", "0.0.0.0:8080".into()),
        ("user", "u-17".into()),
        ("sides", 20.into()),
        ("result", 14.into()),
        ("items", 7.into()),
        ("duration_ms", 12.5.into()),
        ("load_rps", 2.0.into()),
    ];
    let obj = v.as_object_mut().unwrap();
    for (k, value) in fixed {
        if let Some(slot) = obj.get_mut(k) {
            *slot = value;
        }
    }
    if obj.get("msg").is_some_and(|m| m == "request") {
        let status = match obj["level"].as_str() {
            Some("error") => 500,
            Some("warn") => 400,
            _ => 200,
        };
        obj.insert("status".into(), status.into());
        obj.insert("route".into(), "/roll".into());
    }
    v
}

#[test]
fn every_line_has_the_shape_of_its_fixture_kind() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    let lines = run();
    let values = parse(&lines);

    if std::env::var("SNAPSHOTS").is_ok_and(|v| v == "overwrite") {
        // One line per (msg, level), in the order of REQUIRED_KINDS then any others.
        let mut by_kind: BTreeMap<(String, String), Value> = BTreeMap::new();
        for v in &values {
            let k = (
                v["msg"].as_str().unwrap().to_owned(),
                v["level"].as_str().unwrap().to_owned(),
            );
            by_kind.entry(k).or_insert_with(|| normalise(v.clone()));
        }
        let mut out = String::new();
        for (m, l) in REQUIRED_KINDS {
            if let Some(v) = by_kind.remove(&(m.to_owned(), l.to_owned())) {
                out.push_str(&raw_in_app_order(&lines, m, l, &v));
            }
        }
        for ((m, l), v) in &by_kind {
            out.push_str(&raw_in_app_order(&lines, m, l, v));
        }
        std::fs::write(&path, out).expect("write fixture");
        eprintln!("rewrote {}", path.display());
    }

    let fixture_text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with SNAPSHOTS=overwrite)", path.display()));
    let mut fixture: BTreeMap<(String, String), BTreeMap<String, &'static str>> = BTreeMap::new();
    let fixture_values: Vec<Value> = fixture_text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("fixture line ({e}): {l}")))
        .collect();
    for v in &fixture_values {
        let k = (
            v["msg"].as_str().unwrap().to_owned(),
            v["level"].as_str().unwrap().to_owned(),
        );
        assert!(
            fixture.insert(k.clone(), shape(v)).is_none(),
            "two fixture lines for {k:?}"
        );
    }
    for (m, l) in REQUIRED_KINDS {
        assert!(
            fixture.contains_key(&(m.to_owned(), l.to_owned())),
            "the fixture lacks a ({m}, {l}) line: run with SNAPSHOTS=overwrite"
        );
    }

    let mut seen = BTreeSet::new();
    for (raw, v) in lines.iter().zip(&values) {
        let k = (
            v["msg"].as_str().unwrap().to_owned(),
            v["level"].as_str().unwrap().to_owned(),
        );
        let expected = fixture.get(&k).unwrap_or_else(|| {
            panic!(
                "a ({}, {}) line is not in {FIXTURE} (SNAPSHOTS=overwrite): {raw}",
                k.0, k.1
            )
        });
        assert_eq!(
            &shape(v),
            expected,
            "key shape differs from {FIXTURE} (SNAPSHOTS=overwrite): {raw}"
        );
        seen.insert(k);
    }
    let unseen: Vec<_> = fixture.keys().filter(|k| !seen.contains(*k)).collect();
    assert!(
        unseen.is_empty(),
        "fixture kinds the app no longer writes: {unseen:?}"
    );
}

/// A normalised line with its keys in the order the app wrote them (serde_json's map
/// sorts keys; the fixture should read like the real output).
fn raw_in_app_order(lines: &[String], msg: &str, level: &str, normalised: &Value) -> String {
    let raw = lines
        .iter()
        .find(|l| kind(l).is_some_and(|(m, lv)| m == msg && lv == level))
        .expect("a line of this kind");
    let obj = normalised.as_object().unwrap();
    // The app's values hold no `"key":` text, so the first match is the key itself.
    let mut keys: Vec<(usize, &String)> = obj
        .keys()
        .map(|k| {
            let at = raw
                .find(&format!("{}:", Value::from(k.as_str())))
                .unwrap_or_else(|| panic!("{k} in {raw}"));
            (at, k)
        })
        .collect();
    keys.sort();
    let body: Vec<String> = keys
        .iter()
        .map(|(_, k)| format!("{}:{}", Value::from(k.as_str()), obj[*k]))
        .collect();
    format!("{{{}}}\n", body.join(","))
}
