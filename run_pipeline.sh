#!/usr/bin/env bash
# Run the whole pipeline on the configured data (the shipped demo data by default).
# Extra arguments are Hydra overrides, e.g. ./run_pipeline.sh main.steps=model_training model.C=0.5
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$root/setup_env.sh" runtime
cd "$root"
"$root/.venv/bin/python" "$root/main.py" "$@"
cat <<MSG

Outputs:
  ingested data     $root/01_data/ingesteddata/ (finaldata.csv, ingestedfiles.txt)
  model and reports $root/models/ (trainedmodel.pkl, latestscore.txt, diagnostics.json, confusionmatrix.png)
  live deployment   $root/production_deployment/ (model, score, ingested files, manifest.json)
Tracking UI:
  $root/.venv/bin/mlflow ui --backend-store-uri sqlite:///$root/mlflow.db --port 5000
  then open http://127.0.0.1:5000
MSG
