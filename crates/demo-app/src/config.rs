//! The settings, read once from the environment at start-up.
//!
//! Every variable is optional; an empty value counts as unset (compose files often pass
//! `VAR: ""`). A value that is set but wrong stops the app with a message naming the variable,
//! instead of being ignored. The crate README lists them all with their defaults.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// Default `OTEL_SERVICE_NAME`.
pub const DEFAULT_SERVICE_NAME: &str = "demo-app";
/// Default `PORT`.
pub const DEFAULT_PORT: u16 = 8080;
/// Default `DEMO_ROUTES`.
pub const DEFAULT_ROUTES: &str = "/roll,/work";
/// Default `OTEL_METRIC_EXPORT_INTERVAL` (the OpenTelemetry specification's).
pub const DEFAULT_METRIC_EXPORT_INTERVAL: Duration = Duration::from_secs(60);
/// Largest `OTEL_METRIC_EXPORT_INTERVAL` accepted, one day in milliseconds.
const MAX_METRIC_EXPORT_INTERVAL_MS: u64 = 86_400_000;
/// The protocol variables, general first; `http/protobuf` is the only value built in.
const PROTOCOL_VARS: [&str; 4] = [
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
];

/// What the app does, resolved from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `DEMO_BIND_ADDR`: the address to listen on (`0.0.0.0`).
    pub bind_addr: IpAddr,
    /// `PORT`: the port to listen on (8080; 0 picks a free one, logged at start-up).
    pub port: u16,
    /// `OTEL_SERVICE_NAME`, else `service.name` from `OTEL_RESOURCE_ATTRIBUTES`, else
    /// `demo-app`.
    pub service_name: String,
    /// `DEMO_ROUTES`: paths (with optional query) the load loop requests, in turn.
    pub routes: Vec<String>,
    /// `DEMO_RPS`: load-loop requests per second (2; 0 turns the loop off).
    pub rps: f64,
    /// `DEMO_ERROR_RATE`: share of requests that fail with a 5xx (0.05).
    pub error_rate: f64,
    /// `DEMO_SLOW_RATE`: share of requests that take `slow` longer (0.05).
    pub slow_rate: f64,
    /// `DEMO_LATENCY_MS`: typical time of the simulated work of one request (20 ms).
    pub latency: Duration,
    /// `DEMO_SLOW_MS`: extra time of a slow request (1000 ms).
    pub slow: Duration,
    /// `DEMO_USERS`: simulated users `u-1` … `u-N` that usage events name (50).
    pub users: u32,
    /// `DEMO_MAX_SIDES`: the largest die `/roll?sides=N` accepts (100).
    pub max_sides: u32,
    /// `DEMO_DOWNSTREAM`: URLs that `/work` calls in turn, propagating the trace (none).
    pub downstream: Vec<String>,
    /// `OTEL_TRACES_EXPORTER` (`otlp`, the default, or `none`) and `OTEL_SDK_DISABLED`.
    pub export_traces: bool,
    /// `OTEL_METRICS_EXPORTER` (`otlp`, or `none`, the default: `/metrics` is always served
    /// for scraping) and `OTEL_SDK_DISABLED`.
    pub export_metrics: bool,
    /// `OTEL_METRIC_EXPORT_INTERVAL`: time between two OTLP metric exports (60 s).
    pub metric_export_interval: Duration,
    /// `OTEL_LOGS_EXPORTER` (`otlp`, or `none`, the default: the JSON lines on stdout are
    /// always written) and `OTEL_SDK_DISABLED`.
    pub export_logs: bool,
}

/// A variable that is set to a value the app cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable.
    pub var: &'static str,
    /// What is wrong, lowercase.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: {}", self.var, self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the variables through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let bind_addr = parse(&var, "DEMO_BIND_ADDR", IpAddr::from([0, 0, 0, 0]), |v| {
            v.parse().map_err(|_| "expected an IP address".to_owned())
        })?;
        let port = parse(&var, "PORT", DEFAULT_PORT, |v| {
            v.parse()
                .map_err(|_| "expected a port number (0-65535)".to_owned())
        })?;
        let service_name = var("OTEL_SERVICE_NAME")
            .or_else(|| {
                var("OTEL_RESOURCE_ATTRIBUTES").and_then(|attrs| {
                    attrs.split(',').find_map(|kv| {
                        let (k, v) = kv.split_once('=')?;
                        (k.trim() == "service.name" && !v.trim().is_empty())
                            .then(|| v.trim().to_owned())
                    })
                })
            })
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
        let routes = parse(&var, "DEMO_ROUTES", split_list(DEFAULT_ROUTES), |v| {
            let routes = split_list(v);
            if routes.is_empty() {
                return Err("expected a comma-separated list of paths".to_owned());
            }
            match routes.iter().find(|r| !r.starts_with('/')) {
                Some(bad) => Err(format!("`{bad}` does not start with `/`")),
                None => Ok(routes),
            }
        })?;
        let rps = parse(&var, "DEMO_RPS", 2.0, |v| number_in(v, 0.0, 1000.0))?;
        let error_rate = parse(&var, "DEMO_ERROR_RATE", 0.05, |v| number_in(v, 0.0, 1.0))?;
        let slow_rate = parse(&var, "DEMO_SLOW_RATE", 0.05, |v| number_in(v, 0.0, 1.0))?;
        let latency = parse(&var, "DEMO_LATENCY_MS", Duration::from_millis(20), millis)?;
        let slow = parse(&var, "DEMO_SLOW_MS", Duration::from_millis(1000), millis)?;
        let users = parse(&var, "DEMO_USERS", 50, |v| {
            v.parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| "expected a whole number of at least 1".to_owned())
        })?;
        let max_sides = parse(&var, "DEMO_MAX_SIDES", 100, |v| {
            v.parse::<u32>()
                .ok()
                .filter(|n| *n >= 2)
                .ok_or_else(|| "expected a whole number of at least 2".to_owned())
        })?;
        let downstream = parse(&var, "DEMO_DOWNSTREAM", Vec::new(), |v| {
            let urls = split_list(v);
            match urls.iter().find(|u| !u.starts_with("http://")) {
                Some(bad) => Err(format!("`{bad}` is not an http:// URL")),
                None => Ok(urls),
            }
        })?;

        let export_traces = parse(&var, "OTEL_TRACES_EXPORTER", true, exporter)?;
        let export_metrics = parse(&var, "OTEL_METRICS_EXPORTER", false, |v| {
            exporter(v).map_err(|e| {
                if v.eq_ignore_ascii_case("prometheus") {
                    format!("{e} (`/metrics` is always served for scraping)")
                } else {
                    e
                }
            })
        })?;
        let metric_export_interval = parse(
            &var,
            "OTEL_METRIC_EXPORT_INTERVAL",
            DEFAULT_METRIC_EXPORT_INTERVAL,
            |v| {
                v.parse::<u64>()
                    .ok()
                    .filter(|n| (1..=MAX_METRIC_EXPORT_INTERVAL_MS).contains(n))
                    .map(Duration::from_millis)
                    .ok_or_else(|| {
                        format!(
                            "expected whole milliseconds from 1 to {MAX_METRIC_EXPORT_INTERVAL_MS}, got `{v}`"
                        )
                    })
            },
        )?;
        let export_logs = parse(&var, "OTEL_LOGS_EXPORTER", false, exporter)?;
        let sdk_disabled = parse(&var, "OTEL_SDK_DISABLED", false, |v| {
            v.parse::<bool>()
                .map_err(|_| format!("expected `true` or `false`, got `{v}`"))
        })?;
        for name in PROTOCOL_VARS {
            parse(&var, name, (), |p| {
                if p == "http/protobuf" {
                    Ok(())
                } else {
                    Err(format!("only `http/protobuf` is supported, got `{p}`"))
                }
            })?;
        }

        Ok(Config {
            bind_addr,
            port,
            service_name,
            routes,
            rps,
            error_rate,
            slow_rate,
            latency,
            slow,
            users,
            max_sides,
            downstream,
            export_traces: export_traces && !sdk_disabled,
            export_metrics: export_metrics && !sdk_disabled,
            metric_export_interval,
            export_logs: export_logs && !sdk_disabled,
        })
    }
}

/// An `OTEL_*_EXPORTER` value: whether to export the signal over OTLP.
fn exporter(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "otlp" => Ok(true),
        "none" => Ok(false),
        _ => Err(format!("expected `otlp` or `none`, got `{v}`")),
    }
}

/// The default when `name` is unset, else `f` of its value.
fn parse<T>(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
    f: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(v) => f(&v).map_err(|message| ConfigError { var: name, message }),
    }
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn number_in(v: &str, lo: f64, hi: f64) -> Result<f64, String> {
    v.parse::<f64>()
        .ok()
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| format!("expected a number from {lo} to {hi}, got `{v}`"))
}

fn millis(v: &str) -> Result<Duration, String> {
    v.parse::<u64>()
        .ok()
        .filter(|n| *n <= 600_000)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("expected whole milliseconds from 0 to 600000, got `{v}`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.bind_addr.to_string(), "0.0.0.0");
        assert_eq!(c.port, 8080);
        assert_eq!(c.service_name, "demo-app");
        assert_eq!(c.routes, ["/roll", "/work"]);
        assert_eq!(c.rps, 2.0);
        assert_eq!(c.error_rate, 0.05);
        assert_eq!(c.slow_rate, 0.05);
        assert_eq!(c.latency, Duration::from_millis(20));
        assert_eq!(c.slow, Duration::from_millis(1000));
        assert_eq!(c.users, 50);
        assert_eq!(c.max_sides, 100);
        assert!(c.downstream.is_empty());
        assert!(c.export_traces);
        assert!(!c.export_metrics, "`/metrics` is the default metrics path");
        assert!(!c.export_logs, "stdout is the default logs path");
        assert_eq!(c.metric_export_interval, Duration::from_secs(60));
    }

    #[test]
    fn values_and_empty_means_unset() {
        let c = config(&[
            ("PORT", "9000"),
            ("DEMO_BIND_ADDR", "127.0.0.1"),
            ("DEMO_ROUTES", " /roll?sides=20 , /work ,"),
            ("DEMO_RPS", "0"),
            ("DEMO_ERROR_RATE", "1"),
            ("DEMO_SLOW_RATE", ""),
            ("DEMO_LATENCY_MS", "5"),
            (
                "DEMO_DOWNSTREAM",
                "http://stage2:8080/work,http://stage3:8080/work",
            ),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "250"),
            ("OTEL_LOGS_EXPORTER", "OTLP"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", ""),
        ])
        .unwrap();
        assert_eq!(c.port, 9000);
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1");
        assert_eq!(c.routes, ["/roll?sides=20", "/work"]);
        assert_eq!(c.rps, 0.0);
        assert_eq!(c.error_rate, 1.0);
        assert_eq!(c.slow_rate, 0.05);
        assert_eq!(c.latency, Duration::from_millis(5));
        assert_eq!(c.downstream.len(), 2);
        assert!(!c.export_traces);
        assert!(c.export_metrics);
        assert_eq!(c.metric_export_interval, Duration::from_millis(250));
        assert!(c.export_logs);
        let none = config(&[
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ])
        .unwrap();
        assert!(!none.export_metrics && !none.export_logs);
    }

    #[test]
    fn service_name_precedence() {
        let attrs = (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.namespace=demo,service.name=from-attrs",
        );
        assert_eq!(config(&[attrs]).unwrap().service_name, "from-attrs");
        assert_eq!(
            config(&[attrs, ("OTEL_SERVICE_NAME", "dice-roller")])
                .unwrap()
                .service_name,
            "dice-roller"
        );
        assert_eq!(
            config(&[("OTEL_RESOURCE_ATTRIBUTES", "service.namespace=demo")])
                .unwrap()
                .service_name,
            "demo-app"
        );
    }

    #[test]
    fn rejects_bad_values_naming_the_variable() {
        let cases = [
            ("PORT", "80808"),
            ("DEMO_BIND_ADDR", "localhost"),
            ("DEMO_ROUTES", "roll"),
            ("DEMO_ROUTES", ","),
            ("DEMO_RPS", "-1"),
            ("DEMO_RPS", "fast"),
            ("DEMO_ERROR_RATE", "1.5"),
            ("DEMO_SLOW_RATE", "NaN"),
            ("DEMO_LATENCY_MS", "1.5"),
            ("DEMO_SLOW_MS", "-3"),
            ("DEMO_USERS", "0"),
            ("DEMO_MAX_SIDES", "1"),
            ("DEMO_DOWNSTREAM", "stage2:8080"),
            ("OTEL_TRACES_EXPORTER", "jaeger"),
            ("OTEL_SDK_DISABLED", "yes"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
            ("OTEL_METRICS_EXPORTER", "prometheus"),
            ("OTEL_METRICS_EXPORTER", "otlp,console"),
            ("OTEL_LOGS_EXPORTER", "console"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "0"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "5s"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1.5"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "86400001"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/json"),
        ];
        for (k, v) in cases {
            let err = config(&[(k, v)]).expect_err(k);
            assert_eq!(err.var, k, "{k}={v}");
            assert!(err.to_string().starts_with(&format!("invalid `{k}`: ")));
        }
    }

    #[test]
    fn messages_for_the_signal_variables() {
        let message = |k: &str, v: &str| config(&[(k, v)]).unwrap_err().to_string();
        assert_eq!(
            message("OTEL_LOGS_EXPORTER", "console"),
            "invalid `OTEL_LOGS_EXPORTER`: expected `otlp` or `none`, got `console`"
        );
        assert_eq!(
            message("OTEL_METRICS_EXPORTER", "prometheus"),
            "invalid `OTEL_METRICS_EXPORTER`: expected `otlp` or `none`, got `prometheus` \
             (`/metrics` is always served for scraping)"
        );
        assert_eq!(
            message("OTEL_METRIC_EXPORT_INTERVAL", "5s"),
            "invalid `OTEL_METRIC_EXPORT_INTERVAL`: expected whole milliseconds from 1 to \
             86400000, got `5s`"
        );
        assert_eq!(
            message("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "grpc"),
            "invalid `OTEL_EXPORTER_OTLP_LOGS_PROTOCOL`: only `http/protobuf` is supported, \
             got `grpc`"
        );
    }

    #[test]
    fn sdk_disabled_turns_every_export_off() {
        let c = config(&[
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_LOGS_EXPORTER", "otlp"),
        ])
        .unwrap();
        assert!(!c.export_traces && !c.export_metrics && !c.export_logs);
        assert!(
            config(&[
                ("OTEL_SDK_DISABLED", "false"),
                ("OTEL_LOGS_EXPORTER", "otlp")
            ])
            .unwrap()
            .export_logs
        );
    }
}
