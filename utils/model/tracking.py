"""MLflow plumbing shared by the entry points: where tracking lives, what a model needs."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path
from types import TracebackType
from typing import Any

from utils.errors import PipelineError

log = logging.getLogger(__name__)

# What the logged sklearn model needs to load and predict (skops is MLflow's default format).
MODEL_REQUIREMENTS = ("mlflow", "scikit-learn", "pandas", "numpy", "scipy", "skops")


def resolve_tracking_uri(configured: str | None, root: Path) -> str:
    """Config first, then ``MLFLOW_TRACKING_URI``, then a SQLite file at the project root.

    A relative SQLite path is made absolute against the current directory, because every step
    runs in its own folder and must still write to the same database.
    """
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if not uri:
        return f"sqlite:///{(Path(root) / 'mlflow.db').resolve()}"
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        return f"{prefix}{Path(uri[len(prefix) :]).resolve()}"
    return uri


def is_local_sqlite(uri: str) -> bool:
    return uri.startswith("sqlite:///")


def model_pip_requirements() -> list[str]:
    """Pinned requirements of the logged model, given explicitly so MLflow need not infer them."""
    return [f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS]


def _start_run():
    """Start (or, under ``mlflow run``, resume) the step's run, tagged with its interpreter.

    The tag shows which environment a step really ran in (the env manager's or the caller's).
    """
    import mlflow

    return mlflow.start_run(tags={"python_prefix": sys.prefix})


# Set by main.py for each step it runs: the file where the step leaves its run's records.
RECORDS_ENV = "RISK_STEP_RECORDS"


class StepRun:
    """What a step logs to its MLflow run, gathered while it works, handed over at the end.

    Under main.py (``RISK_STEP_RECORDS`` names a file) the records go to that file, and
    main.py, which has MLflow loaded and the tracking store open already, logs them into the
    step's run: the step itself never imports MLflow (1.3 s) nor opens the store (0.6 s),
    more than its own work on small data. Run alone (``mlflow run <step>``, ``python
    <script>``), the step logs them itself. A step that needs MLflow's own objects (the
    model, the registry) asks for ``mlflow_run()``: with MLflow loaded anyway, its records
    are then logged into that run directly.
    """

    def __init__(self) -> None:
        self.records: dict[str, Any] = {"tags": {"python_prefix": sys.prefix}, "log": []}
        self._handover = os.environ.get(RECORDS_ENV) or None
        self._active: Any = None

    def __enter__(self) -> StepRun:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.finish(failed=kind is not None)

    @property
    def run_id(self) -> str:
        """The step's run: the one ``mlflow run`` made for it, or one started now."""
        given = os.environ.get("MLFLOW_RUN_ID")
        if given and self._active is None:
            return given
        return self.mlflow_run().info.run_id

    def mlflow_run(self) -> Any:
        """The step's run as MLflow's active run (MLflow imported now), for logging a model
        or using the registry."""
        if self._active is None:
            self._active = _start_run()
        return self._active

    def log_params(self, params: dict[str, object]) -> None:
        self.records["log"].append(["params", {k: str(v) for k, v in params.items()}])

    def log_metrics(self, metrics: dict[str, float]) -> None:
        self.records["log"].append(["metrics", {k: float(v) for k, v in metrics.items()}])

    def log_dict(self, document: dict[str, Any], name: str) -> None:
        self.records["log"].append(["dict", document, name])

    def log_artifact(self, path: Path) -> None:
        self.records["log"].append(["artifact", str(Path(path).resolve())])

    def finish(self, failed: bool = False) -> None:
        """Hand the records to main.py, or log them; a failed step's run ends FAILED (under
        ``mlflow run`` the exit status does that)."""
        if failed:
            if self._active is not None:
                import mlflow

                mlflow.end_run("FAILED")
            return
        if self._handover and self._active is None:
            from utils.files import atomic_write_text

            atomic_write_text(Path(self._handover), json.dumps(self.records))
            return
        import mlflow

        run = self._active or _start_run()
        log_records(mlflow.MlflowClient(), run.info.run_id, self.records)
        mlflow.end_run()


def log_records(client: Any, run_id: str, records: dict[str, Any]) -> None:
    """Log a StepRun's records into the run ``run_id`` through an MlflowClient."""
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        tags=[RunTag(k, str(v)) for k, v in records.get("tags", {}).items()],
    )
    for kind, *args in records.get("log", []):
        if kind == "metrics":
            client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in args[0].items()])
        elif kind == "params":
            client.log_batch(run_id, params=[Param(k, v) for k, v in args[0].items()])
        elif kind == "dict":
            client.log_dict(run_id, args[0], args[1])
        elif kind == "artifact":
            client.log_artifact(run_id, args[0])
        else:
            raise PipelineError(f"step records: unknown entry {kind!r}")
