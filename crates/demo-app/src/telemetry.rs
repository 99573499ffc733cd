//! Traces and logs wiring: the OpenTelemetry tracer provider (OTLP over HTTP/protobuf with a
//! batch span processor), the `tracing` subscriber that feeds it, and the JSON log layer.
//!
//! The SDK reads the standard variables itself: the exporter `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), `…_HEADERS` and `…_TIMEOUT`; the batch processor
//! `OTEL_BSP_*`; the tracer `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`; the resource
//! `OTEL_RESOURCE_ATTRIBUTES`. The service name is resolved in [`crate::config`] so that the
//! default is `demo-app` rather than `unknown_service`.
//!
//! The batch processor runs on its own thread with a blocking HTTP client, so
//! [`Telemetry::shutdown`] must run outside the async runtime (after it is dropped).

use anyhow::{Context as _, Result};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::Config;
use crate::logging::{JsonLogLayer, Sink};

/// The installed tracer provider; flush it with [`Telemetry::shutdown`].
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

/// The `tracing` target prefix of this crate: only its spans become OpenTelemetry spans.
const OWN_TARGET: &str = "demo_app";

/// Builds the tracer provider and installs the global `tracing` subscriber: spans of this
/// crate go to OpenTelemetry, events at the `RUST_LOG` level (default `info`) go to `sink`
/// as JSON lines.
pub fn init(config: &Config, sink: Sink) -> Result<Telemetry> {
    let resource = Resource::builder()
        .with_service_name(config.service_name.clone())
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if config.export_traces {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
            .context("cannot build the OTLP span exporter")?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let tracer = provider.tracer("demo-app");

    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_tracked_inactivity(false)
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            meta.target().starts_with(OWN_TARGET)
        }));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(otel)
        .with(JsonLogLayer::new(sink).with_filter(filter))
        .try_init()
        .context("cannot install the tracing subscriber")?;
    Ok(Telemetry { provider })
}

impl Telemetry {
    /// Exports the spans still queued and stops the exporter. Call it outside the runtime.
    pub fn shutdown(self) -> Result<()> {
        self.provider
            .shutdown()
            .map_err(|e| anyhow::anyhow!("span export shutdown: {e}"))
    }
}
