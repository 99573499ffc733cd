//! A review, printed: human text (coloured on a terminal), Markdown for a pull-request
//! comment, or JSON for tools (its shape is `schema/diff-report.schema.json`). All three
//! put the risks first, then the changes grouped by stack, component and app; the text
//! and Markdown forms add the generated files' line counts with `--stat` (JSON always
//! carries them).

use std::fmt::Write as _;

use super::{Item, Report, ScopeChanges, ScopeKind, Severity, Status};

/// The hidden line that starts every Markdown report: a CI job finds its own comment by
/// it, to update it in place.
pub const MARKER: &str = "<!-- stackc-diff -->";

/// ANSI styles, or nothing.
#[derive(Clone, Copy, Debug)]
pub struct Paint {
    pub on: bool,
}

impl Paint {
    fn paint(self, style: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{style}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn severity(self, severity: Severity) -> String {
        let label = format!("{:<6}", severity.to_string().to_uppercase());
        let style = match severity {
            Severity::High => "1;31",
            Severity::Medium => "1;33",
            Severity::Low => "1;36",
        };
        self.paint(style, &label)
    }
}

/// "1 high, 2 medium, 0 low"
fn counts(report: &Report) -> String {
    let s = &report.summary;
    format!("{} high, {} medium, {} low", s.high, s.medium, s.low)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Added => "new",
        Status::Removed => "removed",
        Status::Changed => "changed",
    }
}

/// Greedy word wrap of `text` to `width` columns, every line indented by `indent`.
fn wrap(text: &str, indent: usize, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&" ".repeat(indent));
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&" ".repeat(indent));
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The human report.
pub fn text(report: &Report, stat: bool, paint: Paint) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} → {}",
        paint.paint("1", "stackc diff:"),
        report.old.source,
        report.new.source
    );
    if !report.old.present {
        let _ = writeln!(
            out,
            "`{}` does not exist: everything is new",
            report.old.source
        );
    }
    let _ = writeln!(
        out,
        "risks: {} · {} · {}",
        counts(report),
        plural(report.summary.changes, "change", "changes"),
        plural(
            report.summary.files,
            "generated file differs",
            "generated files differ"
        ),
    );
    if report.is_empty() {
        out.push_str("\nno change to the running stack or to the generated files\n");
        return out;
    }

    if !report.risks.is_empty() {
        let _ = writeln!(out, "\n{}", paint.paint("1", "Risks"));
        for risk in &report.risks {
            let _ = writeln!(
                out,
                "  {}  {}: {}  {}",
                paint.severity(risk.severity),
                risk.scope,
                risk.summary,
                paint.paint("2", &format!("[{}]", risk.rule))
            );
            out.push_str(&wrap(&risk.why, 10, 100));
        }
    }

    let _ = writeln!(out, "\n{}", paint.paint("1", "Changes"));
    if report.changes.is_empty() {
        out.push_str(
            "  none to the running stack that this report follows; the generated files differ (--stat)\n",
        );
    }
    for group in &report.changes {
        text_group(&mut out, group, paint);
    }

    if stat && !report.files.is_empty() {
        let (added, removed) = totals(report);
        let _ = writeln!(
            out,
            "\n{} ({}, +{added} -{removed})",
            paint.paint("1", "Generated files"),
            plural(report.files.len(), "file", "files")
        );
        let width = report
            .files
            .iter()
            .map(|f| f.path.chars().count())
            .max()
            .unwrap_or(0);
        for file in &report.files {
            let note = match file.status {
                Status::Changed => "",
                Status::Added => "  (new)",
                Status::Removed => "  (removed)",
            };
            let _ = writeln!(
                out,
                "  {:<width$}  {} {}{note}",
                file.path,
                paint.paint("32", &format!("{:>6}", format!("+{}", file.added))),
                paint.paint("31", &format!("{:>6}", format!("-{}", file.removed))),
            );
        }
    }
    out
}

fn text_group(out: &mut String, group: &ScopeChanges, paint: Paint) {
    let header = match group.status {
        Status::Changed => group.scope.to_string(),
        status => format!("{} ({})", group.scope, status_word(status)),
    };
    let _ = writeln!(out, "  {}", paint.paint("1", &header));
    for item in &group.items {
        let line = match (&item.old, &item.new) {
            (Some(old), Some(new)) => paint.paint("33", &format!("~ {}: {old} → {new}", item.name)),
            (None, Some(new)) => paint.paint("32", &format!("+ {}: {new}", item.name)),
            (Some(old), None) => paint.paint("31", &format!("- {}: {old}", item.name)),
            (None, None) => continue,
        };
        let _ = writeln!(out, "    {line}");
    }
}

fn totals(report: &Report) -> (usize, usize) {
    report
        .files
        .iter()
        .fold((0, 0), |(a, r), f| (a + f.added, r + f.removed))
}

/// A Markdown code span that shows `text` exactly, whatever backticks it holds.
fn code(text: &str) -> String {
    if text.is_empty() {
        return "` `".to_owned();
    }
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// Plain text with Markdown's inline syntax escaped; `_` only where it could start or end
/// emphasis (at a word's edge), so that `otlp_grpc` stays readable.
fn escape(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let word = |j: Option<usize>| {
            j.and_then(|j| chars.get(j))
                .is_some_and(|c| c.is_alphanumeric())
        };
        let edge = c == '_' && !(word(i.checked_sub(1)) && word(Some(i + 1)));
        if edge
            || matches!(
                c,
                '\\' | '`' | '*' | '[' | ']' | '<' | '>' | '|' | '~' | '#'
            )
        {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A table cell: `|` would end it, even inside a code span, and a newline would end the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn badge(severity: Severity) -> &'static str {
    match severity {
        Severity::High => "🔴 high",
        Severity::Medium => "🟠 medium",
        Severity::Low => "🟡 low",
    }
}

fn scope_md(group: &super::Scope) -> String {
    match group.kind {
        ScopeKind::Stack => "stack".to_owned(),
        ScopeKind::Component => format!("component {}", code(&group.name)),
        ScopeKind::App => format!("app {}", code(&group.name)),
    }
}

/// The pull-request comment: the marker, a summary line, the risks as a table, the
/// changes by group, and with `stat` the generated files in a collapsed block.
pub fn markdown(report: &Report, stat: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{MARKER}");
    let _ = writeln!(
        out,
        "### stackc diff: {} → {}\n",
        code(&report.old.source),
        code(&report.new.source)
    );
    let s = &report.summary;
    let _ = writeln!(
        out,
        "**Risks: {} high, {} medium, {} low** · {} · {}",
        s.high,
        s.medium,
        s.low,
        plural(s.changes, "change", "changes"),
        plural(s.files, "generated file differs", "generated files differ")
    );
    if !report.old.present {
        let _ = writeln!(
            out,
            "\n{} does not exist: everything is new.",
            code(&report.old.source)
        );
    }
    if report.is_empty() {
        out.push_str("\nNo change to the running stack or to the generated files.\n");
        return out;
    }

    if !report.risks.is_empty() {
        out.push_str(
            "\n#### Risks\n\n| severity | where | what | why |\n| --- | --- | --- | --- |\n",
        );
        for risk in &report.risks {
            let _ = writeln!(
                out,
                "| {} | {} | {} ({}) | {} |",
                badge(risk.severity),
                cell(&scope_md(&risk.scope)),
                cell(&risk.summary),
                cell(&code(risk.rule)),
                cell(&risk.why)
            );
        }
    }

    out.push_str("\n#### Changes\n");
    if report.changes.is_empty() {
        out.push_str(
            "\nNone to the running stack that this report follows; the generated files differ.\n",
        );
    }
    for group in &report.changes {
        let status = match group.status {
            Status::Changed => String::new(),
            status => format!(" ({})", status_word(status)),
        };
        let _ = writeln!(out, "\n**{}**{status}\n", scope_md(&group.scope));
        for item in &group.items {
            let _ = writeln!(out, "- {}", markdown_item(item));
        }
    }

    if stat && !report.files.is_empty() {
        let (added, removed) = totals(report);
        let _ = writeln!(
            out,
            "\n<details>\n<summary>Generated files: {}, +{added} −{removed}</summary>\n",
            plural(report.files.len(), "file", "files")
        );
        out.push_str("| file | | + | − |\n| --- | --- | ---: | ---: |\n");
        for file in &report.files {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(&code(&file.path)),
                status_word(file.status),
                file.added,
                file.removed
            );
        }
        out.push_str("\n</details>\n");
    }
    out
}

fn markdown_item(item: &Item) -> String {
    let name = escape(&item.name);
    match (&item.old, &item.new) {
        (Some(old), Some(new)) => format!("{name}: {} → {}", code(old), code(new)),
        (None, Some(new)) => format!("{name}: {} (new)", code(new)),
        (Some(old), None) => format!("{name}: {} (removed)", code(old)),
        (None, None) => name,
    }
}

/// The JSON report, pretty-printed, with a final newline.
pub fn json(report: &Report) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(report)?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_hold_backticks() {
        assert_eq!(code("a"), "`a`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x`"), "`` `x` ``");
        assert_eq!(code(""), "` `");
    }

    #[test]
    fn cells_and_escapes() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
        assert_eq!(escape("env MY_VAR*"), "env MY_VAR\\*");
        assert_eq!(escape("_a_ b_"), "\\_a\\_ b\\_");
    }

    #[test]
    fn wraps_with_indent() {
        assert_eq!(wrap("aa bb cc", 2, 7), "  aa bb\n  cc\n");
    }
}
