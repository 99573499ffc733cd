#!/usr/bin/env bash
# Checks flake.nix without network: nixpkgs is replaced by the offline stub in
# tests/nix/nixpkgs-stub (same attribute names and builder arguments as nixpkgs, builds
# nothing), so no flake.lock and no download is needed. Exits 1 if any step fails.
#
#   bash scripts/check-flake.sh
#
#  1. parse     nix-instantiate --parse on every .nix file
#  2. check     nix flake check --no-build: every output of the four systems evaluates
#  3. outputs   tests/nix/harness forces what 2 does not (apps, lib.mkStack) and checks the
#               shape: package/app/check names, versions, image names and tags against the
#               golden compose file, image user, app programs
#  4. consumer  tests/nix/consumer, a flake that pins stackc (`follows` nixpkgs) and calls
#               lib.<system>.mkStack, as the README shows, evaluates
#  5. apps      the up/down scripts as the flake assembles them pass bash -n and shellcheck
#               and behave (tests/nix/test-apps.sh, fake docker and stackc writing each
#               golden tree): arguments, the .env refusal, which images get loaded
#  6. sources   editing docs, golden/ or tests/ leaves the binaries' derivations unchanged;
#               editing src/ changes them
#  7. breakage  each deliberate breakage in tests/nix/breakages.txt makes 2-3 fail with the
#               expected message (CHECK_FLAKE_BREAKAGES=0 skips this self-test)
#
# The flake is evaluated from a copy of the files git would commit (tracked plus untracked,
# minus .gitignore'd), as `path:COPY`: a `git+file:` or `.` flake sees only files in git's
# index (a new, un-added flake.nix would be invisible), and `path:` on the checkout itself
# would copy target/ into the store; the copy also lets step 6 and 7 edit files freely.
#
# The flake has no flake.lock yet, and none is needed here: with every input overridden
# (nixpkgs, and the harness' stackc and stackc/nixpkgs), nix locks them in memory to the
# local paths and fetches nothing; --no-write-lock-file keeps the copy unchanged, and the
# global flake registry (a download) is switched off.
#
# Needs nix (Debian's nix-bin 2.8 or later; root, for its single-user store), python3,
# and, when STACKC_REQUIRE_TOOLS=1, ShellCheck; missing nix-bin and ShellCheck are
# installed with apt-get. Each run adds about 15 MB of evaluated sources to /nix/store
# (`nix-collect-garbage` removes them).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

need=()
command -v nix >/dev/null || need+=(nix-bin)
command -v shellcheck >/dev/null || need+=(shellcheck)
if [ ${#need[@]} -gt 0 ] && command -v apt-get >/dev/null; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "installing: ${need[*]}" >&2
  $SUDO apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >&2
fi
command -v nix >/dev/null || {
  echo "error: \`nix\` not found (apt-get install nix-bin)" >&2
  exit 1
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/check-flake.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# nix writes its caches under HOME/XDG dirs: keep them in the temp dir
export HOME="$WORK/home" XDG_CACHE_HOME="$WORK/cache" XDG_CONFIG_HOME="$WORK/config" \
  XDG_DATA_HOME="$WORK/data" XDG_STATE_HOME="$WORK/state"
mkdir -p "$HOME"
NIX=(nix --extra-experimental-features 'nix-command flakes' --option build-users-group ''
  --option flake-registry '')

failures=0
pass() { echo "PASS $*"; }
fail() {
  echo "FAIL $*"
  failures=$((failures + 1))
}
# the first error lines of a nix log, without its lock-file chatter
errors() {
  grep -vE "not writing modified lock file|Added input|^ +'path:|^evaluating flake|^warning: unknown flake output 'lib'|^ *$" "$1" |
    head -n "${2:-6}" || true
}

# copy_repo DEST: the files git would commit (or everything but target/ outside git)
copy_repo() {
  mkdir -p "$1"
  if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
      while IFS= read -r -d '' f; do
        if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
      done | tar --null -T - -cf -) | tar -C "$1" -xf -
  else
    tar -C "$ROOT" --exclude=./target --exclude=./.git --exclude='./result*' -cf - . | tar -C "$1" -xf -
  fi
}

# the evaluations, on a copy DIR with its own stub
flake_check() {
  "${NIX[@]}" flake check --no-build --no-write-lock-file "path:$1" \
    --override-input nixpkgs "path:$1/tests/nix/nixpkgs-stub"
}
harness() {
  "${NIX[@]}" eval --json --no-write-lock-file "path:$1/tests/nix/harness#report" \
    --override-input stackc "path:$1" --override-input stackc/nixpkgs "path:$1/tests/nix/nixpkgs-stub"
}
# drv_paths DIR: {name: drvPath} of x86_64-linux's packages and checks
drv_paths() {
  local attr
  for attr in packages checks; do
    "${NIX[@]}" eval --json --no-write-lock-file "path:$1#$attr.x86_64-linux" \
      --override-input nixpkgs "path:$1/tests/nix/nixpkgs-stub" \
      --apply "builtins.mapAttrs (n: p: builtins.unsafeDiscardStringContext p.drvPath)"
    echo
  done | python3 -c 'import json, sys; print(json.dumps({k: v for l in sys.stdin if l.strip() for k, v in json.loads(l).items()}))'
}

SRC=$WORK/src
copy_repo "$SRC"
STUB=$SRC/tests/nix/nixpkgs-stub
for f in flake.nix tests/nix/harness/flake.nix tests/nix/consumer/flake.nix; do
  [ -f "$SRC/$f" ] || {
    echo "error: $f is missing" >&2
    exit 1
  }
done

# 1. parse
parse_errors=$(cd "$SRC" && find . -name '*.nix' -not -path './target/*' -print0 | sort -z |
  while IFS= read -r -d '' f; do
    nix-instantiate --option build-users-group '' --parse "$f" >/dev/null 2>"$WORK/parse.log" ||
      { echo "$f: $(head -n 2 "$WORK/parse.log" | tr '\n' ' ')"; }
  done)
if [ -z "$parse_errors" ]; then pass "parse: every .nix file"; else fail "parse: $parse_errors"; fi

# 2. check
if flake_check "$SRC" >"$WORK/check.log" 2>&1; then
  pass "check: nix flake check --no-build (x86_64-linux, aarch64-linux, x86_64-darwin, aarch64-darwin)"
else
  fail "check: $(errors "$WORK/check.log")"
fi

# 3. outputs
if harness "$SRC" >"$WORK/report.json" 2>"$WORK/harness.log"; then
  pass "outputs: $(python3 - "$WORK/report.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["systems"]
counts = {k: sum(len(v[k]) for v in s.values()) for k in ("packages", "apps", "checks", "devShells")}
print(", ".join(f"{n} {k}" for k, n in counts.items())
      + f", {len(s)} formatters, {sum('mkStackDemo' in v for v in s.values())} mkStack (demo)"
      + f", {sum('mkStackTeam' in v for v in s.values())} mkStack (team, files); version {r['version']}")
EOF
)"
else
  fail "outputs: $(errors "$WORK/harness.log")"
  echo "[]" >"$WORK/report.json"
fi

# 4. consumer
if "${NIX[@]}" flake check --no-build --no-write-lock-file "path:$SRC/tests/nix/consumer" \
  --override-input nixpkgs "path:$STUB" --override-input stackc "path:$SRC" >"$WORK/consumer.log" 2>&1 &&
  "${NIX[@]}" eval --raw --no-write-lock-file "path:$SRC/tests/nix/consumer#packages.x86_64-linux.stack.drvPath" \
    --override-input nixpkgs "path:$STUB" --override-input stackc "path:$SRC" >"$WORK/consumer.drv" 2>>"$WORK/consumer.log"; then
  pass "consumer: a flake pinning stackc evaluates lib.x86_64-linux.mkStack ($(basename "$(cat "$WORK/consumer.drv")"))"
else
  fail "consumer: $(errors "$WORK/consumer.log")"
fi

# 5. apps: the script text of the up/down derivations, from the harness' report
apps_ok=1
for a in up down; do
  drv=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["systems"]["x86_64-linux"]["apps"][sys.argv[2]]["derivations"][0])' \
    "$WORK/report.json" "$a" 2>/dev/null) || {
    apps_ok=0
    break
  }
  "${NIX[@]}" show-derivation "$drv" 2>/dev/null |
    python3 -c 'import json, sys; sys.stdout.write(next(iter(json.load(sys.stdin).values()))["env"]["text"])' \
      >"$WORK/stackc-$a" || apps_ok=0
done
if [ $apps_ok = 0 ]; then
  fail "apps: no up/down scripts (see outputs)"
else
  lint=""
  for a in up down; do
    bash -n "$WORK/stackc-$a" 2>>"$WORK/lint.log" || lint="$lint stackc-$a:bash-n"
    if command -v shellcheck >/dev/null; then
      shellcheck "$WORK/stackc-$a" >>"$WORK/lint.log" 2>&1 || lint="$lint stackc-$a:shellcheck"
    elif [ "${STACKC_REQUIRE_TOOLS:-0}" = 1 ]; then
      lint="$lint shellcheck-not-installed"
    else
      echo "SKIP apps: shellcheck not installed (writeShellApplication runs it when building)"
    fi
  done
  if [ -n "$lint" ]; then
    fail "apps:$lint: $(head -n 8 "$WORK/lint.log")"
  else
    images=$(python3 - "$WORK/report.json" <<'EOF'
import json, sys
images = json.load(open(sys.argv[1]))["systems"]["x86_64-linux"]["images"]
print("\n".join(f"{i['ref']}={i['file']}" for i in images.values()))
EOF
)
    trees=$(find "$SRC/golden" -mindepth 2 -maxdepth 2 -name compose.yaml -printf '%h\n' | sort | tr '\n' ' ')
    if TREES="$trees" STACK="$SRC/examples/demo/stack.toml" IMAGES="$images" \
      bash "$SRC/tests/nix/test-apps.sh" "$WORK/stackc-up" "$WORK/stackc-down" >"$WORK/apps.log" 2>&1; then
      pass "apps: stackc-up/stackc-down pass bash -n, shellcheck and $(grep -c '^ok:' "$WORK/apps.log") behaviour cases"
    else
      fail "apps: $(grep -v '^ok:' "$WORK/apps.log" | head -n 12)"
    fi
  fi
fi

# 6. sources: which edits change which derivations
EDIT=$WORK/edit
cp -a "$SRC" "$EDIT"
if drv_paths "$EDIT" >"$WORK/drv0.json" 2>"$WORK/drv.log"; then
  for f in README.md ARCHITECTURE.md CONTRIBUTING.md crates/usage-scraper/README.md \
    golden/demo/compose.yaml tests/cmd/help.stdout nix/README-section.md scripts/test.sh; do
    [ -f "$EDIT/$f" ] && printf '\n# edited by check-flake.sh\n' >>"$EDIT/$f"
  done
  drv_paths "$EDIT" >"$WORK/drv1.json" 2>>"$WORK/drv.log"
  printf '\n// edited by check-flake.sh\n' >>"$EDIT/src/main.rs"
  drv_paths "$EDIT" >"$WORK/drv2.json" 2>>"$WORK/drv.log"
  if out=$(python3 - "$WORK"/drv0.json "$WORK"/drv1.json "$WORK"/drv2.json <<'EOF'
import json, sys
base, docs, code = (json.load(open(p)) for p in sys.argv[1:])
kept = ["stackc", "usage-scraper", "demo-app", "usage-scraper-image", "demo-app-image"]
problems = [f"{k} changed after editing docs/golden/tests" for k in kept if base[k] != docs[k]]
problems += [f"{k} did not change after editing golden/ and tests/" for k in ["tests", "golden-demo"] if base[k] == docs[k]]
problems += [f"{k} did not change after editing src/main.rs" for k in ["stackc", "tests", "clippy", "rustfmt"] if docs[k] == code[k]]
print("; ".join(problems))
sys.exit(1 if problems else 0)
EOF
  ); then
    pass "sources: docs/golden/tests edits keep the binaries and images; a src/ edit rebuilds them"
  else
    fail "sources: $out"
  fi
else
  fail "sources: $(errors "$WORK/drv.log")"
fi

# 7. breakages: the checks above must be able to fail
if [ "${CHECK_FLAKE_BREAKAGES:-1}" = 1 ]; then
  n=0 caught=0
  while IFS='|' read -r file from to expect; do
    case "$file" in '' | '#'*) continue ;; esac
    n=$((n + 1))
    MUT=$WORK/mut$n
    rm -rf "$MUT"
    cp -a "$SRC" "$MUT"
    FROM=$from TO=$to python3 - "$MUT/$file" <<'EOF' || { fail "breakage $n ($file): \`$from\` not found"; continue; }
import os, sys
p = sys.argv[1]
s = open(p).read()
if os.environ["FROM"] not in s:
    sys.exit(1)
open(p, "w").write(s.replace(os.environ["FROM"], os.environ["TO"], 1))
EOF
    if flake_check "$MUT" >"$MUT.log" 2>&1 && harness "$MUT" >/dev/null 2>>"$MUT.log"; then
      fail "breakage $n ($file: \`$from\` -> \`$to\`) was not caught"
    elif ! grep -qF -- "$expect" "$MUT.log"; then
      fail "breakage $n ($file) failed without \`$expect\`: $(errors "$MUT.log" 3)"
    else
      caught=$((caught + 1))
    fi
    rm -rf "$MUT"
  done <"$SRC/tests/nix/breakages.txt"
  if [ "$n" -gt 0 ] && [ "$caught" = "$n" ]; then pass "breakage: $caught of $n deliberate breakages caught"; fi
fi

if [ "$failures" -gt 0 ]; then
  echo "check-flake: $failures step(s) failed"
  exit 1
fi
echo "check-flake: all steps passed"
