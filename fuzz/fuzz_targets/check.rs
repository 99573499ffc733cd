//! Fuzz target `check`: the TOML-to-model path on arbitrary UTF-8.
//!
//! Invariants: `check` never panics; a stack comes back exactly when there is no error;
//! every span (and related span) lies inside the text on character boundaries; rendering
//! the diagnostics never panics; and a stack that checks renders every target, with every
//! YAML and JSON file parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stackc::diagnostic::SourceFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = SourceFile {
        name: "stack.toml".into(),
        text: text.to_owned(),
    };
    let checked = stackc::validate::check(&source);
    assert_eq!(checked.stack.is_some(), !checked.has_errors());
    for diagnostic in &checked.diagnostics {
        let spans =
            std::iter::once(&diagnostic.span).chain(diagnostic.related.iter().map(|r| &r.0));
        for span in spans {
            assert!(
                span.start <= span.end && span.end <= text.len(),
                "{diagnostic:?}"
            );
            assert!(
                text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
                "{diagnostic:?}"
            );
        }
    }
    let _ = source.render(&checked.diagnostics);
    if let Some(stack) = &checked.stack {
        let files = stackc::targets::render(stack, &Default::default())
            .expect("a stack that checks renders");
        for file in files {
            if file.path.ends_with(".yaml") || file.path.ends_with(".yml") {
                if let Err(e) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&file.contents) {
                    panic!("{}: {e}", file.path);
                }
            } else if file.path.ends_with(".json") {
                if let Err(e) = serde_json::from_str::<serde_json::Value>(&file.contents) {
                    panic!("{}: {e}", file.path);
                }
            }
        }
    }
});
