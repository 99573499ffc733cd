#!/usr/bin/env bash
# Benchmarks the usage scraper (crates/usage-scraper, "Performance" in its README): the
# release binary stores 100,000 realistic usage events from the fake Loki into a throwaway
# PostgreSQL (durable defaults), alternating with a raw `psql \copy` of the very same rows
# into the same table (the ceiling), several runs each; then it catches up a backlog of
# 1,000,000 events while its peak RSS (VmHWM) is read. Prints a markdown table.
#   usage: scripts/bench-scraper.sh [--runs N] [--events N] [--backlog N] [--page-limit N]
# Needs PostgreSQL 15 (initdb, pg_ctl, postgres, psql); as root it runs the server as the
# `postgres` user. Installs it on Debian/Ubuntu when missing, like scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
{ command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || need+=(postgresql)
command -v psql >/dev/null || need+=(postgresql-client)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "installing: ${need[*]}" >&2
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
for d in /usr/lib/postgresql/*/bin; do [ -d "$d" ] && PATH="$PATH:$d"; done
export PATH

cargo build --release --locked --quiet -p usage-scraper --bin usage-scraper
cargo run --release --locked --quiet -p usage-scraper --example bench -- "$@"
