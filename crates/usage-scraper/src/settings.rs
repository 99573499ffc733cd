//! The settings file `scraper.toml` that `stackc build` renders, plus its environment overrides.
//!
//! The file format is a contract with stackc (golden/demo/usage-scraper/scraper.toml): every
//! section and key is parsed strictly (`deny_unknown_fields`), durations are humantime strings
//! ("60s", "2m", "744h", "500ms"), and every key can be overridden by an environment variable
//! `USAGE_SCRAPER_<SECTION>_<KEY>`. The database password never lives in the file: it is read
//! from the variable named by `postgres.password_env`, or from the file named by
//! `<password_env>_FILE`.
//!
//! `[postgres] sslmode` and `root_cert` are the only optional keys (absent: no TLS, as before
//! they existed); their meaning is libpq's, see [`crate::tls`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Deserializer};

/// All settings of one scraper.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub loki: LokiSettings,
    pub poll: PollSettings,
    pub postgres: PostgresSettings,
    pub events: EventSettings,
    pub server: ServerSettings,
}

/// `[loki]`: where and what to query.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LokiSettings {
    pub url: String,
    pub query: String,
    pub page_limit: u32,
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
}

/// `[poll]`: the cadence and the window arithmetic.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollSettings {
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    #[serde(deserialize_with = "duration")]
    pub lookback: Duration,
    #[serde(deserialize_with = "duration")]
    pub settle: Duration,
    #[serde(deserialize_with = "duration")]
    pub max_window: Duration,
    #[serde(deserialize_with = "duration")]
    pub initial_backfill: Duration,
}

/// `[postgres]`: the connection (without password) and the table names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSettings {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password_env: String,
    pub events_table: String,
    pub cursor_table: String,
    pub cursor_name: String,
    /// TLS to the server (optional, default `disable`); see [`crate::tls`].
    #[serde(default, deserialize_with = "sslmode")]
    pub sslmode: SslMode,
    /// PEM file of the CA certificate(s) the server's certificate must chain to (optional;
    /// an empty value counts as absent). Ignored with `sslmode = "disable"`.
    #[serde(default, deserialize_with = "root_cert")]
    pub root_cert: Option<PathBuf>,
}

/// `postgres.sslmode`: the subset of libpq's `sslmode` values the scraper implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// No TLS (the default).
    #[default]
    Disable,
    /// TLS is mandatory; the certificate is checked only when `root_cert` is set (then the
    /// chain, not the host name: libpq's verify-ca).
    Require,
    /// TLS is mandatory; the chain (against `root_cert`, else the system roots) and the host
    /// name are checked.
    VerifyFull,
}

impl SslMode {
    /// The accepted spellings, in the order of [`SslMode`]'s variants.
    pub const VALUES: [&str; 3] = ["disable", "require", "verify-full"];

    /// The settings spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => Self::VALUES[0],
            Self::Require => Self::VALUES[1],
            Self::VerifyFull => Self::VALUES[2],
        }
    }

    /// Parses a settings value; the error lists the accepted ones.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "disable" => Ok(Self::Disable),
            "require" => Ok(Self::Require),
            "verify-full" => Ok(Self::VerifyFull),
            other => {
                let hint = match other {
                    "verify-ca" => {
                        " (for libpq's verify-ca, use \"require\" with postgres.root_cert set)"
                    }
                    "allow" | "prefer" => {
                        " (the scraper never falls back to an unencrypted connection: use \
                         \"require\" or \"disable\")"
                    }
                    _ => "",
                };
                bail!(
                    "invalid postgres.sslmode {other:?}: use one of \"disable\", \"require\", \
                     \"verify-full\"{hint}"
                )
            }
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn sslmode<'de, D: Deserializer<'de>>(d: D) -> Result<SslMode, D::Error> {
    let s = String::deserialize(d)?;
    SslMode::parse(&s).map_err(serde::de::Error::custom)
}

fn root_cert<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let s = String::deserialize(d)?;
    Ok((!s.is_empty()).then(|| PathBuf::from(s)))
}

/// `[events]`: how a Loki entry becomes a row.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSettings {
    pub app_label: String,
}

/// `[server]`: the `/metrics` and `/healthz` listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: String,
}

/// Whether a key holds an integer (kept as a TOML integer when overridden from the environment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
}

/// Every key of the file: `(section, key, kind)`. The overridable set is exactly this list.
/// All are required except `postgres.sslmode` and `postgres.root_cert`.
const KEYS: &[(&str, &str, Kind)] = &[
    ("loki", "url", Kind::Str),
    ("loki", "query", Kind::Str),
    ("loki", "page_limit", Kind::Int),
    ("loki", "timeout", Kind::Str),
    ("poll", "interval", Kind::Str),
    ("poll", "lookback", Kind::Str),
    ("poll", "settle", Kind::Str),
    ("poll", "max_window", Kind::Str),
    ("poll", "initial_backfill", Kind::Str),
    ("postgres", "host", Kind::Str),
    ("postgres", "port", Kind::Int),
    ("postgres", "database", Kind::Str),
    ("postgres", "user", Kind::Str),
    ("postgres", "password_env", Kind::Str),
    ("postgres", "events_table", Kind::Str),
    ("postgres", "cursor_table", Kind::Str),
    ("postgres", "cursor_name", Kind::Str),
    ("postgres", "sslmode", Kind::Str),
    ("postgres", "root_cert", Kind::Str),
    ("events", "app_label", Kind::Str),
    ("server", "listen", Kind::Str),
];

/// The environment variable that overrides `section.key`.
pub fn env_var_name(section: &str, key: &str) -> String {
    format!(
        "USAGE_SCRAPER_{}_{}",
        section.to_ascii_uppercase(),
        key.to_ascii_uppercase()
    )
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

/// Parses "60s", "2m", "744h", "500ms", "1h 30m".
pub fn parse_duration(s: &str) -> Result<Duration> {
    humantime::parse_duration(s.trim())
        .map_err(|e| anyhow!("invalid duration {s:?}: {e} (use e.g. \"60s\", \"2m\", \"500ms\")"))
}

impl Settings {
    /// Reads the file and applies the process environment.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read settings file {}", path.display()))?;
        Self::parse(&text, |k| std::env::var(k).ok())
            .with_context(|| format!("invalid settings file {}", path.display()))
    }

    /// Parses settings text, applying overrides from `env` (a lookup by variable name).
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut table: toml::Table = toml::from_str(text)?;
        for &(section, key, kind) in KEYS {
            let var = env_var_name(section, key);
            let Some(raw) = env(&var) else { continue };
            let value = match kind {
                Kind::Str => toml::Value::String(raw),
                Kind::Int => toml::Value::Integer(
                    raw.trim()
                        .parse()
                        .with_context(|| format!("{var}={raw:?} is not an integer"))?,
                ),
            };
            let entry = table
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let Some(sec) = entry.as_table_mut() else {
                bail!("[{section}] is not a table");
            };
            sec.insert(key.to_owned(), value);
        }
        let settings: Settings = table.try_into()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<()> {
        if self.loki.page_limit == 0 {
            bail!("loki.page_limit must be positive");
        }
        if self.loki.page_limit as usize > crate::loki::SERVER_MAX_ENTRIES {
            bail!(
                "loki.page_limit {} is above Loki's default max_entries_limit_per_query {}",
                self.loki.page_limit,
                crate::loki::SERVER_MAX_ENTRIES
            );
        }
        if self.poll.max_window.is_zero() {
            bail!("poll.max_window must be positive");
        }
        if self.loki.timeout.is_zero() {
            bail!("loki.timeout must be positive");
        }
        if self.postgres.sslmode != SslMode::Disable
            && let Some(path) = &self.postgres.root_cert
        {
            crate::tls::load_root_certs(path)?;
        }
        Ok(())
    }

    /// The database password: `$password_env`, else the contents of `$password_env_FILE`.
    pub fn password(&self, env: impl Fn(&str) -> Option<String>) -> Result<String> {
        let var = &self.postgres.password_env;
        if let Some(p) = env(var) {
            return Ok(p);
        }
        let file_var = format!("{var}_FILE");
        if let Some(path) = env(&file_var) {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read the password file {path} ({file_var})"))?;
            return Ok(text.trim_end_matches(['\n', '\r']).to_owned());
        }
        bail!("no database password: set {var} or {file_var}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The keys of [`KEYS`] that a file may omit: `(section, key)`.
    const OPTIONAL_KEYS: &[(&str, &str)] = &[("postgres", "sslmode"), ("postgres", "root_cert")];

    pub(crate) const GOLDEN: &str = include_str!("../../../golden/demo/usage-scraper/scraper.toml");

    fn no_env(_: &str) -> Option<String> {
        None
    }

    /// stackc's file for an external database (`[components.postgres]` of
    /// examples/team): TLS keys included, the CA file at the mount point compose gives it
    /// (here, by the environment override, the example's own CA).
    #[test]
    fn parses_the_golden_file_of_an_external_database() {
        const TEAM: &str = include_str!("../../../golden/team/usage-scraper/scraper.toml");
        let ca = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/team/certs/usage-db-ca.pem"
        );
        let s = Settings::parse(TEAM, |k| {
            (k == "USAGE_SCRAPER_POSTGRES_ROOT_CERT").then(|| ca.to_owned())
        })
        .unwrap();
        assert_eq!(s.postgres.host, "usage-db.shop.internal");
        assert_eq!(s.postgres.port, 5432);
        assert_eq!(s.postgres.sslmode, SslMode::VerifyFull);
        assert_eq!(s.postgres.root_cert.as_deref(), Some(Path::new(ca)));
        assert!(TEAM.contains("root_cert = \"/etc/stackc/usage-db-ca.pem\""));
        assert_eq!(s.postgres.user, "usage_scraper");
    }

    #[test]
    fn parses_the_golden_file() {
        let s = Settings::parse(GOLDEN, no_env).unwrap();
        assert_eq!(s.loki.url, "http://loki:3100");
        assert_eq!(
            s.loki.query,
            r#"{compose_project="demo"} |~ "\"usage\"\\s*:\\s*true""#
        );
        assert_eq!(s.loki.page_limit, 1000);
        assert_eq!(s.loki.timeout, Duration::from_secs(30));
        assert_eq!(s.poll.interval, Duration::from_secs(60));
        assert_eq!(s.poll.lookback, Duration::from_secs(120));
        assert_eq!(s.poll.settle, Duration::from_secs(5));
        assert_eq!(s.poll.max_window, Duration::from_secs(600));
        assert_eq!(s.poll.initial_backfill, Duration::from_secs(3600));
        assert_eq!(s.postgres.port, 5432);
        assert_eq!(s.postgres.password_env, "USAGE_SCRAPER_DB_PASSWORD");
        assert_eq!(s.postgres.events_table, "usage_events");
        assert_eq!(s.postgres.cursor_table, "usage_scraper_cursor");
        assert_eq!(s.postgres.cursor_name, "demo");
        assert_eq!(s.events.app_label, "compose_service");
        assert_eq!(s.server.listen, "0.0.0.0:9464");
    }

    #[test]
    fn env_overrides_every_key() {
        let env: HashMap<String, String> = [
            ("USAGE_SCRAPER_LOKI_URL", "http://127.0.0.1:1"),
            ("USAGE_SCRAPER_LOKI_PAGE_LIMIT", "5000"),
            ("USAGE_SCRAPER_POLL_INTERVAL", "500ms"),
            ("USAGE_SCRAPER_POLL_INITIAL_BACKFILL", "744h"),
            ("USAGE_SCRAPER_POSTGRES_HOST", "/tmp/sock"),
            ("USAGE_SCRAPER_POSTGRES_PORT", "6543"),
            ("USAGE_SCRAPER_EVENTS_APP_LABEL", "app"),
            ("USAGE_SCRAPER_SERVER_LISTEN", "127.0.0.1:0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let s = Settings::parse(GOLDEN, |k| env.get(k).cloned()).unwrap();
        assert_eq!(s.loki.url, "http://127.0.0.1:1");
        assert_eq!(s.loki.page_limit, 5000);
        assert_eq!(s.poll.interval, Duration::from_millis(500));
        assert_eq!(s.poll.initial_backfill, Duration::from_secs(744 * 3600));
        assert_eq!(s.postgres.host, "/tmp/sock");
        assert_eq!(s.postgres.port, 6543);
        assert_eq!(s.events.app_label, "app");
        assert_eq!(s.server.listen, "127.0.0.1:0");
        for (section, key, _) in KEYS {
            if !OPTIONAL_KEYS.contains(&(section, key)) {
                assert!(GOLDEN.contains(&format!("{key} =")), "{section}.{key}");
            }
        }
        for (section, key) in OPTIONAL_KEYS {
            assert!(KEYS.iter().any(|(s, k, _)| (s, k) == (section, key)));
        }
    }

    /// `[postgres]` text with the given extra lines.
    fn with_postgres(extra: &str) -> String {
        GOLDEN.replace("[postgres]", &format!("[postgres]\n{extra}"))
    }

    #[test]
    fn tls_keys_are_optional_and_default_to_disable() {
        let s = Settings::parse(GOLDEN, no_env).unwrap();
        assert_eq!(s.postgres.sslmode, SslMode::Disable);
        assert_eq!(s.postgres.root_cert, None);
        for (text, mode) in [
            ("sslmode = \"disable\"", SslMode::Disable),
            ("sslmode = \"require\"", SslMode::Require),
            ("sslmode = \"verify-full\"", SslMode::VerifyFull),
        ] {
            let s = Settings::parse(&with_postgres(text), no_env).unwrap();
            assert_eq!(s.postgres.sslmode, mode, "{text}");
            assert_eq!(format!("sslmode = \"{mode}\""), text);
        }
        // Ignored (like libpq) with sslmode = "disable": not even read.
        let s =
            Settings::parse(&with_postgres("root_cert = \"/nonexistent.pem\""), no_env).unwrap();
        assert_eq!(
            s.postgres.root_cert,
            Some(PathBuf::from("/nonexistent.pem"))
        );
        let s = Settings::parse(&with_postgres("root_cert = \"\""), no_env).unwrap();
        assert_eq!(s.postgres.root_cert, None);
    }

    #[test]
    fn rejects_a_bad_sslmode_listing_the_valid_ones() {
        for bad in ["prefer", "verify-ca", "REQUIRE", ""] {
            let text = with_postgres(&format!("sslmode = {bad:?}"));
            let err = format!("{:#}", Settings::parse(&text, no_env).unwrap_err());
            assert!(
                err.contains(&format!("invalid postgres.sslmode {bad:?}")),
                "{err}"
            );
            assert!(
                err.contains(r#"use one of "disable", "require", "verify-full""#),
                "{err}"
            );
        }
        let err = format!(
            "{:#}",
            Settings::parse(&with_postgres("sslmode = \"verify-ca\""), no_env).unwrap_err()
        );
        assert!(err.contains("root_cert"), "{err}");
        let err = format!(
            "{:#}",
            Settings::parse(&with_postgres("sslmode = true"), no_env).unwrap_err()
        );
        assert!(err.contains("sslmode"), "{err}");
    }

    #[test]
    fn rejects_an_unreadable_or_empty_root_cert() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-ca.pem");
        let text = with_postgres(&format!(
            "sslmode = \"verify-full\"\nroot_cert = {:?}",
            missing.display().to_string()
        ));
        let err = format!("{:#}", Settings::parse(&text, no_env).unwrap_err());
        assert!(err.contains("cannot read postgres.root_cert"), "{err}");
        assert!(err.contains(&missing.display().to_string()), "{err}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "# no certificate here\n").unwrap();
        let text = with_postgres(&format!(
            "sslmode = \"require\"\nroot_cert = {:?}",
            empty.display().to_string()
        ));
        let err = format!("{:#}", Settings::parse(&text, no_env).unwrap_err());
        assert!(err.contains("holds no certificate"), "{err}");
        assert!(err.contains(&empty.display().to_string()), "{err}");
    }

    #[test]
    fn env_overrides_the_tls_keys() {
        let env = |k: &str| match k {
            "USAGE_SCRAPER_POSTGRES_SSLMODE" => Some("require".to_owned()),
            _ => None,
        };
        let s = Settings::parse(GOLDEN, env).unwrap();
        assert_eq!(s.postgres.sslmode, SslMode::Require);
        assert_eq!(s.postgres.root_cert, None);
        // The environment wins over the file, and is validated like it.
        let text = with_postgres("sslmode = \"verify-full\"");
        let s = Settings::parse(&text, |k| {
            (k == "USAGE_SCRAPER_POSTGRES_SSLMODE").then(|| "disable".to_owned())
        })
        .unwrap();
        assert_eq!(s.postgres.sslmode, SslMode::Disable);
        let err = Settings::parse(GOLDEN, |k| {
            (k == "USAGE_SCRAPER_POSTGRES_SSLMODE").then(|| "on".to_owned())
        })
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("invalid postgres.sslmode \"on\""),
            "{err:#}"
        );
        let err = Settings::parse(GOLDEN, |k| match k {
            "USAGE_SCRAPER_POSTGRES_SSLMODE" => Some("verify-full".to_owned()),
            "USAGE_SCRAPER_POSTGRES_ROOT_CERT" => Some("/nonexistent/ca.pem".to_owned()),
            _ => None,
        })
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent/ca.pem"),
            "{err:#}"
        );
    }

    #[test]
    fn rejects_unknown_keys_bad_durations_and_bad_ints() {
        let unknown = GOLDEN.replace("[server]", "[server]\nextra = 1");
        assert!(Settings::parse(&unknown, no_env).is_err());
        let bad: String = GOLDEN
            .lines()
            .map(|l| {
                if l.starts_with("interval =") {
                    "interval = \"sixty\""
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let err = format!("{:#}", Settings::parse(&bad, no_env).unwrap_err());
        assert!(err.contains("sixty"), "{err}");
        let e = Settings::parse(GOLDEN, |k| {
            (k == "USAGE_SCRAPER_POSTGRES_PORT").then(|| "x".to_owned())
        });
        assert!(e.is_err());
        let too_big = GOLDEN.replace("page_limit = 1000", "page_limit = 5001");
        assert!(Settings::parse(&too_big, no_env).is_err());
    }

    #[test]
    fn password_from_env_or_file() {
        let s = Settings::parse(GOLDEN, no_env).unwrap();
        let p = s
            .password(|k| (k == "USAGE_SCRAPER_DB_PASSWORD").then(|| "pw".to_owned()))
            .unwrap();
        assert_eq!(p, "pw");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "secret\n").unwrap();
        let fs = f.display().to_string();
        let p = s
            .password(|k| (k == "USAGE_SCRAPER_DB_PASSWORD_FILE").then(|| fs.clone()))
            .unwrap();
        assert_eq!(p, "secret");
        let err = s.password(no_env).unwrap_err().to_string();
        assert!(err.contains("USAGE_SCRAPER_DB_PASSWORD_FILE"), "{err}");
    }
}
