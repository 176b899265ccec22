"""Step reporting: confusion matrix and the monitoring report (HTML, PDF) of the deployed model."""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import mlflow
from sklearn.metrics import confusion_matrix, roc_curve

from utils.cli import add_schema_arguments, add_store_argument, run_entry_point, schema_from_args
from utils.deployment import current_release, load_deployed_model
from utils.errors import PipelineError
from utils.ingestion import INGESTED_FILES_NAME, read_ingested_files
from utils.report import ReportData, write_reports
from utils.schema import DataSchema, read_dataset
from utils.scoring import evaluate
from utils.store import MonitoringStore
from utils.tracking import start_step_run

log = logging.getLogger("reporting")

DIAGNOSTICS_NAME = "diagnostics.json"
# Written by the automation's score-drift check; its payload carries the threshold in force.
SCORE_DRIFT_EVENT = "score_drift"


def read_diagnostics(output_dir: Path) -> dict:
    path = Path(output_dir) / DIAGNOSTICS_NAME
    if not path.is_file():
        raise PipelineError(f"{path}: diagnostics not found; run the diagnostics step first")
    return json.loads(path.read_text(encoding="utf-8"))


def build_report(
    deployment_dir: Path,
    test_data: Path,
    output_dir: Path,
    schema: DataSchema,
    store: MonitoringStore,
) -> ReportData:
    model, manifest = load_deployed_model(deployment_dir)
    release = current_release(deployment_dir)
    data = read_dataset(test_data, schema)
    features = data[list(schema.features)]
    metrics = evaluate(model, data, schema)
    diagnostics = read_diagnostics(output_dir)
    truth = data[schema.target]
    if math.isnan(metrics["roc_auc"]):
        fpr, tpr = [0.0, 1.0], [0.0, 1.0]
    else:
        fpr, tpr, _ = roc_curve(truth, model.predict_proba(features)[:, 1])
    drift = store.latest_event(SCORE_DRIFT_EVENT)
    return ReportData(
        model={
            "name": manifest.get("registered_model_name"),
            "version": manifest.get("model_version"),
            "release": manifest.get("release"),
            "trained_at": manifest.get("trained_at"),
            "deployed_at": manifest.get("deployed_at"),
            "features": manifest.get("features") or list(schema.features),
            "training_rows": manifest.get("training_rows"),
        },
        metrics={**metrics, "dataset": Path(test_data).name, "rows": len(data)},
        confusion=confusion_matrix(truth, model.predict(features), labels=[0, 1]),
        roc=(list(fpr), list(tpr)),
        f1_history=store.f1_history(),
        drift_threshold=drift["payload"].get("threshold") if drift else None,
        drift_method=drift["payload"].get("method", "") if drift else "",
        summary_statistics=diagnostics.get("summary_statistics", {}),
        missing_percent=diagnostics.get("missing_percent", {}),
        missing_history=store.missing_history(),
        timings=diagnostics.get("timings_s", {}),
        timing_history=store.timing_history(),
        dependencies=diagnostics.get("dependencies", []),
        ingested_files=read_ingested_files(release / INGESTED_FILES_NAME),
        deployments=store.deployment_history(),
    )


def run(
    deployment_dir: Path, test_data: Path, output_dir: Path, schema: DataSchema, store_url: str
) -> None:
    started = time.perf_counter()
    store = MonitoringStore(store_url)
    report = build_report(deployment_dir, test_data, output_dir, schema, store)
    with start_step_run():
        paths = write_reports(report, output_dir)
        for path in paths.values():
            mlflow.log_artifact(str(path))
        mlflow.log_metric("duration_s", time.perf_counter() - started)
    log.info("wrote %s", ", ".join(str(p) for p in paths.values()))


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deployment_dir", type=Path, required=True, help="production folder")
    parser.add_argument("--test_data", type=Path, required=True, help="labelled test CSV")
    parser.add_argument(
        "--output_dir", type=Path, required=True, help="folder of diagnostics.json; reports go here"
    )
    add_schema_arguments(parser)
    add_store_argument(parser)
    return parser.parse_args()


if __name__ == "__main__":
    args = _parse_args()
    run_entry_point(
        "reporting",
        lambda: run(
            args.deployment_dir,
            args.test_data,
            args.output_dir,
            schema_from_args(args),
            args.store_url,
        ),
    )
