//! A fake Loki: `GET /loki/api/v1/query_range` as Loki implements it (reference/scraper.md §1,
//! §6) over an in-memory store, with ingestion delay and fault injection (scheduled per
//! request number, or drawn at random from a seed: 500s, answers slower than the client
//! timeout, bodies cut mid-JSON with the connection closed, truncated bodies).
//!
//! Parameters are parsed like `pkg/loghttp/params.go`: `start`/`end` integers of ≤ 10 digits are
//! seconds, longer ones ns, with a `.` float seconds rounded to ms; defaults `end = now`,
//! `start = end - 1h`; `end < start` → 400; `limit` default 100, ≤ 0 → 400, above
//! `max_entries` (5000) → 400; `direction` default backward, case-insensitive. Start is
//! inclusive, end exclusive. Streams come out in a shuffled order; with the
//! `categorize-labels` header values have 3 elements and `stream` only the indexed labels,
//! without it `stream` also holds the `detected_level` structured metadata, like Loki 3.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::json;

/// Indexed labels, sorted.
pub(crate) type Labels = BTreeMap<String, String>;

/// A fault for one request.
#[derive(Debug, Clone)]
pub(crate) enum Fault {
    /// Answer with this HTTP status and a text body.
    Status(u16),
    /// Sleep this long before answering normally (past the client timeout).
    Hang(Duration),
    /// 200 with the first half of the JSON body.
    Truncate,
    /// 200, send half of the body, then cut the connection.
    CutConnection,
    /// 200 with `{"status":"error"}`.
    StatusError,
}

#[derive(Debug, Clone)]
struct Stored {
    labels: Arc<Labels>,
    line: Arc<str>,
    visible_from_ns: i64,
}

/// Random faults: each request without a scheduled fault gets one with these probabilities
/// (per mille), drawn from a seeded generator.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RandomFaults {
    pub(crate) seed: u64,
    /// HTTP 500.
    pub(crate) status_500: u32,
    /// An answer that starts after `hang` (past the client timeout).
    pub(crate) hang: u32,
    pub(crate) hang_for: Duration,
    /// Half of the body, then the connection is closed.
    pub(crate) cut: u32,
    /// A complete response holding half of the JSON body.
    pub(crate) truncate: u32,
}

/// How many faults of each kind were injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FaultCounts {
    pub(crate) status: usize,
    pub(crate) hang: usize,
    pub(crate) cut: usize,
    pub(crate) truncate: usize,
    pub(crate) status_error: usize,
}

/// One recorded request.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) params: HashMap<String, String>,
    pub(crate) status: u16,
    pub(crate) returned: usize,
}

/// An entry's place in the store: (ts, labels key, insertion order).
type Key = (i64, Arc<str>, u64);

type NowFn = Arc<dyn Fn() -> i64 + Send + Sync>;

struct Inner {
    /// Ordered like Loki's forward iterator: (ts, labels, insertion order).
    entries: BTreeMap<Key, Stored>,
    /// Loki's identity of an entry, to drop exact duplicates on push.
    keys: HashSet<(Arc<str>, i64, Arc<str>)>,
    /// Interned streams: labels → (labels key, shared labels).
    streams: HashMap<Labels, (Arc<str>, Arc<Labels>)>,
    seq: u64,
    now: NowFn,
    max_entries: usize,
    expected_query: Option<String>,
    faults: BTreeMap<usize, Fault>,
    down: bool,
    delay: Duration,
    duplicate_values: bool,
    shuffle_ties: bool,
    requests: Vec<Recorded>,
    rng: u64,
    random_faults: Option<(RandomFaults, u64)>,
    injected: FaultCounts,
}

/// A running fake Loki.
#[derive(Clone)]
pub(crate) struct FakeLoki {
    pub(crate) addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

fn labels_key(l: &Labels) -> String {
    let parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}

pub(crate) fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl FakeLoki {
    /// Starts on 127.0.0.1:0 with `now` as its clock.
    pub(crate) async fn start(now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            entries: BTreeMap::new(),
            keys: HashSet::new(),
            streams: HashMap::new(),
            seq: 0,
            now: Arc::new(now),
            max_entries: 5000,
            expected_query: None,
            faults: BTreeMap::new(),
            down: false,
            delay: Duration::ZERO,
            duplicate_values: false,
            shuffle_ties: false,
            requests: Vec::new(),
            rng: 0x9E37_79B9_7F4A_7C15,
            random_faults: None,
            injected: FaultCounts::default(),
        }));
        let app = Router::new()
            .route("/loki/api/v1/query_range", get(query_range))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, inner }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Pushes an entry visible from its own timestamp; exact duplicates are dropped.
    pub(crate) fn push(&self, labels: &Labels, ts_ns: i64, line: &str) -> bool {
        self.push_visible_from(labels, ts_ns, line, ts_ns)
    }

    /// Pushes an entry that queries see only once the clock reaches `visible_from_ns`.
    pub(crate) fn push_visible_from(
        &self,
        labels: &Labels,
        ts_ns: i64,
        line: &str,
        visible_from_ns: i64,
    ) -> bool {
        let mut g = self.lock();
        let (key, shared) = match g.streams.get(labels) {
            Some(s) => s.clone(),
            None => {
                let s: (Arc<str>, Arc<Labels>) =
                    (labels_key(labels).into(), Arc::new(labels.clone()));
                g.streams.insert(labels.clone(), s.clone());
                s
            }
        };
        let line: Arc<str> = line.into();
        if !g.keys.insert((key.clone(), ts_ns, line.clone())) {
            return false;
        }
        g.seq += 1;
        let seq = g.seq;
        g.entries.insert(
            (ts_ns, key, seq),
            Stored {
                labels: shared,
                line,
                visible_from_ns,
            },
        );
        true
    }

    /// Forgets every entry and recorded request.
    pub(crate) fn clear(&self) {
        let mut g = self.lock();
        g.entries = BTreeMap::new();
        g.keys = HashSet::new();
        g.requests = Vec::new();
    }

    /// Number of stored entries.
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// From now on, requests without a scheduled fault fail at random (see [`RandomFaults`]);
    /// `None` stops that.
    pub(crate) fn set_random_faults(&self, f: Option<RandomFaults>) {
        self.lock().random_faults = f.map(|f| (f, f.seed | 1));
    }

    /// Faults injected so far, by kind.
    pub(crate) fn injected(&self) -> FaultCounts {
        self.lock().injected
    }

    pub(crate) fn expect_query(&self, q: &str) {
        self.lock().expected_query = Some(q.to_owned());
    }

    pub(crate) fn set_max_entries(&self, n: usize) {
        self.lock().max_entries = n;
    }

    /// Faults for the next requests, in order.
    pub(crate) fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        let mut g = self.lock();
        let base = g.requests.len() + g.faults.len();
        for (i, f) in faults.into_iter().enumerate() {
            g.faults.insert(base + i + 1, f);
        }
    }

    /// A fault for request number `n` (1-based, counting every request ever made).
    pub(crate) fn fail_request(&self, n: usize, fault: Fault) {
        self.lock().faults.insert(n, fault);
    }

    pub(crate) fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// While down, every request gets a 503.
    pub(crate) fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    pub(crate) fn set_delay(&self, d: Duration) {
        self.lock().delay = d;
    }

    /// Returns every value twice (replica duplicates that a querier failed to merge).
    pub(crate) fn set_duplicate_values(&self, on: bool) {
        self.lock().duplicate_values = on;
    }

    /// When a page's limit cuts a group of entries sharing one ns, return a random part of
    /// that group (Loki promises no order within one ns).
    pub(crate) fn set_shuffle_ties(&self, on: bool) {
        self.lock().shuffle_ties = on;
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    pub(crate) fn request_count(&self) -> usize {
        self.lock().requests.len()
    }
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// The third element of a value under `categorize-labels`.
#[derive(Serialize)]
struct Meta {
    #[serde(rename = "structuredMetadata")]
    structured_metadata: DetectedLevel,
}

#[derive(Serialize)]
struct DetectedLevel {
    detected_level: &'static str,
}

static META: Meta = Meta {
    structured_metadata: DetectedLevel {
        detected_level: "info",
    },
};

#[derive(Serialize, Clone)]
#[serde(untagged)]
enum ValueOut<'a> {
    Two(String, &'a str),
    Three(String, &'a str, &'static Meta),
}

#[derive(Serialize)]
struct StreamOut<'a> {
    stream: BTreeMap<&'a str, &'a str>,
    values: Vec<ValueOut<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DataOut<'a> {
    result_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding_flags: Option<[&'static str; 1]>,
    result: Vec<StreamOut<'a>>,
    stats: serde_json::Value,
}

#[derive(Serialize)]
struct ResponseOut<'a> {
    status: &'static str,
    data: DataOut<'a>,
}

/// Loki's `parseTimestamp`.
fn parse_ts(s: &str) -> Result<i64, String> {
    if s.contains('.') {
        let f: f64 = s
            .parse()
            .map_err(|_| format!("cannot parse {s:?} to a valid timestamp"))?;
        let ms = (f * 1000.0).round() as i64;
        return Ok(ms * 1_000_000);
    }
    if let Ok(n) = s.parse::<i64>() {
        return Ok(if s.len() <= 10 { n * 1_000_000_000 } else { n });
    }
    Err(format!("cannot parse {s:?} to a valid timestamp"))
}

fn text(status: u16, msg: impl Into<String>) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "text/plain; charset=utf-8")],
        msg.into(),
    )
        .into_response()
}

async fn query_range(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    Query(raw): Query<Vec<(String, String)>>,
) -> Response {
    let params: HashMap<String, String> = raw.into_iter().collect();
    let (n, fault, delay) = {
        let mut g = inner.lock().unwrap_or_else(|e| e.into_inner());
        let n = g.requests.len() + 1;
        let mut fault = g.faults.remove(&n);
        if fault.is_none()
            && let Some((rf, rng)) = &mut g.random_faults
        {
            let draw = (xorshift(rng) % 1000) as u32;
            let mut edge = 0;
            for (p, f) in [
                (rf.status_500, Fault::Status(500)),
                (rf.hang, Fault::Hang(rf.hang_for)),
                (rf.cut, Fault::CutConnection),
                (rf.truncate, Fault::Truncate),
            ] {
                edge += p;
                if draw < edge {
                    fault = Some(f);
                    break;
                }
            }
        }
        let fault = if g.down {
            Some(Fault::Status(503))
        } else {
            fault
        };
        match &fault {
            Some(Fault::Status(_)) => g.injected.status += 1,
            Some(Fault::Hang(_)) => g.injected.hang += 1,
            Some(Fault::CutConnection) => g.injected.cut += 1,
            Some(Fault::Truncate) => g.injected.truncate += 1,
            Some(Fault::StatusError) => g.injected.status_error += 1,
            None => {}
        }
        g.requests.push(Recorded {
            params: params.clone(),
            status: 0,
            returned: 0,
        });
        (n, fault, g.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let record = |status: u16, returned: usize| {
        let mut g = inner.lock().unwrap_or_else(|e| e.into_inner());
        let r = &mut g.requests[n - 1];
        r.status = status;
        r.returned = returned;
    };
    match &fault {
        Some(Fault::Status(code)) => {
            record(*code, 0);
            return text(*code, "injected failure\n");
        }
        Some(Fault::Hang(d)) => tokio::time::sleep(*d).await,
        Some(Fault::StatusError) => {
            record(200, 0);
            return (
                StatusCode::OK,
                [("content-type", "application/json")],
                r#"{"status":"error","errorType":"internal","error":"injected"}"#,
            )
                .into_response();
        }
        _ => {}
    }
    let (status, body, returned) = match answer(&inner, &params, &headers) {
        Ok((b, n)) => (200, b, n),
        Err((code, msg)) => {
            record(code, 0);
            return text(code, msg);
        }
    };
    record(status, returned);
    match fault {
        Some(Fault::Truncate) => {
            let half = body[..body.len() / 2].to_vec();
            (StatusCode::OK, [("content-type", "application/json")], half).into_response()
        }
        Some(Fault::CutConnection) => {
            let half = body[..body.len() / 2].to_vec();
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                vec![Ok(half), Err(std::io::Error::other("connection cut"))];
            let stream = futures_util::stream::iter(chunks);
            Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .header("content-length", body.len().to_string())
                .body(Body::from_stream(stream))
                .unwrap()
        }
        _ => (StatusCode::OK, [("content-type", "application/json")], body).into_response(),
    }
}

fn answer(
    inner: &Arc<Mutex<Inner>>,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<(Vec<u8>, usize), (u16, String)> {
    let mut g = inner.lock().unwrap_or_else(|e| e.into_inner());
    let now = (g.now)();
    let query = params.get("query").cloned().unwrap_or_default();
    if query.is_empty() {
        return Err((400, "parse error : syntax error: unexpected $end".into()));
    }
    if let Some(want) = &g.expected_query
        && &query != want
    {
        return Err((400, format!("parse error : unexpected query {query:?}")));
    }
    let end = match params.get("end") {
        Some(s) => parse_ts(s).map_err(|e| (400, e))?,
        None => now,
    };
    let start = match params.get("start") {
        Some(s) => parse_ts(s).map_err(|e| (400, e))?,
        None => end - 3_600_000_000_000,
    };
    if end < start {
        return Err((
            400,
            "end timestamp must not be before or equal to start time".into(),
        ));
    }
    let limit: i64 = match params.get("limit") {
        Some(s) => s
            .parse()
            .map_err(|_| (400, format!("cannot parse limit {s:?}")))?,
        None => 100,
    };
    if limit <= 0 {
        return Err((400, "limit must be a positive value".into()));
    }
    if limit as usize > g.max_entries {
        return Err((
            400,
            format!(
                "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {})",
                g.max_entries
            ),
        ));
    }
    let forward = match params.get("direction").map(|d| d.to_ascii_uppercase()) {
        None => false,
        Some(d) if d == "FORWARD" => true,
        Some(d) if d == "BACKWARD" => false,
        Some(_) => return Err((400, "invalid direction".into())),
    };
    let limit = limit as usize;
    let range = g
        .entries
        .range((start, Arc::<str>::from(""), 0)..(end, Arc::<str>::from(""), 0));
    let mut rng = g.rng;
    let picked: Vec<(i64, &Stored)> = if forward {
        let mut page: Vec<(i64, &Stored)> = range
            .filter(|(_, e)| e.visible_from_ns <= now)
            .take(limit)
            .map(|(k, e)| (k.0, e))
            .collect();
        if g.shuffle_ties && page.len() == limit {
            // Loki orders one ns by stream hash, not by anything a client may rely on:
            // when the limit cuts a group, return a different part of it every time.
            let t = page[limit - 1].0;
            page.retain(|(ts, _)| *ts != t);
            let mut group: Vec<(i64, &Stored)> = g
                .entries
                .range((t, Arc::<str>::from(""), 0)..(t + 1, Arc::<str>::from(""), 0))
                .filter(|(_, e)| e.visible_from_ns <= now)
                .map(|(_, e)| (t, e))
                .collect();
            for i in (1..group.len()).rev() {
                let j = (xorshift(&mut rng) % (i as u64 + 1)) as usize;
                group.swap(i, j);
            }
            group.truncate(limit - page.len());
            page.extend(group);
        }
        page
    } else {
        // Newest first; within one ns, labels ascending (as Loki's lessDescending ties).
        let mut all: Vec<(&Key, &Stored)> =
            range.filter(|(_, e)| e.visible_from_ns <= now).collect();
        all.sort_by(|a, b| {
            b.0.0
                .cmp(&a.0.0)
                .then(a.0.1.cmp(&b.0.1))
                .then(a.0.2.cmp(&b.0.2))
        });
        all.into_iter().take(limit).map(|(k, e)| (k.0, e)).collect()
    };
    let returned = picked.len();
    let categorize = headers
        .get("x-loki-response-encoding-flags")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|f| f.trim() == "categorize-labels"));
    let dup = g.duplicate_values;
    // Group into streams in order of first appearance, then shuffle the streams.
    let mut order: Vec<*const Labels> = Vec::new();
    let mut streams: HashMap<*const Labels, StreamOut<'_>> = HashMap::new();
    for (ts, e) in picked {
        let s = streams.entry(Arc::as_ptr(&e.labels)).or_insert_with(|| {
            order.push(Arc::as_ptr(&e.labels));
            let mut stream: BTreeMap<&str, &str> = e
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            if !categorize {
                stream.insert("detected_level", "info");
            }
            StreamOut {
                stream,
                values: Vec::new(),
            }
        });
        let v = if categorize {
            ValueOut::Three(ts.to_string(), &e.line, &META)
        } else {
            ValueOut::Two(ts.to_string(), &e.line)
        };
        if dup {
            s.values.push(v.clone());
        }
        s.values.push(v);
    }
    for i in (1..order.len()).rev() {
        let j = (xorshift(&mut rng) % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let result: Vec<StreamOut<'_>> = order.iter().map(|k| streams.remove(k).unwrap()).collect();
    let body = serde_json::to_vec(&ResponseOut {
        status: "success",
        data: DataOut {
            result_type: "streams",
            encoding_flags: categorize.then_some(["categorize-labels"]),
            result,
            stats: json!({"summary": {"execTime": 0.001, "totalLinesProcessed": returned}}),
        },
    })
    .unwrap();
    g.rng = rng;
    Ok((body, returned))
}
