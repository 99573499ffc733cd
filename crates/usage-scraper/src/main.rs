//! `usage-scraper --config scraper.toml [--once]`: the thin entry point (CLI, JSON logs,
//! signals); the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

/// Stores `"usage": true` log lines from Loki in PostgreSQL, exactly once.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The settings file rendered by stackc (usage-scraper/scraper.toml).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Run one poll cycle (catch up to now - settle), then exit.
    #[arg(long)]
    once: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stdout)
        .init();
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
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "usage-scraper failed");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = usage_scraper::Settings::load(&cli.config)?;
    let password = settings.password(|k| std::env::var(k).ok())?;
    let (tx, rx) = watch::channel(false);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!(signal = "SIGTERM", "stopping"),
            _ = tokio::signal::ctrl_c() => tracing::info!(signal = "SIGINT", "stopping"),
        }
        let _ = tx.send(true);
    });
    usage_scraper::run_service(settings, password, cli.once, rx).await
}
