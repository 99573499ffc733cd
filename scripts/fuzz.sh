#!/usr/bin/env bash
# Fuzzes the TOML-to-model path (`fuzz/fuzz_targets/check.rs`) for SECONDS (default 60),
# seeded with every stack file of the repository: the examples and the CLI cases.
# Needs a nightly toolchain (`rustup toolchain install nightly`); installs cargo-fuzz from
# crates.io when it is missing. A crash fails the script and leaves its input in
# fuzz/artifacts/check/; replay it with `cargo +nightly fuzz run check <file>`.
#   scripts/fuzz.sh [SECONDS]
#   STACKC_FUZZ_TARGET_DIR  build directory (default fuzz/target); point it outside the
#                           checkout to keep the ~4-minute instrumented build between runs
#   STACKC_FUZZ_SANITIZER   address (default) or none: CI uses none, which halves the cold
#                           build; stackc forbids unsafe code, so ASan adds little there
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

corpus=fuzz/corpus/check
mkdir -p "$corpus"
for f in examples/*/stack.toml tests/cmd/*.toml tests/cmd/*.in/stack.toml; do
  cp "$f" "$corpus/seed-${f//\//_}"
done

cargo +nightly fuzz run --sanitizer "${STACKC_FUZZ_SANITIZER:-address}" --target-dir "${STACKC_FUZZ_TARGET_DIR:-fuzz/target}" check "$corpus" -- \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1
