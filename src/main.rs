//! The `stackc` binary: parses arguments and maps outcomes to exit codes.

use std::process::ExitCode;

use clap::Parser;
use stackc::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(cli::FAILURE)
        }
    }
}
