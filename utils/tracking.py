"""MLflow plumbing shared by the entry points: where tracking lives, what a model needs."""

from __future__ import annotations

import os
import sys
from importlib.metadata import version
from pathlib import Path

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


def start_step_run():
    """Start (or, under ``mlflow run``, resume) the step's run, tagged with its interpreter.

    The tag shows which environment a step really ran in (the env manager's or the caller's).
    """
    import mlflow

    return mlflow.start_run(tags={"python_prefix": sys.prefix})
