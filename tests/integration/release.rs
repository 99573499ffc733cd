//! What a user who never cloned stackc depends on (issue 18): the images a stack pulls
//! are the ones the release publishes, under the one registry path of `src/images.rs`; a
//! stack that builds the scraper gets a Dockerfile that needs nothing but the generated
//! tree; every image runs as a non-root user; `--version` names the commit; and the
//! workflows build and publish what the README promises.
//! (`scripts/package.sh` builds the packaged crate; actionlint lints the workflows.)

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_yaml_ng::Value;
use stackc::images::{self, DEMO_APP, REGISTRY, USAGE_SCRAPER, VERSION};

use crate::golden::tree;
use crate::support::repo;

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Value {
    serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Builds `stack` (the text of a stack.toml) in a temporary directory: exit status,
/// stderr, and the generated tree.
fn build(stack: &str) -> (bool, String, BTreeMap<String, String>) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("stack.toml"), stack).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stackc"))
        .arg("build")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let files = tree(&tmp.path().join("generated"))
        .into_iter()
        .map(|(path, bytes)| (path, String::from_utf8(bytes).unwrap()))
        .collect();
    (
        out.status.success(),
        String::from_utf8(out.stderr).unwrap(),
        files,
    )
}

fn scraper_service(files: &BTreeMap<String, String>) -> Value {
    let compose: Value = serde_yaml_ng::from_str(&files["compose.yaml"]).unwrap();
    compose["services"]["usage-scraper"].clone()
}

const APP: &str = "[apps.web]\nimage = \"nginx:1.27\"\nport = 80\nmetrics = false\n";

#[test]
fn the_scraper_is_pulled_from_the_release_registry_by_default() {
    let (ok, stderr, files) = build(APP);
    assert!(ok, "{stderr}");
    let service = scraper_service(&files);
    assert_eq!(
        service["image"],
        format!("ghcr.io/stackc-dev/stackc-usage-scraper:{VERSION}")
    );
    assert!(service.get("pull_policy").is_none(), "pulled normally");
    assert!(service.get("build").is_none());
    assert!(!files.contains_key("usage-scraper/Dockerfile"));
    assert!(
        !stderr.contains("images no registry serves"),
        "every image has a registry: {stderr}"
    );

    // `[versions] usage_scraper` moves the tag, `[usage] image` replaces the reference.
    let (ok, stderr, files) = build(&format!("[versions]\nusage_scraper = \"0.0.9\"\n{APP}"));
    assert!(ok, "{stderr}");
    assert_eq!(
        scraper_service(&files)["image"],
        format!("{REGISTRY}/{USAGE_SCRAPER}:0.0.9")
    );
    let (ok, stderr, files) = build(&format!(
        "[usage]\nimage = \"registry.example.com/team/scraper:7\"\n{APP}"
    ));
    assert!(ok, "{stderr}");
    assert_eq!(
        scraper_service(&files)["image"],
        "registry.example.com/team/scraper:7"
    );
}

#[test]
fn a_built_scraper_needs_nothing_but_the_generated_tree() {
    let (ok, stderr, files) = build(&format!(
        "[usage]\nbuild = true\n[versions]\nusage_scraper = \"0.0.9\"\n{APP}"
    ));
    assert!(ok, "{stderr}");
    let service = scraper_service(&files);
    assert_eq!(
        service["image"], "stackc-usage-scraper:0.0.9",
        "a local name"
    );
    assert_eq!(service["build"]["context"], "./usage-scraper");
    assert_eq!(service["pull_policy"], "build", "never pulled");

    let dockerfile = &files["usage-scraper/Dockerfile"];
    // The crate of that version from crates.io: no COPY of sources, no other context.
    assert!(
        dockerfile.contains("\nRUN cargo install --locked --root /out usage-scraper@0.0.9\n"),
        "{dockerfile}"
    );
    let copies: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY") || l.starts_with("ADD"))
        .collect();
    assert_eq!(
        copies,
        ["COPY --from=build /out/bin/usage-scraper /usr/local/bin/usage-scraper"],
        "only the binary, from the build stage"
    );
    assert!(
        stderr.contains("`usage-scraper`: `stackc-usage-scraper:0.0.9`, usage-scraper 0.0.9 from crates.io; build it with `docker compose -f generated/compose.yaml build usage-scraper`"),
        "{stderr}"
    );
}

/// `(base image of each stage, the last USER)` of a Dockerfile.
fn stages(dockerfile: &str) -> (Vec<String>, Option<String>) {
    let mut from = Vec::new();
    let mut user = None;
    for line in dockerfile.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("FROM") => {
                from.push(words.next().unwrap().to_owned());
                user = None;
            }
            Some("USER") => user = words.next().map(str::to_owned),
            _ => {}
        }
    }
    (from, user)
}

#[test]
fn every_image_runs_as_a_non_root_user() {
    let (_, _, files) = build("[usage]\nbuild = true\n");
    for (name, text) in [
        (
            "crates/usage-scraper/Dockerfile",
            read("crates/usage-scraper/Dockerfile"),
        ),
        (
            "crates/demo-app/Dockerfile",
            read("crates/demo-app/Dockerfile"),
        ),
        (
            "generated usage-scraper/Dockerfile",
            files["usage-scraper/Dockerfile"].clone(),
        ),
    ] {
        let (_, user) = stages(&text);
        assert_eq!(
            user.as_deref(),
            Some("10001:10001"),
            "{name}: the final stage runs as 10001"
        );
    }
    // The compose file runs the scraper as that user too.
    assert_eq!(scraper_service(&files)["user"], "10001:10001");
}

#[test]
fn the_generated_dockerfile_builds_on_the_crate_dockerfile_bases() {
    let (_, _, files) = build("[usage]\nbuild = true\n");
    let (generated, _) = stages(&files["usage-scraper/Dockerfile"]);
    let (crate_file, _) = stages(&read("crates/usage-scraper/Dockerfile"));
    assert_eq!(generated, [images::RUST_IMAGE, images::RUNTIME_IMAGE]);
    assert_eq!(
        generated, crate_file,
        "move crates/usage-scraper/Dockerfile and images::RUST_IMAGE/RUNTIME_IMAGE together"
    );
}

#[test]
fn the_registry_is_named_in_one_place() {
    // The workspace's repository and the registry have the same owner.
    let owner = REGISTRY.strip_prefix("ghcr.io/").unwrap();
    let manifest: toml::Table = read("Cargo.toml").parse().unwrap();
    assert_eq!(
        manifest["workspace"]["package"]["repository"].as_str(),
        Some(format!("https://github.com/{owner}/stackc").as_str())
    );
    // The release workflow reads it from src/images.rs, not a copy (the flake does too:
    // scripts/check-flake.sh compares its image names with the golden compose file).
    let workflow = read(".github/workflows/release.yml");
    assert!(workflow.contains("s/^pub const REGISTRY: &str = \"\\(.*\\)\";$/\\1/p' src/images.rs"));
    assert!(
        !workflow.contains(REGISTRY),
        "release.yml has its own copy of {REGISTRY}"
    );
    // Wherever a published stackc image is written out, it is under REGISTRY and, in the
    // demo example (which `init` writes), of this version.
    let mut places = vec![
        "README.md".to_owned(),
        "crates/demo-app/README.md".to_owned(),
        "crates/usage-scraper/README.md".to_owned(),
    ];
    for case in crate::support::examples() {
        places.push(
            case.join("stack.toml")
                .strip_prefix(repo())
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        );
    }
    places.extend(
        tree(&repo().join("docs"))
            .into_keys()
            .map(|path| format!("docs/{path}")),
    );
    for path in &places {
        let text = read(path);
        for (at, _) in text
            .match_indices("/stackc-usage-scraper")
            .chain(text.match_indices("/stackc-demo-app"))
        {
            let start = text[..at]
                .rfind(|c: char| c.is_whitespace() || c == '"' || c == '`')
                .map_or(0, |i| i + 1);
            assert_eq!(
                &text[start..at],
                REGISTRY,
                "{path}: an image outside {REGISTRY} (change src/images.rs and this together)"
            );
        }
    }
    let demo = read("examples/demo/stack.toml");
    let published = images::published(DEMO_APP, VERSION);
    assert_eq!(demo.matches(&format!("image = \"{published}\"")).count(), 7);
    assert!(!demo.contains("\npull_policy"), "the demo pulls its images");
}

#[test]
fn version_names_the_crate_version_and_the_revision() {
    let out = Command::new(env!("CARGO_BIN_EXE_stackc"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    // `stackc 0.1.0 (0123abcde 2026-12-04)`, `(0123abcde-dirty)`, `(0123abcde)` or `(unknown)`
    let inner = text
        .strip_prefix(&format!("stackc {VERSION} ("))
        .and_then(|rest| rest.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("unexpected --version: {text:?}"));
    let (rev, date) = match inner.split_once(' ') {
        Some((rev, date)) => (rev, Some(date)),
        None => (inner, None),
    };
    if rev != "unknown" {
        let hash = rev.strip_suffix("-dirty").unwrap_or(rev);
        assert!(
            hash.len() == 9 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "{text:?}"
        );
    }
    if let Some(date) = date {
        let parts: Vec<&str> = date.split('-').collect();
        assert!(
            parts.len() == 3
                && [4, 2, 2]
                    .iter()
                    .zip(&parts)
                    .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_digit())),
            "{text:?}"
        );
    }
    // In a git checkout of stackc, it is the checked-out commit.
    let head = Command::new("git")
        .args([
            "-C",
            &repo().to_string_lossy(),
            "log",
            "-1",
            "--format=%H %cs",
        ])
        .output();
    let top = Command::new("git")
        .args([
            "-C",
            &repo().to_string_lossy(),
            "rev-parse",
            "--show-toplevel",
        ])
        .output();
    if let (Ok(head), Ok(top)) = (head, top)
        && head.status.success()
        && Path::new(String::from_utf8_lossy(&top.stdout).trim())
            .canonicalize()
            .ok()
            == repo().canonicalize().ok()
    {
        let line = String::from_utf8(head.stdout).unwrap();
        let (hash, date) = line.trim().split_once(' ').unwrap();
        assert_eq!(inner, format!("{} {date}", &hash[..9]), "{text:?}");
    }
}

#[test]
fn ci_runs_the_readme_test_command() {
    let ci = yaml(".github/workflows/ci.yml");
    let steps = ci["jobs"]["test"]["steps"].as_sequence().unwrap();
    assert!(
        steps.iter().any(|s| s["run"] == "bash scripts/test.sh"),
        "ci.yml runs `bash scripts/test.sh`"
    );
    assert!(read("README.md").contains("\nbash scripts/test.sh "));
    assert!(
        ci["on"].get("workflow_call").is_some(),
        "release.yml calls it"
    );
}

#[test]
fn the_release_builds_and_publishes_what_the_readme_promises() {
    let release = yaml(".github/workflows/release.yml");
    assert_eq!(release["on"]["push"]["tags"][0], "v*");
    let jobs = &release["jobs"];
    assert_eq!(jobs["test"]["uses"], "./.github/workflows/ci.yml");

    let targets: Vec<&str> = jobs["binaries"]["strategy"]["matrix"]["include"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|t| t["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        [
            "x86_64-unknown-linux-musl",
            "aarch64-unknown-linux-musl",
            "x86_64-apple-darwin",
            "aarch64-apple-darwin"
        ]
    );
    let text = read(".github/workflows/release.yml");
    assert!(text.contains("-p stackc -p usage-scraper"));
    assert!(text.contains("shasum -a 256"));

    let images = &jobs["images"];
    assert_eq!(
        images["strategy"]["matrix"]["image"],
        serde_yaml_ng::from_str::<Value>("[usage-scraper, demo-app]").unwrap()
    );
    let push = images["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("docker/build-push-action@"))
        })
        .expect("docker/build-push-action");
    assert_eq!(push["with"]["platforms"], "linux/amd64,linux/arm64");
    assert_eq!(push["with"]["provenance"], "mode=max");
    assert_eq!(push["with"]["sbom"], true);
    assert_eq!(
        push["with"]["file"],
        "crates/${{ matrix.image }}/Dockerfile"
    );
    for (job, write) in [
        ("images", &["packages"][..]),
        ("binaries", &[][..]),
        ("release", &["contents"][..]),
        ("crates", &[][..]),
    ] {
        let permissions = jobs[job]["permissions"].as_mapping().unwrap();
        for (key, value) in permissions {
            let key = key.as_str().unwrap();
            let expected = if write.contains(&key) {
                "write"
            } else {
                "read"
            };
            assert_eq!(value, expected, "{job}: {key}");
        }
    }
    assert_eq!(
        release["permissions"],
        Value::Mapping(Default::default()),
        "no permission unless a job asks"
    );

    // usage-scraper reaches crates.io before stackc.
    let publish: Vec<&str> = jobs["crates"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .filter(|r| r.starts_with("cargo publish"))
        .collect();
    assert_eq!(
        publish,
        [
            "cargo publish --locked -p usage-scraper",
            "cargo publish --locked -p stackc"
        ]
    );
}
