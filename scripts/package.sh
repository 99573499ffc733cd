#!/usr/bin/env bash
# The crates as crates.io gets them. `cargo package` for stackc and usage-scraper; their
# file lists are checked (sources, templates, schema, examples and Cargo.lock in; golden/,
# tests/, fuzz/, benches/ and the rest of the repository out); then stackc is built from
# its .crate alone, unpacked outside this checkout, and run in an empty directory:
# `stackc init && stackc build` must write exactly golden/demo/, and `stackc --version`
# must name this commit (from the .crate's .cargo_vcs_info.json, not from git).
#
#   bash scripts/package.sh        (scripts/test.sh runs it; CI through that)
#
# The build's target directory, $CARGO_TARGET_DIR/package-test (default target/), is kept
# between runs, so only the first run compiles the dependencies (about 90 s on 2 cores).
# `cargo package` reads the crates.io index to lock the packaged Cargo.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
target=${CARGO_TARGET_DIR:-$PWD/target}
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"$/\1/p' Cargo.toml)
work=$(mktemp -d "${TMPDIR:-/tmp}/stackc-package.XXXXXX")
trap 'rm -rf "$work"' EXIT

failures=0
fail() {
  echo "FAIL package: $*" >&2
  failures=$((failures + 1))
}

# --allow-dirty: the check runs on uncommitted work as well (the release's `cargo publish`
# does not allow it); --no-verify: the build below is the verification, from the .crate.
cargo package --locked --no-verify --allow-dirty --quiet -p stackc -p usage-scraper
stackc_crate=$target/package/stackc-$version.crate
scraper_crate=$target/package/usage-scraper-$version.crate

# list CRATE: its files, without the `name-version/` prefix
list() { tar -tzf "$1" | sed 's|^[^/]*/||' | grep -v '^$' | sort; }
list "$stackc_crate" >"$work/stackc.files"
list "$scraper_crate" >"$work/scraper.files"

# check_list FILES NAME REQUIRED...: every required file is in, nothing outside the allowed dirs
check_list() {
  local files=$1 name=$2
  shift 2
  local f
  for f in "$@"; do
    grep -qxF -- "$f" "$files" || fail "$name: \`$f\` is not in the package"
  done
  if grep -E '^(golden|tests|fuzz|benches|crates|nix|scripts|examples/[^/]+/generated|target|\.github)/' "$files" >"$work/extra"; then
    fail "$name ships what it must not: $(tr '\n' ' ' <"$work/extra")"
  fi
}
templates=()
while IFS= read -r -d '' t; do templates+=("$t"); done < <(find templates -type f -print0 | sort -z)
schemas=()
while IFS= read -r -d '' j; do schemas+=("$j"); done < <(find schema -name '*.json' -print0 | sort -z)
examples=()
while IFS= read -r -d '' e; do examples+=("$e"); done < <(find examples -mindepth 2 -maxdepth 2 -name stack.toml -print0 | sort -z)
check_list "$work/stackc.files" stackc Cargo.toml Cargo.lock .cargo_vcs_info.json build.rs \
  src/main.rs src/lib.rs README.md LICENSE-MIT LICENSE-APACHE schema/stack.schema.json \
  "${templates[@]}" "${schemas[@]}" "${examples[@]}"
check_list "$work/scraper.files" usage-scraper Cargo.toml Cargo.lock src/main.rs src/lib.rs \
  README.md LICENSE-MIT LICENSE-APACHE
for f in LICENSE-MIT LICENSE-APACHE; do
  cmp -s "$f" "crates/usage-scraper/$f" || fail "crates/usage-scraper/$f differs from $f"
done

# Build stackc from nothing but its .crate, outside any workspace.
tar -xzf "$stackc_crate" -C "$work"
build_start=$SECONDS
CARGO_TARGET_DIR="$target/package-test" cargo build --locked --quiet \
  --manifest-path "$work/stackc-$version/Cargo.toml" --bin stackc
build_seconds=$((SECONDS - build_start))
stackc=$target/package-test/debug/stackc

# Its --version names this commit, as the .crate recorded it.
head=$(git rev-parse HEAD 2>/dev/null | cut -c1-9 || true)
reported=$("$stackc" --version)
if [ -n "$head" ]; then
  expected=("stackc $version ($head)" "stackc $version ($head-dirty)")
else
  expected=("$reported") # no git here: any revision the crate recorded
fi
if [ "$reported" != "${expected[0]}" ] && [ "$reported" != "${expected[1]:-}" ]; then
  fail "\`stackc --version\` of the packaged crate printed \`$reported\`, expected \`${expected[0]}\`"
fi

# The first run of a user who never cloned stackc: init and build in an empty directory.
mkdir "$work/empty"
if (cd "$work/empty" && "$stackc" init && "$stackc" build) >"$work/run.log" 2>&1; then
  if ! diff -r golden/demo "$work/empty/generated" >"$work/diff.log"; then
    fail "the packaged stackc's tree differs from golden/demo: $(head -n 20 "$work/diff.log")"
  fi
else
  fail "\`stackc init && stackc build\` from the package failed: $(cat "$work/run.log")"
fi

if [ "$failures" -gt 0 ]; then
  exit 1
fi
size() { du -k "$1" | cut -f1; }
echo "package: stackc-$version.crate ($(wc -l <"$work/stackc.files") files, $(size "$stackc_crate") KiB)" \
  "and usage-scraper-$version.crate ($(wc -l <"$work/scraper.files") files, $(size "$scraper_crate") KiB);" \
  "stackc built from its .crate in ${build_seconds} s, \`$reported\`, init && build = golden/demo;" \
  "$((SECONDS - start)) s in all"
