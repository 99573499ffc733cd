# shellcheck shell=bash disable=SC2154 # prog, stack, out, compose_args: set by stack-args.sh
# stackc-down: stop a stack that stackc-up started (its volumes stay unless ARGS say so).

usage() {
  cat <<USAGE
usage: $prog [STACK] [-o DIR] [-- ARGS...]

Runs \`docker compose down ARGS\` in DIR (default: generated/ next to STACK, which
defaults to ./stack.toml). Named volumes (metrics, logs, traces, usage data) are kept;
pass \`-- --volumes\` to delete them too. Nothing is rebuilt.
USAGE
}

parse_args "$@"
[ -f "$out/compose.yaml" ] || die "no \`compose.yaml\` in \`$out\`: nothing to stop (\`stackc-up\` writes it)"

cd "$out" || exit
compose -f compose.yaml down "${compose_args[@]}"
