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

/// The Prometheus these tests run (Debian's 2.42) predates retention in the config file
/// (`storage.tsdb.retention`, Prometheus 3.8, which the generated files target). This
/// checks that block's exact shape and returns the file without it, so everything else is
/// still loaded by the real promtool or Prometheus.
pub(crate) fn without_file_retention(text: &str) -> String {
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).unwrap();
    let Some(storage) = yaml.get("storage") else {
        return text.to_owned();
    };
    let storage = storage.as_mapping().expect("storage is a mapping");
    assert_eq!(storage.len(), 1, "storage holds only tsdb: {storage:?}");
    let tsdb = storage["tsdb"].as_mapping().expect("storage.tsdb");
    assert_eq!(tsdb.len(), 1, "storage.tsdb holds only retention: {tsdb:?}");
    let retention = tsdb["retention"]
        .as_mapping()
        .expect("storage.tsdb.retention");
    assert_eq!(retention.len(), 1, "only retention.time: {retention:?}");
    let time = retention["time"]
        .as_str()
        .expect("retention.time is a string");
    assert!(
        stackc::duration::Duration::parse(time).is_ok(),
        "retention.time `{time}`"
    );
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line == "storage:" {
            inside = true;
            continue;
        }
        if inside && (line.starts_with(' ') || line.is_empty()) {
            continue;
        }
        inside = false;
        out.push_str(line);
        out.push('\n');
    }
    out
}
