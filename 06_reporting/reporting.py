"""Step reporting: the confusion matrix of the deployed model on the test data."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import mlflow
from sklearn.metrics import confusion_matrix

from utils.cli import add_schema_arguments, run_entry_point, schema_from_args
from utils.deployment import load_deployed_model
from utils.reporting import plot_confusion_matrix
from utils.schema import DataSchema, read_dataset
from utils.tracking import start_step_run

log = logging.getLogger("reporting")

CONFUSION_MATRIX_NAME = "confusionmatrix.png"


def run(deployment_dir: Path, test_data: Path, output_dir: Path, schema: DataSchema) -> None:
    started = time.perf_counter()
    model, manifest = load_deployed_model(deployment_dir)
    data = read_dataset(test_data, schema)
    predicted = model.predict(data[list(schema.features)])
    matrix = confusion_matrix(data[schema.target], predicted, labels=[0, 1])
    path = Path(output_dir) / CONFUSION_MATRIX_NAME
    with start_step_run():
        plot_confusion_matrix(
            matrix,
            path,
            f"Model version {manifest.get('model_version')} on {Path(test_data).name} "
            f"({len(data):,} rows)",
        )
        mlflow.log_artifact(str(path))
        mlflow.log_metric("duration_s", time.perf_counter() - started)
    log.info("wrote %s", path)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deployment_dir", type=Path, required=True, help="production folder")
    parser.add_argument("--test_data", type=Path, required=True, help="labelled test CSV")
    parser.add_argument("--output_dir", type=Path, required=True, help="folder for the figure")
    add_schema_arguments(parser)
    return parser.parse_args()


if __name__ == "__main__":
    args = _parse_args()
    run_entry_point(
        "reporting",
        lambda: run(args.deployment_dir, args.test_data, args.output_dir, schema_from_args(args)),
    )
