# shellcheck shell=bash disable=SC2034 # compose_args: used by up.sh and down.sh
# The start of `stackc-up` and `stackc-down` (nix/apps.nix puts it before up.sh or
# down.sh): their common command line, `[STACK] [-o DIR] [-- COMPOSE-ARGS...]`.
# writeShellApplication runs it with errexit, nounset and pipefail set.

prog=$(basename "$0")

# die MESSAGE: a usage or input error (exit 2, like stackc)
die() {
  echo "$prog: $*" >&2
  exit 2
}

# parse_args "$@": sets `stack`, `out` and the array `compose_args`
parse_args() {
  stack="" out="" compose_args=()
  while [ $# -gt 0 ]; do
    case $1 in
      -h | --help)
        usage
        exit 0
        ;;
      -o | --out)
        [ $# -ge 2 ] || die "\`$1\` needs a directory"
        out=$2
        shift 2
        ;;
      --out=*)
        out=${1#--out=}
        shift
        ;;
      --)
        shift
        compose_args=("$@")
        break
        ;;
      -*) die "unknown option \`$1\` (see \`$prog --help\`)" ;;
      *)
        [ -z "$stack" ] || die "one stack file only, got \`$stack\` and \`$1\`"
        stack=$1
        shift
        ;;
    esac
  done
  stack=${stack:-./stack.toml}
  # stackc's own default: generated/ next to the stack file
  out=${out:-$(dirname "$stack")/generated}
}

# the Compose v2 CLI of this flake's nixpkgs (the program behind `docker compose`)
compose() {
  docker-compose "$@"
}
