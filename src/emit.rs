//! Step 5: the only place that writes generated files. A build renders everything in
//! memory, then either compares it with the output directory (`--check`, `diff`) or
//! writes it: the new tree is assembled in a staging directory next to the output, and
//! swapped in by renames, so a failed build leaves the previous tree as it was.
//!
//! A manifest (`.stackc-manifest`) records what stackc wrote, so that files an earlier
//! build generated and the stack no longer needs are removed, and files stackc did not
//! write are carried over untouched (and never overwritten).

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};

use crate::targets::{HEADER, OutputFile};

/// The manifest's file name inside the output directory.
pub const MANIFEST: &str = ".stackc-manifest";

/// Adds the manifest to a rendered tree.
pub fn with_manifest(mut files: Vec<OutputFile>) -> Vec<OutputFile> {
    let mut text = format!(
        "# {HEADER}\n# The files stackc wrote in this directory; a build removes those the stack no longer needs.\n"
    );
    for file in &files {
        text.push_str(&file.path);
        text.push('\n');
    }
    files.push(OutputFile::new(MANIFEST, text));
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// The paths a previous build recorded; empty when there is no manifest.
pub fn previous(out: &Path) -> anyhow::Result<BTreeSet<String>> {
    let path = out.join(MANIFEST);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    };
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| is_safe_relative(l))
        .map(str::to_owned)
        .collect())
}

/// A manifest entry is only trusted if it stays inside the output directory.
fn is_safe_relative(path: &str) -> bool {
    let p = Path::new(path);
    !path.contains('\\')
        && p.components().all(|c| matches!(c, Component::Normal(_)))
        && p.components().next().is_some()
}

/// How the output directory differs from what a build would write.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Drift {
    pub new: Vec<String>,
    /// Written by stackc (in the manifest), and different now.
    pub changed: Vec<String>,
    pub stale: Vec<String>,
    /// In the way and not written by stackc (not in the manifest): a build refuses to
    /// overwrite them.
    pub foreign: Vec<String>,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.new.is_empty()
            && self.changed.is_empty()
            && self.stale.is_empty()
            && self.foreign.is_empty()
    }
}

/// Compares a rendered tree (with its manifest) with the output directory.
pub fn compare(out: &Path, files: &[OutputFile]) -> anyhow::Result<Drift> {
    let mut drift = Drift::default();
    let previous = previous(out)?;
    for file in files {
        let path = out.join(&file.path);
        match fs::read(&path) {
            Ok(bytes) if bytes == file.contents.as_bytes() => {}
            Ok(_) if file.path == MANIFEST || previous.contains(&file.path) => {
                drift.changed.push(file.path.clone());
            }
            Ok(_) => drift.foreign.push(file.path.clone()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => drift.new.push(file.path.clone()),
            Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
        }
    }
    let wanted: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    for old in previous {
        if !wanted.contains(old.as_str()) && out.join(&old).exists() {
            drift.stale.push(old);
        }
    }
    Ok(drift)
}

/// Unified diffs (disk → build) of every new, changed and stale file.
pub fn diff(out: &Path, files: &[OutputFile], drift: &Drift) -> anyhow::Result<String> {
    let mut text = String::new();
    let read = |path: &str| -> anyhow::Result<String> {
        let full = out.join(path);
        match fs::read(&full) {
            Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(e).with_context(|| format!("cannot read `{}`", full.display())),
        }
    };
    let mut section = |old: &str, new: &str, old_name: &str, new_name: &str| {
        let diff = similar::TextDiff::configure()
            .algorithm(similar::Algorithm::Patience)
            .timeout(std::time::Duration::from_millis(10))
            .diff_lines(old, new);
        text.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(old_name, new_name)
                .to_string(),
        );
    };
    for file in files {
        if drift.new.contains(&file.path) {
            section("", &file.contents, "/dev/null", &format!("b/{}", file.path));
        } else if drift.changed.contains(&file.path) || drift.foreign.contains(&file.path) {
            let old = read(&file.path)?;
            section(
                &old,
                &file.contents,
                &format!("a/{}", file.path),
                &format!("b/{}", file.path),
            );
        }
    }
    for path in &drift.stale {
        let old = read(path)?;
        section(&old, "", &format!("a/{path}"), "/dev/null");
    }
    Ok(text)
}

/// Why a build refuses to write, and what to do: every foreign file in the way, listed,
/// then "move or delete them, then `next`".
pub fn foreign_message(out: &Path, foreign: &[String], next: &str) -> String {
    let (count, pronoun) = match foreign.len() {
        1 => ("1 file".to_owned(), "it"),
        n => (format!("{n} files"), "them"),
    };
    let mut text = format!(
        "{count} in `{}` {} not written by stackc (not in its `{MANIFEST}`), and build never overwrites such a file:\n",
        out.display(),
        if foreign.len() == 1 { "was" } else { "were" },
    );
    for path in foreign {
        text.push_str(&format!("  {}\n", out.join(path).display()));
    }
    text.push_str(&format!(
        "move {pronoun} out of `{}` or delete {pronoun}, then {next}",
        out.display()
    ));
    text
}

/// What a write did.
#[derive(Debug, Default)]
pub struct Written {
    pub drift: Drift,
}

/// Writes the tree: all files or none, stale generated files removed, foreign files kept.
pub fn write(out: &Path, files: &[OutputFile]) -> anyhow::Result<Written> {
    let drift = compare(out, files)?;
    if drift.is_empty() {
        return Ok(Written { drift });
    }
    // Refuse to overwrite a file stackc did not write, naming every one at once.
    if !drift.foreign.is_empty() {
        bail!("{}", foreign_message(out, &drift.foreign, "build again"));
    }
    let previous = previous(out)?;
    // Swapping the trees ends with removing the previous one: find out now, while nothing
    // has moved, whether that can be done.
    if out.exists() {
        removable(out)?;
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "generated".to_owned());
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).with_context(|| format!("cannot create `{}`", parent.display()))?;
    let pid = std::process::id();
    let staging = parent.join(format!(".{name}.stackc-new-{pid}"));
    let old = parent.join(format!(".{name}.stackc-old-{pid}"));
    let _ = fs::remove_dir_all(&staging);

    let result = (|| -> anyhow::Result<()> {
        fs::create_dir(&staging)
            .with_context(|| format!("cannot create `{}`", staging.display()))?;
        if out.exists() {
            let generated: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
            carry_foreign(out, &staging, Path::new(""), &previous, &generated)?;
        }
        for file in files {
            let path = staging.join(&file.path);
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create `{}`", dir.display()))?;
            }
            fs::write(&path, file.contents.as_bytes())
                .with_context(|| format!("cannot write `{}`", path.display()))?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&staging);
        return Err(e.context(format!("nothing was written to `{}`", out.display())));
    }

    if out.exists() {
        if let Err(e) = fs::rename(out, &old) {
            let _ = fs::remove_dir_all(&staging);
            return Err(e).with_context(|| {
                format!("cannot replace `{}`; nothing was written", out.display())
            });
        }
        if let Err(e) = fs::rename(&staging, out) {
            let _ = fs::rename(&old, out);
            let _ = fs::remove_dir_all(&staging);
            return Err(e).with_context(|| {
                format!("cannot replace `{}`; nothing was written", out.display())
            });
        }
        fs::remove_dir_all(&old).with_context(|| {
            format!(
                "wrote `{}`, but cannot remove the previous tree `{}`: remove it by hand",
                out.display(),
                old.display()
            )
        })?;
    } else if let Err(e) = fs::rename(&staging, out) {
        let _ = fs::remove_dir_all(&staging);
        return Err(e).with_context(|| format!("cannot create `{}`", out.display()));
    }
    Ok(Written { drift })
}

/// Fails unless every directory of the tree at `out` lets this process remove entries
/// (write and search permission, as the kernel decides it for this user: mode bits, ACLs,
/// read-only mounts), since a build replaces the whole tree. Symlinks are not followed.
fn removable(out: &Path) -> anyhow::Result<()> {
    let mut dirs = vec![out.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        can_remove_in(&dir).with_context(|| {
            format!(
                "cannot change `{}`; nothing was written to `{}`",
                dir.display(),
                out.display()
            )
        })?;
        let entries =
            fs::read_dir(&dir).with_context(|| format!("cannot read `{}`", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read `{}`", dir.display()))?;
            if entry.file_type()?.is_dir() {
                dirs.push(entry.path());
            }
        }
    }
    Ok(())
}

#[cfg(unix)]
fn can_remove_in(dir: &Path) -> io::Result<()> {
    use rustix::fs::{Access, AtFlags, CWD, accessat};
    accessat(
        CWD,
        dir,
        Access::WRITE_OK | Access::EXEC_OK,
        AtFlags::EACCESS,
    )
    .map_err(Into::into)
}

#[cfg(not(unix))]
fn can_remove_in(dir: &Path) -> io::Result<()> {
    if fs::metadata(dir)?.permissions().readonly() {
        return Err(io::Error::from(io::ErrorKind::PermissionDenied));
    }
    Ok(())
}

/// Copies (hard-links where possible) every entry of `from` that stackc did not generate
/// into `to`, keeping the relative layout.
fn carry_foreign(
    from_root: &Path,
    to_root: &Path,
    relative: &Path,
    previous: &BTreeSet<String>,
    generated: &BTreeSet<&str>,
) -> anyhow::Result<()> {
    let dir = from_root.join(relative);
    let entries = fs::read_dir(&dir).with_context(|| format!("cannot read `{}`", dir.display()))?;
    let mut entries: Vec<_> = entries.collect::<Result<_, _>>()?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let rel = relative.join(entry.file_name());
        let rel_text = rel.to_string_lossy().replace('\\', "/");
        let kind = entry.file_type()?;
        let target = to_root.join(&rel);
        if kind.is_dir() {
            fs::create_dir_all(&target)
                .with_context(|| format!("cannot create `{}`", target.display()))?;
            carry_foreign(from_root, to_root, &rel, previous, generated)?;
        } else if rel_text == MANIFEST
            || previous.contains(&rel_text)
            || generated.contains(rel_text.as_str())
        {
            // generated before or now: the new tree decides
        } else if kind.is_symlink() {
            let link = fs::read_link(entry.path())?;
            symlink(&link, &target)
                .with_context(|| format!("cannot copy the link `{}`", entry.path().display()))?;
        } else if fs::hard_link(entry.path(), &target).is_err() {
            fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy `{}`", entry.path().display()))?;
        }
    }
    // Directories that only held stale generated files go away with them.
    if !relative.as_os_str().is_empty() {
        let target = to_root.join(relative);
        if fs::read_dir(&target).is_ok_and(|mut d| d.next().is_none())
            && fs::read_dir(&dir).is_ok_and(|d| {
                let entries: Vec<_> = d.filter_map(Result::ok).collect();
                !entries.is_empty()
                    && entries.iter().all(|e| {
                        let rel = relative
                            .join(e.file_name())
                            .to_string_lossy()
                            .replace('\\', "/");
                        previous.contains(&rel)
                    })
            })
        {
            let _ = fs::remove_dir(&target);
        }
    }
    Ok(())
}

#[cfg(unix)]
fn symlink(link: &Path, target: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(link, target)
}

#[cfg(not(unix))]
fn symlink(link: &Path, target: &Path) -> io::Result<()> {
    fs::copy(link, target).map(|_| ())
}

/// The path from directory `from` to directory `to`, `/`-separated, both taken relative
/// to the current directory when not absolute.
pub fn relative_path(from: &Path, to: &Path) -> anyhow::Result<String> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let from = normalize(&cwd.join(from));
    let to = normalize(&cwd.join(to));
    let common = from
        .iter()
        .zip(to.iter())
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<String> = vec!["..".to_owned(); from.len() - common];
    parts.extend(to[common..].iter().cloned());
    Ok(if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    })
}

fn normalize(path: &Path) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(part) => out.push(part.to_string_lossy().into_owned()),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_path(Path::new("/a/b/generated"), Path::new("/a/b")).unwrap(),
            ".."
        );
        assert_eq!(
            relative_path(Path::new("/a/out"), Path::new("/a/b")).unwrap(),
            "../b"
        );
        assert_eq!(
            relative_path(Path::new("/a"), Path::new("/a")).unwrap(),
            "."
        );
    }

    #[test]
    fn manifest_entries_stay_inside() {
        assert!(is_safe_relative("alloy/config.alloy"));
        assert!(!is_safe_relative("../x"));
        assert!(!is_safe_relative("/etc/passwd"));
        assert!(!is_safe_relative("a/../../x"));
    }
}
