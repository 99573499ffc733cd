//! Shared helpers: repository paths and the `SNAPSHOTS=overwrite` switch.

use std::path::{Path, PathBuf};

pub(crate) fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn examples() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("stack.toml").is_file())
        .collect();
    out.sort();
    out
}

/// True when golden files should be rewritten instead of compared.
pub(crate) fn overwrite() -> bool {
    std::env::var("SNAPSHOTS").is_ok_and(|v| v == "overwrite")
}
