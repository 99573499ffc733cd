//! Reads a stack file as it was at a git revision, with the `git` binary (no checkout, no
//! libgit2): `git rev-parse --show-toplevel` in the file's directory finds the repository,
//! and `git show REV:<path from the top>` reads the file. A file that did not exist at the
//! revision is not an error: it is a stack's first pull request.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// A stack file at a revision.
#[derive(Debug)]
pub struct AtRevision {
    /// `REV:path/from/top/stack.toml`, for messages and the report.
    pub name: String,
    /// `None` when the file does not exist at the revision.
    pub text: Option<String>,
}

/// Runs git in `dir`; stdout on success, git's own message otherwise.
fn git(dir: &Path, args: &[&str]) -> anyhow::Result<Result<Vec<u8>, String>> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .context("cannot run `git`; is it installed and on PATH?")?;
    if output.status.success() {
        Ok(Ok(output.stdout))
    } else {
        Ok(Err(String::from_utf8_lossy(&output.stderr)
            .trim()
            .to_owned()))
    }
}

/// The directory of a file, `.` for a bare file name.
fn directory(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Reads `stack` (a path in a git work tree) as it was at `rev`.
pub fn read_at(rev: &str, stack: &Path) -> anyhow::Result<AtRevision> {
    if rev.starts_with('-') {
        bail!("`{rev}` is not a revision");
    }
    let dir = directory(stack);
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot read the directory `{}`", dir.display()))?;
    let top = match git(&dir, &["rev-parse", "--show-toplevel"])? {
        Ok(out) => PathBuf::from(String::from_utf8_lossy(&out).trim_end_matches('\n')),
        Err(message) => bail!(
            "`{}` is not in a git repository, so `--base` has nothing to compare with ({message}); \
             compare two files with `stackc diff OLD NEW`",
            dir.display()
        ),
    };
    let top = top.canonicalize().unwrap_or(top);
    let file_name = stack
        .file_name()
        .with_context(|| format!("`{}` is not a file", stack.display()))?;
    let relative = dir
        .join(file_name)
        .strip_prefix(&top)
        .with_context(|| {
            format!(
                "`{}` is outside its git work tree `{}`",
                stack.display(),
                top.display()
            )
        })?
        .to_path_buf();
    let relative: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let relative = relative.join("/");
    let name = format!("{rev}:{relative}");

    let commit = format!("{rev}^{{commit}}");
    if let Err(message) = git(&top, &["rev-parse", "--verify", "--quiet", &commit])? {
        let detail = if message.is_empty() {
            String::new()
        } else {
            format!(" ({message})")
        };
        bail!(
            "unknown revision `{rev}` in `{}`{detail}; in a shallow clone, fetch it first \
             (`git fetch origin <branch>`, or `fetch-depth: 0` with actions/checkout)",
            top.display()
        );
    }
    let object = format!("{rev}:{relative}");
    match git(&top, &["cat-file", "-t", &object])? {
        Err(_) => return Ok(AtRevision { name, text: None }),
        Ok(kind) if kind.trim_ascii() != b"blob" => {
            bail!("`{name}` is not a file at `{rev}`")
        }
        Ok(_) => {}
    }
    match git(&top, &["show", &object])? {
        Ok(bytes) => {
            let text =
                String::from_utf8(bytes).with_context(|| format!("`{name}` is not UTF-8 text"))?;
            Ok(AtRevision {
                name,
                text: Some(text),
            })
        }
        Err(message) => bail!("cannot read `{name}`: {message}"),
    }
}
