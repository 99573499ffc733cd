//! The command line: argument definitions (clap derive) and one function per command.
//! Messages go to stderr, lowercase, names in backticks; only `schema`, `diff` and
//! `graph` write to stdout. Exit codes: 0 ok, 1 invalid input or drift (or, for a review,
//! a risk at `--fail-on`), 2 usage or I/O.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::emit;
use crate::images::{self, Obtain};
use crate::model::Stack;
use crate::review::{self, Severity, Side};
use crate::targets::{self, OutputFile};
use clap::{Parser, Subcommand, ValueEnum};

use crate::diagnostic::{self, SourceFile};
use crate::validate;

/// `--version`: the crate version, and the git revision (and commit date) it was built
/// from, as `build.rs` found them: `0.1.0 (0123abcde 2026-12-04)`, or `(unknown)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("STACKC_BUILD_REV"),
    ")"
);

/// Compile one stack.toml into a correlated observability stack: Alloy, Prometheus, Loki,
/// Tempo, Grafana, PostgreSQL with a usage scraper, and the compose file that runs them.
#[derive(Debug, Parser)]
#[command(name = "stackc", version = VERSION, about, propagate_version = true)]
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
        /// The stack's name: the compose project and `compose_project` label
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// One app and no usage statistics, instead of the seven-app demo
        #[arg(long)]
        minimal: bool,
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
    /// Print a unified diff of what `build` would write against DIR, or review a stack
    /// change (--base REV, or OLD NEW)
    ///
    /// `stackc diff [STACK] [-o DIR]` prints a unified diff between what `build` would write
    /// and the output directory, and exits 1 on drift.
    ///
    /// Review mode: `stackc diff --base REV [STACK]` compares the stack file at a git
    /// revision with the working file, and `stackc diff OLD NEW` two files. It reports what
    /// changes in the running stack (services, images, published ports, scrape intervals,
    /// retention, usage settings, secrets), grouped by app and component, and first the
    /// risks, each with a severity and why. A stack file absent at REV is an empty stack:
    /// everything is new. Exits 0 whether or not anything changes, 1 when a stack is invalid
    /// or a risk reaches --fail-on, 2 on a usage, I/O or git error.
    Diff {
        /// The stack file; with NEW, the old stack file
        #[arg(default_value = "stack.toml")]
        stack: PathBuf,
        /// Review mode: the new stack file, compared with STACK
        #[arg(value_name = "NEW", group = "review")]
        new: Option<PathBuf>,
        /// Review mode: compare with STACK as it is at this git revision (e.g. origin/main)
        #[arg(long, value_name = "REV", group = "review")]
        base: Option<String>,
        /// Output directory [default: generated/ next to the stack file]
        #[arg(short, long, value_name = "DIR", conflicts_with = "review")]
        out: Option<PathBuf>,
        /// Review mode: text (coloured on a terminal), markdown (a pull-request comment) or json
        #[arg(long, value_enum, value_name = "FORMAT", requires = "review")]
        format: Option<Format>,
        /// Review mode: also list the generated files that differ, with lines added and removed
        #[arg(long, requires = "review")]
        stat: bool,
        /// Review mode: exit 1 when a risk is this severe or worse (a CI gate)
        #[arg(long, value_enum, value_name = "SEVERITY", requires = "review")]
        fail_on: Option<Severity>,
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

/// How `diff` prints a review.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people at a terminal; coloured when stdout is one (unless `NO_COLOR` is set)
    Text,
    /// A pull-request comment, starting with the `<!-- stackc-diff -->` marker
    Markdown,
    /// For tools; the shape is schema/diff-report.schema.json
    Json,
}

/// Exit code 1: the input is invalid, or the generated tree drifted.
pub const INVALID: u8 = 1;
/// Exit code 2: usage or I/O error.
pub const FAILURE: u8 = 2;

/// Runs one command; `Err` means an I/O or usage problem (exit 2).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Init { dir, name, minimal } => init(&dir, name.as_deref(), minimal),
        Command::Check { stack } => check(&stack),
        Command::Schema => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(crate::schema::schema_json().as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Build { stack, out, check } => build(&stack, out.as_deref(), check),
        Command::Diff {
            stack,
            new,
            base,
            out,
            format,
            stat,
            fail_on,
        } => {
            let options = ReviewOptions {
                format: format.unwrap_or(Format::Text),
                stat,
                fail_on,
            };
            match (new, base) {
                (Some(new), _) => review_files(&stack, &new, &options),
                (None, Some(rev)) => review_base(&rev, &stack, &options),
                (None, None) => diff(&stack, out.as_deref()),
            }
        }
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

/// What the targets need to render a stack file into an output directory.
fn render_options(stack_path: &Path, out: &Path) -> anyhow::Result<targets::Options> {
    let stack_dir = match stack_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok(targets::Options {
        stack_dir: emit::relative_path(out, &stack_dir)?,
    })
}

/// Renders the whole tree (with its manifest) for a stack file and output directory.
fn render(stack_path: &Path, stack: &Stack, out: &Path) -> anyhow::Result<Vec<OutputFile>> {
    let options = render_options(stack_path, out)?;
    Ok(emit::with_manifest(targets::render(stack, &options)?))
}

/// A path as a shell word, quoted when it needs to be.
fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// `stackc <sub> STACK [-o DIR]`, with the paths the user gave.
fn command_line(sub: &str, path: &Path, out: Option<&Path>) -> String {
    let mut command = format!("stackc {sub} {}", shell_word(path));
    if let Some(out) = out {
        command.push_str(&format!(" -o {}", shell_word(out)));
    }
    command
}

fn build(path: &Path, out_arg: Option<&Path>, check: bool) -> anyhow::Result<ExitCode> {
    let Some(stack) = valid(path)? else {
        return Ok(ExitCode::from(INVALID));
    };
    let out = out_dir(path, out_arg);
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
            ("foreign", &drift.foreign),
        ] {
            for file in list {
                eprintln!("  {kind:<8} {file}");
            }
        }
        let build = command_line("build", path, out_arg);
        if !drift.foreign.is_empty() {
            eprintln!(
                "{}",
                emit::foreign_message(&out, &drift.foreign, &format!("run `{build}`"))
            );
        } else {
            eprintln!(
                "to fix: run `{build}`, then commit `{}` with `{}`",
                out.display(),
                path.display()
            );
            if !drift.changed.is_empty() {
                eprintln!(
                    "build replaces the changed files: `{}` shows what it replaces; a lasting change belongs in `{}`",
                    command_line("diff", path, out_arg),
                    path.display()
                );
            }
        }
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
    eprint!("{}", local_images_note(&stack, &out));
    Ok(ExitCode::SUCCESS)
}

/// The images of the stack that no registry serves, each with how to get it; empty when
/// compose can pull every image.
fn local_images_note(stack: &Stack, out: &Path) -> String {
    let list = images::local_images(stack);
    if list.is_empty() {
        return String::new();
    }
    let compose = out.join("compose.yaml");
    let build =
        |service: &str| format!("`docker compose -f {} build {service}`", compose.display());
    let mut note = String::from("images no registry serves:\n");
    for image in &list {
        let service = &image.service;
        let line = match &image.how {
            Obtain::BuildScraper { image, version } => format!(
                "`{service}`: `{image}`, usage-scraper {version} from crates.io; build it with {}",
                build(service)
            ),
            Obtain::BuildApp { context } => format!(
                "`{service}`: built from `{context}`; build it with {}",
                build(service)
            ),
            Obtain::Never { image } => format!(
                "`{service}`: `{image}` with `pull_policy = \"never\"`; build or load the image `{image}` yourself"
            ),
        };
        note.push_str("  ");
        note.push_str(&line);
        note.push('\n');
    }
    note
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

/// How a review is printed, and when it fails.
struct ReviewOptions {
    format: Format,
    stat: bool,
    fail_on: Option<Severity>,
}

/// `stackc diff OLD NEW`.
fn review_files(old: &Path, new: &Path, options: &ReviewOptions) -> anyhow::Result<ExitCode> {
    let old = read_source(old)?;
    let name = old.name.clone();
    review(Some(old), name, new, options)
}

/// `stackc diff --base REV [STACK]`: the stack file at REV against the working file.
fn review_base(rev: &str, stack: &Path, options: &ReviewOptions) -> anyhow::Result<ExitCode> {
    if !stack.is_file() {
        bail!("cannot read `{}`: no such file", stack.display());
    }
    let at = review::git::read_at(rev, stack)?;
    let old = at.text.map(|text| SourceFile {
        name: at.name.clone(),
        text,
    });
    review(old, at.name, stack, options)
}

/// Validates a side of a review: the stack, or `None` after printing its diagnostics.
fn review_side(source: &SourceFile, warnings: bool) -> Option<Stack> {
    let checked = validate::check(source);
    if checked.has_errors() || (warnings && !checked.diagnostics.is_empty()) {
        eprint!("{}", source.render(&checked.diagnostics));
    }
    if checked.has_errors() {
        eprintln!(
            "`{}`: {}; cannot compare",
            source.name,
            diagnostic::summary(&checked.diagnostics)
        );
    }
    checked.stack
}

/// Compares `old` (absent: an empty stack) with the stack file `new` and prints the report.
fn review(
    old: Option<SourceFile>,
    old_name: String,
    new: &Path,
    options: &ReviewOptions,
) -> anyhow::Result<ExitCode> {
    let new_source = read_source(new)?;
    // Outer `None`: no old stack (everything is new); inner `None`: it is invalid.
    let old_stack = old.as_ref().map(|source| review_side(source, false));
    let new_stack = review_side(&new_source, true);
    let (Some(new_stack), false) = (new_stack, matches!(old_stack, Some(None))) else {
        return Ok(ExitCode::from(INVALID));
    };
    let old_stack = old_stack.flatten();
    let render = render_options(new, &out_dir(new, None))?;
    let report = review::review(
        old_stack.as_ref(),
        &new_stack,
        &render,
        (
            Side {
                source: old_name,
                present: old.is_some(),
            },
            Side {
                source: new_source.name.clone(),
                present: true,
            },
        ),
    )?;
    let text = match options.format {
        Format::Text => review::render::text(
            &report,
            options.stat,
            review::render::Paint { on: colour() },
        ),
        Format::Markdown => review::render::markdown(&report, options.stat),
        Format::Json => review::render::json(&report)?,
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    if let Some(gate) = options.fail_on {
        let failing = report.risks.iter().filter(|r| r.severity >= gate).count();
        if failing > 0 {
            eprintln!(
                "{failing} risk{} at `{gate}` or worse (--fail-on {gate})",
                if failing == 1 { " is" } else { "s are" }
            );
            return Ok(ExitCode::from(INVALID));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Colour for the text report: on a terminal, unless `NO_COLOR` is set (no-color.org);
/// `CLICOLOR_FORCE` turns it on anywhere.
fn colour() -> bool {
    use std::io::IsTerminal;
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    set("CLICOLOR_FORCE") || std::io::stdout().is_terminal()
}

/// The starter file `init` writes: the demo example, every default written out.
pub const STARTER: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/demo/stack.toml"
));

/// The starter `init --minimal` writes: one app, usage statistics off.
pub const STARTER_MINIMAL: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/minimal/stack.toml"
));

/// The `#:schema` line that starts every starter: editors with a TOML language server
/// (taplo, Even Better TOML) then complete and check keys against this version's schema.
pub fn schema_directive() -> String {
    let raw = env!("CARGO_PKG_REPOSITORY").replacen("github.com", "raw.githubusercontent.com", 1);
    format!(
        "#:schema {raw}/v{}/schema/stack.schema.json",
        env!("CARGO_PKG_VERSION")
    )
}

/// A starter with `[stack] name` set to `name`.
fn starter(minimal: bool, name: Option<&str>) -> anyhow::Result<String> {
    let text = if minimal { STARTER_MINIMAL } else { STARTER };
    let Some(name) = name else {
        return Ok(text.to_owned());
    };
    if !crate::validate::is_project_name(name) || name.len() > 30 {
        bail!(
            "`{name}` cannot be a stack name: use lowercase letters, digits, `_` and `-`, starting with a letter or digit, at most 30 characters"
        );
    }
    let line = format!("name = \"{}\"", crate::model::defaults::NAME);
    let Some(at) = text.find(&format!("\n{line}")) else {
        bail!("the starter has no `{line}` line; this is a stackc bug");
    };
    Ok(format!(
        "{}\nname = \"{name}\"{}",
        &text[..at],
        &text[at + 1 + line.len()..]
    ))
}

fn init(dir: &Path, name: Option<&str>, minimal: bool) -> anyhow::Result<ExitCode> {
    let text = starter(minimal, name)?;
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
    file.write_all(text.as_bytes())
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
    let mut checked = validate::check(&source);
    let stack_dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    check_build_contexts(&source, &mut checked, &stack_dir);
    if !checked.diagnostics.is_empty() {
        eprint!("{}", source.render(&checked.diagnostics));
    }
    Ok((source, checked))
}

/// The one check that reads the disk beside `stack.toml`: every app's build context is a
/// folder there, and its Dockerfile a file in it; the external database's `root_cert` is
/// a file (validation itself does no I/O).
fn check_build_contexts(source: &SourceFile, checked: &mut validate::Checked, dir: &Path) {
    let Some(stack) = &checked.stack else {
        return;
    };
    let Ok(parsed) = crate::load::parse(source) else {
        return;
    };
    let mut found = Vec::new();
    for app in &stack.apps {
        let crate::model::AppSource::Build(context) = &app.source else {
            continue;
        };
        let pointer = format!("/apps/{}/build", crate::load::pointer_segment(&app.name));
        let span = match parsed.spans.get(&format!("{pointer}/context")) {
            Some(_) => parsed.spans.value_span(&format!("{pointer}/context")),
            None => parsed.spans.value_span(&pointer),
        };
        let folder = dir.join(context);
        if !folder.is_dir() {
            found.push(
                diagnostic::Diagnostic::error(
                    span,
                    format!(
                        "the build context `{context}` of app `{}` is not a folder beside stack.toml",
                        app.name
                    ),
                )
                .with_help(format!("looked for `{}`", folder.display())),
            );
            continue;
        }
        let dockerfile = app
            .build_options
            .dockerfile
            .as_deref()
            .unwrap_or("Dockerfile");
        if !folder.join(dockerfile).is_file() {
            let at = format!("{pointer}/dockerfile");
            let span = match parsed.spans.get(&at) {
                Some(_) => parsed.spans.value_span(&at),
                None => span,
            };
            found.push(
                diagnostic::Diagnostic::error(
                    span,
                    format!(
                        "app `{}` has no `{dockerfile}` in its build context `{context}`",
                        app.name
                    ),
                )
                .with_help(
                    "add it, or name another with `build = { context = ..., dockerfile = ... }`",
                ),
            );
        }
    }
    let root_cert = stack
        .usage
        .as_ref()
        .and_then(|u| u.external_db.as_ref())
        .and_then(|db| db.root_cert.as_ref());
    if let Some(cert) = root_cert {
        let path = match cert {
            crate::model::VolumeSource::Relative(rel) => dir.join(rel),
            crate::model::VolumeSource::Absolute(abs) | crate::model::VolumeSource::Named(abs) => {
                PathBuf::from(abs)
            }
        };
        // An absolute path names a file of the host that runs compose, which may not be
        // this machine: only a relative one is checked.
        let relative = matches!(cert, crate::model::VolumeSource::Relative(_));
        if relative && !path.is_file() {
            found.push(
                diagnostic::Diagnostic::error(
                    parsed.spans.value_span("/components/postgres/root_cert"),
                    "the `root_cert` of `[components.postgres]` is not a file beside stack.toml",
                )
                .with_help(format!(
                    "looked for `{}`: put the PEM file of the database's CA there",
                    path.display()
                )),
            );
        }
    }
    if !found.is_empty() {
        checked.diagnostics.extend(found);
        checked
            .diagnostics
            .sort_by_key(|d| (d.span.start, d.span.end));
        checked.stack = None;
    }
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
