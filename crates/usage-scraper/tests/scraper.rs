//! End-to-end cases of the scraper between the fake Loki and a real PostgreSQL; each asserts
//! the exact set of rows stored.

mod support;

use std::time::Duration;

use support::fake_loki::{FakeLoki, Fault};
use support::{Harness, Row, SEC, T0, assert_rows, sorted, stream, usage_line};
use usage_scraper::CycleOutcome;
use usage_scraper::event::Malformed;
use usage_scraper::metrics::kind;

macro_rules! harness {
    ($tag:expr) => {
        match Harness::new($tag).await {
            Some(h) => h,
            None => return,
        }
    };
}

/// Pushes `n` usage lines for `service` at `ts(i)`; returns the expected rows.
fn push_many(loki: &FakeLoki, service: &str, n: usize, ts: impl Fn(usize) -> i64) -> Vec<Row> {
    let l = stream(service);
    (0..n)
        .map(|i| {
            let line = usage_line(i);
            assert!(loki.push(&l, ts(i), &line));
            (ts(i), service.to_owned(), line)
        })
        .collect()
}

fn completed(o: CycleOutcome) -> usage_scraper::scraper::CycleStats {
    match o {
        CycleOutcome::Completed(s) => s,
        CycleOutcome::Stopped(_) => panic!("cycle stopped"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_windows_store_nothing_and_move_the_cursor() {
    let h = harness!("empty");
    let st = completed(h.cycle().await.unwrap());
    assert_eq!(st.inserted, 0);
    assert_eq!(st.windows, 6, "1h backfill in 10 min windows");
    assert!(h.rows().await.is_empty());
    assert_eq!(h.cursor().await, Some(T0 - 5 * SEC));
    h.clock.advance(60 * SEC);
    let st = completed(h.cycle().await.unwrap());
    assert_eq!(st.windows, 1);
    assert_eq!(h.cursor().await, Some(T0 + 55 * SEC));
    // Every request was well-formed for Loki: forward, 19-digit ns, explicit limit.
    for r in h.loki.requests() {
        assert_eq!(r.status, 200);
        assert_eq!(r.params["direction"], "forward");
        assert_eq!(r.params["start"].len(), 19);
        assert_eq!(r.params["end"].len(), 19);
        assert_eq!(r.params["limit"], "1000");
    }
    assert!(h.rows().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_thousand_events_in_one_window_with_page_limit_5000() {
    let mut h = harness!("twelve_k");
    h.settings.loki.page_limit = 5000;
    let base = T0 - 30 * 60 * SEC;
    let want = push_many(&h.loki, "dice", 12_000, |i| base + i as i64 * 100_000);
    let st = completed(h.cycle().await.unwrap());
    assert_eq!(st.inserted, 12_000);
    assert_rows(h.rows().await, sorted(want));
    let big: Vec<_> = h
        .loki
        .requests()
        .into_iter()
        .filter(|r| r.returned > 0)
        .collect();
    assert!(big.len() >= 3, "{} non-empty pages", big.len());
    assert!(
        big.iter()
            .all(|r| r.params["limit"] == "5000" && r.returned <= 5000)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_thousand_lines_sharing_one_ns_with_page_limit_1000() {
    let mut h = harness!("one_ns");
    h.settings.loki.page_limit = 1000;
    let t = T0 - 20 * 60 * SEC + 123;
    let mut want = push_many(&h.loki, "dice", 3000, |_| t);
    let l = stream("shop");
    for i in 0..10 {
        for (ts, tag) in [(t - 1 - i, "before"), (t + 1 + i, "after")] {
            let line = format!(r#"{{"usage":true,"event":"{tag}","n":{i}}}"#);
            h.loki.push(&l, ts, &line);
            want.push((ts, "shop".into(), line));
        }
    }
    let st = completed(h.cycle().await.unwrap());
    assert_eq!(st.inserted, 3020);
    assert_rows(h.rows().await, sorted(want));
    let one_ns = h.loki.requests().into_iter().find(|r| {
        r.params["start"] == format!("{t:019}") && r.params["end"] == format!("{:019}", t + 1)
    });
    let one_ns = one_ns.expect("a [t, t+1) request");
    assert_eq!(one_ns.params["limit"], "5000");
    assert_eq!(one_ns.returned, 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_lines_at_one_ns_than_the_server_max_fails_without_moving_the_cursor() {
    let mut h = harness!("over_max");
    h.settings.loki.page_limit = 10;
    h.opts.server_max = 50;
    h.loki.set_max_entries(50);
    let t = T0 - 10 * SEC;
    push_many(&h.loki, "dice", 60, |_| t);
    let err = h.cycle().await.unwrap_err();
    assert_eq!(err.kind, kind::PAGING);
    assert!(err.to_string().contains("share the timestamp"), "{err}");
    assert_eq!(h.metrics.errors_of(kind::PAGING), 1);
    // Windows before the crowded one are committed; the crowded one is not.
    let c = h.cursor().await.expect("earlier windows committed");
    assert!(c <= t, "cursor {c} passed the unreadable ns {t}");
    assert!(h.rows().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_between_pages_loses_and_duplicates_nothing() {
    let mut h = harness!("restart");
    h.settings.loki.page_limit = 100;
    let base = T0 - 55 * 60 * SEC;
    let want = push_many(&h.loki, "dice", 3000, |i| base + i as i64 * SEC);
    // The 12th request hangs for good: the task is killed while paging a window.
    h.loki
        .fail_request(12, Fault::Hang(Duration::from_secs(3600)));
    h.settings.loki.timeout = Duration::from_secs(3600);
    let scraper = h.scraper();
    let task = tokio::spawn(async move {
        let mut s = scraper;
        let (_tx, mut rx) = tokio::sync::watch::channel(false);
        let _ = s.run_cycle(&mut rx).await;
    });
    while h.loki.request_count() < 12 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task.abort();
    let _ = task.await;
    // Only whole windows are stored: exactly the events before the cursor.
    let cursor = h.cursor().await.expect("some windows committed");
    let partial = h.rows().await;
    let before: Vec<Row> = sorted(want.clone())
        .into_iter()
        .filter(|r| r.0 < cursor)
        .collect();
    assert!(!partial.is_empty());
    assert_rows(partial.clone(), before);
    assert!(partial.len() < want.len());
    // Start again: everything, once.
    h.settings.loki.timeout = Duration::from_secs(2);
    let st = completed(h.cycle().await.unwrap());
    assert!(st.inserted > 0);
    assert_rows(h.rows().await, sorted(want));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_is_written_page_by_page_not_collected_in_memory() {
    let mut h = harness!("streamed");
    h.settings.loki.page_limit = 100;
    // 1,000 events in the first 10-minute window: 10 pages.
    let base = T0 - 59 * 60 * SEC;
    let want = push_many(&h.loki, "dice", 1000, |i| base + i as i64 * 100_000_000);
    // The 6th page never comes: the scraper waits inside the window.
    h.loki
        .fail_request(6, Fault::Hang(Duration::from_secs(3600)));
    h.settings.loki.timeout = Duration::from_secs(3600);
    let scraper = h.scraper();
    let task = tokio::spawn(async move {
        let mut s = scraper;
        let (_tx, mut rx) = tokio::sync::watch::channel(false);
        let _ = s.run_cycle(&mut rx).await;
    });
    // Earlier pages are already inserted in the window's open transaction (the backend has
    // a transaction id) although the window is not read to its end: memory holds pages,
    // never a whole window.
    let su = h.cluster.superuser(&h.db).await;
    let t = std::time::Instant::now();
    loop {
        let writing: i64 = su
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 \
                 AND application_name = 'usage-scraper' AND backend_xid IS NOT NULL",
                &[&h.db],
            )
            .await
            .unwrap()
            .get(0);
        if writing == 1 && h.loki.request_count() >= 6 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no rows written while the window was being read ({} requests)",
            h.loki.request_count()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(h.loki.request_count(), 6, "still waiting for page 6");
    // Uncommitted: invisible, and rolled back when the scraper dies.
    assert!(h.rows().await.is_empty());
    task.abort();
    let _ = task.await;
    assert!(h.rows().await.is_empty());
    assert_eq!(h.cursor().await, None);
    h.settings.loki.timeout = Duration::from_secs(2);
    let st = completed(h.cycle().await.unwrap());
    assert_eq!(st.inserted, 1000);
    assert_rows(h.rows().await, sorted(want));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loki_500s_timeouts_and_broken_bodies_are_retried() {
    let mut h = harness!("faults");
    h.settings.loki.page_limit = 200;
    h.settings.loki.timeout = Duration::from_millis(400);
    h.opts.retry = support::fast_retry(10);
    let base = T0 - 40 * 60 * SEC;
    let want = push_many(&h.loki, "dice", 1500, |i| base + i as i64 * SEC);
    h.loki.fail_next([
        Fault::Status(500),
        Fault::Status(502),
        Fault::Hang(Duration::from_secs(3)),
        Fault::Truncate,
        Fault::Status(429),
        Fault::CutConnection,
        Fault::StatusError,
        Fault::Status(503),
        Fault::Status(504),
    ]);
    completed(h.cycle().await.unwrap());
    assert_rows(h.rows().await, sorted(want.clone()));
    assert!(h.metrics.errors_of(kind::LOKI) >= 9);
    // Faults past the retry budget fail the cycle without moving the cursor; the next cycle
    // catches up.
    h.clock.advance(60 * SEC);
    let later = push_many(&h.loki, "shop", 20, |i| T0 + i as i64 * SEC);
    let cursor = h.cursor().await;
    h.opts.retry = support::fast_retry(2);
    h.loki.fail_next((0..3).map(|_| Fault::Status(500)));
    let err = h.cycle().await.unwrap_err();
    assert_eq!(err.kind, kind::LOKI);
    assert_eq!(h.cursor().await, cursor);
    completed(h.cycle().await.unwrap());
    let mut all = want;
    all.extend(later);
    assert_rows(h.rows().await, sorted(all));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loki_400_is_a_configuration_error() {
    let mut h = harness!("bad_query");
    h.settings.loki.query = "{compose_project=~\".*\"}".into();
    let err = h.cycle().await.unwrap_err();
    assert_eq!(err.kind, kind::LOKI_CONFIG);
    assert!(err.to_string().contains("HTTP 400"), "{err}");
    assert_eq!(h.loki.request_count(), 1, "a 400 is not retried");
    assert_eq!(h.cursor().await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loki_down_for_three_simulated_hours_then_back() {
    let mut h = harness!("outage");
    h.opts.retry = support::fast_retry(1);
    // One event every 10 s from T0 - 1h to T0 + 3h.
    let start = T0 - 3600 * SEC;
    let want = push_many(&h.loki, "dice", 4 * 360, |i| start + i as i64 * 10 * SEC);
    completed(h.cycle().await.unwrap());
    assert_eq!(h.cursor().await, Some(T0 - 5 * SEC));
    h.loki.set_down(true);
    for _ in 0..180 {
        h.clock.advance(60 * SEC);
        assert!(h.cycle().await.is_err());
    }
    assert_eq!(
        h.cursor().await,
        Some(T0 - 5 * SEC),
        "no progress while down"
    );
    h.loki.set_down(false);
    let st = completed(h.cycle().await.unwrap());
    assert!(st.windows >= 18, "3 h in ≤ 10 min windows: {}", st.windows);
    let now = T0 + 3 * 3600 * SEC;
    assert_eq!(h.cursor().await, Some(now - 5 * SEC));
    let expect: Vec<Row> = want.into_iter().filter(|r| r.0 < now - 5 * SEC).collect();
    assert_rows(h.rows().await, sorted(expect));
    assert!(h.metrics.lag_seconds.get() < 6.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_lines_inside_the_lookback_are_stored_once() {
    let h = harness!("late");
    let l = stream("dice");
    let mut want = push_many(&h.loki, "dice", 10, |i| T0 - 600 * SEC + i as i64 * SEC);
    // Written at T0 - 10 s but visible only 40 s later (shipper retries): inside the lookback.
    let late = r#"{"usage":true,"event":"late","user":"u-1"}"#;
    h.loki
        .push_visible_from(&l, T0 - 10 * SEC, late, T0 + 30 * SEC);
    // Visible 10 min after its timestamp: beyond lookback + settle, a documented loss.
    let too_late = r#"{"usage":true,"event":"too_late"}"#;
    h.loki
        .push_visible_from(&l, T0 - 10 * SEC, too_late, T0 + 600 * SEC);
    completed(h.cycle().await.unwrap());
    assert_rows(h.rows().await, sorted(want.clone()));
    for _ in 0..12 {
        h.clock.advance(60 * SEC);
        completed(h.cycle().await.unwrap());
    }
    want.push((T0 - 10 * SEC, "dice".into(), late.into()));
    assert_rows(h.rows().await, sorted(want));
    assert!(
        h.metrics.duplicates.get() > 0,
        "lookback re-reads are dropped by the key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_lines_are_counted_and_skipped() {
    let h = harness!("malformed");
    let l = stream("dice");
    let bad = [
        ("level=info usage=true event=x", Malformed::NotJson),
        (r#"{"usage": true, "event": "cut"#, Malformed::NotJson),
        (r#"["usage", true]"#, Malformed::NotObject),
        (r#"{"usage": false, "event": "x"}"#, Malformed::UsageNotTrue),
        (
            r#"{"msg": "\"usage\": true", "event": "x"}"#,
            Malformed::UsageNotTrue,
        ),
        (r#"{"usage": true}"#, Malformed::MissingEvent),
        (r#"{"usage": true, "event": 7}"#, Malformed::MissingEvent),
    ];
    for (i, (line, _)) in bad.iter().enumerate() {
        h.loki.push(&l, T0 - 100 * SEC + i as i64, line);
    }
    let good = [
        r#"{"usage": true, "event": "ok", "user": "u-1"}"#,
        r#"{"usage": "true", "event": "ok_string"}"#,
    ];
    let mut want = Vec::new();
    for (i, line) in good.iter().enumerate() {
        h.loki.push(&l, T0 - 50 * SEC + i as i64, line);
        want.push((
            T0 - 50 * SEC + i as i64,
            "dice".to_owned(),
            (*line).to_owned(),
        ));
    }
    completed(h.cycle().await.unwrap());
    assert_rows(h.rows().await, sorted(want));
    for reason in Malformed::ALL {
        let n = bad.iter().filter(|(_, r)| *r == reason).count() as u64;
        assert_eq!(h.metrics.malformed_of(reason), n, "{reason:?}");
    }
    assert_eq!(h.metrics.lines_seen.get(), 9);
    // Stored attributes: the remaining fields.
    let c = h.cluster.superuser(&h.db).await;
    let row = c
        .query_one(
            "SELECT attributes, user_id, app, labels FROM usage_events WHERE event = 'ok'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, serde_json::Value>(0), serde_json::json!({}));
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("u-1"));
    assert_eq!(row.get::<_, String>(2), "dice");
    assert_eq!(
        row.get::<_, serde_json::Value>(3),
        serde_json::json!({"compose_project": "demo", "compose_service": "dice", "service_name": "dice"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_events_delivered_twice_are_stored_once() {
    let h = harness!("twice");
    let base = T0 - 20 * 60 * SEC;
    let want = push_many(&h.loki, "dice", 500, |i| base + i as i64 * SEC);
    // Pushed again: Loki drops exact duplicates.
    for (ts, _, line) in &want {
        assert!(!h.loki.push(&stream("dice"), *ts, line));
    }
    // Replica duplicates inside responses.
    h.loki.set_duplicate_values(true);
    let st = completed(h.cycle().await.unwrap());
    assert_eq!(st.inserted, 500);
    assert_rows(h.rows().await, sorted(want.clone()));
    // Re-read the whole range (cursor rewound by an operator): nothing new.
    let c = h.cluster.superuser(&h.db).await;
    c.execute(
        "UPDATE usage_scraper_cursor SET cursor_ns = cursor_ns - 3600000000000",
        &[],
    )
    .await
    .unwrap();
    let st = completed(h.cycle().await.unwrap());
    assert_eq!(st.inserted, 0);
    assert_eq!(st.duplicates, 500);
    assert_rows(h.rows().await, sorted(want));
    // GREATEST: the rewound cursor moved forward again, never backwards.
    assert_eq!(h.cursor().await, Some(T0 - 5 * SEC));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_lines_in_two_streams_at_one_ns_are_two_rows() {
    let h = harness!("two_streams");
    let t = T0 - 30 * SEC;
    let line = r#"{"usage":true,"event":"click","user":"u-1"}"#;
    assert!(h.loki.push(&stream("dice"), t, line));
    assert!(h.loki.push(&stream("shop"), t, line));
    assert!(
        !h.loki.push(&stream("shop"), t, line),
        "same stream: one entry"
    );
    completed(h.cycle().await.unwrap());
    assert_eq!(
        h.rows().await,
        vec![
            (t, "dice".into(), line.into()),
            (t, "shop".into(), line.into())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_schema_is_named_clearly() {
    let Some(cluster) = support::pg::cluster() else {
        return;
    };
    let db = cluster.new_empty_db("no_schema");
    let h = Harness::with_db(cluster.clone(), db.clone()).await;
    let err = format!("{:#}", h.scraper().connect().await.unwrap_err());
    assert!(err.contains("table usage_events does not exist"), "{err}");
    assert!(
        err.contains("table usage_scraper_cursor does not exist"),
        "{err}"
    );
    assert!(err.contains("01-schema.sql"), "{err}");
    // Tables present but a column missing and a privilege missing.
    cluster.psql(
        &db,
        "CREATE TABLE usage_events (id uuid PRIMARY KEY, ts timestamptz, ts_ns bigint, app text, \
         event text, user_id text, trace_id text, level text, attributes jsonb, line text); \
         CREATE TABLE usage_scraper_cursor (name text PRIMARY KEY, cursor_ns bigint, updated_at timestamptz); \
         GRANT USAGE ON SCHEMA public TO usage_scraper; \
         GRANT SELECT, INSERT ON usage_events TO usage_scraper; \
         GRANT SELECT, INSERT ON usage_scraper_cursor TO usage_scraper;",
    );
    let err = format!("{:#}", h.scraper().connect().await.unwrap_err());
    assert!(
        err.contains("table usage_events lacks column(s) labels"),
        "{err}"
    );
    cluster.psql(
        &db,
        "ALTER TABLE usage_events ADD COLUMN labels jsonb NOT NULL DEFAULT '{}'",
    );
    let err = format!("{:#}", h.scraper().connect().await.unwrap_err());
    assert!(
        err.contains("lacks UPDATE on table usage_scraper_cursor"),
        "{err}"
    );
    cluster.psql(&db, "GRANT UPDATE ON usage_scraper_cursor TO usage_scraper");
    h.scraper().connect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_scraper_on_the_same_cursor_waits_for_the_lock() {
    let mut h = harness!("lock");
    h.opts.retry = support::fast_retry(1);
    let mut first = h.scraper();
    first.connect().await.unwrap();
    let err = format!("{:#}", h.scraper().connect().await.unwrap_err());
    assert!(err.contains("holds the lock"), "{err}");
    drop(first);
    h.opts.retry = support::fast_retry(20);
    h.scraper().connect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_loki_parses_requests_like_loki() {
    let loki = FakeLoki::start(|| T0).await;
    let l = stream("dice");
    for i in 0..300 {
        loki.push(&l, T0 - 100 * SEC + i, &format!("line {i}"));
    }
    let http = reqwest::Client::new();
    let url = format!("{}/loki/api/v1/query_range", loki.url());
    let get = |params: Vec<(&'static str, String)>| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let r = http.get(&url).query(&params).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.bytes().await.unwrap())
        }
    };
    let q = ("query", "{service_name=~\".+\"}".to_owned());
    // Defaults: limit 100, backward, last hour.
    let (s, body) = get(vec![q.clone()]).await;
    assert_eq!(s, 200);
    let es = usage_scraper::loki::parse_response(&body).unwrap();
    assert_eq!(es.len(), 100);
    assert_eq!(es[0].line, "line 200", "backward: the newest 100");
    // Start inclusive, end exclusive, ns.
    let (s, body) = get(vec![
        q.clone(),
        ("start", format!("{:019}", T0 - 100 * SEC + 10)),
        ("end", format!("{:019}", T0 - 100 * SEC + 20)),
        ("direction", "FORWARD".into()),
    ])
    .await;
    assert_eq!(s, 200);
    let es = usage_scraper::loki::parse_response(&body).unwrap();
    let lines: Vec<&str> = es.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines.first(), Some(&"line 10"));
    assert_eq!(lines.last(), Some(&"line 19"));
    assert_eq!(lines.len(), 10);
    // ≤ 10 digits are seconds: this window (1970) is empty.
    let (_, body) = get(vec![
        q.clone(),
        ("start", "1".into()),
        ("end", "1800000".into()),
    ])
    .await;
    assert!(
        usage_scraper::loki::parse_response(&body)
            .unwrap()
            .is_empty()
    );
    // Seconds that cover everything.
    let (_, body) = get(vec![
        q.clone(),
        ("start", format!("{}", T0 / SEC - 200)),
        ("end", format!("{}", T0 / SEC)),
        ("limit", "5000".into()),
    ])
    .await;
    assert_eq!(
        usage_scraper::loki::parse_response(&body).unwrap().len(),
        300
    );
    for (params, want) in [
        (
            vec![("limit", "5001".to_owned())],
            "max entries limit per query exceeded",
        ),
        (
            vec![("limit", "0".to_owned())],
            "limit must be a positive value",
        ),
        (
            vec![("direction", "sideways".to_owned())],
            "invalid direction",
        ),
        (
            vec![
                ("start", "1700000000".to_owned()),
                ("end", "1600000000".to_owned()),
            ],
            "end timestamp must not be before",
        ),
    ] {
        let mut p = params;
        p.push(q.clone());
        let (s, body) = get(p).await;
        assert_eq!(s, 400);
        assert!(String::from_utf8_lossy(&body).contains(want));
    }
    // Ties: a limit that cuts a group sharing one ns returns some part of it; with
    // shuffle_ties a different part on each call.
    let t = T0 - 50 * SEC;
    for i in 0..40 {
        loki.push(&stream("shop"), t, &format!("tie {i:02}"));
    }
    let window = |limit: &str| {
        vec![
            q.clone(),
            ("start", format!("{t:019}")),
            ("end", format!("{:019}", t + 1)),
            ("direction", "forward".to_owned()),
            ("limit", limit.to_owned()),
        ]
    };
    let lines = |body: &[u8]| -> Vec<String> {
        let mut v: Vec<String> = usage_scraper::loki::parse_response(body)
            .unwrap()
            .into_iter()
            .map(|e| e.line)
            .collect();
        v.sort();
        v
    };
    let (_, body) = get(window("10")).await;
    let first = lines(&body);
    assert_eq!(first.len(), 10);
    let (_, body) = get(window("10")).await;
    assert_eq!(lines(&body), first, "without shuffle_ties: a stable order");
    loki.set_shuffle_ties(true);
    let mut parts = std::collections::BTreeSet::new();
    for _ in 0..5 {
        let (_, body) = get(window("10")).await;
        let part = lines(&body);
        assert_eq!(part.len(), 10);
        assert!(part.iter().all(|l| l.starts_with("tie ")), "{part:?}");
        parts.insert(part);
    }
    assert!(
        parts.len() > 1,
        "shuffle_ties returned the same part every time"
    );
    let (_, body) = get(window("50")).await;
    assert_eq!(
        lines(&body).len(),
        40,
        "the whole group when the limit allows"
    );
}
