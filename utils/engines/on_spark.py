"""The Spark engine: the same work as the local engine, with the rows on Spark's executors
(config ``compute.engine: spark``). PySpark is imported in the methods, so that choosing this
engine costs nothing until it works."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from utils.data.schema import DataSchema
from utils.engines.base import EngineSettings, Ingested
from utils.errors import PipelineError


class SparkEngine:
    name = "spark"
    reads_uris = True

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings

    def ingest(self, input_dir: str, schema: DataSchema, finaldata_format: str = "csv") -> Ingested:
        from utils.engines.spark_ingestion import (
            ingest_with_spark,
            list_files,
            write_ingestion_spark,
        )

        spark = self.settings.spark()
        remote = ingest_with_spark(spark, list_files(spark, str(input_dir)), schema)
        return Ingested(
            remote.files,
            remote.rows,
            lambda out: write_ingestion_spark(remote, out, schema, finaldata_format),
        )

    def test_metrics(
        self, model_dir: Path, test_data: Path, schema: DataSchema
    ) -> tuple[dict[str, float], str | None]:
        from utils.model.training import read_metadata

        model_uri = read_metadata(model_dir).get("mlflow_model_uri")
        if not model_uri:
            raise PipelineError(f"{model_dir}: the trained model was not logged to MLflow")
        return self.metrics_of(model_uri, test_data, schema), model_uri

    def metrics_of(self, model_uri: str, test_data: Path, schema: DataSchema) -> dict[str, float]:
        """The logged model run by Spark's executors (mlflow spark_udf): its classes, and its
        probabilities for the ROC AUC."""
        from utils.engines.spark import (
            PREDICTION,
            PROBABILITY,
            confusion_of,
            read_features,
            roc_auc_of,
            values_checked,
            with_predictions,
            with_probabilities,
        )
        from utils.model.scoring import metrics_of_confusion

        spark, env_manager = self.settings.spark(), self.settings.spark_env_manager
        frame = read_features(spark, [str(test_data)], schema, target=True)
        with tempfile.TemporaryDirectory(prefix="scoring-model-") as scratch:
            scored = with_predictions(spark, frame, model_uri, schema, env_manager)
            scored = with_probabilities(
                spark, scored, model_uri, schema, Path(scratch), env_manager
            )
            # Cached: each row goes through each of the two UDFs once, not once per figure.
            scored = scored.select(schema.target, PREDICTION, PROBABILITY).cache()
            try:
                with values_checked(spark, [str(test_data)], schema, target=True):
                    counts = confusion_of(scored, schema.target)
                    auc = roc_auc_of(scored, schema.target)
            finally:
                scored.unpersist()
        return {**metrics_of_confusion(counts), "roc_auc": auc, "rows": int(counts.sum())}

    def score_files(
        self, files: list[str], deployment_dir: Path, schema: DataSchema, output: Path
    ) -> int:
        """Spark reads, the logged model predicts on the executors, the driver joins the parts.
        The model is looked up where MLFLOW_TRACKING_URI says."""
        from utils.engines.spark import (
            listed_by_spark,
            read_features,
            values_checked,
            with_predictions,
            write_predictions_csv,
        )
        from utils.model.deployment import deployed_model_uri

        spark = self.settings.spark()
        listed = [n for f in files for n in (listed_by_spark(spark, f) if "://" in f else [f])]
        frame = read_features(spark, listed, schema)
        ids = [c for c in schema.id_columns if c in frame.columns]
        model_uri = deployed_model_uri(deployment_dir)
        scored = with_predictions(spark, frame, model_uri, schema, self.settings.spark_env_manager)
        with values_checked(spark, listed, schema):
            return write_predictions_csv(scored, [*ids, "prediction"], output)

    def statistics(
        self, finaldata: Path, schema: DataSchema
    ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        from utils.engines.spark import column_statistics

        return column_statistics(self.settings.spark(), str(finaldata), schema)

    def monitor(
        self,
        streams: list,
        reference: Any,
        chunk_rows: int | None,
        chunk_period: str | None,
        threshold: float | None,
        drift: dict[str, Any],
    ) -> list[dict[str, Any]]:
        from utils.engines.spark_monitoring import monitor_on_spark

        return monitor_on_spark(
            self.settings.spark(), streams, reference, chunk_rows, chunk_period, threshold, drift
        )
