//! The embedded, strict minijinja environment every target renders with.
//!
//! Templates live in `templates/<target>/<file>.<ext>.j2` and are compiled into the
//! binary. Escaping is chosen by extension, so a template never quotes a value itself:
//! `.alloy` values are Go-quoted (Alloy decodes strings with `strconv.Unquote`),
//! `.yaml`/`.yml`/`.json`/`.toml` values are JSON-encoded (a JSON string is a valid YAML
//! double-quoted scalar and a valid TOML basic string once the few characters YAML and
//! TOML refuse raw are `\u`-escaped: `escape_unprintable`), and `.sql`/`.env.example` take
//! only values the model has already validated as identifiers.

use include_dir::{Dir, include_dir};
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// The template environment.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn new() -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_debug(true);
        env.set_keep_trailing_newline(true);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_auto_escape_callback(|name| {
            let name = name.strip_suffix(".j2").unwrap_or(name);
            if name.ends_with(".alloy") {
                AutoEscape::Custom("alloy")
            } else if [".yaml", ".yml", ".json", ".toml"]
                .iter()
                .any(|e| name.ends_with(e))
            {
                AutoEscape::Json
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(|out, state, value| {
            if state.auto_escape() == AutoEscape::Custom("alloy")
                && let Some(text) = value.as_str()
                && !value.is_safe()
            {
                return out.write_str(&go_quote(text)).map_err(Into::into);
            }
            if state.auto_escape() == AutoEscape::Json && !value.is_safe() {
                let json = serde_json::to_string(value).map_err(|e| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::BadSerialization,
                        "unable to format to JSON",
                    )
                    .with_source(e)
                })?;
                return out
                    .write_str(&escape_unprintable(&json))
                    .map_err(Into::into);
            }
            minijinja::escape_formatter(out, state, value)
        });
        for file in all_files(&TEMPLATES) {
            let name = file.path().to_str().expect("template paths are UTF-8");
            if name.ends_with(".j2") {
                let source = file
                    .contents_utf8()
                    .ok_or_else(|| anyhow::anyhow!("template `{name}` is not UTF-8"))?;
                env.add_template(name, source)?;
            }
        }
        Ok(Templates { env })
    }

    /// Renders one template with a serializable context; LF line ends, one final newline.
    pub fn render(&self, name: &str, context: impl serde::Serialize) -> anyhow::Result<String> {
        let template = self.env.get_template(name).map_err(|e| {
            anyhow::anyhow!("template `{name}` is missing (this is a stackc bug): {e}")
        })?;
        let text = template
            .render(Value::from_serialize(&context))
            .map_err(|e| {
                anyhow::anyhow!("rendering `{name}` failed (this is a stackc bug): {e:#}")
            })?;
        Ok(normalize(&text))
    }

    /// Renders one template into the generated file at `path`.
    pub fn file(
        &self,
        path: &str,
        name: &str,
        context: impl serde::Serialize,
    ) -> anyhow::Result<crate::targets::OutputFile> {
        Ok(crate::targets::OutputFile::new(
            path,
            self.render(name, context)?,
        ))
    }

    /// Names of every `.j2` template, for the "no unused template" test.
    pub fn names() -> Vec<String> {
        all_files(&TEMPLATES)
            .into_iter()
            .filter_map(|f| f.path().to_str().map(str::to_owned))
            .filter(|n| n.ends_with(".j2"))
            .collect()
    }
}

fn all_files(dir: &'static Dir<'static>) -> Vec<&'static include_dir::File<'static>> {
    let mut out: Vec<_> = dir.files().collect();
    for sub in dir.dirs() {
        out.extend(all_files(sub));
    }
    out.sort_by_key(|f| f.path());
    out
}

/// LF only, no trailing blanks at the end, exactly one final newline.
pub fn normalize(text: &str) -> String {
    let mut out = text.replace("\r\n", "\n");
    while out.ends_with('\n') {
        out.pop();
    }
    out.push('\n');
    out
}

/// JSON text with `\u` escapes for what serde_json leaves raw but YAML (1.1 and 1.2) does
/// not accept raw, or folds, in a double-quoted scalar, and TOML not in a basic string:
/// DEL, the C1 controls (NEL among them), U+2028, U+2029, the BOM and U+FFFE/U+FFFF.
/// Only ever inside JSON strings, where such an escape means the same character.
pub fn escape_unprintable(json: &str) -> String {
    let needs = |c: char| {
        matches!(
            c,
            '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        )
    };
    if !json.contains(needs) {
        return json.to_owned();
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if needs(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Quotes a string as Go's `strconv.Quote` does, which is what Alloy's own encoder writes:
/// `\\`, `\"`, the short escapes for control characters, `\u` for other non-printables.
pub fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\u{0b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quote_matches_strconv_quote() {
        assert_eq!(go_quote("plain"), r#""plain""#);
        assert_eq!(go_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(go_quote("l1\nl2\t\r"), r#""l1\nl2\t\r""#);
        assert_eq!(go_quote("\u{1}"), r#""\x01""#);
        assert_eq!(go_quote("é ✓ $ # '"), "\"é ✓ $ # '\"");
    }

    #[test]
    fn json_for_yaml_escapes_what_yaml_refuses_raw() {
        assert_eq!(
            escape_unprintable("\"a\u{7f}\u{85}\u{2028}é\""),
            r#""a\u007f\u0085\u2028é""#
        );
        assert_eq!(escape_unprintable("\"plain ✓\""), "\"plain ✓\"");
    }

    #[test]
    fn every_template_compiles() {
        let templates = Templates::new().unwrap();
        for name in Templates::names() {
            assert!(templates.env.get_template(&name).is_ok(), "{name}");
        }
    }
}
