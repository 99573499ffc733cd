//! `usage-scraper`: reads `usage=true` events from Loki and stores them in PostgreSQL.

fn main() {
    println!("usage-scraper {}", env!("CARGO_PKG_VERSION"));
}
