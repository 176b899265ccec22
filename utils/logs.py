"""Logging set-up shared by the entry points (each calls ``configure_logging`` once)."""

from __future__ import annotations

import logging
import os

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str | None = None) -> None:
    """Configure the root logger once; ``LOG_LEVEL`` in the environment overrides the default."""
    from utils.secrets import SecretFilter, register_secret

    chosen = (level or os.environ.get("LOG_LEVEL") or "INFO").upper()
    logging.basicConfig(level=chosen, format=LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S", force=True)
    # A step learns the store's password from PGPASSWORD only; it is masked all the same.
    register_secret(os.environ.get("PGPASSWORD"))
    for handler in logging.getLogger().handlers:
        handler.addFilter(SecretFilter())


def debug_requested() -> bool:
    """True when the user asked to see tracebacks instead of one-line errors."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1" or os.environ.get("PIPELINE_DEBUG") == "1"
