//! Messages about what the user wrote: a span in `stack.toml`, a lowercase message with
//! names in backticks, an optional help line, and secondary spans ("first used here").
//! Rendered as `file:line:col`, the source line and carets by annotate-snippets.

use std::ops::Range;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in the input, located by byte span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Byte range in the source; empty ranges point between characters.
    pub span: Range<usize>,
    pub message: String,
    /// Label under the carets, if any.
    pub label: Option<String>,
    pub help: Option<String>,
    /// Other places that explain this one, e.g. the first of two colliding ports.
    pub related: Vec<(Range<usize>, String)>,
}

impl Diagnostic {
    pub fn error(span: Range<usize>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            span,
            message: message.into(),
            label: None,
            help: None,
            related: Vec::new(),
        }
    }

    pub fn warning(span: Range<usize>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }

    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    #[must_use]
    pub fn with_related(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `help: did you mean `x`?` for a misspelt name, when one candidate is close enough.
pub fn did_you_mean<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(given, c), c))
        .filter(|(distance, c)| *distance < 3 && *distance < c.len().max(2))
        .min()
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

/// The text of a stack file and the name it is shown under.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The path as the user gave it (kept relative so messages are reproducible).
    pub name: String,
    pub text: String,
}

impl SourceFile {
    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    /// Renders diagnostics in order of position, errors and warnings interleaved.
    pub fn render(&self, diagnostics: &[Diagnostic]) -> String {
        let renderer = Renderer::plain();
        // Each diagnostic hands annotate-snippets only the lines it annotates (found by
        // binary search in the line starts), not the whole file: rendering stays linear
        // in the number of diagnostics however large the file.
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(self.text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let mut out = String::new();
        for d in diagnostics {
            let span = clamp(&self.text, &d.span);
            let related: Vec<(Range<usize>, &str)> = d
                .related
                .iter()
                .map(|(span, label)| (clamp(&self.text, span), label.as_str()))
                .collect();
            let (lo, hi) = related
                .iter()
                .fold((span.start, span.end), |(lo, hi), (r, _)| {
                    (lo.min(r.start), hi.max(r.end))
                });
            let first = line_starts.partition_point(|&l| l <= lo) - 1;
            let last = line_starts.partition_point(|&l| l <= hi.saturating_sub(1).max(lo)) - 1;
            let start = line_starts[first];
            let end = line_starts
                .get(last + 1)
                .copied()
                .unwrap_or(self.text.len());
            let window = &self.text[start..end];
            let shift = |r: &Range<usize>| r.start - start..r.end - start;

            let level = match d.severity {
                Severity::Error => Level::ERROR,
                Severity::Warning => Level::WARNING,
            };
            let mut primary = AnnotationKind::Primary.span(shift(&span));
            if let Some(label) = &d.label {
                primary = primary.label(label.as_str());
            }
            let mut snippet = Snippet::source(window)
                .line_start(first + 1)
                .path(self.name.as_str())
                .annotation(primary);
            for (span, label) in &related {
                snippet =
                    snippet.annotation(AnnotationKind::Context.span(shift(span)).label(*label));
            }
            let mut group =
                Group::with_title(level.primary_title(d.message.as_str())).element(snippet);
            if let Some(help) = &d.help {
                group = group.element(Level::HELP.message(help.as_str()));
            }
            out.push_str(&renderer.render(&[group]));
            out.push_str("\n\n");
        }
        out
    }
}

/// A span that annotate-snippets can always draw: inside the text, on char boundaries.
fn clamp(text: &str, span: &Range<usize>) -> Range<usize> {
    let mut start = span.start.min(text.len());
    let mut end = span.end.clamp(start, text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    while !text.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

/// Plain-text summary line: "2 errors, 1 warning".
pub fn summary(diagnostics: &[Diagnostic]) -> String {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    match (errors, warnings) {
        (0, w) => plural(w, "warning"),
        (e, 0) => plural(e, "error"),
        (e, w) => format!("{}, {}", plural(e, "error"), plural(w, "warning")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let src = SourceFile {
            name: "stack.toml".into(),
            text: "a = 1\nné = \"x\"\n".into(),
        };
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(6), (2, 1));
        // `=` after the two-byte `é`
        assert_eq!(src.line_col(10), (2, 4));
    }

    #[test]
    fn suggests_close_names_only() {
        let keys = ["scrape_interval", "retention"];
        assert_eq!(
            did_you_mean("scrape_intervall", keys).as_deref(),
            Some("did you mean `scrape_interval`?")
        );
        assert_eq!(did_you_mean("colour", keys), None);
    }

    #[test]
    fn renders_location_caret_and_help() {
        let src = SourceFile {
            name: "stack.toml".into(),
            text: "[metrics]\nscrape_intervall = \"15s\"\n".into(),
        };
        let d = Diagnostic::error(10..26, "unknown key `scrape_intervall` in `[metrics]`")
            .with_help("did you mean `scrape_interval`?");
        let out = src.render(&[d]);
        assert!(out.contains("stack.toml:2:1"), "{out}");
        assert!(out.contains("^^^^^^^^^^^^^^^^"), "{out}");
        assert!(
            out.contains("help: did you mean `scrape_interval`?"),
            "{out}"
        );
    }
}
