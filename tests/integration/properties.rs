//! Property tests: the checker never panics, whatever the input (random text, TOML-ish
//! documents, mutations of every example and CLI case, pathological nesting and sizes), a
//! stack comes back only when there is no error, and `stackc build` on an invalid file
//! writes nothing: no output directory appears, and an existing one stays byte-identical.
//!
//! Case counts are modest by default; `PROPTEST_CASES` overrides them all.

use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use stackc::diagnostic::SourceFile;

use crate::golden::tree;
use crate::support::{examples, repo};

/// `PROPTEST_CASES` when set, else `default`.
pub(crate) fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Checks a text and its invariants; true when it has errors.
fn check(text: &str) -> bool {
    let source = SourceFile {
        name: "stack.toml".into(),
        text: text.to_owned(),
    };
    let checked = stackc::validate::check(&source);
    assert_eq!(checked.stack.is_none(), checked.has_errors(), "{text:?}");
    for d in &checked.diagnostics {
        for span in std::iter::once(&d.span).chain(d.related.iter().map(|r| &r.0)) {
            assert!(span.end <= text.len(), "span past the end: {d:?}");
            assert!(span.start <= span.end, "reversed span: {d:?}");
            assert!(
                text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
                "span inside a character: {d:?}"
            );
        }
    }
    // rendering must not panic either
    let _ = source.render(&checked.diagnostics);
    checked.has_errors()
}

const KEYS: &[&str] = &[
    "name",
    "bind",
    "scrape_interval",
    "scrape_timeout",
    "retention",
    "enabled",
    "poll_interval",
    "lookback",
    "database",
    "grafana",
    "loki",
    "postgres",
    "image",
    "build",
    "port",
    "metrics_path",
    "metrics",
    "traces",
    "publish",
    "env",
    "secrets",
    "x",
];
const SECTIONS: &[&str] = &[
    "stack",
    "metrics",
    "logs",
    "traces",
    "usage",
    "ports",
    "versions",
    "apps.a",
    "apps.b-c",
    "apps.b_c",
    "apps.\"é\"",
    "apps.1",
    "nope",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        "[a-z0-9 $#:\"\\\\.-]{0,12}".prop_map(|s| format!("{s:?}")),
        "[0-9]{1,4}(ms|s|m|h|d|w|x)?".prop_map(|s| format!("\"{s}\"")),
        Just("[\"A\", \"A\", 3]".to_owned()),
        Just("{ K = \"v\", \"1\" = 2 }".to_owned()),
        Just("1979-05-27".to_owned()),
        Just("3.5".to_owned()),
    ]
}

fn document() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(SECTIONS),
            prop::collection::vec((prop::sample::select(KEYS), value()), 0..6),
        ),
        0..6,
    )
    .prop_map(|sections| {
        let mut out = String::new();
        for (section, entries) in sections {
            out.push_str(&format!("[{section}]\n"));
            for (key, value) in entries {
                out.push_str(&format!("{key} = {value}\n"));
            }
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(512)))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        check(&text);
    }

    #[test]
    fn tomlish_documents_never_panic(text in document()) {
        check(&text);
    }

    #[test]
    fn mutated_demo_never_panics(cut in 0usize..4000, insert in "[\\[\\]=\"{}\n a-z0-9]{0,5}") {
        let demo = include_str!("../../examples/demo/stack.toml");
        let mut at = cut.min(demo.len());
        while !demo.is_char_boundary(at) { at -= 1; }
        let text = format!("{}{insert}{}", &demo[..at], &demo[at..]);
        check(&text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]

    #[test]
    fn mutated_seeds_never_panic(
        seed in prop::sample::select(seeds()),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        check(&mutate(&seed, &edits));
    }
}

/// Every stack file the repository holds: the examples and the CLI cases (their
/// `stack.toml` inputs, and the case files themselves, which are TOML too).
pub(crate) fn seed_paths() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = examples().iter().map(|d| d.join("stack.toml")).collect();
    for entry in std::fs::read_dir(repo().join("tests/cmd")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            out.push(path.clone());
        }
        if path.join("stack.toml").is_file() {
            out.push(path.join("stack.toml"));
        }
    }
    out.sort();
    out
}

fn seeds() -> Vec<String> {
    seed_paths()
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// One edit of a seed, at a position relative to its length (0..1): delete, duplicate or
/// overwrite a range, or insert a fragment that means something to TOML.
#[derive(Clone, Debug)]
enum Edit {
    Delete(f64, usize),
    Duplicate(f64, usize),
    Insert(f64, String),
    Replace(f64, String),
}

const FRAGMENTS: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "=",
    "\"",
    "'",
    "\"\"\"",
    "'''",
    "{",
    "}",
    ",",
    "\n",
    "#",
    ".",
    "\\",
    "\\u",
    "\\U0010FFFF",
    "\\uD800",
    "\u{0}",
    "\u{feff}",
    "\r",
    "\t",
    " = 1",
    "[apps.x]\nimage = \"i\"\n",
    "port = 0",
    "port = 65536",
    "port = -1",
    "= true",
    "1979-05-27T07:32:00Z",
    "nan",
    "inf",
    "0x10",
    "1e400",
    "[apps.\"\"]",
    "[apps.alloy]",
    "secrets = [\"A\", \"A\"]",
    "env = { A = 1 }",
];

fn edit() -> impl Strategy<Value = Edit> {
    let fragment = prop_oneof![
        prop::sample::select(FRAGMENTS).prop_map(str::to_owned),
        "\\PC{0,8}",
    ];
    prop_oneof![
        (0.0..1.0f64, 1usize..40).prop_map(|(at, n)| Edit::Delete(at, n)),
        (0.0..1.0f64, 1usize..80).prop_map(|(at, n)| Edit::Duplicate(at, n)),
        (0.0..1.0f64, fragment.clone()).prop_map(|(at, s)| Edit::Insert(at, s)),
        (0.0..1.0f64, fragment).prop_map(|(at, s)| Edit::Replace(at, s)),
    ]
}

/// The char boundary at or before `at` (relative) of `text`.
fn boundary(text: &str, at: f64) -> usize {
    let mut i = ((text.len() as f64) * at) as usize;
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The char boundary at or before `end`, capped to the text.
fn floor(text: &str, end: usize) -> usize {
    let mut end = end.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

fn mutate(seed: &str, edits: &[Edit]) -> String {
    let mut text = seed.to_owned();
    for edit in edits {
        match edit {
            Edit::Delete(at, n) => {
                let start = boundary(&text, *at);
                let end = floor(&text, start + n);
                text.replace_range(start..end, "");
            }
            Edit::Duplicate(at, n) => {
                let start = boundary(&text, *at);
                let end = floor(&text, start + n);
                let range = text[start..end].to_owned();
                text.insert_str(end, &range);
            }
            Edit::Insert(at, s) => {
                let at = boundary(&text, *at);
                text.insert_str(at, s);
            }
            Edit::Replace(at, s) => {
                let start = boundary(&text, *at);
                let end = floor(&text, start + s.len());
                text.replace_range(start..end, s);
            }
        }
    }
    text
}

#[test]
fn pathological_shapes_never_panic() {
    // Deep nesting, huge values and many keys: no stack overflow, no panic, an error.
    let deep_arrays = format!("x = {}1{}\n", "[".repeat(5000), "]".repeat(5000));
    let deep_tables = format!("x = {}1{}\n", "{ a = ".repeat(5000), " }".repeat(5000));
    let deep_env = format!(
        "[apps.a]\nimage = \"i\"\nenv = {}\"v\"{}\n",
        "{ A = ".repeat(3000),
        " }".repeat(3000)
    );
    let dotted = format!(
        "[apps.a]\nimage = \"i\"\n{} = 1\n",
        vec!["k"; 5000].join(".")
    );
    let headers = format!("[{}]\n", vec!["apps"; 5000].join("."));
    let long_value = format!(
        "[apps.a]\nimage = \"i\"\nenv = {{ A = \"{}\" }}\nport = 0\n",
        "x".repeat(2_000_000)
    );
    // Many diagnostics: rendering them is quadratic in the file's size (annotate-snippets
    // reads the whole source for each), so these stay at hundreds, not thousands.
    let many_apps: String = (0..400)
        .map(|i| {
            format!(
                "[apps.a{i}]\nimage = \"i\"\npublish = {}\n",
                20000 + i % 100
            )
        })
        .collect();
    let many_tables: String = (0..500)
        .map(|i| format!("[apps.a]\nk{i} = {i}\n"))
        .collect();
    let unclosed = "[apps.\"".repeat(10_000);
    for (name, text) in [
        ("deep arrays", deep_arrays),
        ("deep inline tables", deep_tables),
        ("deep env", deep_env),
        ("long dotted key", dotted),
        ("long header", headers),
        ("2 MB value", long_value),
        ("400 apps with colliding ports", many_apps),
        ("500 duplicate tables", many_tables),
        ("unclosed headers", unclosed),
    ] {
        assert!(check(&text), "{name}: accepted");
    }
}

fn stackc(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stackc"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

#[test]
fn invalid_stacks_build_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A previous tree, with a foreign file, that every failed build must leave alone.
    std::fs::copy(
        repo().join("examples/minimal/stack.toml"),
        dir.join("stack.toml"),
    )
    .unwrap();
    let first = stackc(&["build", "-o", "previous"], dir);
    assert!(first.status.success(), "{first:?}");
    std::fs::write(dir.join("previous/NOTES.md"), "mine\n").unwrap();
    let before = tree(&dir.join("previous"));

    let strategy = prop_oneof![
        (
            prop::sample::select(seeds()),
            prop::collection::vec(edit(), 1..4)
        )
            .prop_map(|(seed, edits)| mutate(&seed, &edits)),
        document(),
        "\\PC{0,200}",
    ];
    let mut runner = TestRunner::new(Config {
        cases: cases(48),
        failure_persistence: None,
        ..Config::default()
    });
    let invalid = std::cell::Cell::new(0u32);
    runner
        .run(&strategy, |text| {
            let source = SourceFile {
                name: "stack.toml".into(),
                text: text.clone(),
            };
            prop_assume!(stackc::validate::check(&source).has_errors());
            invalid.set(invalid.get() + 1);
            std::fs::write(dir.join("stack.toml"), &text).unwrap();
            for out in ["fresh", "previous"] {
                let output = stackc(&["build", "-o", out], dir);
                let stderr = String::from_utf8_lossy(&output.stderr);
                prop_assert_eq!(output.status.code(), Some(1), "{}", stderr);
                prop_assert!(stderr.contains("nothing was written"), "{}", stderr);
                prop_assert!(!stderr.contains("panicked"), "{}", stderr);
            }
            prop_assert!(!dir.join("fresh").exists());
            prop_assert!(
                tree(&dir.join("previous")) == before,
                "the previous tree changed"
            );
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            prop_assert_eq!(names, vec!["previous".to_owned(), "stack.toml".to_owned()]);
            Ok(())
        })
        .unwrap();
    assert!(invalid.get() > 0, "no invalid input was drawn");
}
