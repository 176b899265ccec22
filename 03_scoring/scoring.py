"""Step model_scoring: F1 (and precision, recall, ROC AUC) of the trained model on test data."""

from __future__ import annotations

import argparse
import logging
import math
import tempfile
import time
from pathlib import Path

from utils.data.schema import DataSchema, read_dataset
from utils.errors import PipelineError
from utils.model.scoring import evaluate, metrics_of_confusion, write_score
from utils.model.tracking import StepRun
from utils.model.training import MODEL_NAME, load_pickle, read_metadata
from utils.runtime.cli import (
    EngineSettings,
    add_engine_arguments,
    add_schema_arguments,
    add_store_argument,
    engine_from_args,
    run_entry_point,
    schema_from_args,
)
from utils.store.history import MonitoringStore

log = logging.getLogger("model_scoring")


def local_metrics(model_dir: Path, test_data: Path, schema: DataSchema) -> dict[str, float]:
    """The trained model's metrics on the test data, in this process (Polars, scikit-learn)."""
    model = load_pickle(Path(model_dir) / MODEL_NAME)
    return evaluate(model, read_dataset(test_data, schema, ids=False), schema)


def spark_metrics(
    model_uri: str, test_data: Path, schema: DataSchema, engine: EngineSettings
) -> dict[str, float]:
    """The same metrics with the logged model run by Spark's executors (mlflow spark_udf):
    its classes, and its probabilities for the ROC AUC."""
    from utils.engines.spark import (
        PREDICTION,
        PROBABILITY,
        confusion_of,
        read_features,
        roc_auc_of,
        with_predictions,
        with_probabilities,
    )

    spark = engine.spark()
    frame = read_features(spark, [str(test_data)], schema, target=True)
    with tempfile.TemporaryDirectory(prefix="scoring-model-") as scratch:
        scored = with_predictions(spark, frame, model_uri, schema, engine.spark_env_manager)
        scored = with_probabilities(
            spark, scored, model_uri, schema, Path(scratch), engine.spark_env_manager
        )
        # Cached: each row goes through each of the two UDFs once, not once per figure.
        scored = scored.select(schema.target, PREDICTION, PROBABILITY).cache()
        try:
            counts = confusion_of(scored, schema.target)
            auc = roc_auc_of(scored, schema.target)
        finally:
            scored.unpersist()
    return {**metrics_of_confusion(counts), "roc_auc": auc, "rows": int(counts.sum())}


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
        if engine.name == "spark":
            model_uri = read_metadata(model_dir).get("mlflow_model_uri")
            if not model_uri:
                raise PipelineError(f"{model_dir}: the trained model was not logged to MLflow")
            metrics = spark_metrics(model_uri, test_data, schema, engine)
        else:
            # The model file first: a missing model is the error to report, not its metadata.
            metrics = local_metrics(model_dir, test_data, schema)
            model_uri = read_metadata(model_dir).get("mlflow_model_uri")
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
