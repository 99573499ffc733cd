//! Shared helpers: repository paths, the `SNAPSHOTS=overwrite` switch, and
//! `STACKC_SKIP_ROOT_TESTS`.

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

/// `STACKC_SKIP_ROOT_TESTS=1`: the tests that need root skip, even under
/// `STACKC_REQUIRE_TOOLS=1`. For where root is known to be missing, such as the Nix build
/// sandbox (an unprivileged build user, no util-linux). Returns whether `test` must return
/// now; a skipped test says so on stderr and appends its name to `$STACKC_SKIPPED_LOG`
/// when that is set, so that the caller can list what did not run.
pub(crate) fn skip_root_only(test: &str, why: &str) -> bool {
    if std::env::var("STACKC_SKIP_ROOT_TESTS").as_deref() != Ok("1") {
        return false;
    }
    eprintln!("skipping `{test}` (STACKC_SKIP_ROOT_TESTS=1): {why}");
    if let Some(log) = std::env::var_os("STACKC_SKIPPED_LOG") {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("STACKC_SKIPPED_LOG names a writable file");
        file.write_all(format!("{test}\n").as_bytes()).unwrap();
    }
    true
}
