#!/usr/bin/env bash
# A PostgreSQL server of its own in a folder, for the tests, the benchmarks
# and trying hypersweep on PostgreSQL without touching a system database.
#
#   scripts/postgres.sh install               PostgreSQL from Debian's packages, where missing
#   scripts/postgres.sh start DIR [options]   initdb DIR (once) and start a server on a free
#                                             port of 127.0.0.1; prints its URL, with database
#                                             `hypersweep`, on the last line
#       --fast          fsync, synchronous_commit and full_page_writes off (tests only:
#                       a crash of the machine loses the data)
#       --owner PID     stop the server when process PID ends
#       --temporary     with --owner: remove DIR too, once the server stopped
#       --listen ADDR   listen on ADDR instead of 127.0.0.1, and let in any
#                       client of ADDR's own subnet without a password (tests
#                       with hosts of their own on a private bridge)
#   scripts/postgres.sh url DIR               the URL of the server started in DIR
#   scripts/postgres.sh stop DIR              stop it (by its pid file)
#
# initdb refuses to run as root: as root the server runs as the `postgres`
# user (which the Debian package creates), otherwise as the calling user.
set -euo pipefail

bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ]; then
      echo "$d"
      return 0
    fi
  done
  if command -v initdb >/dev/null; then
    dirname "$(command -v initdb)"
    return 0
  fi
  return 1
}

install() {
  if bindir >/dev/null; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "postgres.sh: PostgreSQL is missing; install it (Debian: apt-get install postgresql)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || true
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  bindir >/dev/null
  echo "postgres.sh: installed PostgreSQL ($(bindir))" >&2
}

# Runs a command as the user the server runs as.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() { # ADDR
  python3 -c 'import socket, sys; s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$1"
}

url_of() {
  local dir=$1
  echo "postgres://postgres@$(cat "$dir/host" 2>/dev/null || echo 127.0.0.1):$(cat "$dir/port")/hypersweep"
}

start() {
  local dir=$1
  shift
  local fast=0 owner="" temporary=0 listen=127.0.0.1
  while [ $# -gt 0 ]; do
    case $1 in
      --fast) fast=1 ;;
      --owner) owner=$2; shift ;;
      --temporary) temporary=1 ;;
      --listen) listen=$2; shift ;;
      *) echo "postgres.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
  done
  install
  local bin
  bin=$(bindir)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --locale=C \
      --encoding=UTF8 >"$dir/initdb.log" 2>&1 || {
      cat "$dir/initdb.log" >&2
      exit 1
    }
    if [ "$listen" != 127.0.0.1 ]; then
      echo "host all all samenet trust" >>"$dir/data/pg_hba.conf"
    fi
  fi
  echo "$listen" >"$dir/host"
  local port
  port=$(free_port "$listen")
  echo "$port" >"$dir/port"
  local opts="-c listen_addresses=$listen -p $port -k $dir -c max_connections=400"
  opts+=" -c shared_buffers=128MB"
  if [ "$fast" -eq 1 ]; then
    opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  fi
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$opts" -w -t 60 start >/dev/null || {
    cat "$dir/server.log" >&2
    exit 1
  }
  as_owner "$bin/psql" -h "$listen" -p "$port" -U postgres -d postgres -qAt \
    -c "SELECT 1 FROM pg_database WHERE datname = 'hypersweep'" | grep -q 1 ||
    as_owner "$bin/createdb" -h "$listen" -p "$port" -U postgres hypersweep
  if [ -n "$owner" ]; then
    # Stops the server once its owner is gone, however that ends.
    local after=""
    if [ "$temporary" -eq 1 ]; then
      after="; rm -rf $(printf '%q' "$dir")"
    fi
    nohup setsid bash -c "while kill -0 $owner 2>/dev/null; do sleep 1; done; \
      bash $(printf '%q' "$(realpath "$0")") stop $(printf '%q' "$dir") $after" \
      </dev/null >/dev/null 2>&1 &
  fi
  url_of "$dir"
}

stop() {
  local dir=$1
  local pidfile="$dir/data/postmaster.pid"
  if [ ! -f "$pidfile" ]; then
    return 0
  fi
  local bin
  bin=$(bindir)
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || {
    local pid
    pid=$(head -1 "$pidfile")
    kill -9 "$pid" 2>/dev/null || true
  }
}

case ${1:-} in
  install) install ;;
  start) start "${2:?usage: postgres.sh start DIR}" "${@:3}" ;;
  url) url_of "${2:?usage: postgres.sh url DIR}" ;;
  stop) stop "${2:?usage: postgres.sh stop DIR}" ;;
  *) sed -n '2,19p' "$0" >&2; exit 2 ;;
esac
