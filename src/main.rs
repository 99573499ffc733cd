//! The `stackc` binary: parses arguments and maps outcomes to exit codes.

use std::process::ExitCode;

use clap::Parser;
use stackc::cli::{self, Cli};

fn main() -> ExitCode {
    // A file-size limit (`ulimit -f`) must fail a write (EFBIG) like a full disk does, so
    // that the build cleans up its staging directory, rather than kill the process.
    #[cfg(unix)]
    let _ = signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    );
    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(cli::FAILURE)
        }
    }
}
