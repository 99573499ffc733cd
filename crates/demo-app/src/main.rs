//! `demo-app [healthcheck]`: the entry point. Without arguments it serves (see the crate
//! README for the environment variables); `healthcheck` probes a running instance's `/healthz`
//! on `PORT` and exits 0 when it answers 200.

use std::process::ExitCode;

use anyhow::Context as _;

use demo_app::{Config, health, logging, telemetry};
use tokio::sync::watch;

const USAGE: &str = "usage: demo-app [healthcheck]

Without arguments: serve /roll, /work, /healthz and /metrics on $PORT (8080), with
JSON logs on stdout, OTLP traces (OTLP metrics and logs when OTEL_METRICS_EXPORTER /
OTEL_LOGS_EXPORTER is otlp) and a built-in load loop; every setting is an
environment variable (see crates/demo-app/README.md).
healthcheck: GET /healthz on $PORT; exit 0 when it answers 200, else 1.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = || {
        Config::from_env().map_err(|e| {
            eprintln!("demo-app: {e}");
            ExitCode::from(2)
        })
    };
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => match config() {
            Ok(c) => serve(c),
            Err(code) => code,
        },
        ["healthcheck"] => match config() {
            Ok(c) => match health::probe(&c) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("demo-app healthcheck: {e}");
                    ExitCode::FAILURE
                }
            },
            Err(code) => code,
        },
        ["-h" | "--help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        ["-V" | "--version"] => {
            println!("demo-app {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("demo-app: unexpected arguments {args:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn serve(config: Config) -> ExitCode {
    let telemetry = match telemetry::init(&config, logging::stdout_sink()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("demo-app: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let meter = telemetry.meter();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((config.bind_addr, config.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", config.bind_addr, config.port))?;
        let (tx, rx) = watch::channel(false);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::spawn(async move {
            let signal = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            };
            tracing::info!(signal, "shutting down");
            let _ = tx.send(true);
        });
        demo_app::serve(config, &meter, listener, rx).await
    });
    // The exporters' HTTP clients are blocking: flush them outside the runtime.
    drop(runtime);
    let flushed = telemetry.shutdown();
    let code = if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    if let Err(e) = result {
        tracing::error!(error = format!("{e:#}"), "demo-app failed");
    }
    if let Err(e) = flushed {
        tracing::warn!(error = format!("{e:#}"), "telemetry not flushed");
    }
    tracing::info!("stopped");
    // Last, so that the lines above are exported too.
    if let Err(e) = telemetry.shutdown_logs() {
        eprintln!("demo-app: {e:#}");
    }
    code
}
