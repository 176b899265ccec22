#!/usr/bin/env bash
# Serve the scoring API with gunicorn on the host and port of config.yaml (PORT overrides the port;
# API_WORKERS the number of workers). Sets up .venv first when needed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$root/setup_env.sh" runtime
read -r host port workers < <(
  cd "$root" && .venv/bin/python -c '
from pathlib import Path
from utils.config import load_project_config
api = load_project_config(Path(".")).api
print(api.host, api.port, api.workers)'
)
port="${PORT:-$port}"
workers="${API_WORKERS:-$workers}"
echo "serving on http://$host:$port with $workers workers" >&2
exec "$root/.venv/bin/python" -m gunicorn --chdir "$root/06_reporting" \
  --bind "$host:$port" --workers "$workers" --access-logfile - \
  "app:create_app_from_project(\"$root\")"
