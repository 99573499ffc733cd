#!/usr/bin/env bash
# Sets up and runs every test of the workspace: the one command README.md gives.
# On a fresh Debian machine it installs what the tests need (PostgreSQL for the scraper's
# tests and openssl for its TLS test certificates, Debian's prometheus for promtool and the
# Prometheus smoke test, and prometheus-alertmanager for amtool), then runs
# formatting, lints, the test suites, the docs build, the packaged crates and the flake's
# evaluation.
#   STACKC_REQUIRE_TOOLS=1  a test that needs an external tool fails instead of skipping
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v promtool >/dev/null || need+=(prometheus)
command -v amtool >/dev/null || need+=(prometheus-alertmanager)
{ command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || need+=(postgresql)
command -v psql >/dev/null || need+=(postgresql-client)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "installing: ${need[*]}" >&2
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
# Debian puts the server binaries outside PATH.
for d in /usr/lib/postgresql/*/bin; do [ -d "$d" ] && PATH="$PATH:$d"; done
export PATH

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if grep -rnE '\bdbg!\(|\btodo!\(|\bunimplemented!\(|#\[ignore\]' --include='*.rs' src crates tests; then
  echo "error: placeholders or ignored tests left in the code (above)" >&2
  exit 1
fi
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
cargo test --workspace --locked
# the crates as crates.io gets them: file lists, then stackc built from its .crate and run
bash scripts/package.sh
# flake.nix evaluated offline against a nixpkgs stub (installs nix-bin, shellcheck)
bash scripts/check-flake.sh
