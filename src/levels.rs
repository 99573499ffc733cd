//! One log-level vocabulary for the whole stack. Alloy normalises every log line to it at
//! ingestion (Docker JSON and logfmt lines in `loki.process`, OTLP records by their
//! severity in `otelcol.processor.transform`), the dashboards' level filters offer exactly
//! these values, and the error panels select `error` and `fatal`.
//!
//! The tables here are the single source: `targets::alloy` renders the JMESPath chain,
//! the Go template and the OTTL statements from them, and the tests run real log lines of
//! each logger (tests/data/log-levels.jsonl) through both this module and the rendered
//! template, so the two cannot disagree.

/// The normalised levels, least severe first.
pub const LEVELS: [&str; 5] = ["debug", "info", "warn", "error", "fatal"];

/// What a line without a recognisable level gets (Loki's own `detected_level` says the
/// same), so that the label set stays bounded and such lines stay selectable.
pub const UNKNOWN: &str = "unknown";

/// The levels the error panels count.
pub const ERRORS: [&str; 2] = ["error", "fatal"];

/// JSON fields a level is read from, first match wins; each is a path of object keys.
/// `level`: logrus, zap, pino, bunyan, winston, Go slog, structlog, log4j2/logback JSON,
/// tracing-subscriber; `lvl`: log15; `severity`: Google Cloud, Stackdriver-style loggers;
/// `log.level` (flat or nested): Elastic Common Schema; `levelname`: python-json-logger;
/// `@l`: Serilog compact JSON; `LogLevel`: .NET's JSON console formatter; `loglevel` and
/// `severity_text` are seen in the wild and in OTLP-shaped JSON.
pub const FIELDS: &[&[&str]] = &[
    &["level"],
    &["lvl"],
    &["severity"],
    &["log.level"],
    &["log", "level"],
    &["levelname"],
    &["@l"],
    &["LogLevel"],
    &["loglevel"],
    &["severity_text"],
];

/// Level names (lower-cased) and numbers by normalised level. Numbers are pino's and
/// bunyan's (10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal).
pub const ALIASES: [(&str, &[&str]); 5] = [
    (
        "debug",
        &[
            "debug", "dbg", "dbug", "trace", "trc", "verbose", "vrb", "silly", "finest", "finer",
            "fine", "10", "20",
        ],
    ),
    (
        "info",
        &[
            "info",
            "inf",
            "information",
            "informational",
            "notice",
            "http",
            "30",
        ],
    ),
    ("warn", &["warn", "wrn", "warning", "40"]),
    ("error", &["error", "err", "eror", "dpanic", "severe", "50"]),
    (
        "fatal",
        &[
            "fatal",
            "ftl",
            "critical",
            "crit",
            "panic",
            "alert",
            "emerg",
            "emergency",
            "60",
        ],
    ),
];

/// OTLP `severity_number` ranges (the OpenTelemetry log data model): 1-4 TRACE and 5-8
/// DEBUG are `debug`, 9-12 `info`, 13-16 `warn`, 17-20 `error`, 21-24 `fatal`; 0 means
/// unspecified, and then `severity_text` is matched like a JSON level.
pub const SEVERITY_RANGES: [(&str, u8, u8); 5] = [
    ("debug", 1, 8),
    ("info", 9, 12),
    ("warn", 13, 16),
    ("error", 17, 20),
    ("fatal", 21, 24),
];

/// The normalised level of a raw value as a logger wrote it (trimmed, any case).
pub fn normalise(raw: &str) -> &'static str {
    let value = raw.trim().to_ascii_lowercase();
    ALIASES
        .iter()
        .find(|(_, names)| names.contains(&value.as_str()))
        .map_or(UNKNOWN, |(level, _)| level)
}

/// The normalised level of an OTLP record.
pub fn from_severity(number: u8, text: &str) -> &'static str {
    if number == 0 {
        return normalise(text);
    }
    SEVERITY_RANGES
        .iter()
        .find(|(_, lo, hi)| (*lo..=*hi).contains(&number))
        .map_or(UNKNOWN, |(level, _, _)| level)
}

/// The field paths tried, with `[logs] level_field` (dotted for nesting) first.
pub fn fields(custom: Option<&str>) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    if let Some(custom) = custom {
        out.push(custom.split('.').map(str::to_owned).collect());
    }
    for path in FIELDS {
        let path: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
        if !out.contains(&path) {
            out.push(path);
        }
    }
    out
}

/// The JMESPath expression `stage.json` reads the raw level with: quoted identifiers
/// joined by `||`, which yields the first field that is present and not empty.
pub fn jmespath(custom: Option<&str>) -> String {
    fields(custom)
        .iter()
        .map(|path| {
            path.iter()
                .map(|key| format!("\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect::<Vec<_>>()
        .join(" || ")
}

/// Extracted-map keys `stage.logfmt` fills from `level=` and `lvl=` (go-kit, log15,
/// logrus's and slog's text formats), read after the JSON value.
pub const LOGFMT_KEYS: [(&str, &str); 2] = [("logfmt_level", "level"), ("logfmt_lvl", "lvl")];

/// The Go template of `stage.template` that turns the raw value(s) into one level: the
/// first non-empty of the JSON value and the logfmt values, printed (pino's numbers are
/// floats), trimmed and lower-cased, then looked up in `ALIASES`; `unknown` otherwise.
pub fn go_template(source: &str) -> String {
    let mut inputs = vec![format!(".{source}")];
    inputs.extend(LOGFMT_KEYS.iter().map(|(key, _)| format!(".{key}")));
    let mut out = format!(
        "{{{{ with or {} }}}}{{{{ $l := ToLower (TrimSpace (printf \"%v\" .)) }}}}",
        inputs.join(" ")
    );
    for (i, (level, names)) in ALIASES.iter().enumerate() {
        let keyword = if i == 0 { "if" } else { "else if" };
        let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        out.push_str(&format!(
            "{{{{ {keyword} eq $l {} }}}}{level}",
            quoted.join(" ")
        ));
    }
    out.push_str(&format!(
        "{{{{ else }}}}{UNKNOWN}{{{{ end }}}}{{{{ else }}}}{UNKNOWN}{{{{ end }}}}"
    ));
    out
}

/// OTTL statements (log context) that set the `level` attribute of an OTLP record from
/// its severity: `unknown` first, then each range, then the text when the number is 0.
pub fn ottl_statements(attribute: &str) -> Vec<String> {
    let mut out = vec![format!("set(attributes[\"{attribute}\"], \"{UNKNOWN}\")")];
    for (level, lo, hi) in SEVERITY_RANGES {
        out.push(format!(
            "set(attributes[\"{attribute}\"], \"{level}\") where severity_number >= {lo} and severity_number <= {hi}"
        ));
    }
    for (level, names) in ALIASES {
        let words: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !n.chars().all(|c| c.is_ascii_digit()))
            .collect();
        out.push(format!(
            "set(attributes[\"{attribute}\"], \"{level}\") where severity_number == 0 and IsMatch(severity_text, \"(?i)^\\\\s*({})\\\\s*$\")",
            words.join("|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_disjoint_lowercase_and_cover_every_level() {
        let mut seen = std::collections::BTreeSet::new();
        for (level, names) in ALIASES {
            assert!(LEVELS.contains(&level));
            assert!(names.contains(&level), "{level} maps to itself");
            for name in names {
                assert_eq!(*name, name.to_ascii_lowercase());
                assert!(seen.insert(*name), "{name} is listed twice");
            }
        }
        assert_eq!(ALIASES.len(), LEVELS.len());
    }

    #[test]
    fn normalises_names_numbers_and_case() {
        assert_eq!(normalise("INFO"), "info");
        assert_eq!(normalise(" Warning "), "warn");
        assert_eq!(normalise("30"), "info");
        assert_eq!(normalise("DPANIC"), "error");
        assert_eq!(normalise("Critical"), "fatal");
        assert_eq!(normalise("banana"), "unknown");
        assert_eq!(normalise(""), "unknown");
        assert_eq!(from_severity(9, ""), "info");
        assert_eq!(from_severity(17, "whatever"), "error");
        assert_eq!(from_severity(0, "Warning"), "warn");
        assert_eq!(from_severity(0, ""), "unknown");
        assert_eq!(from_severity(25, ""), "unknown");
    }

    #[test]
    fn custom_field_comes_first_and_is_not_repeated() {
        assert_eq!(
            jmespath(Some("log.level")).split(" || ").next(),
            Some("\"log\".\"level\"")
        );
        let fields = fields(Some("level"));
        assert_eq!(fields.iter().filter(|f| *f == &["level"]).count(), 1);
        assert!(jmespath(None).starts_with("\"level\" || \"lvl\""));
    }
}
