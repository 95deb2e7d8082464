#!/usr/bin/env bash
# Entrypoint of the hypersweep image: `hypersweep ARGS...` after three checks,
# so that a container without its token stops at once with a message that
# says what to set, instead of the server's generic refusal.
#
# - HYPERSWEEP_API_TOKEN_FILE, HYPERSWEEP_WORKER_TOKEN_FILE, HYPERSWEEP_TOKEN_FILE:
#   the token read from that file (a Docker or Kubernetes secret) instead.
# - A token that is empty counts as unset, and one still holding the
#   examples' placeholder (REPLACE-ME...) is refused.
# - `serve` (the default): listen on 0.0.0.0:8080 with the database and
#   datasets under /var/lib/hypersweep, unless set otherwise, and refuse to
#   start beyond loopback without an API token. `worker`: refuse to start
#   without a token. Anything else goes to `hypersweep` as it is.
# The image holds no token of its own.
set -euo pipefail

die() {
  printf 'hypersweep image: %s\n' "$1" >&2
  shift
  printf '  %s\n' "$@" >&2
  exit 78 # EX_CONFIG
}

for var in HYPERSWEEP_API_TOKEN HYPERSWEEP_WORKER_TOKEN HYPERSWEEP_TOKEN; do
  file_var="${var}_FILE"
  if [ -n "${!file_var:-}" ]; then
    [ -z "${!var:-}" ] || die "both $var and $file_var are set; set one of them"
    [ -r "${!file_var}" ] || die "$file_var names ${!file_var}, which is not a readable file"
    value=$(<"${!file_var}")
    export "$var=$value"
    unset "$file_var"
  fi
  if [ -n "${!var+set}" ] && [ -z "${!var}" ]; then
    unset "$var"
  fi
  case "${!var:-}" in
    REPLACE-ME*)
      die "$var still holds the placeholder of the example file." \
        "Put a token of your own there, e.g. the output of: openssl rand -hex 32" ;;
  esac
done

# `hypersweep serve ...` and `serve ...` alike; options alone are serve's.
if [ "${1:-}" = hypersweep ]; then
  shift
fi
if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then
  set -- serve "$@"
fi

# The value of option $1 among the remaining arguments (`--opt V` or `--opt=V`).
option() {
  local name=$1 found="" take=""
  shift
  for arg in "$@"; do
    if [ -n "$take" ]; then
      found=$arg take=""
    elif [ "$arg" = "$name" ]; then
      take=1
    elif [ "${arg#"$name"=}" != "$arg" ]; then
      found=${arg#"$name"=}
    fi
  done
  printf '%s' "$found"
}

case "$1" in
  serve)
    export HYPERSWEEP_CONFIG="${HYPERSWEEP_CONFIG:-/etc/hypersweep/config.toml}"
    export HYPERSWEEP_LISTEN="${HYPERSWEEP_LISTEN:-0.0.0.0:8080}"
    export HYPERSWEEP_DATABASE="${HYPERSWEEP_DATABASE:-sqlite:///var/lib/hypersweep/hypersweep.db}"
    export HYPERSWEEP_DATA_DIR="${HYPERSWEEP_DATA_DIR:-/var/lib/hypersweep/data}"
    listen=$(option --listen "$@")
    listen=${listen:-$HYPERSWEEP_LISTEN}
    config=$(option --config "$@")
    config=${config:-$HYPERSWEEP_CONFIG}
    token=$(option --api-token "$@")
    token=${token:-${HYPERSWEEP_API_TOKEN:-}}
    if [ -z "$token" ] && [ -r "$config" ] &&
      grep -Eq '^[[:space:]]*api_token[[:space:]]*=' "$config"; then
      token=config
    fi
    case "$listen" in
      127.* | '[::1]':*) ;;
      *)
        [ -n "$token" ] || die \
          "the server listens on $listen, beyond loopback, and so needs an API token; none was given." \
          "Set HYPERSWEEP_API_TOKEN (or HYPERSWEEP_API_TOKEN_FILE, a file holding it) in the container's" \
          "environment: 16 or more letters, digits or -._~+/=, e.g. from: openssl rand -hex 32" \
          "docker run -e HYPERSWEEP_API_TOKEN=... IMAGE;" \
          "docker/compose.yaml takes it from docker/hypersweep.env, deploy/kubernetes/ from its Secret." ;;
    esac
    ;;
  worker)
    token=$(option --token "$@")
    token=${token:-${HYPERSWEEP_WORKER_TOKEN:-${HYPERSWEEP_TOKEN:-}}}
    [ -n "$token" ] || die \
      "a worker needs the server's worker token, and none was given." \
      "Set HYPERSWEEP_WORKER_TOKEN (or HYPERSWEEP_WORKER_TOKEN_FILE, a file holding it) in the" \
      "container's environment, the value of the server's worker_token."
    ;;
esac

exec hypersweep "$@"
