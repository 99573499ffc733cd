//! Build script: the git revision `stackc --version` prints, as `STACKC_BUILD_REV`
//! (`0123abcde 2026-12-04`, or `unknown`). Found, in order:
//!
//! 1. `git`, when this package is the top of a git checkout (never a repository the
//!    sources merely sit in, such as an unpacked `.crate` inside someone's project);
//! 2. `.cargo_vcs_info.json`, which `cargo package` writes into the `.crate` (so
//!    `cargo install stackc` knows the commit it was published from; no date there);
//! 3. `STACKC_GIT_REV` (and optionally `STACKC_GIT_DATE`, `YYYY-MM-DD`), which the flake
//!    sets from `self.rev`, since a Nix build sees neither `.git` nor a `.crate`;
//! 4. `unknown`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Digits of the hash that `--version` shows, as rustc and cargo do.
const SHORT: usize = 9;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    println!("cargo:rerun-if-env-changed=STACKC_GIT_REV");
    println!("cargo:rerun-if-env-changed=STACKC_GIT_DATE");
    println!("cargo:rerun-if-changed=build.rs");
    let rev = from_git(&dir)
        .or_else(|| from_vcs_info(&dir))
        .or_else(from_env)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=STACKC_BUILD_REV={rev}");
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    Some(String::from_utf8(output.stdout).ok()?.trim().to_owned())
}

fn from_git(dir: &Path) -> Option<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if std::fs::canonicalize(&top).ok()? != std::fs::canonicalize(dir).ok()? {
        return None;
    }
    // Rebuild when HEAD moves: HEAD itself, the branch it points to, and packed refs.
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(dir, &["rev-parse", "--git-path", &name]) {
            let path = dir.join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    let line = git(dir, &["log", "-1", "--format=%H %cs"])?;
    let (hash, date) = line.split_once(' ')?;
    Some(format!("{} {date}", short(hash)?))
}

/// `{"git": {"sha1": "…", "dirty": true}, "path_in_vcs": ""}`, read without a JSON crate.
fn from_vcs_info(dir: &Path) -> Option<String> {
    let path = dir.join(".cargo_vcs_info.json");
    let text = std::fs::read_to_string(&path).ok()?;
    println!("cargo:rerun-if-changed={}", path.display());
    let after = &text[text.find("\"sha1\"")? + "\"sha1\"".len()..];
    let start = after.find('"')? + 1;
    let end = start + after[start..].find('"')?;
    let hash = short(&after[start..end])?;
    let dirty = text.contains("\"dirty\": true") || text.contains("\"dirty\":true");
    Some(if dirty { format!("{hash}-dirty") } else { hash })
}

fn from_env() -> Option<String> {
    let rev = std::env::var("STACKC_GIT_REV").ok()?;
    let (hash, dirty) = match rev.strip_suffix("-dirty") {
        Some(hash) => (hash, "-dirty"),
        None => (rev.as_str(), ""),
    };
    let hash = short(hash)?;
    let date = std::env::var("STACKC_GIT_DATE")
        .ok()
        .filter(|d| d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit() || b == b'-'));
    Some(match date {
        Some(date) => format!("{hash}{dirty} {date}"),
        None => format!("{hash}{dirty}"),
    })
}

/// The first `SHORT` digits of a hex commit hash; `None` for anything else.
fn short(hash: &str) -> Option<String> {
    (hash.len() >= SHORT && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hash[..SHORT].to_owned())
}
