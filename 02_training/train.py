"""Step model_training: a logistic regression on the ingested data, as a pickle and in MLflow."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import mlflow
import mlflow.sklearn
from mlflow.models import infer_signature

from utils.data.schema import DataSchema, read_dataset
from utils.files import sha256_file
from utils.model.tracking import model_pip_requirements, start_step_run
from utils.model.training import (
    ModelParams,
    model_metadata,
    save_model,
    train_model,
    uniform_sample,
)
from utils.runtime.cli import (
    add_model_arguments,
    add_schema_arguments,
    add_store_argument,
    model_params_from_args,
    run_entry_point,
    schema_from_args,
)
from utils.store.history import MonitoringStore

log = logging.getLogger("model_training")

INPUT_EXAMPLE_ROWS = 5
# skops (MLflow's safe default format) refuses unknown types on load; a dtype object is data.
SKOPS_TRUSTED_TYPES = ["numpy.dtype"]


def run(
    finaldata: Path,
    model_dir: Path,
    schema: DataSchema,
    params: ModelParams,
    store_url: str,
    max_rows: int | None = None,
) -> None:
    started = time.perf_counter()
    data = read_dataset(finaldata, schema, ids=False)
    available = len(data)
    data = uniform_sample(data, max_rows, params.random_state)
    if len(data) < available:
        log.info("training on a uniform sample of %d of the %d rows", len(data), available)
    model = train_model(data, schema, params)
    metadata = model_metadata(schema, params, len(data), sha256_file(finaldata))
    store = MonitoringStore(store_url)
    features = data[list(schema.features)]
    # Declared as doubles so that a request with a missing value still matches the signature
    # (the pipeline imputes it).
    example = features.head(INPUT_EXAMPLE_ROWS).astype("float64")
    with start_step_run() as run:
        logged = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
            pip_requirements=model_pip_requirements(),
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
        )
        metadata["mlflow_run_id"] = run.info.run_id
        metadata["mlflow_model_uri"] = logged.model_uri
        model_path = save_model(model, metadata, model_dir)
        store.record_training(
            logged.model_uri,
            metadata["training_data_sha256"],
            len(data),
            metadata["params"],
            run.info.run_id,
        )
        mlflow.log_metrics(
            {
                "training_rows": len(data),
                "train_accuracy": float(model.score(features, data[schema.target])),
                "duration_s": time.perf_counter() - started,
            }
        )
        mlflow.log_dict(metadata, "trainedmodel.json")
    log.info("trained on %d rows; wrote %s (MLflow %s)", len(data), model_path, logged.model_uri)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--finaldata",
        type=Path,
        required=True,
        help="ingested training data (finaldata.csv or .parquet)",
    )
    parser.add_argument("--model_dir", type=Path, required=True, help="folder for the model files")
    add_schema_arguments(parser)
    add_model_arguments(parser)
    add_store_argument(parser)
    parser.add_argument(
        "--max_rows",
        type=int,
        default=0,
        help="train on a uniform sample of this many rows (0: all)",
    )
    return parser.parse_args()


if __name__ == "__main__":
    args = _parse_args()
    run_entry_point(
        "model_training",
        lambda: run(
            args.finaldata,
            args.model_dir,
            schema_from_args(args),
            model_params_from_args(args),
            args.store_url,
            args.max_rows or None,
        ),
    )
