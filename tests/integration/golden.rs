//! Golden trees: each `examples/<case>/stack.toml` is built by the real binary and the
//! whole output compared with `golden/<case>/`, both ways (missing, extra and changed
//! files). `SNAPSHOTS=overwrite cargo test` replaces `golden/<case>/` wholesale; review
//! the diff before committing it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{examples, overwrite, repo};

/// Every file under `dir`, by `/`-separated relative path.
pub(crate) fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

/// Builds an example the way a user does (`generated/` next to its stack.toml), in a
/// temporary copy so that relative build paths are the same on every machine.
pub(crate) fn build_example(case: &Path) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let stack = tmp.path().join("stack.toml");
    // The whole example: build contexts beside stack.toml must exist.
    copy_dir(case, tmp.path());
    let output = Command::new(env!("CARGO_BIN_EXE_stackc"))
        .arg("build")
        .arg(&stack)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}: {}",
        case.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let out = tmp.path().join("generated");
    (tmp, out)
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() == "generated" {
                continue;
            }
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn examples_match_their_golden_trees() {
    let mut failures = Vec::new();
    for case in examples() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let golden = repo().join("golden").join(&name);
        let (_tmp, out) = build_example(&case);
        let built = tree(&out);
        if overwrite() {
            let _ = std::fs::remove_dir_all(&golden);
            for (path, bytes) in &built {
                let target = golden.join(path);
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::write(target, bytes).unwrap();
            }
            continue;
        }
        let expected = tree(&golden);
        for path in expected.keys().filter(|p| !built.contains_key(*p)) {
            failures.push(format!("{name}: golden has `{path}`, the build does not"));
        }
        for (path, bytes) in &built {
            match expected.get(path) {
                None => failures.push(format!(
                    "{name}: the build writes `{path}`, golden lacks it"
                )),
                Some(want) if want != bytes => {
                    let diff = similar::TextDiff::from_lines(
                        std::str::from_utf8(want).unwrap_or(""),
                        std::str::from_utf8(bytes).unwrap_or(""),
                    )
                    .unified_diff()
                    .header(&format!("golden/{name}/{path}"), "built")
                    .to_string();
                    failures.push(format!("{name}: `{path}` differs:\n{diff}"));
                }
                Some(_) => {}
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n\nrun `SNAPSHOTS=overwrite cargo test` and review the diff if the change is intended",
        failures.join("\n")
    );
}

#[test]
fn every_golden_tree_has_an_example() {
    for entry in std::fs::read_dir(repo().join("golden")).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(
            repo()
                .join("examples")
                .join(&name)
                .join("stack.toml")
                .is_file(),
            "golden/{} has no example",
            name.to_string_lossy()
        );
    }
}

#[test]
fn builds_are_byte_identical() {
    for case in examples() {
        let (_a, first) = build_example(&case);
        let (_b, second) = build_example(&case);
        assert_eq!(tree(&first), tree(&second), "{}", case.display());
    }
}

#[test]
fn generated_files_are_clean_text_with_the_header() {
    for case in examples() {
        let (_tmp, out) = build_example(&case);
        for (path, bytes) in tree(&out) {
            let text = String::from_utf8(bytes).unwrap();
            assert!(!text.contains('\r'), "{path}: CR");
            assert!(
                text.ends_with('\n') && !text.ends_with("\n\n"),
                "{path}: one final newline"
            );
            assert!(
                !text.contains("/tmp/") && !text.contains("/work/"),
                "{path}: absolute path"
            );
            if !path.ends_with(".json") {
                let first = text.lines().next().unwrap();
                assert!(
                    first.contains("generated by stackc from stack.toml; do not edit"),
                    "{path}: header missing: {first}"
                );
            }
        }
    }
}
