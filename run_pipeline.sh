#!/usr/bin/env bash
# Run the whole pipeline on the configured data (the shipped demo data by default).
# Extra arguments are Hydra overrides, e.g. ./run_pipeline.sh main.steps=model_training model.C=0.5
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$root/setup_env.sh" runtime
cd "$root"
"$root/.venv/bin/python" "$root/main.py" "$@"
