//! Durations as `stack.toml` writes them (`15s`, `31d`, `1h30m`) and as each target wants
//! them back: Go's `time.ParseDuration` (Alloy, Tempo, Loki, compose) has no `d` or `w`,
//! Prometheus has both.

use std::fmt;

/// A positive span of time, kept in milliseconds (the smallest unit `stack.toml` accepts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    millis: u64,
}

/// Units in the order they must appear, largest first, with their size in milliseconds.
const UNITS: [(&str, u64); 6] = [
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Why a duration string was refused; the text completes "invalid duration `x`: …".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DurationError {
    Empty,
    Malformed,
    UnknownUnit(String),
    Order,
    Zero,
    TooLarge,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Empty => write!(f, "it is empty"),
            DurationError::Malformed => {
                write!(
                    f,
                    "expected a number followed by a unit, like `15s` or `1h30m`"
                )
            }
            DurationError::UnknownUnit(u) => {
                write!(
                    f,
                    "unknown unit `{u}` (use `ms`, `s`, `m`, `h`, `d` or `w`)"
                )
            }
            DurationError::Order => write!(f, "units must go from largest to smallest, each once"),
            DurationError::Zero => write!(f, "it must be greater than zero"),
            DurationError::TooLarge => write!(f, "it is too large"),
        }
    }
}

impl Duration {
    pub const fn from_millis(millis: u64) -> Self {
        Duration { millis }
    }

    pub const fn from_secs(secs: u64) -> Self {
        Duration {
            millis: secs * 1000,
        }
    }

    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    /// Parses `15s`, `2m`, `31d`, `1h30m`, `500ms`: integers only, units descending.
    pub fn parse(text: &str) -> Result<Duration, DurationError> {
        if text.is_empty() {
            return Err(DurationError::Empty);
        }
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut total: u64 = 0;
        let mut last_unit = None::<usize>;
        while i < bytes.len() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return Err(DurationError::Malformed);
            }
            let number: u64 = text[start..i]
                .parse()
                .map_err(|_| DurationError::TooLarge)?;
            let unit_start = i;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            let unit = &text[unit_start..i];
            if unit.is_empty() {
                return Err(DurationError::Malformed);
            }
            let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
                return Err(DurationError::UnknownUnit(unit.to_owned()));
            };
            if last_unit.is_some_and(|last| index <= last) {
                return Err(DurationError::Order);
            }
            last_unit = Some(index);
            let part = number
                .checked_mul(UNITS[index].1)
                .ok_or(DurationError::TooLarge)?;
            total = total.checked_add(part).ok_or(DurationError::TooLarge)?;
        }
        // Ten years is far beyond any retention or interval; it also keeps every
        // target's arithmetic (Go's int64 nanoseconds) safe.
        if total > 10 * 366 * 24 * 3_600_000 {
            return Err(DurationError::TooLarge);
        }
        if total == 0 {
            return Err(DurationError::Zero);
        }
        Ok(Duration { millis: total })
    }

    /// Go `time.ParseDuration` syntax: `744h`, `1m30s`, `500ms` (no `d`, no `w`).
    pub fn go(self) -> String {
        self.format(&UNITS[2..])
    }

    /// Prometheus `<duration>` syntax: `31d`, `15s`, `1m30s` (no `w`, so that weeks don't
    /// surprise a reader; days are fine).
    pub fn prometheus(self) -> String {
        self.format(&UNITS[1..])
    }

    /// Whole seconds, rounded up; for settings that only take seconds.
    pub fn whole_secs(self) -> u64 {
        self.millis.div_ceil(1000)
    }

    fn format(self, units: &[(&str, u64)]) -> String {
        let mut rest = self.millis;
        let mut out = String::new();
        for (name, size) in units {
            let n = rest / size;
            if n > 0 {
                out.push_str(&n.to_string());
                out.push_str(name);
                rest -= n * size;
            }
        }
        if out.is_empty() {
            out.push_str("0s");
        }
        out
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.prometheus())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(Duration::parse("500ms").unwrap().as_millis(), 500);
        assert_eq!(Duration::parse("15s").unwrap().as_millis(), 15_000);
        assert_eq!(Duration::parse("2m").unwrap().as_millis(), 120_000);
        assert_eq!(Duration::parse("48h").unwrap().as_millis(), 48 * 3_600_000);
        assert_eq!(Duration::parse("31d").unwrap().as_millis(), 31 * 86_400_000);
        assert_eq!(Duration::parse("1w").unwrap().as_millis(), 7 * 86_400_000);
        assert_eq!(Duration::parse("1h30m").unwrap().as_millis(), 5_400_000);
    }

    #[test]
    fn rejects_what_targets_would_reject() {
        assert_eq!(Duration::parse(""), Err(DurationError::Empty));
        assert_eq!(Duration::parse("15"), Err(DurationError::Malformed));
        assert_eq!(Duration::parse("s"), Err(DurationError::Malformed));
        assert_eq!(Duration::parse("1.5h"), Err(DurationError::Malformed));
        assert_eq!(Duration::parse("-5s"), Err(DurationError::Malformed));
        assert_eq!(Duration::parse(" 5s"), Err(DurationError::Malformed));
        assert_eq!(
            Duration::parse("5y"),
            Err(DurationError::UnknownUnit("y".into()))
        );
        assert_eq!(
            Duration::parse("5sec"),
            Err(DurationError::UnknownUnit("sec".into()))
        );
        assert_eq!(Duration::parse("30m1h"), Err(DurationError::Order));
        assert_eq!(Duration::parse("1m1m"), Err(DurationError::Order));
        assert_eq!(Duration::parse("0s"), Err(DurationError::Zero));
        assert_eq!(Duration::parse("0h0m"), Err(DurationError::Zero));
        assert_eq!(
            Duration::parse("99999999999999999999s"),
            Err(DurationError::TooLarge)
        );
        assert_eq!(Duration::parse("5000w"), Err(DurationError::TooLarge));
    }

    #[test]
    fn formats_per_target() {
        let d = |s| Duration::parse(s).unwrap();
        assert_eq!(d("31d").go(), "744h");
        assert_eq!(d("48h").go(), "48h");
        assert_eq!(d("1w").go(), "168h");
        assert_eq!(d("90s").go(), "1m30s");
        assert_eq!(d("1500ms").go(), "1s500ms");
        assert_eq!(d("31d").prometheus(), "31d");
        assert_eq!(d("1w").prometheus(), "7d");
        assert_eq!(d("36h").prometheus(), "1d12h");
        assert_eq!(d("15s").prometheus(), "15s");
    }

    #[test]
    fn formatting_round_trips() {
        for text in [
            "1ms",
            "15s",
            "2m",
            "1h30m",
            "31d",
            "744h",
            "1d12h30m15s250ms",
        ] {
            let d = Duration::parse(text).unwrap();
            assert_eq!(Duration::parse(&d.go()).unwrap(), d, "{text}");
            assert_eq!(Duration::parse(&d.prometheus()).unwrap(), d, "{text}");
        }
    }
}
