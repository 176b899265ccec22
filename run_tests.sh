#!/usr/bin/env bash
# Set up the test environment when needed, then run the test suite. Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$root/setup_env.sh" dev
cd "$root"
# PostgreSQL and wrk from Debian when this user may install them; else their tests skip.
"$root/setup_tools.sh" || echo "run_tests.sh: could not install PostgreSQL/wrk (needs root or sudo); their tests will be skipped" >&2
# The store's PostgreSQL tests need a server: start a throwaway one on loopback when PostgreSQL
# is installed (CI installs it; elsewhere those tests skip without it).
if [ -z "${TEST_POSTGRES_URL:-}" ]; then
  if url="$("$root/.ci/start_postgres.sh")"; then
    export TEST_POSTGRES_URL="$url"
  else
    echo "run_tests.sh: PostgreSQL is not installed; its tests will be skipped" >&2
  fi
fi
exec "$root/.venv/bin/python" -m pytest "$@"
