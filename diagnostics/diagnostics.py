"""Step diagnostics: predictions, summary statistics, missing values, timings, dependencies."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from utils import layout
from utils.data.ingestion import FINALDATA_NAME
from utils.data.schema import DataSchema, read_dataset
from utils.engines.base import EngineSettings
from utils.engines.choose import engine_for
from utils.errors import PipelineError
from utils.files import atomic_write, atomic_write_text, file_identity
from utils.model.deployment import load_deployed_model
from utils.model.scoring import predict_on
from utils.model.tracking import StepRun
from utils.model.training import ModelParams, model_metadata, save_model, train_model
from utils.report.diagnostics import (
    dependency_table,
    latest_version,
    time_call,
)
from utils.runtime.logs import quieted
from utils.runtime.steps import DiagnosticsParams, run_step
from utils.store.history import MonitoringStore

log = logging.getLogger("diagnostics")

DIAGNOSTICS_NAME = layout.DIAGNOSTICS
PREDICTIONS_NAME = layout.PREDICTIONS


def step_timings(
    input_dir: str, schema: DataSchema, params: ModelParams, engine: EngineSettings
) -> dict[str, float]:
    """Seconds taken by ingestion (with the configured engine) and by training, redone with
    outputs in a scratch folder.

    The real outputs are never touched; the input files are only read.
    """
    with tempfile.TemporaryDirectory(prefix="diagnostics-") as scratch:
        scratch_dir = Path(scratch)

        def ingest() -> None:
            engine_for(engine).ingest(input_dir, schema).publish(scratch_dir / "ingested")

        def train() -> None:
            finaldata = scratch_dir / "ingested" / FINALDATA_NAME
            data = read_dataset(finaldata, schema, ids=False)
            model = train_model(data, schema, params)
            save_model(model, model_metadata(schema, params, len(data), ""), scratch_dir / "model")

        with quieted("utils.data.ingestion", "utils.model.deployment", "utils.model.training"):
            return {"data_ingestion": time_call(ingest), "model_training": time_call(train)}


def write_predictions(
    ids: pd.DataFrame, predicted: np.ndarray, id_columns: tuple[str, ...], path: Path
) -> dict[str, object]:
    """The ids and predicted class of every row, as CSV; returns what diagnostics.json says of
    them (a list in the JSON file would be millions of lines at scale)."""
    import polars as pl

    from utils.data.cells import inert_text_columns

    frame = pl.DataFrame({"prediction": np.asarray(predicted, dtype=np.int64)})
    if id_columns:
        frame = pl.concat([pl.from_pandas(ids[list(id_columns)]), frame], how="horizontal")
    frame = inert_text_columns(frame)
    atomic_write(path, lambda tmp: frame.write_csv(tmp))
    counts = np.bincount(frame.get_column("prediction").to_numpy(), minlength=2)
    return {
        "file": path.name,
        "rows": int(frame.height),
        "class_counts": {str(label): int(n) for label, n in enumerate(counts)},
    }


def run(p: DiagnosticsParams) -> None:
    started = time.perf_counter()
    with StepRun() as tracking:
        model, manifest = load_deployed_model(p.deployment_dir)
        if not Path(p.requirements).is_file():
            raise PipelineError(f"{p.requirements}: requirements file not found")
        store = MonitoringStore(p.store_url)
        # The index look-ups wait on the network, not the CPU: they run while the data is read.
        with ThreadPoolExecutor(max_workers=1) as pool:
            dependencies = pool.submit(
                dependency_table,
                p.requirements,
                p.latest_timeout_s,
                partial(latest_version, index_url=p.index_url),
            )
            scoring_data = read_dataset(p.dataset, p.schema)
            evaluation = predict_on(model, scoring_data, p.schema)
            ids = scoring_data[list(p.schema.id_columns)]
            del scoring_data
            statistics, missing = engine_for(p.engine_settings).statistics(p.finaldata, p.schema)
            timings = step_timings(p.input_dir, p.schema, p.model_params, p.engine_settings)
            dependency_rows = dependencies.result()
        # Written last, so that a failure above leaves the previous predictions in place.
        predictions = write_predictions(
            ids, evaluation.predicted, p.schema.id_columns, Path(p.output_dir) / PREDICTIONS_NAME
        )
        report = {
            "model_version": manifest.get("model_version"),
            "dataset": str(p.dataset),
            "predictions": predictions,
            # The deployed model on the labelled data set, for the report: which release and
            # which file, so that a reader can tell whether it still holds.
            "evaluation": {
                "release": manifest.get("release"),
                "dataset": file_identity(p.dataset),
                **evaluation.summary(),
            },
            "summary_statistics": statistics,
            "missing_percent": missing,
            "timings_s": timings,
            "dependencies": dependency_rows,
        }
        outdated = [row for row in report["dependencies"] if row["outdated"]]
        path = Path(p.output_dir) / DIAGNOSTICS_NAME
        atomic_write_text(path, json.dumps(report, indent=2) + "\n")
        store.record_diagnostics(
            report["model_version"],
            report["missing_percent"],
            report["timings_s"],
            {"summary_statistics": report["summary_statistics"], "outdated": outdated},
            mlflow_run_id=tracking.run_id,
        )
        tracking.log_metrics({f"timing_s_{k}": v for k, v in report["timings_s"].items()})
        tracking.log_metrics({f"missing_pct_{k}": v for k, v in report["missing_percent"].items()})
        tracking.log_metrics(
            {"outdated_dependencies": len(outdated), "duration_s": time.perf_counter() - started}
        )
        tracking.log_artifact(path)
    log.info(
        "wrote %s: %d predictions, %d outdated dependencies",
        path,
        predictions["rows"],
        len(outdated),
    )


if __name__ == "__main__":
    run_step(DiagnosticsParams, run)
