//! Property tests: the checker never panics, whatever the input, and a stack comes back
//! only when there is no error.

use proptest::prelude::*;
use stackc::diagnostic::SourceFile;

fn check(text: &str) {
    let source = SourceFile {
        name: "stack.toml".into(),
        text: text.to_owned(),
    };
    let checked = stackc::validate::check(&source);
    assert_eq!(checked.stack.is_none(), checked.has_errors(), "{text:?}");
    for d in &checked.diagnostics {
        assert!(d.span.end <= text.len(), "span past the end: {d:?}");
    }
    // rendering must not panic either
    let _ = source.render(&checked.diagnostics);
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
    #![proptest_config(ProptestConfig::with_cases(512))]

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
