"""Step reporting: confusion matrix and the monitoring report (HTML, PDF) of the deployed model."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from utils import layout
from utils.api import client as apicalls
from utils.api.settings import ApiSettings
from utils.data.ingestion import INGESTED_FILES_NAME, read_ingested_files
from utils.data.schema import DataSchema, read_dataset
from utils.errors import PipelineError
from utils.files import atomic_copy, file_identity
from utils.model.deployment import deployed_release, load_deployed_model, read_manifest
from utils.model.scoring import predict_on
from utils.model.tracking import StepRun
from utils.ops.events import EventKind
from utils.report.distributions import REFERENCE_MAX_ROWS, Distributions, newest_recent
from utils.report.html import ReportData, deployment_rows, write_reports
from utils.runtime.processes import api_from_file, free_port, gunicorn_command, reap
from utils.runtime.steps import ReportingParams, run_step
from utils.store.history import MonitoringStore

log = logging.getLogger("reporting")

DIAGNOSTICS_NAME = layout.DIAGNOSTICS
API_START_TIMEOUT_S = 60
ARCHIVE_DIR = layout.REPORT_ARCHIVE


def read_diagnostics(output_dir: Path) -> dict:
    path = Path(output_dir) / DIAGNOSTICS_NAME
    if not path.is_file():
        raise PipelineError(f"{path}: diagnostics not found; run the diagnostics step first")
    return json.loads(path.read_text(encoding="utf-8"))


def read_monitoring(path: Path) -> dict | None:
    """models/monitoring.json when the automation has written it (else the report says nothing
    of live traffic)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def stored_evaluation(diagnostics: dict, release: str | None, test_data: Path) -> dict | None:
    """Diagnostics' evaluation of the deployed model when it is of this release and of the
    test data as it is now (else None): the report then needs neither the model nor sklearn."""
    stored = diagnostics.get("evaluation")
    if not stored or release is None or stored.get("release") != release:
        return None
    if "probabilities" not in stored:
        return None  # written before the report showed their distribution
    if stored.get("dataset") != file_identity(test_data):
        return None
    return stored


def evaluate_deployed(deployment_dir: Path, test_data: Path, schema: DataSchema) -> dict:
    """The deployed model on the test data, as diagnostics would have written it."""
    model, _ = load_deployed_model(deployment_dir)
    data = read_dataset(test_data, schema, ids=False)
    return predict_on(model, data, schema).summary()


def read_distributions(
    manifest: dict, finaldata: Path, output_dir: Path, monitoring: dict | None,
    features: list[str], test_probabilities: list[int],
) -> Distributions:  # fmt: skip
    """The data the deployed model was trained on (a seeded sample), and the newest chunk's
    rows that fullprocess.py kept, for the distribution plots."""
    import pandas as pd

    from utils.data.ingestion import ingestion_with_data
    from utils.data.schema import read_feature_columns

    trained_on = (
        ingestion_with_data(Path(finaldata).parent, manifest.get("training_data_sha256"))
        or finaldata
    )
    reference = read_feature_columns(trained_on, features, ()).to_pandas()
    if len(reference) > REFERENCE_MAX_ROWS:
        reference = reference.sample(REFERENCE_MAX_ROWS, random_state=0)
    try:
        recent = pd.read_parquet(Path(output_dir) / layout.MONITORING_RECENT)
    except (OSError, ValueError):
        recent = None  # none kept yet, or by a version that did not keep them
    rows, label, drifted = newest_recent(monitoring, recent)
    return Distributions(reference, rows, label, features, drifted, test_probabilities)


def build_report(
    deployment_dir: Path,
    test_data: Path,
    output_dir: Path,
    schema: DataSchema,
    store: MonitoringStore,
    finaldata: Path,
) -> ReportData:
    release = deployed_release(deployment_dir)
    manifest = read_manifest(release)
    diagnostics = read_diagnostics(output_dir)
    evaluation = stored_evaluation(diagnostics, manifest.get("release"), test_data)
    if evaluation is None:
        log.info("diagnostics is of another release or test file: evaluating the model here")
        evaluation = evaluate_deployed(deployment_dir, test_data, schema)
    metrics = evaluation["metrics"]
    drift = store.latest_event(EventKind.SCORE_DRIFT)
    latest_drift = store.latest_event(EventKind.DATA_DRIFT)
    monitoring = read_monitoring(Path(output_dir) / layout.MONITORING)
    features = manifest.get("features") or list(schema.features)
    return ReportData(
        model={
            "name": manifest.get("registered_model_name"),
            "version": manifest.get("model_version"),
            "release": manifest.get("release"),
            "trained_at": manifest.get("trained_at"),
            "deployed_at": manifest.get("deployed_at"),
            "features": features,
            "training_rows": manifest.get("training_rows"),
        },
        metrics={**metrics, "dataset": Path(test_data).name},
        confusion=np.asarray(evaluation["confusion"]),
        roc=(evaluation["roc"]["fpr"], evaluation["roc"]["tpr"]),
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
        deployments=deployment_rows(
            store.deployment_history(), store.events_of(EventKind.ROLLBACK)
        ),
        data_drift=(latest_drift or {}).get("payload"),
        monitoring=monitoring,
        distributions=read_distributions(
            manifest, finaldata, output_dir, monitoring, features, evaluation["probabilities"]
        ),
    )


class ApiRun:
    """The API under gunicorn on a free loopback port, started at once and called every
    endpoint in the background, while the caller builds the report: the two take about the
    same time and run on different cores."""

    def __init__(self, settings: ApiSettings, dataset: Path, output: Path) -> None:
        self.scratch = tempfile.TemporaryDirectory(prefix="api-")
        settings_file = Path(self.scratch.name) / "settings.json"
        settings_file.write_text(settings.to_json(), encoding="utf-8")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.server_log = open(Path(self.scratch.name) / "server.log", "wb")  # noqa: SIM115
        self.server = subprocess.Popen(
            gunicorn_command(
                api_from_file(settings_file),
                f"127.0.0.1:{port}",
                1,
            ),
            stdout=self.server_log,
            stderr=subprocess.STDOUT,
        )
        request = apicalls.prediction_request(Path(settings.data_dir), dataset, settings.max_rows)
        self.quitting = False
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.calls = self.pool.submit(self._call_every_endpoint, request, output)

    def _call_every_endpoint(self, request: tuple[str, bytes], output: Path) -> Path:
        apicalls.wait_for_health(self.url, self.server, API_START_TIMEOUT_S)
        apicalls.write_answers(apicalls.call_all(self.url, request), output)
        return output

    def answers(self) -> Path:
        """apireturns.txt, once every endpoint has answered (PipelineError if one did not)."""
        try:
            return self.calls.result()
        finally:
            # No call is left: the server shuts down while the caller logs its artifacts.
            self._quit()

    def _quit(self) -> None:
        # gunicorn's quick shutdown (SIGQUIT): no request worth finishing is in flight.
        if not self.quitting and self.server.poll() is None:
            self.server.send_signal(signal.SIGQUIT)
        self.quitting = True

    def close(self) -> None:
        self._quit()
        reap(self.server)
        self.pool.shutdown(wait=True)
        self.server_log.close()
        self.scratch.cleanup()


def archive_outputs(paths: dict[str, Path], output_dir: Path, version: object) -> Path:
    """Keep this deployment's outputs beside the earlier ones (reports/v<version>/): the files
    at the top of output_dir are always the latest."""
    archive = output_dir / ARCHIVE_DIR / f"v{version}"
    archive.mkdir(parents=True, exist_ok=True)
    for path in paths.values():
        atomic_copy(path, archive / path.name)
    return archive


def run(p: ReportingParams) -> None:
    started = time.perf_counter()
    settings = ApiSettings(
        deployment_dir=str(p.deployment_dir),
        model_dir=str(p.output_dir),
        finaldata=str(p.finaldata),
        test_data=str(p.test_data),
        data_dir=str(p.data_dir),
        target=p.schema.target,
        features=list(p.schema.features),
        id_columns=list(p.schema.id_columns),
        store_url=p.store_url,
    )
    with StepRun() as tracking:
        api = ApiRun(settings, Path(p.test_data), Path(p.output_dir) / apicalls.RETURNS_NAME)
        try:
            store = MonitoringStore(p.store_url)
            report = build_report(
                p.deployment_dir, p.test_data, p.output_dir, p.schema, store, p.finaldata
            )
            if p.classes:
                report.class_names = p.classes
            paths = write_reports(report, p.output_dir)
            paths["api_returns"] = api.answers()
            archive = archive_outputs(paths, Path(p.output_dir), report.model.get("version"))
        finally:
            api.close()
        for path in paths.values():
            tracking.log_artifact(path)
        tracking.log_metrics({"duration_s": time.perf_counter() - started})
    log.info("kept a copy for model version %s in %s", report.model.get("version"), archive)
    written = ", ".join(path.name for path in paths.values())
    log.info("wrote %s in %s", written, Path(p.output_dir).resolve())


if __name__ == "__main__":
    run_step(ReportingParams, run)
