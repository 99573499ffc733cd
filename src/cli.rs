//! The command line: argument definitions (clap derive) and one function per command.
//! Messages go to stderr, lowercase, names in backticks; only `schema`, `diff` and
//! `graph` write to stdout. Exit codes: 0 ok, 1 invalid input or drift, 2 usage or I/O.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::diagnostic::{self, SourceFile};
use crate::validate;

/// Compile one stack.toml into a correlated observability stack: Alloy, Prometheus, Loki,
/// Tempo, Grafana, PostgreSQL with a usage scraper, and the compose file that runs them.
#[derive(Debug, Parser)]
#[command(name = "stackc", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented starter stack.toml (the seed's demo apps) into DIR
    Init {
        /// Directory to write stack.toml into
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Validate a stack file and print every problem; writes nothing
    Check {
        /// The stack file
        #[arg(default_value = "stack.toml")]
        stack: PathBuf,
    },
    /// Validate and write the generated tree (or, with --check, compare it)
    Build {
        /// The stack file
        #[arg(default_value = "stack.toml")]
        stack: PathBuf,
        /// Output directory [default: generated/ next to the stack file]
        #[arg(short, long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Write nothing; exit 1 and list new, changed and stale files on drift
        #[arg(long)]
        check: bool,
    },
    /// Print a unified diff between what `build` would write and the output directory
    Diff {
        /// The stack file
        #[arg(default_value = "stack.toml")]
        stack: PathBuf,
        /// Output directory [default: generated/ next to the stack file]
        #[arg(short, long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Print the JSON Schema of stack.toml
    Schema,
    /// Print this stack's data flow as a Mermaid diagram
    Graph {
        /// The stack file
        #[arg(default_value = "stack.toml")]
        stack: PathBuf,
    },
}

/// Exit code 1: the input is invalid, or the generated tree drifted.
pub const INVALID: u8 = 1;
/// Exit code 2: usage or I/O error.
pub const FAILURE: u8 = 2;

/// Runs one command; `Err` means an I/O or usage problem (exit 2).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Init { dir } => init(&dir),
        Command::Check { stack } => check(&stack),
        Command::Schema => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(crate::schema::schema_json().as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Build { .. } | Command::Diff { .. } | Command::Graph { .. } => {
            bail!("this command is not implemented yet: see issue 4 (`stackc build`)")
        }
    }
}

/// The starter file `init` writes: the demo example, every default written out.
pub const STARTER: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/demo/stack.toml"
));

fn init(dir: &Path) -> anyhow::Result<ExitCode> {
    let path = dir.join("stack.toml");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("`{}` already exists; not overwriting it", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create `{}`", path.display())),
    };
    file.write_all(STARTER.as_bytes())
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    eprintln!(
        "wrote `{}`; next: `stackc build {}`",
        path.display(),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Reads a stack file, keeping the path as given for messages.
pub fn read_source(path: &Path) -> anyhow::Result<SourceFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    Ok(SourceFile {
        name: path.display().to_string(),
        text,
    })
}

/// Validates and prints diagnostics; returns the checked result.
pub fn checked(path: &Path) -> anyhow::Result<(SourceFile, validate::Checked)> {
    let source = read_source(path)?;
    let checked = validate::check(&source);
    if !checked.diagnostics.is_empty() {
        eprint!("{}", source.render(&checked.diagnostics));
    }
    Ok((source, checked))
}

fn check(path: &Path) -> anyhow::Result<ExitCode> {
    let (source, checked) = checked(path)?;
    if checked.has_errors() {
        eprintln!(
            "`{}`: {}",
            source.name,
            diagnostic::summary(&checked.diagnostics)
        );
        return Ok(ExitCode::from(INVALID));
    }
    let apps = checked.stack.as_ref().map_or(0, |s| s.apps.len());
    let warnings = if checked.diagnostics.is_empty() {
        String::new()
    } else {
        format!(", {}", diagnostic::summary(&checked.diagnostics))
    };
    eprintln!(
        "`{}`: ok, {apps} app{}{warnings}",
        source.name,
        if apps == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}
