"""Score a large data set with the deployed model: one predicted class per row, as CSV.

    python batch_scoring.py --input 'data/2026-*.csv' --output scored.csv
    python batch_scoring.py --input s3a://bucket/feed/ --output scored.csv compute.engine=spark

The input is a CSV or Parquet file, a folder of them or a glob; it needs the deployed model's
features (and keeps the configured id columns it has); a target column, if any, is ignored.
Missing feature values are imputed by the model as in training. With ``compute.engine=local``
the files are read by Polars and scored in slices in this process; with ``spark`` they are read
by Spark (any URI its Hadoop layer reads) and scored on its executors through
``mlflow.pyfunc.spark_udf``. Both write the same file: the id columns and ``prediction``, in
input order (files in name order, rows in file order). Exit 0 on success, 2 on bad input.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
from pathlib import Path

from utils.config import load_project_config
from utils.engines.base import Engine, EngineSettings
from utils.engines.choose import engine_for
from utils.errors import PipelineError
from utils.files import data_files_in
from utils.layout import Layout
from utils.model.tracking import resolve_tracking_uri
from utils.runtime.cli import run_entry_point

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("batch_scoring")


def input_files(spec: str, engine: Engine) -> list[str]:
    """A file, a folder's data files (*.csv, *.parquet) or a glob, in name order; a URI
    (scheme://) as given, for an engine that lists them (Spark). PipelineError when nothing
    matches."""
    if "://" in spec:
        if not engine.reads_uris:
            raise PipelineError(f"--input {spec}: a URI is read by compute.engine=spark only")
        return [spec]
    path = Path(spec)
    if path.is_dir():
        found = [str(p) for p in data_files_in(path)]
    elif path.is_file():
        found = [str(path)]
    else:
        found = sorted(glob.glob(spec))
    if not found:
        raise PipelineError(f"--input {spec}: no CSV or Parquet file there")
    return found


def run(root: Path, spec: str, output: Path, overrides: list[str]) -> None:
    config = load_project_config(root, overrides)
    layout = Layout.from_config(config, root)
    engine = engine_for(EngineSettings.from_compute(config.compute))
    files = input_files(spec, engine)
    # Where main.py logged the model, for an engine that loads it from MLflow.
    os.environ["MLFLOW_TRACKING_URI"] = resolve_tracking_uri(config.main.tracking_uri, root)
    rows = engine.score_files(files, layout.deployment_dir, config.schema, output)
    log.info("scored %d rows of %d file(s) with the %s engine; wrote %s",
             rows, len(files), config.compute.engine, output)  # fmt: skip


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--input", required=True, help="CSV or Parquet file, folder, glob or URI to score"
    )
    parser.add_argument("--output", type=Path, required=True, help="predictions CSV to write")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of config.yaml")
    return parser.parse_args()


if __name__ == "__main__":
    args = _parse_args()
    run_entry_point("batch_scoring", lambda: run(ROOT, args.input, args.output, args.overrides))
