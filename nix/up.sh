# shellcheck shell=bash disable=SC2154 # prog, stack, out, compose_args: set by stack-args.sh
# stackc-up: build a stack's generated tree, load the stackc images it uses, start it.
# STACKC_NIX_IMAGES (set by nix/apps.nix): "REF=IMAGE-FILE ..." for the images this flake
# builds, e.g. "ghcr.io/stackc-dev/stackc-usage-scraper:0.1.0=/nix/store/...-stackc-usage-scraper.tar.gz".

usage() {
  cat <<USAGE
usage: $prog [STACK] [-o DIR] [-- ARGS...]

Writes the generated tree of STACK (default ./stack.toml) to DIR (default: generated/
next to STACK) with \`stackc build\`, loads the stackc images the stack uses into Docker
(\`docker load\`, no registry needed), then runs \`docker compose up -d ARGS\` in DIR.

The stack's secrets come from DIR/.env: copy DIR/.env.example to DIR/.env and fill in
every value before the first start.
USAGE
}

parse_args "$@"
[ -f "$stack" ] || die "no stack file at \`$stack\` (usage: $prog [STACK] [-o DIR])"

# validates, then writes all files or none; its diagnostics and exit code are stackc's
stackc build "$stack" -o "$out"

if [ ! -f "$out/.env" ]; then
  {
    echo "$prog: \`$out/.env\` is missing: the stack reads its passwords and secrets from it."
    echo "$prog: copy \`$out/.env.example\` to \`$out/.env\`, fill in every value, and run $prog again."
  } >&2
  exit 1
fi

cd "$out" || exit
used=$(compose -f compose.yaml config --images)
for entry in ${STACKC_NIX_IMAGES:-}; do
  ref=${entry%%=*}
  file=${entry#*=}
  if printf '%s\n' "$used" | grep -qxF -- "$ref"; then
    echo "$prog: loading \`$ref\`" >&2
    docker load -i "$file"
  fi
done
compose -f compose.yaml up -d "${compose_args[@]}"
