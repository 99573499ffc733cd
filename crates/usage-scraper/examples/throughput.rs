//! Measures events/s stored from the fake Loki into a throwaway PostgreSQL, end to end
//! (HTTP + JSON paging, row building, `INSERT … unnest … ON CONFLICT DO NOTHING`, commits).
//!
//! `cargo run -p usage-scraper --release --example throughput [-- EVENTS]` (default 200,000).
//! The fake Loki runs in the same process, so on 2 cores the figure includes its cost too.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use support::{Harness, SEC, T0, stream, usage_line};
use usage_scraper::CycleOutcome;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("EVENTS must be a number"))
        .unwrap_or(200_000);
    let Some(mut h) = Harness::new("throughput").await else {
        eprintln!("PostgreSQL is not installed: nothing measured");
        std::process::exit(1);
    };
    h.settings.loki.page_limit = 5000;
    // Spread over the first 50 minutes of the 1 h backfill: 5 sub-windows of 10 min.
    let base = T0 - 55 * 60 * SEC;
    let step = (50 * 60 * SEC) / n as i64;
    let services = ["dice", "shop", "auth", "search"];
    let labels: Vec<_> = services.iter().map(|s| stream(s)).collect();
    for i in 0..n {
        h.loki.push(
            &labels[i % labels.len()],
            base + i as i64 * step,
            &usage_line(i),
        );
    }
    let t = Instant::now();
    let out = h.cycle().await.expect("cycle");
    let secs = t.elapsed().as_secs_f64();
    let CycleOutcome::Completed(st) = out else {
        panic!("stopped")
    };
    assert_eq!(st.inserted, n as u64);
    println!(
        "stored {n} events in {secs:.2} s: {:.0} events/s ({} windows, {} Loki requests)",
        n as f64 / secs,
        st.windows,
        st.requests
    );
    // Second pass over the same range: every row is a duplicate (the lookback/restart path).
    let c = h.cluster.superuser(&h.db).await;
    c.execute("DELETE FROM usage_scraper_cursor", &[])
        .await
        .unwrap();
    let t = Instant::now();
    let CycleOutcome::Completed(st) = h.cycle().await.expect("cycle") else {
        panic!("stopped")
    };
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(st.duplicates, n as u64);
    println!(
        "re-read {n} already stored events in {secs:.2} s: {:.0} events/s",
        n as f64 / secs
    );
}
