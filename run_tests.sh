#!/usr/bin/env bash
# Set up the test environment when needed, then run the test suite. Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$root/setup_env.sh" dev
cd "$root"
exec "$root/.venv/bin/python" -m pytest "$@"
