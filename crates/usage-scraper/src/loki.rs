//! Loki `query_range` without IO: the response JSON, the merged entry order, and the paging
//! state machine that walks one window `[start, end)` page by page.
//!
//! Paging follows reference/scraper.md §1 "Recommended paging": forward direction; stop on a
//! short page; otherwise re-read from the last timestamp (start is inclusive, so a same-ns
//! group cut by the limit is read again and deduplicated by the primary key); and when a full
//! page holds one single nanosecond, read `[t, t+1)` with the server maximum and go on at
//! `t + 1`. It never loops on the same request and never skips an entry.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// Loki's default `max_entries_limit_per_query`; a larger `limit` is a 400, not a clamp.
pub const SERVER_MAX_ENTRIES: usize = 5000;

/// The request header that makes `stream` hold only the indexed labels.
pub const ENCODING_FLAGS_HEADER: &str = "X-Loki-Response-Encoding-Flags";
/// Its value.
pub const CATEGORIZE_LABELS: &str = "categorize-labels";

/// Indexed stream labels, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// One log entry as Loki identifies it: stream labels, timestamp and line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub ts_ns: i64,
    pub labels: Labels,
    pub line: String,
}

#[derive(Deserialize)]
struct Response {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    result_type: String,
    #[serde(default)]
    result: Vec<Stream>,
}

#[derive(Deserialize)]
struct Stream {
    #[serde(default)]
    stream: Labels,
    #[serde(default)]
    values: Vec<Vec<serde_json::Value>>,
}

/// Parses a `query_range` body into entries sorted by `(ts, labels, line)`.
///
/// Values may have 2 elements `[ts, line]` or 3 with `categorize-labels`
/// (`[ts, line, {"structuredMetadata":…, "parsed":…}]`); the third is ignored so that ids
/// depend on indexed labels only.
pub fn parse_response(body: &[u8]) -> Result<Vec<Entry>> {
    let r: Response = serde_json::from_slice(body).context("Loki response is not valid JSON")?;
    if r.status != "success" {
        bail!(
            "Loki answered status {:?}: {}",
            r.status,
            r.error.unwrap_or_default()
        );
    }
    let data = r.data.context("Loki response has no data")?;
    if data.result_type != "streams" {
        bail!(
            "Loki answered resultType {:?}, expected \"streams\" (is loki.query a log query?)",
            data.result_type
        );
    }
    let mut out = Vec::new();
    for s in data.result {
        for v in s.values {
            if !(2..=3).contains(&v.len()) {
                bail!("Loki value has {} elements, expected 2 or 3", v.len());
            }
            let ts = v[0].as_str().context("Loki timestamp is not a string")?;
            let ts_ns: i64 = ts
                .parse()
                .with_context(|| format!("Loki timestamp {ts:?} is not an integer"))?;
            let line = v[1].as_str().context("Loki line is not a string")?;
            out.push(Entry {
                ts_ns,
                labels: s.stream.clone(),
                line: line.to_owned(),
            });
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Formats a timestamp as Loki's 19-digit ns integer (never ≤ 10 digits, which means seconds).
pub fn format_ns(ns: i64) -> String {
    format!("{ns:019}")
}

/// One `query_range` call to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub start_ns: i64,
    pub end_ns: i64,
    pub limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Next request: `[start, end)` with the page limit.
    Normal,
    /// A full page held only this ns: next request `[t, t+1)` with the server maximum.
    OneNs(i64),
    Done,
}

/// Why a window cannot be paged completely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PagingError {
    /// More entries at one nanosecond than Loki returns per query.
    TooManyAtOneNs { ts_ns: i64, count: usize },
}

impl std::fmt::Display for PagingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooManyAtOneNs { ts_ns, count } => write!(
                f,
                "{count} or more entries share the timestamp {ts_ns} ns, Loki's per-query maximum; \
                 the window cannot be read completely (cursor not advanced)"
            ),
        }
    }
}

impl std::error::Error for PagingError {}

/// The paging state machine for one window.
#[derive(Debug, Clone)]
pub struct Pager {
    start: i64,
    end: i64,
    limit: usize,
    server_max: usize,
    state: State,
}

impl Pager {
    /// Pages through `[start, end)` with `limit` entries per page (`limit ≤ server_max`).
    pub fn new(start_ns: i64, end_ns: i64, limit: usize, server_max: usize) -> Self {
        let state = if start_ns >= end_ns {
            State::Done
        } else {
            State::Normal
        };
        Self {
            start: start_ns,
            end: end_ns,
            limit: limit.clamp(1, server_max.max(1)),
            server_max: server_max.max(1),
            state,
        }
    }

    /// The next request, or `None` when the window is complete.
    pub fn next_request(&self) -> Option<PageRequest> {
        match self.state {
            State::Normal => Some(PageRequest {
                start_ns: self.start,
                end_ns: self.end,
                limit: self.limit,
            }),
            State::OneNs(t) => Some(PageRequest {
                start_ns: t,
                end_ns: t + 1,
                limit: self.server_max,
            }),
            State::Done => None,
        }
    }

    /// Feeds the answer to [`Self::next_request`] (entries sorted by timestamp).
    pub fn on_page(&mut self, entries: &[Entry]) -> Result<(), PagingError> {
        match self.state {
            State::Done => {}
            State::Normal => {
                if entries.len() < self.limit {
                    self.state = State::Done;
                } else {
                    let first = entries[0].ts_ns;
                    let last = entries[entries.len() - 1].ts_ns;
                    if first == last {
                        self.state = State::OneNs(last);
                    } else {
                        // Inclusive re-read of the last ns group, which the limit may have cut.
                        self.start = last;
                    }
                }
            }
            State::OneNs(t) => {
                if entries.len() >= self.server_max {
                    return Err(PagingError::TooManyAtOneNs {
                        ts_ns: t,
                        count: entries.len(),
                    });
                }
                self.start = t + 1;
                self.state = if self.start >= self.end {
                    State::Done
                } else {
                    State::Normal
                };
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(ts: i64, line: &str) -> Entry {
        Entry {
            ts_ns: ts,
            labels: Labels::from([("app".to_owned(), "a".to_owned())]),
            line: line.to_owned(),
        }
    }

    #[test]
    fn parses_two_and_three_element_values_and_sorts_streams() {
        let body = br#"{"status":"success","data":{"resultType":"streams",
            "encodingFlags":["categorize-labels"],
            "result":[
              {"stream":{"app":"b"},"values":[["1700000000000000002","y",{}],["1700000000000000003","z",{"structuredMetadata":{"detected_level":"info"}}]]},
              {"stream":{"app":"a"},"values":[["1700000000000000002","x"],["1700000000000000001","w"]]}
            ],
            "stats":{"summary":{"execTime":0.01}}}}"#;
        let es = parse_response(body).unwrap();
        let got: Vec<(i64, &str, &str)> = es
            .iter()
            .map(|e| (e.ts_ns, e.labels["app"].as_str(), e.line.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1700000000000000001, "a", "w"),
                (1700000000000000002, "a", "x"),
                (1700000000000000002, "b", "y"),
                (1700000000000000003, "b", "z"),
            ]
        );
    }

    #[test]
    fn rejects_errors_truncation_and_matrices() {
        assert!(parse_response(br#"{"status":"success","data":{"resultType":"str"#).is_err());
        assert!(parse_response(br#"{"status":"error","error":"boom"}"#).is_err());
        assert!(
            parse_response(br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#)
                .is_err()
        );
        assert!(
            parse_response(
                br#"{"status":"success","data":{"resultType":"streams","result":[{"stream":{},"values":[["1"]]}]}}"#
            )
            .is_err()
        );
        assert!(
            parse_response(br#"{"status":"success","data":{"resultType":"streams","result":[]}}"#)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn formats_19_digit_ns() {
        assert_eq!(format_ns(1), "0000000000000000001");
        assert_eq!(format_ns(1_700_000_000_000_000_000), "1700000000000000000");
    }

    /// Simulates a Loki over `all` (sorted) to drive the pager, returning every entry read.
    fn drive(all: &[Entry], start: i64, end: i64, limit: usize, max: usize) -> Vec<Entry> {
        let mut p = Pager::new(start, end, limit, max);
        let mut seen = Vec::new();
        let mut calls = 0;
        while let Some(r) = p.next_request() {
            calls += 1;
            assert!(calls < 10_000, "pager loops");
            let page: Vec<Entry> = all
                .iter()
                .filter(|e| e.ts_ns >= r.start_ns && e.ts_ns < r.end_ns)
                .take(r.limit)
                .cloned()
                .collect();
            seen.extend(page.iter().cloned());
            p.on_page(&page).unwrap();
        }
        seen.sort();
        seen.dedup();
        seen
    }

    #[test]
    fn pages_never_skip_and_terminate() {
        // Groups of equal timestamps of every size around the page limit.
        let mut all = Vec::new();
        let mut ts = 100;
        for size in [1usize, 2, 3, 4, 5, 9, 1, 4, 3, 7, 2, 12, 1] {
            for i in 0..size {
                all.push(e(ts, &format!("l{ts}-{i}")));
            }
            ts += 1 + (size as i64 % 3);
        }
        all.sort();
        for limit in 1..=6 {
            let got = drive(&all, 0, 1000, limit, 20);
            assert_eq!(got, all, "limit {limit}");
        }
        // Window bounds: start inclusive, end exclusive.
        let got = drive(&all, all[3].ts_ns, all[all.len() - 1].ts_ns, 4, 20);
        let want: Vec<Entry> = all
            .iter()
            .filter(|x| x.ts_ns >= all[3].ts_ns && x.ts_ns < all[all.len() - 1].ts_ns)
            .cloned()
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_full_page_at_one_ns_reads_that_ns_with_the_server_max() {
        let mut all: Vec<Entry> = (0..30).map(|i| e(50, &format!("{i:02}"))).collect();
        all.push(e(51, "after"));
        let mut p = Pager::new(0, 100, 10, 40);
        let r = p.next_request().unwrap();
        assert_eq!((r.start_ns, r.end_ns, r.limit), (0, 100, 10));
        p.on_page(&all[..10]).unwrap();
        let r = p.next_request().unwrap();
        assert_eq!((r.start_ns, r.end_ns, r.limit), (50, 51, 40));
        p.on_page(&all[..30]).unwrap();
        let r = p.next_request().unwrap();
        assert_eq!((r.start_ns, r.end_ns, r.limit), (51, 100, 10));
        p.on_page(&all[30..]).unwrap();
        assert_eq!(p.next_request(), None);
        assert_eq!(drive(&all, 0, 100, 10, 40), all);
    }

    #[test]
    fn too_many_at_one_ns_is_an_error_not_a_loop() {
        let all: Vec<Entry> = (0..50).map(|i| e(7, &format!("{i:02}"))).collect();
        let mut p = Pager::new(0, 100, 10, 40);
        p.on_page(&all[..10]).unwrap();
        let err = p.on_page(&all[..40]).unwrap_err();
        assert_eq!(
            err,
            PagingError::TooManyAtOneNs {
                ts_ns: 7,
                count: 40
            }
        );
    }

    #[test]
    fn empty_and_degenerate_windows() {
        assert_eq!(Pager::new(5, 5, 10, 40).next_request(), None);
        let mut p = Pager::new(0, 10, 10, 40);
        p.on_page(&[]).unwrap();
        assert_eq!(p.next_request(), None);
        // A one-ns group at the window's last ns ends the window.
        let all: Vec<Entry> = (0..10).map(|i| e(9, &format!("{i}"))).collect();
        assert_eq!(drive(&all, 0, 10, 10, 40), all);
    }
}
