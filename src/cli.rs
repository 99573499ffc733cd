//! The command line: argument definitions (clap derive) and one function per command.
//! Messages go to stderr, lowercase, names in backticks; only `schema`, `diff` and
//! `graph` write to stdout. Exit codes: 0 ok, 1 invalid input or drift, 2 usage or I/O.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::emit;
use crate::model::Stack;
use crate::targets::{self, OutputFile};
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
        Command::Build { stack, out, check } => build(&stack, out.as_deref(), check),
        Command::Diff { stack, out } => diff(&stack, out.as_deref()),
        Command::Graph { stack } => {
            let Some(stack) = valid(&stack)? else {
                return Ok(ExitCode::from(INVALID));
            };
            std::io::stdout()
                .lock()
                .write_all(crate::graph::mermaid(&stack).as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Checks a stack file, printing diagnostics; `None` when it has errors.
fn valid(path: &Path) -> anyhow::Result<Option<Stack>> {
    let (source, checked) = checked(path)?;
    if checked.has_errors() {
        eprintln!(
            "`{}`: {}; nothing was written",
            source.name,
            diagnostic::summary(&checked.diagnostics)
        );
        return Ok(None);
    }
    Ok(checked.stack)
}

/// The output directory: `-o DIR`, or `generated/` next to the stack file.
fn out_dir(stack: &Path, out: Option<&Path>) -> PathBuf {
    match out {
        Some(out) => out.to_path_buf(),
        None => stack
            .parent()
            .map_or_else(|| PathBuf::from("generated"), |p| p.join("generated")),
    }
}

/// Renders the whole tree (with its manifest) for a stack file and output directory.
fn render(stack_path: &Path, stack: &Stack, out: &Path) -> anyhow::Result<Vec<OutputFile>> {
    let stack_dir = match stack_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let options = targets::Options {
        stack_dir: emit::relative_path(out, &stack_dir)?,
    };
    Ok(emit::with_manifest(targets::render(stack, &options)?))
}

fn build(path: &Path, out: Option<&Path>, check: bool) -> anyhow::Result<ExitCode> {
    let Some(stack) = valid(path)? else {
        return Ok(ExitCode::from(INVALID));
    };
    let out = out_dir(path, out);
    let files = render(path, &stack, &out)?;
    if check {
        let drift = emit::compare(&out, &files)?;
        if drift.is_empty() {
            eprintln!("`{}` is up to date", out.display());
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!("`{}` differs from `{}`:", out.display(), path.display());
        for (kind, list) in [
            ("new", &drift.new),
            ("changed", &drift.changed),
            ("stale", &drift.stale),
        ] {
            for file in list {
                eprintln!("  {kind:<8} {file}");
            }
        }
        eprintln!("run `stackc build` to regenerate");
        return Ok(ExitCode::from(INVALID));
    }
    let written = emit::write(&out, &files)?;
    let drift = &written.drift;
    if drift.is_empty() {
        eprintln!("`{}` is up to date ({} files)", out.display(), files.len());
    } else {
        eprintln!(
            "wrote `{}`: {} files, {} new, {} changed, {} removed",
            out.display(),
            files.len(),
            drift.new.len(),
            drift.changed.len(),
            drift.stale.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn diff(path: &Path, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let Some(stack) = valid(path)? else {
        return Ok(ExitCode::from(INVALID));
    };
    let out = out_dir(path, out);
    let files = render(path, &stack, &out)?;
    let drift = emit::compare(&out, &files)?;
    if drift.is_empty() {
        eprintln!("`{}` is up to date", out.display());
        return Ok(ExitCode::SUCCESS);
    }
    std::io::stdout()
        .lock()
        .write_all(emit::diff(&out, &files, &drift)?.as_bytes())?;
    Ok(ExitCode::from(INVALID))
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
