#!/usr/bin/env bash
# Times `stackc build` (the whole CLI run) on generated stacks of N apps and prints wall
# time (min/median of 5 runs) and peak RSS. Fixtures are generated, not checked in.
#   usage: scripts/bench.sh [N ...]     (default: 10 100 1000 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/stackc
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf '| apps | wall min | wall median | peak RSS |\n| ---: | ---: | ---: | ---: |\n'
for n in "${@:-10 100 1000 10000}"; do
  for count in $n; do
    dir=$tmp/$count; mkdir -p "$dir"
    {
      echo '[stack]'; echo 'name = "bench"'
      for i in $(seq 1 "$count"); do
        printf '[apps.app-%d]\nimage = "ghcr.io/acme/app:%d"\nport = 8080\nenv = { INDEX = "%d" }\n' "$i" "$i" "$i"
      done
    } > "$dir/stack.toml"
    times=(); rss=0
    for _ in 1 2 3 4 5; do
      rm -rf "$dir/generated"
      /usr/bin/time -o "$tmp/time" -f '%e %M' "$bin" build "$dir/stack.toml" 2>/dev/null
      out=$(tail -1 "$tmp/time")
      times+=("${out% *}"); r=${out#* }; [ "$r" -gt "$rss" ] && rss=$r
    done
    sorted=$(printf '%s\n' "${times[@]}" | sort -n)
    printf '| %d | %ss | %ss | %d MB |\n' "$count" "$(echo "$sorted" | head -1)" "$(echo "$sorted" | sed -n 3p)" $((rss / 1024))
  done
done
