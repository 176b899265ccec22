"""Logging set-up shared by the entry points (each calls ``configure_logging`` once)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Libraries whose INFO lines say nothing a user acts on: MLflow's "=== Created directory ...
# ===" and the 700-character command line of every step, its table creation, WeasyPrint's
# layout progress, fontTools' subsetting.
QUIET_LOGGERS = (
    "mlflow.projects",
    "mlflow.store.db.utils",
    "mlflow.tracking.fluent",
    "alembic",
    "weasyprint",
    "fontTools",
)


def configure_logging(level: str | None = None) -> None:
    """Configure the root logger once; ``LOG_LEVEL`` in the environment overrides the default."""
    from utils.secrets import SecretFilter, register_secret

    chosen = (level or os.environ.get("LOG_LEVEL") or "INFO").upper()
    # MLflow gives its loggers a handler and format of its own when imported (in this process
    # and in every step); without, its lines come through the root logger in ours.
    os.environ["MLFLOW_CONFIGURE_LOGGING"] = "false"
    mlflow_logger = logging.getLogger("mlflow")
    for handler in list(mlflow_logger.handlers):
        mlflow_logger.removeHandler(handler)
    mlflow_logger.propagate = True
    logging.basicConfig(level=chosen, format=LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S", force=True)
    if chosen != "DEBUG":
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    # A step learns the store's password from PGPASSWORD only; it is masked all the same.
    register_secret(os.environ.get("PGPASSWORD"))
    for handler in logging.getLogger().handlers:
        handler.addFilter(SecretFilter())


def debug_requested() -> bool:
    """True when the user asked to see tracebacks instead of one-line errors."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1" or os.environ.get("PIPELINE_DEBUG") == "1"


@contextlib.contextmanager
def quieted(*names: str, level: int = logging.WARNING) -> Iterator[None]:
    """Only records from ``level`` up (warnings and errors) from the loggers ``names`` inside
    the block (work redone in a scratch folder whose INFO lines would read as if the real
    outputs changed)."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(level)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
