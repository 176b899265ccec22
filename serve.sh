#!/usr/bin/env bash
# Serve the scoring API with gunicorn on the host and port of config.yaml (PORT overrides the port;
# API_WORKERS the number of workers). Takes the same Hydra overrides as main.py and
# fullprocess.py, e.g. ./serve.sh api.port=9000 data.target=churned. Sets up .venv when needed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$root/setup_env.sh" runtime
exec "$root/.venv/bin/python" "$root/06_reporting/app.py" --gunicorn "$@"
