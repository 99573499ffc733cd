#!/usr/bin/env bash
# Runs `stackc-up` and `stackc-down`, as the flake assembles them (the script text of the
# writeShellApplication derivation), against fake `stackc`, `docker` and `docker-compose`
# that log their arguments: what reaches Docker, in which directory and order, and what the
# user is told when something is missing. Called by scripts/check-flake.sh.
#
#   test-apps.sh UP_SCRIPT DOWN_SCRIPT
#
# Environment:
#   TREES   generated trees (golden/<case>), space-separated: what the fake stackc writes;
#           the first is used for the error cases, each one for a start
#   STACK   the stack.toml to deploy (copied into a temporary project)
#   IMAGES  the images the flake builds, "REF=FILE" per line: `up` must load exactly those
#           whose REF the tree's compose.yaml uses
set -euo pipefail
UP=$(realpath "$1")
DOWN=$(realpath "$2")
: "${TREES:?}" "${STACK:?}" "${IMAGES:?}"
read -r -a trees <<<"$TREES"
GOLDEN=$(realpath "${trees[0]}")

T=$(mktemp -d "${TMPDIR:-/tmp}/test-apps.XXXXXX")
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin" "$T/proj"
LOG=$T/log
export LOG GOLDEN

cat >"$T/bin/stackc" <<'EOF'
#!/usr/bin/env bash
echo "stackc $* (in $(basename "$PWD"))" >>"$LOG"
if [ $# -ne 4 ] || [ "$1" != build ] || [ "$3" != -o ]; then
  echo "fake stackc: unexpected arguments: $*" >&2
  exit 2
fi
if grep -q INVALID "$2"; then
  echo "error: unknown key \`INVALID\`" >&2
  exit 1
fi
mkdir -p "$4"
cp -R "$GOLDEN"/. "$4"/
EOF
cat >"$T/bin/docker-compose" <<'EOF'
#!/usr/bin/env bash
echo "docker-compose $* (in $(basename "$PWD"))" >>"$LOG"
case " $* " in
  *" config --images "*)
    sed -nE 's/^[[:space:]]*image:[[:space:]]*"?([^"]*)"?[[:space:]]*$/\1/p' compose.yaml
    ;;
esac
EOF
cat >"$T/bin/docker" <<'EOF'
#!/usr/bin/env bash
echo "docker $* (in $(basename "$PWD"))" >>"$LOG"
EOF
chmod +x "$T/bin"/*
cp "$STACK" "$T/proj/stack.toml"
mkdir -p "$T/proj/bad"
printf 'INVALID = 1\n' >"$T/proj/bad/stack.toml"

failures=0
ok() { echo "ok: $*"; }
bad() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# run NAME SCRIPT ARGS...: runs in the project with the fakes first on PATH; sets rc, out, err
run() {
  local name=$1 script=$2
  shift 2
  : >"$LOG"
  rc=0
  # through bash: the shebang names the bash of the flake's nixpkgs, which is not built here
  (cd "$T/proj" && PATH="$T/bin:/usr/bin:/bin" bash "$script" "$@" >"$T/out" 2>"$T/err") || rc=$?
  out=$(cat "$T/out")
  err=$(cat "$T/err")
  what="$name ($(basename "$script") $*)"
}
expect_rc() {
  [ "$rc" = "$1" ] || {
    bad "$what: exit code $rc, expected $1; stderr: $err"
    return 1
  }
}
expect_in() { # expect_in TEXT NEEDLE: NEEDLE (fixed string) occurs in TEXT
  case "$1" in
    *"$2"*) return 0 ;;
  esac
  bad "$what: expected \`$2\` in: $1"
  return 1
}
expect_log() { # expect_log LINE...: the fakes were called exactly so, in this order
  local want
  want=$(printf '%s\n' "$@")
  [ "$(cat "$LOG")" = "$want" ] || {
    bad "$what: calls were:
$(cat "$LOG")
expected:
$want"
    return 1
  }
}

run "help" "$UP" --help
expect_rc 0 && expect_in "$out" "usage: stackc-up [STACK] [-o DIR]" && expect_log && ok "$what"

run "refuses without .env" "$UP"
expect_rc 1 && expect_in "$err" "\`./generated/.env\` is missing" &&
  expect_in "$err" "copy \`./generated/.env.example\` to \`./generated/.env\`" &&
  expect_log "stackc build ./stack.toml -o ./generated (in proj)" && ok "$what"

# a start per tree: exactly the images its compose.yaml uses are loaded, between
# `config --images` and `up`
loaded=0 skipped=0
for tree in "${trees[@]}"; do
  GOLDEN=$(realpath "$tree")
  name=$(basename "$GOLDEN")
  dir=start-$name
  run "first start without .env ($name)" "$UP" -o "$dir"
  expect_rc 1 || continue
  cp "$T/proj/$dir/.env.example" "$T/proj/$dir/.env"
  run "starts the stack ($name)" "$UP" -o "$dir" -- --remove-orphans
  expect_rc 0 || continue
  uses=$(sed -nE 's/^[[:space:]]*image:[[:space:]]*"?([^"]*)"?[[:space:]]*$/\1/p' "$GOLDEN/compose.yaml")
  want_loads=""
  while IFS= read -r entry; do
    [ -n "$entry" ] || continue
    if printf '%s\n' "$uses" | grep -qxF -- "${entry%%=*}"; then
      want_loads="$want_loads
docker load -i ${entry#*=} (in $dir)"
      loaded=$((loaded + 1))
    else
      skipped=$((skipped + 1))
    fi
  done <<<"$IMAGES"
  want_loads=$(printf '%s\n' "$want_loads" | sed '/^$/d' | sort)
  loads=$(grep '^docker load' "$LOG" | sort || true)
  calls=$(grep -v '^docker load' "$LOG" || true)
  order=$(sed -E 's/^(docker load).*/\1/' "$LOG" | uniq | tr '\n' ',')
  first="stackc build ./stack.toml -o $dir (in proj)"
  config="docker-compose -f compose.yaml config --images (in $dir)"
  up="docker-compose -f compose.yaml up -d --remove-orphans (in $dir)"
  if [ "$loads" != "$want_loads" ]; then
    bad "$what: loaded
$loads
expected
$want_loads"
  elif [ "$calls" != "$first
$config
$up" ]; then
    bad "$what: calls were:
$(cat "$LOG")"
  elif [ -n "$want_loads" ] && [ "$order" != "$first,$config,docker load,$up," ]; then
    bad "$what: images not loaded between \`config --images\` and \`up\`:
$(cat "$LOG")"
  else
    ok "$what"
  fi
done
# the trees must show both cases, or the test above proves less than it says
if [ "$loaded" -eq 0 ] || [ "$skipped" -eq 0 ]; then
  bad "the trees (${trees[*]}) do not have both a used and an unused stackc image: $loaded loaded, $skipped skipped"
fi
GOLDEN=$(realpath "${trees[0]}")

run "custom output directory" "$UP" -o deploy
expect_rc 1 && expect_in "$err" "\`deploy/.env\` is missing" &&
  expect_log "stackc build ./stack.toml -o deploy (in proj)" && ok "$what"

run "missing stack file" "$UP" nowhere/stack.toml
expect_rc 2 && expect_in "$err" "no stack file at \`nowhere/stack.toml\`" && expect_log && ok "$what"

run "invalid stack" "$UP" bad/stack.toml
expect_rc 1 && expect_in "$err" "unknown key" &&
  expect_log "stackc build bad/stack.toml -o bad/generated (in proj)" && ok "$what"

run "unknown option" "$UP" --detach
expect_rc 2 && expect_in "$err" "unknown option \`--detach\`" && expect_log && ok "$what"

run "two stack files" "$UP" a.toml b.toml
expect_rc 2 && expect_in "$err" "one stack file only" && expect_log && ok "$what"

run "-o without a directory" "$UP" -o
expect_rc 2 && expect_in "$err" "\`-o\` needs a directory" && expect_log && ok "$what"

run "help" "$DOWN" --help
expect_rc 0 && expect_in "$out" "usage: stackc-down [STACK] [-o DIR]" && expect_log && ok "$what"

run "stops the stack" "$DOWN"
expect_rc 0 && expect_log "docker-compose -f compose.yaml down (in generated)" && ok "$what"

run "passes arguments to compose" "$DOWN" stack.toml -- --volumes
expect_rc 0 && expect_log "docker-compose -f compose.yaml down --volumes (in generated)" && ok "$what"

run "nothing to stop" "$DOWN" -o elsewhere
expect_rc 2 && expect_in "$err" "no \`compose.yaml\` in \`elsewhere\`" && expect_log && ok "$what"

if [ "$failures" -gt 0 ]; then
  echo "$failures app test(s) failed"
  exit 1
fi
