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
from pathlib import Path

from utils.config import PipelineConfig, load_project_config
from utils.errors import PipelineError
from utils.files import atomic_write, data_files_in
from utils.layout import Layout
from utils.runtime.cli import EngineSettings, run_entry_point

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("batch_scoring")

# Rows scored at a time by the local engine: bounds the memory of the features' matrix.
SLICE_ROWS = 1_000_000


def input_files(spec: str, engine: str) -> list[str]:
    """A file, a folder's data files (*.csv, *.parquet) or a glob, in name order; a URI
    (scheme://) as given, for Spark to list. PipelineError when nothing matches."""
    if "://" in spec:
        if engine != "spark":
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


def deployed_model_uri(layout: Layout) -> str:
    """The MLflow URI of the deployed release's model (its manifest says which)."""
    from utils.model.deployment import deployed_release, read_manifest

    manifest = read_manifest(deployed_release(layout.deployment_dir))
    uri = manifest.get("mlflow_model_uri")
    if not uri:
        raise PipelineError(f"{layout.deployment_dir}: the deployed model has no MLflow URI")
    return str(uri)


def score_locally(files: list[str], config: PipelineConfig, layout: Layout, output: Path) -> int:
    """Polars reads, the deployed (hash-checked) pickle predicts, slice by slice."""
    import numpy as np
    import polars as pl

    from utils.data.schema import read_feature_columns
    from utils.model.deployment import load_deployed_model
    from utils.model.scoring import predict_with_probabilities

    model, manifest = load_deployed_model(layout.deployment_dir)
    features = list(manifest.get("features") or config.data.features)
    frames = [read_feature_columns(Path(f), features, config.data.id_columns) for f in files]
    ids = [c for c in config.data.id_columns if all(c in frame.columns for frame in frames)]
    data = pl.concat([frame.select(*ids, *features) for frame in frames])
    predicted = [
        predict_with_probabilities(
            model, data.slice(start, SLICE_ROWS).select(features).to_pandas()
        )[0]
        for start in range(0, data.height, SLICE_ROWS)
    ]
    classes = np.concatenate(predicted) if predicted else np.array([], dtype=np.int64)
    scored = data.select(*ids, pl.Series("prediction", classes.astype(np.int64)))
    atomic_write(output, lambda tmp: scored.write_csv(tmp))
    return scored.height


def score_with_spark(files: list[str], config: PipelineConfig, layout: Layout, output: Path) -> int:
    """Spark reads, the logged model predicts on the executors, the driver joins the parts."""
    import mlflow

    from utils.engines.spark import (
        listed_by_spark,
        read_features,
        with_predictions,
        write_predictions_csv,
    )
    from utils.model.tracking import resolve_tracking_uri

    # The model is looked up where main.py logged it.
    mlflow.set_tracking_uri(resolve_tracking_uri(config.main.tracking_uri, layout.root))
    engine = EngineSettings.from_compute(config.compute)
    spark = engine.spark()
    listed = [name for f in files for name in (listed_by_spark(spark, f) if "://" in f else [f])]
    frame = read_features(spark, listed, config.schema)
    ids = [c for c in config.data.id_columns if c in frame.columns]
    model_uri = deployed_model_uri(layout)
    scored = with_predictions(spark, frame, model_uri, config.schema, engine.spark_env_manager)
    return write_predictions_csv(scored, [*ids, "prediction"], output)


def run(root: Path, spec: str, output: Path, overrides: list[str]) -> None:
    config = load_project_config(root, overrides)
    layout = Layout.from_config(config, root)
    files = input_files(spec, config.compute.engine)
    score = (
        score_with_spark if EngineSettings.from_compute(config.compute).is_spark else score_locally
    )
    rows = score(files, config, layout, output)
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
