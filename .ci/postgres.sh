#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the tests.
#   .ci/postgres.sh start     start it (or reuse it) and print its admin URL
#   .ci/postgres.sh stop      stop it
#   .ci/postgres.sh running   exit 0 when it answers
# Needs Debian's postgresql package (./setup_tools.sh). Exit 3 when no server is installed.
set -euo pipefail
port="${TEST_POSTGRES_PORT:-55432}"
dir="${TEST_POSTGRES_DIR:-/tmp/risk-monitoring-pg-$port}"
bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  [ "${1:-}" = start ] && echo "postgres.sh: no PostgreSQL server installed (./setup_tools.sh)" >&2
  exit 3
fi
# The server refuses to run as root; Debian's package creates the postgres user.
as_owner=()
if [ "$(id -u)" = 0 ]; then as_owner=(runuser -u postgres --); fi

init() {
  rm -rf "$dir"
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  "${as_owner[@]}" "$bindir/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 >/dev/null
}
start() {
  "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c max_connections=200" start >/dev/null
}
running() { "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port"; }
case "${1:-}" in
  start)
    if ! running; then
      [ -f "$dir/PG_VERSION" ] || init
      # A folder left by a killed server (or another user) is thrown away and made anew.
      start || { init && start; }
    fi
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  stop) "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir" -m fast -w stop >/dev/null ;;
  running) running ;;
  *) echo "usage: .ci/postgres.sh start|stop|running" >&2; exit 2 ;;
esac
