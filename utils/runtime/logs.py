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


# Control characters written as escapes: a file name, id or header from outside that holds a
# newline would otherwise write a forged log line, and an ESC would drive the terminal. C0
# (tab included: log lines are split on it), DEL, C1 and the Unicode line separators.
_ESCAPED = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in (*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029)
}
_ESCAPED.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def one_line(text: str) -> str:
    """``text`` with every control character escaped, so that it stays one line."""
    return text.translate(_ESCAPED)


class OneLineFilter(logging.Filter):
    """One record, one line: the message's control characters escaped, whoever logged it
    (a traceback, which a handler adds below the message, keeps its lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = one_line(message)
        if escaped != message:
            record.msg, record.args = escaped, None
        return True


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
        handler.addFilter(OneLineFilter())


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
