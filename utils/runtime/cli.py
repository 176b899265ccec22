"""What every entry point does around its work: logging once, and one-line errors."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from utils.data.schema import DataSchema
from utils.engines.base import ENGINES, EngineSettings
from utils.errors import PipelineError
from utils.model.training import ModelParams
from utils.runtime.logs import configure_logging, debug_requested

if TYPE_CHECKING:
    pass

EXIT_BAD_INPUT = 2
EXIT_UNEXPECTED = 1
# The shell's convention for "stopped by a signal": 128 + SIGINT.
EXIT_INTERRUPTED = 130


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def split_list(value: str) -> list[str]:
    """Parse a comma-separated MLproject parameter into names (empty string: no names)."""
    return [item.strip() for item in value.split(",") if item.strip()]


def run_entry_point(name: str, work: Callable[[], object]) -> None:
    """Run ``work`` with logging configured; turn failures into one line and an exit code."""
    configure_logging()
    log = logging.getLogger(name)
    # SIGTERM (kill, systemd, a CI timeout) unwinds like Ctrl-C: runs are ended, locks freed.
    signal.signal(signal.SIGTERM, _interrupt)
    # Started in the background by a shell, a process inherits SIGINT ignored: Ctrl-C (or kill
    # -INT) would then do nothing. It always stops the entry point, with one line.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # A parent may also have blocked them (the mask is inherited across exec, as CI's harness
    # does): a blocked signal waits forever, whatever the handler.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        work()
    except KeyboardInterrupt as err:
        if debug_requested():
            raise
        log.error("stopped by %s", str(err) or "Ctrl-C (SIGINT)")
        sys.exit(EXIT_INTERRUPTED)
    except PipelineError as err:
        if debug_requested():
            raise
        log.error("%s", err)
        sys.exit(EXIT_BAD_INPUT)
    except Exception as err:
        if debug_requested():
            raise
        log.error(
            "unexpected %s: %s (set PIPELINE_DEBUG=1 for the traceback)", type(err).__name__, err
        )
        sys.exit(EXIT_UNEXPECTED)


def add_schema_arguments(parser: argparse.ArgumentParser) -> None:
    """The data schema as step parameters (lists travel comma-separated)."""
    parser.add_argument("--target", required=True, help="binary target column")
    parser.add_argument("--features", required=True, help="comma-separated feature columns")
    parser.add_argument(
        "--id_columns", default="", help="comma-separated id columns, never features"
    )


def schema_from_args(args: argparse.Namespace) -> DataSchema:
    return DataSchema(
        args.target, tuple(split_list(args.features)), tuple(split_list(args.id_columns))
    )


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store_url", required=True, help="SQLAlchemy URL of the monitoring store (no password)"
    )


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The logistic regression's hyperparameters as step parameters."""
    parser.add_argument("--C", type=float, required=True, help="inverse regularisation strength")
    parser.add_argument("--max_iter", type=int, required=True, help="solver iteration limit")
    parser.add_argument("--solver", required=True, help="scikit-learn solver name, e.g. lbfgs")
    parser.add_argument("--random_state", type=int, required=True, help="seed of the solver")


def model_params_from_args(args: argparse.Namespace) -> ModelParams:
    return ModelParams(
        C=args.C, max_iter=args.max_iter, solver=args.solver, random_state=args.random_state
    )


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine", choices=ENGINES, default="local", help="local (Polars) or spark"
    )
    parser.add_argument("--spark_master", default="local[*]", help="Spark master URL")
    parser.add_argument(
        "--spark_options", default="{}", help="Spark options as a JSON object (engine spark)"
    )
    parser.add_argument(
        "--spark_env_manager",
        choices=("local", "virtualenv", "uv", "conda"),
        default="local",
        help="the model's environment on Spark's executors",
    )


def engine_from_args(args: argparse.Namespace) -> EngineSettings:
    try:
        options = json.loads(args.spark_options)
    except ValueError as err:
        raise PipelineError(f"--spark_options: not a JSON object ({err})") from None
    if not isinstance(options, dict):
        raise PipelineError("--spark_options: not a JSON object")
    return EngineSettings(args.engine, args.spark_master, options, args.spark_env_manager)
