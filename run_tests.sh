#!/usr/bin/env bash
# The tests, in two tiers. Extra arguments go to pytest.
#
#   ./run_tests.sh          the fast tier: every module's unit tests and the in-process
#                           integration tests (Flask test client, steps' run() on tmp_path, the
#                           store on SQLite). Installs no system package, starts no server.
#   ./run_tests.sh --all    the whole suite, what CI runs: also MLflow launches, gunicorn,
#                           PostgreSQL, Spark, per-step environments, README blocks, benchmarks.
#
# Neither installs system packages: ./setup_tools.sh does, when you ask (CI does). Without
# PostgreSQL, Spark or wrk their tests skip and say why. Another Python (3.11 to 3.13) in an
# environment of its own: PYTHON=python3.12 VENV=.venv-py3.12 ./run_tests.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${VENV:-$root/.venv}"
case "$venv" in /*) ;; *) venv="$root/$venv" ;; esac
all=false
pytest_args=()
for arg in "$@"; do
  if [ "$arg" = --all ]; then all=true; else pytest_args+=("$arg"); fi
done
"$root/setup_env.sh" dev
cd "$root"
# Two cores are enough for xdist to pay; many workers would each import the heavy libraries.
workers=(-n auto --maxprocesses=4 --dist worksteal)
if ! $all; then
  exec "$venv/bin/python" -m pytest "${workers[@]}" --durations=10 \
    -m "not (integration or postgres or spark or envbuild or benchmark)" "${pytest_args[@]}"
fi
# The store's PostgreSQL tests need a server: a throwaway one on loopback when PostgreSQL is
# installed, stopped again when the tests end (one that was already running is left alone).
if [ -z "${TEST_POSTGRES_URL:-}" ]; then
  if "$root/.ci/postgres.sh" running; then
    TEST_POSTGRES_URL="$("$root/.ci/postgres.sh" start)"
  elif TEST_POSTGRES_URL="$("$root/.ci/postgres.sh" start)"; then
    trap '"$root/.ci/postgres.sh" stop' EXIT
  else
    echo "run_tests.sh: PostgreSQL is not installed (./setup_tools.sh); its tests will be skipped" >&2
    TEST_POSTGRES_URL=""
  fi
  [ -n "$TEST_POSTGRES_URL" ] && export TEST_POSTGRES_URL
fi
"$venv/bin/python" -m pytest "${workers[@]}" --durations=20 "${pytest_args[@]}"
