//! JSON lines on stdout, one flat object per event, in the shape the stack reads.
//!
//! Keys, in this order: `ts` (RFC 3339 UTC, milliseconds), `level` (lowercase), `msg`, the
//! event's own fields at the top level (`"usage": true`, `"event"`, `"user"`, `"sides"`, …),
//! then `trace_id` (32 lowercase hex) and `span_id` (16 lowercase hex) of the active
//! OpenTelemetry span when there is one. Nothing is nested: Alloy's `stage.json` reads `level`,
//! `trace_id` and `span_id` from the top level, and the usage scraper reads `usage`, `event`,
//! `user`, `trace_id` and `level` there too.
//!
//! The active span comes from OpenTelemetry's current context, which `tracing-opentelemetry`
//! sets whenever a span is entered (its context activation), so the ids are exactly the ones
//! exported to Tempo and used as exemplars.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::trace::TraceContextExt as _;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

/// Keys the layer writes itself; an event field of the same name is dropped.
pub const RESERVED_KEYS: [&str; 5] = ["ts", "level", "msg", "trace_id", "span_id"];

/// Where finished lines go (without the newline).
pub type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// A sink writing each line and its newline to stdout under one lock.
pub fn stdout_sink() -> Sink {
    Arc::new(|line: &str| {
        let mut out = std::io::stdout().lock();
        // A closed stdout must not take the service down.
        let _ = out.write_all(line.as_bytes());
        let _ = out.write_all(b"\n");
        let _ = out.flush();
    })
}

/// The `tracing` layer that renders events as JSON lines.
pub struct JsonLogLayer {
    sink: Sink,
}

impl fmt::Debug for JsonLogLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLogLayer").finish_non_exhaustive()
    }
}

impl JsonLogLayer {
    /// A layer writing to `sink`.
    pub fn new(sink: Sink) -> Self {
        Self { sink }
    }
}

impl<S: Subscriber> Layer<S> for JsonLogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let span = opentelemetry::Context::map_current(|cx| cx.span().span_context().clone());
        let msg = fields
            .message
            .take()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| event.metadata().name().to_owned());

        let mut line = String::with_capacity(256);
        line.push('{');
        push_pair(
            &mut line,
            "ts",
            &humantime::format_rfc3339_millis(SystemTime::now())
                .to_string()
                .into(),
        );
        push_pair(
            &mut line,
            "level",
            &level_name(*event.metadata().level()).into(),
        );
        push_pair(&mut line, "msg", &msg.into());
        for (key, value) in &fields.pairs {
            if !RESERVED_KEYS.contains(key) {
                push_pair(&mut line, key, value);
            }
        }
        if span.is_valid() {
            push_pair(&mut line, "trace_id", &span.trace_id().to_string().into());
            push_pair(&mut line, "span_id", &span.span_id().to_string().into());
        }
        line.push('}');
        (self.sink)(&line);
    }
}

/// `info`, `warn`, … as the stack's `level` label expects them.
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

fn push_pair(line: &mut String, key: &str, value: &serde_json::Value) {
    if !line.ends_with('{') {
        line.push(',');
    }
    // Serialising a str or a Value into a String cannot fail.
    let _ = write!(
        line,
        "{}:{}",
        serde_json::Value::from(key),
        serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
    );
}

/// An event's fields in the order they were written, plus its message.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    pairs: Vec<(&'static str, serde_json::Value)>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: serde_json::Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.pairs.push((field.name(), value));
        }
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = serde_json::Number::from_f64(value)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| value.to_string().into());
        self.put(field, v);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt as _;

    /// The raw lines and their parse.
    fn capture_raw(f: impl FnOnce()) -> Vec<(String, serde_json::Value)> {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink_lines = lines.clone();
        let sink: Sink = Arc::new(move |l: &str| sink_lines.lock().unwrap().push(l.to_owned()));
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(JsonLogLayer::new(sink));
        tracing::subscriber::with_default(subscriber, f);
        let lines = lines.lock().unwrap();
        lines
            .iter()
            .map(|l| {
                assert!(!l.contains('\n'), "one line per event: {l}");
                (l.clone(), serde_json::from_str(l).unwrap())
            })
            .collect()
    }

    fn capture(f: impl FnOnce()) -> Vec<serde_json::Value> {
        capture_raw(f).into_iter().map(|(_, v)| v).collect()
    }

    fn is_hex(s: &str, len: usize) -> bool {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    #[test]
    fn flat_usage_line_inside_a_span() {
        let lines = capture_raw(|| {
            tracing::info_span!("request").in_scope(|| {
                tracing::info!(
                    usage = true,
                    event = "dice_roll",
                    user = %"u-17",
                    sides = 20u64,
                    ratio = 0.5,
                    trace_id = "spoofed",
                    "dice rolled"
                );
            });
        });
        let [(raw, line)] = lines.as_slice() else {
            panic!("{lines:?}")
        };
        let order = [
            "ts", "level", "msg", "usage", "event", "user", "sides", "ratio", "trace_id", "span_id",
        ];
        let positions: Vec<usize> = order
            .iter()
            .map(|k| {
                raw.find(&format!("\"{k}\":"))
                    .unwrap_or_else(|| panic!("{k} in {raw}"))
            })
            .collect();
        assert!(positions.is_sorted(), "key order {order:?} in {raw}");
        assert_eq!(line.as_object().unwrap().len(), order.len(), "{raw}");
        assert_eq!(line["level"], "info");
        assert_eq!(line["msg"], "dice rolled");
        assert_eq!(line["usage"], true);
        assert_eq!(line["event"], "dice_roll");
        assert_eq!(line["user"], "u-17");
        assert_eq!(line["sides"], 20);
        assert_eq!(line["ratio"], 0.5);
        assert!(is_hex(line["trace_id"].as_str().unwrap(), 32), "{line}");
        assert!(is_hex(line["span_id"].as_str().unwrap(), 16), "{line}");
        let ts = line["ts"].as_str().unwrap();
        assert!(humantime::parse_rfc3339(ts).is_ok(), "{ts}");
    }

    #[test]
    fn outside_a_span_no_ids_and_levels_lowercase() {
        let lines = capture(|| {
            tracing::warn!(delay_ms = 3u64, "slow request");
            tracing::error!(error = "boom", "failed");
        });
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["level"], "warn");
        assert_eq!(lines[1]["level"], "error");
        for l in &lines {
            assert!(
                l.get("trace_id").is_none() && l.get("span_id").is_none(),
                "{l}"
            );
        }
    }

    #[test]
    fn child_span_has_own_span_id_same_trace() {
        let lines = capture(|| {
            tracing::info_span!("parent").in_scope(|| {
                tracing::info!("in parent");
                tracing::info_span!("child").in_scope(|| tracing::info!("in child"));
            });
        });
        assert_eq!(lines[0]["trace_id"], lines[1]["trace_id"]);
        assert_ne!(lines[0]["span_id"], lines[1]["span_id"]);
    }

    #[test]
    fn message_escaping_stays_one_line() {
        let lines = capture(|| tracing::info!(path = "a\"b\nc", "quote \" and\nnewline"));
        assert_eq!(lines[0]["msg"], "quote \" and\nnewline");
        assert_eq!(lines[0]["path"], "a\"b\nc");
    }
}
