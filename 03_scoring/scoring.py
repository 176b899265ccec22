"""Step model_scoring: F1 (and precision, recall, ROC AUC) of the trained model on test data."""

from __future__ import annotations

import argparse
import logging
import math
import time
from pathlib import Path

from utils.data.schema import DataSchema
from utils.engines.base import EngineSettings
from utils.engines.choose import engine_for
from utils.model.scoring import write_score
from utils.model.tracking import StepRun
from utils.runtime.cli import (
    add_engine_arguments,
    add_schema_arguments,
    add_store_argument,
    engine_from_args,
    run_entry_point,
    schema_from_args,
)
from utils.store.history import MonitoringStore

log = logging.getLogger("model_scoring")


def run(
    model_dir: Path,
    test_data: Path,
    schema: DataSchema,
    store_url: str,
    engine: EngineSettings | None = None,
) -> None:
    started = time.perf_counter()
    engine = engine or EngineSettings()
    with StepRun() as tracking:
        metrics, model_uri = engine_for(engine).test_metrics(model_dir, test_data, schema)
        store = MonitoringStore(store_url)
        score_path = write_score(metrics["f1"], model_dir)
        store.record_scoring(
            Path(test_data).name, metrics, model_uri=model_uri, mlflow_run_id=tracking.run_id
        )
        tracking.log_metrics({k: v for k, v in metrics.items() if not math.isnan(v)})
        tracking.log_metrics({"duration_s": time.perf_counter() - started})
        tracking.log_artifact(score_path)
    log.info("F1 %.4f on %s; wrote %s", metrics["f1"], test_data, score_path)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model_dir", type=Path, required=True, help="folder of trainedmodel.pkl")
    parser.add_argument(
        "--test_data", type=Path, required=True, help="labelled test data (CSV or Parquet)"
    )
    add_schema_arguments(parser)
    add_store_argument(parser)
    add_engine_arguments(parser)
    return parser.parse_args()


if __name__ == "__main__":
    args = _parse_args()
    run_entry_point(
        "model_scoring",
        lambda: run(
            args.model_dir,
            args.test_data,
            schema_from_args(args),
            args.store_url,
            engine_from_args(args),
        ),
    )
