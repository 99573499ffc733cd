//! The OpenTelemetry wiring: one resource, a provider per signal, the `tracing` subscriber that
//! feeds them and the JSON log lines, and the flush at shutdown.
//!
//! - **Traces** (`OTEL_TRACES_EXPORTER`, default `otlp`): spans of this crate's `tracing` spans
//!   go through a batch span processor (`OTEL_BSP_*`) to the OTLP span exporter.
//! - **Metrics** (`OTEL_METRICS_EXPORTER=otlp`, default `none`): an `SdkMeterProvider` whose
//!   periodic reader exports every `OTEL_METRIC_EXPORT_INTERVAL` (parsed strictly in
//!   [`crate::config`] and handed to the reader) with cumulative temporality, as Prometheus
//!   wants it. The instruments themselves live in [`crate::metrics`]; when metrics are not
//!   exported, [`Telemetry::meter`] is a no-op meter.
//! - **Logs** (`OTEL_LOGS_EXPORTER=otlp`, default `none`): `opentelemetry-appender-tracing`
//!   turns the same `tracing` events that become JSON lines (the same `RUST_LOG` filter) into
//!   log records for a batch log processor (`OTEL_BLRP_*`): body the message, severity from
//!   the level, the event's fields as attributes. The SDK takes `trace_id`/`span_id` from the
//!   current OpenTelemetry context, which `tracing-opentelemetry` sets when a span is entered:
//!   the very ids the JSON line carries. The JSON lines are written either way.
//!
//!   Two kinds of event stay on stdout only, both to keep the log export from feeding on
//!   itself: events of the HTTP client crates ([`HTTP_CLIENT_TARGETS`], which log each of the
//!   exporter's own requests at `debug`), and the SDK's diagnostics written while it exports,
//!   which the SDK itself suppresses.
//!
//! Every provider shares one resource: `service.name` resolved in [`crate::config`] (so that
//! the default is `demo-app` rather than `unknown_service`) plus `OTEL_RESOURCE_ATTRIBUTES`.
//! The SDK reads the other standard variables itself: the endpoints
//! (`OTEL_EXPORTER_OTLP_ENDPOINT` plus `/v1/traces`, `/v1/metrics`, `/v1/logs`, or the
//! per-signal `OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT`), `…_HEADERS`, `…_TIMEOUT`,
//! and the sampler.
//!
//! Each exporter runs on its own thread with a blocking HTTP client, so [`Telemetry::shutdown`]
//! and [`Telemetry::shutdown_logs`] must run outside the async runtime (after it is dropped).

use anyhow::{Context as _, Result};
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::filter::{FilterExt as _, filter_fn};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::Config;
use crate::logging::{JsonLogLayer, Sink};

/// The installed providers; flush them with [`Telemetry::shutdown`], then
/// [`Telemetry::shutdown_logs`].
#[derive(Debug)]
pub struct Telemetry {
    tracer: SdkTracerProvider,
    meter: Option<SdkMeterProvider>,
    logger: Option<SdkLoggerProvider>,
}

/// The `tracing` target prefix of this crate: only its spans become OpenTelemetry spans.
const OWN_TARGET: &str = "demo_app";

/// Name of the tracer, the meter and (by default) the logger.
const SCOPE: &str = "demo-app";

/// Crates (first segment of a `tracing` target) whose events are not sent as OTLP log records:
/// the HTTP client stack that the exporters themselves use.
pub const HTTP_CLIENT_TARGETS: [&str; 4] = ["hyper", "hyper_util", "reqwest", "h2"];

/// Builds the providers and installs the global `tracing` subscriber: spans of this crate go
/// to OpenTelemetry, events at the `RUST_LOG` level (default `info`) go to `sink` as JSON
/// lines and, when logs are exported, to OpenTelemetry as log records.
pub fn init(config: &Config, sink: Sink) -> Result<Telemetry> {
    let resource = Resource::builder()
        .with_service_name(config.service_name.clone())
        .build();

    let mut tracer = SdkTracerProvider::builder().with_resource(resource.clone());
    if config.export_traces {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
            .context("cannot build the OTLP span exporter")?;
        tracer = tracer.with_batch_exporter(exporter);
    }
    let tracer = tracer.build();

    let meter = if config.export_metrics {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .build()
            .context("cannot build the OTLP metric exporter")?;
        let reader = PeriodicReader::builder(exporter)
            .with_interval(config.metric_export_interval)
            .build();
        Some(
            SdkMeterProvider::builder()
                .with_resource(resource.clone())
                .with_reader(reader)
                .build(),
        )
    } else {
        None
    };

    let logger = if config.export_logs {
        let exporter = opentelemetry_otlp::LogExporter::builder()
            .with_http()
            .build()
            .context("cannot build the OTLP log exporter")?;
        Some(
            SdkLoggerProvider::builder()
                .with_resource(resource)
                .with_batch_exporter(exporter)
                .build(),
        )
    } else {
        None
    };

    subscriber(&tracer, logger.as_ref(), sink, env_filter)
        .try_init()
        .context("cannot install the tracing subscriber")?;
    Ok(Telemetry {
        tracer,
        meter,
        logger,
    })
}

/// `RUST_LOG`, else `info`.
fn env_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// The subscriber [`init`] installs: this crate's spans to `tracer`; events passing `filter`
/// to the JSON lines and, if there is a `logger`, as log records (but those of
/// [`HTTP_CLIENT_TARGETS`]).
fn subscriber(
    tracer: &SdkTracerProvider,
    logger: Option<&SdkLoggerProvider>,
    sink: Sink,
    filter: impl Fn() -> EnvFilter,
) -> impl Subscriber + Send + Sync + 'static {
    let spans = tracing_opentelemetry::layer()
        .with_tracer(tracer.tracer(SCOPE))
        .with_tracked_inactivity(false)
        .with_filter(filter_fn(|meta| meta.target().starts_with(OWN_TARGET)));
    let json = JsonLogLayer::new(sink).with_filter(filter());
    let records = logger.map(|logger| {
        OpenTelemetryTracingBridge::new(logger)
            .with_filter(filter().and(filter_fn(|meta| !is_http_client_target(meta.target()))))
    });
    tracing_subscriber::registry()
        .with(spans)
        .with(json)
        .with(records)
}

/// Whether `target` belongs to one of [`HTTP_CLIENT_TARGETS`].
fn is_http_client_target(target: &str) -> bool {
    let krate = target.split("::").next().unwrap_or(target);
    HTTP_CLIENT_TARGETS.contains(&krate)
}

impl Telemetry {
    /// The meter of the app's instruments: the SDK's when metrics are exported, else a no-op.
    pub fn meter(&self) -> Meter {
        match &self.meter {
            Some(provider) => provider.meter(SCOPE),
            None => opentelemetry::metrics::noop::NoopMeterProvider::new().meter(SCOPE),
        }
    }

    /// Exports the spans still queued and the metrics' final values, and stops those
    /// exporters. Call it outside the runtime, then [`Telemetry::shutdown_logs`] after the
    /// last log line.
    pub fn shutdown(&self) -> Result<()> {
        let mut errors = Vec::new();
        if let Err(e) = self.tracer.shutdown() {
            errors.push(format!("span export shutdown: {e}"));
        }
        if let Some(meter) = &self.meter
            && let Err(e) = meter.shutdown()
        {
            errors.push(format!("metric export shutdown: {e}"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(anyhow::anyhow!(errors.join("; ")))
        }
    }

    /// Exports the log records still queued and stops the log exporter; lines written after
    /// it reach stdout only. Call it outside the runtime.
    pub fn shutdown_logs(self) -> Result<()> {
        let Telemetry {
            tracer,
            meter,
            logger,
        } = self;
        // Dropped first: what they log on the way out is still exported.
        drop((tracer, meter));
        match logger {
            Some(logger) => logger
                .shutdown()
                .map_err(|e| anyhow::anyhow!("log export shutdown: {e}")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use opentelemetry::logs::{AnyValue, Severity};
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::logs::{LogBatch, LogExporter};

    /// What the tests read of one exported log record.
    #[derive(Debug, Clone)]
    struct Record {
        body: Option<AnyValue>,
        severity_number: Option<Severity>,
        severity_text: Option<&'static str>,
        trace_id: Option<String>,
        span_id: Option<String>,
        attributes: Vec<(String, AnyValue)>,
    }

    impl Record {
        fn attribute(&self, key: &str) -> Option<&AnyValue> {
            self.attributes
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
        }
    }

    #[derive(Debug, Clone, Default)]
    struct Memory(Arc<Mutex<Vec<Record>>>);

    impl LogExporter for Memory {
        async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
            let mut records = self.0.lock().unwrap();
            for (record, _scope) in batch.iter() {
                records.push(Record {
                    body: record.body().cloned(),
                    severity_number: record.severity_number(),
                    severity_text: record.severity_text(),
                    trace_id: record.trace_context().map(|t| t.trace_id.to_string()),
                    span_id: record.trace_context().map(|t| t.span_id.to_string()),
                    attributes: record
                        .attributes_iter()
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect(),
                });
            }
            Ok(())
        }
    }

    /// Runs `f` under the subscriber [`init`] would install (all levels, a log provider
    /// exporting into memory); returns the JSON lines and the log records.
    fn capture(f: impl FnOnce()) -> (Vec<serde_json::Value>, Vec<Record>) {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink_lines = lines.clone();
        let sink: Sink = Arc::new(move |l: &str| sink_lines.lock().unwrap().push(l.to_owned()));
        let memory = Memory::default();
        let logger = SdkLoggerProvider::builder()
            .with_simple_exporter(memory.clone())
            .build();
        let tracer = SdkTracerProvider::builder().build();
        let subscriber = subscriber(&tracer, Some(&logger), sink, || EnvFilter::new("trace"));
        tracing::subscriber::with_default(subscriber, f);
        logger.shutdown().unwrap();
        let lines = lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let records = memory.0.lock().unwrap().clone();
        (lines, records)
    }

    #[test]
    fn log_records_mirror_the_json_lines() {
        let (lines, records) = capture(|| {
            tracing::info!(addr = "127.0.0.1:8080", "listening");
            tracing::info_span!(target: "demo_app::http", "request").in_scope(|| {
                tracing::trace!(target: "demo_app::http", step = 1u64, "tracing");
                tracing::debug!(target: "demo_app::http", "debugging");
                tracing::info!(
                    target: "demo_app::http",
                    usage = true,
                    event = "dice_roll",
                    user = %"u-17",
                    sides = 20u64,
                    ratio = 0.5,
                    "dice rolled"
                );
                tracing::warn!(target: "demo_app::http", delay_ms = 3u64, "slow request");
                tracing::error!(target: "demo_app::http", error = "boom", "roll failed");
            });
        });
        assert_eq!(lines.len(), 6, "{lines:?}");
        assert_eq!(
            records.len(),
            lines.len(),
            "one record per line: {records:?}"
        );
        let expected = [
            (Severity::Info, "INFO"),
            (Severity::Trace, "TRACE"),
            (Severity::Debug, "DEBUG"),
            (Severity::Info, "INFO"),
            (Severity::Warn, "WARN"),
            (Severity::Error, "ERROR"),
        ];
        for ((line, record), (number, text)) in lines.iter().zip(&records).zip(expected) {
            assert_eq!(record.severity_number, Some(number), "{record:?}");
            assert_eq!(record.severity_text, Some(text), "{record:?}");
            assert_eq!(
                line["level"].as_str(),
                Some(text.to_ascii_lowercase().as_str())
            );
            assert_eq!(
                record.body,
                Some(AnyValue::from(line["msg"].as_str().unwrap().to_owned())),
                "{record:?}"
            );
            assert_eq!(
                record.trace_id.as_deref(),
                line["trace_id"].as_str(),
                "the line's trace id: {line}"
            );
            assert_eq!(
                record.span_id.as_deref(),
                line["span_id"].as_str(),
                "{line}"
            );
        }
        assert_eq!(
            [1, 5, 9, 13, 17],
            [
                Severity::Trace,
                Severity::Debug,
                Severity::Info,
                Severity::Warn,
                Severity::Error
            ]
            .map(|s| s as i32),
            "OTLP severity numbers"
        );
        assert!(records[0].trace_id.is_none(), "outside a span: no context");
        assert!(records[1].trace_id.is_some());

        let usage = &records[3];
        assert_eq!(usage.attribute("usage"), Some(&AnyValue::Boolean(true)));
        assert_eq!(
            usage.attribute("event"),
            Some(&AnyValue::from("dice_roll".to_owned()))
        );
        assert_eq!(
            usage.attribute("user"),
            Some(&AnyValue::from("u-17".to_owned()))
        );
        assert_eq!(usage.attribute("sides"), Some(&AnyValue::Int(20)));
        assert_eq!(usage.attribute("ratio"), Some(&AnyValue::Double(0.5)));
        assert_eq!(
            records[5].attribute("error"),
            Some(&AnyValue::from("boom".to_owned()))
        );
    }

    #[test]
    fn http_client_events_stay_on_stdout() {
        let (lines, records) = capture(|| {
            tracing::debug!(target: "hyper_util::client::legacy::pool", "reuse idle connection");
            tracing::debug!(target: "reqwest::connect", "starting new connection");
            tracing::info!(target: "demo_app::load", "kept");
        });
        assert_eq!(lines.len(), 3);
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0].body, Some(AnyValue::from("kept".to_owned())));
        assert!(is_http_client_target("h2"));
        assert!(!is_http_client_target("hyperion::x"));
    }
}
