#!/usr/bin/env bash
# Benchmarks the stackc CLI: `stackc build` of generated stacks of N apps, and `check`,
# `build --check` and rebuilds of the demo stack; wall time (min/median) and peak RSS of
# the whole process. Fixtures are generated in a temp dir, never checked in.
#   usage: scripts/bench.sh [N ...]       (default: 10 100 1000 10000)
#   RUNS=9 scripts/bench.sh               (runs per row, default 7)
# The usage scraper has its own: scripts/bench-scraper.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet -p stackc
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%d)"
python3 scripts/bench.py "$PWD/target/release/stackc" "$PWD" "${RUNS:-7}" "$@"
