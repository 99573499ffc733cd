//! `/metrics` of the real binary, with its load loop on: the classic rendering passes
//! `promtool check metrics` (required under `STACKC_REQUIRE_TOOLS=1`), the OpenMetrics
//! rendering that Prometheus asks for carries `trace_id` exemplars, and the counters show the
//! load loop's requests by route and status, errors included. Also `demo-app healthcheck`.

mod support;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::{Command, Stdio};

use support::{App, healthcheck, is_id, poll_async, tools_required};

/// What Prometheus 2.x sends when exemplar storage is on.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

async fn fetch(client: &reqwest::Client, url: &str, accept: &str) -> (String, String) {
    let resp = client
        .get(url)
        .header("accept", accept)
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(resp.status(), 200);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (content_type, resp.text().await.expect("body"))
}

/// `promtool check metrics` over `body`; `None` when promtool is missing and not required.
fn promtool_check(body: &str) -> Option<(bool, String)> {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !tools_required() => {
            eprintln!("skipping promtool check: promtool not on PATH");
            return None;
        }
        Err(e) => panic!("promtool is required (STACKC_REQUIRE_TOOLS=1): {e}"),
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}

/// The samples of one exposition: `(name with labels, value, exemplar part)`.
fn samples(body: &str) -> Vec<(&str, f64, Option<&str>)> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (sample, exemplar) = match l.split_once(" # ") {
                Some((s, e)) => (s, Some(e)),
                None => (l, None),
            };
            let (series, value) = sample
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("no value in {l:?}"));
            let value = value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("bad value in {l:?}"));
            (series, value, exemplar)
        })
        .collect()
}

fn value_of(body: &str, series: &str) -> f64 {
    samples(body)
        .into_iter()
        .find(|(s, _, _)| *s == series)
        .map_or(0.0, |(_, v, _)| v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_and_carry_exemplars() {
    let app = tokio::task::block_in_place(|| {
        App::spawn(&[
            ("DEMO_RPS", "50"),
            ("DEMO_ERROR_RATE", "0.3"),
            ("DEMO_SLOW_RATE", "0"),
            ("DEMO_LATENCY_MS", "2"),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_SERVICE_NAME", "metrics-test"),
        ])
    });
    assert!(healthcheck(app.addr).success(), "healthcheck of a live app");
    let client = reqwest::Client::new();
    let url = app.url("/metrics");

    // The load loop alone fills both routes, successes and failures.
    let wanted = [
        r#"http_requests_total{route="/roll",method="GET",status="200"}"#,
        r#"http_requests_total{route="/roll",method="GET",status="500"}"#,
        r#"http_requests_total{route="/work",method="GET",status="200"}"#,
        r#"http_requests_total{route="/work",method="GET",status="500"}"#,
        r#"http_request_errors_total{route="/roll",method="GET"}"#,
        r#"http_request_errors_total{route="/work",method="GET"}"#,
        r#"demo_usage_events_total{event="dice_roll"}"#,
        r#"demo_usage_events_total{event="work_done"}"#,
    ];
    let classic = poll_async(|| async {
        let (_, body) = fetch(&client, &url, "text/plain").await;
        wanted
            .iter()
            .all(|s| value_of(&body, s) >= 1.0)
            .then_some(body)
    })
    .await
    .expect("the load loop's requests in /metrics");

    // Classic text for anyone not asking for OpenMetrics, and promtool accepts it.
    let (content_type, classic) = {
        let (ct, body) = fetch(&client, &url, "text/plain").await;
        assert!(value_of(&body, wanted[0]) >= value_of(&classic, wanted[0]));
        (ct, body)
    };
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!classic.contains(" # {"), "no exemplars in classic text");
    assert!(classic.contains(r#"demo_app_info{service="metrics-test",version="0.1.0"} 1"#));
    let errors = value_of(&classic, wanted[4]);
    let failed = value_of(&classic, wanted[1]);
    assert!(errors >= failed, "every 500 counts as an error");
    if let Some((ok, out)) = promtool_check(&classic) {
        assert!(
            ok,
            "promtool check metrics failed:\n{out}\n--- input:\n{classic}"
        );
        assert!(out.trim().is_empty(), "promtool lint findings:\n{out}");
    }

    // OpenMetrics for Prometheus, with exemplars on the latency buckets.
    let (content_type, om) = fetch(&client, &url, PROMETHEUS_ACCEPT).await;
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(om.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    let families: BTreeSet<&str> = om
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut routes_with_exemplars = BTreeSet::new();
    for (series, value, exemplar) in samples(&om) {
        let name = series.split('{').next().unwrap_or(series);
        assert!(
            families.iter().any(|f| name.starts_with(f)),
            "{name} has no # TYPE"
        );
        let Some(exemplar) = exemplar else { continue };
        assert!(
            name == "http_request_duration_seconds_bucket",
            "exemplar on {series}"
        );
        // {trace_id="<32 hex>"} <value> <timestamp>
        let rest = exemplar
            .strip_prefix("{trace_id=\"")
            .unwrap_or_else(|| panic!("exemplar labels: {exemplar}"));
        let (trace_id, rest) = rest.split_once("\"} ").expect("exemplar label end");
        assert!(is_id(trace_id, 32), "trace_id {trace_id:?}");
        let mut parts = rest.split(' ');
        let observed: f64 = parts.next().unwrap().parse().expect("exemplar value");
        let ts: f64 = parts.next().expect("exemplar timestamp").parse().unwrap();
        assert!(observed >= 0.0 && ts > 1.6e9, "{exemplar}");
        assert!(value >= 1.0, "an exemplar only on a bucket that counted it");
        let le: f64 = series
            .split("le=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(|le| {
                if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                }
            })
            .expect("le label");
        assert!(observed <= le, "exemplar {observed} above its bucket {le}");
        let route = series
            .split("route=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("route label");
        routes_with_exemplars.insert(route.to_owned());
    }
    assert_eq!(
        routes_with_exemplars,
        BTreeSet::from(["/roll".to_owned(), "/work".to_owned()]),
        "exemplars for both routes in\n{om}"
    );

    let (status, _) = tokio::task::block_in_place(|| app.terminate());
    assert!(status.success(), "exit after SIGTERM: {status}");
}

#[test]
fn healthcheck_fails_without_a_server() {
    // Bind and drop to find a port nobody listens on.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    assert!(!healthcheck(addr).success());
}
