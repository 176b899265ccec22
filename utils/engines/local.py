"""The local engine: the data-heavy work in this process (Polars reads, pandas and
scikit-learn compute). Heavy imports happen in the methods, so that choosing costs nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from utils.data.schema import DataSchema
from utils.engines.base import Ingested

# Rows scored at a time: bounds the memory of the features' matrix.
SLICE_ROWS = 1_000_000


class LocalEngine:
    name = "local"
    reads_uris = False

    def ingest(self, input_dir: str, schema: DataSchema, finaldata_format: str = "csv") -> Ingested:
        from utils.data.ingestion import ingest_files, list_input_files, write_ingestion

        result = ingest_files(list_input_files(input_dir), schema)
        return Ingested(
            result.files, result.rows, lambda out: write_ingestion(result, out, finaldata_format)
        )

    def test_metrics(
        self, model_dir: Path, test_data: Path, schema: DataSchema
    ) -> tuple[dict[str, float], str | None]:
        from utils.data.schema import read_dataset
        from utils.model.scoring import evaluate
        from utils.model.training import MODEL_FILE, load_model, read_metadata

        # The model file first: a missing model is the error to report, not its metadata.
        model = load_model(Path(model_dir) / MODEL_FILE)
        metrics = evaluate(model, read_dataset(test_data, schema, ids=False), schema)
        return metrics, read_metadata(model_dir).get("mlflow_model_uri")

    def score_files(
        self, files: list[str], deployment_dir: Path, schema: DataSchema, output: Path
    ) -> int:
        """Polars reads, the deployed (hash-checked) pickle predicts, slice by slice."""
        import numpy as np
        import polars as pl

        from utils.data.cells import inert_text_columns
        from utils.data.schema import read_feature_columns
        from utils.files import atomic_write
        from utils.model.deployment import load_deployed_model
        from utils.model.scoring import predict_with_probabilities

        model, manifest = load_deployed_model(deployment_dir)
        features = list(manifest.get("features") or schema.features)
        frames = [read_feature_columns(Path(f), features, schema.id_columns) for f in files]
        ids = [c for c in schema.id_columns if all(c in frame.columns for frame in frames)]
        data = pl.concat([frame.select(*ids, *features) for frame in frames])
        predicted = [
            predict_with_probabilities(
                model, data.slice(start, SLICE_ROWS).select(features).to_pandas()
            )[0]
            for start in range(0, data.height, SLICE_ROWS)
        ]
        classes = np.concatenate(predicted) if predicted else np.array([], dtype=np.int64)
        scored = data.select(*ids, pl.Series("prediction", classes.astype(np.int64)))
        scored = inert_text_columns(scored)
        atomic_write(output, lambda tmp: scored.write_csv(tmp))
        return scored.height

    def statistics(
        self, finaldata: Path, schema: DataSchema
    ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        from utils.data.schema import read_dataset
        from utils.report.diagnostics import missing_percent, summary_statistics

        ingested = read_dataset(finaldata, schema)
        return summary_statistics(ingested, [*schema.id_columns]), missing_percent(ingested)

    def monitor(
        self,
        streams: list,
        reference: Any,
        chunk_rows: int | None,
        chunk_period: str | None,
        threshold: float | None,
        drift: dict[str, Any],
    ) -> list[dict[str, Any]]:
        from utils.monitoring.chunks import monitor_stream

        return [
            chunk
            for stream in streams
            for chunk in monitor_stream(
                stream, reference, chunk_rows, chunk_period, threshold, drift
            )
        ]
