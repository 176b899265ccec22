"""Diagnostics: summary statistics, missing values, step timings and dependency versions."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
_REQUIREMENT = re.compile(
    r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?:==\s*([^\s;#]+))?"
)


def summary_statistics(data: pd.DataFrame, exclude: list[str]) -> dict[str, dict[str, float]]:
    """Mean, median and standard deviation of every numeric column not in ``exclude``."""
    numeric = data.drop(columns=[c for c in exclude if c in data.columns]).select_dtypes("number")
    return {
        column: {
            "mean": float(numeric[column].mean()),
            "median": float(numeric[column].median()),
            "std": float(numeric[column].std()),
        }
        for column in numeric.columns
    }


def missing_percent(data: pd.DataFrame) -> dict[str, float]:
    """Percent of missing values per column (0 to 100)."""
    if len(data) == 0:
        return {column: 0.0 for column in data.columns}
    return {column: float(v) * 100.0 for column, v in data.isna().mean().items()}


def time_call(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def declared_requirements(requirements_file: Path) -> list[tuple[str, str | None]]:
    """(name, pinned version or None) for each requirement line; includes and options skipped."""
    declared = []
    for line in Path(requirements_file).read_text(encoding="utf-8").splitlines():
        if line.strip().startswith(("#", "-")) or not line.strip():
            continue
        match = _REQUIREMENT.match(line)
        if match:
            declared.append((match.group(1), match.group(2)))
    return declared


def installed_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def latest_version(name: str, timeout_s: float) -> str:
    """The newest release the package index offers, or 'unknown' when it does not answer in time."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "index", "versions", name, "--timeout", "3"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except (subprocess.TimeoutExpired, OSError):
        return UNKNOWN
    match = re.search(rf"^{re.escape(name)} \(([^)]+)\)", done.stdout, re.MULTILINE | re.IGNORECASE)
    return match.group(1) if match else UNKNOWN


def dependency_table(
    requirements_file: Path,
    timeout_s: float = 5.0,
    latest: Callable[[str, float], str] = latest_version,
) -> list[dict[str, object]]:
    """Declared, installed and latest version of every requirement, looked up in parallel.

    Each look-up is bounded by ``timeout_s``, so the whole table takes about that long at most.
    """
    declared = declared_requirements(requirements_file)
    with ThreadPoolExecutor(max_workers=max(len(declared), 1)) as pool:
        latest_versions = list(pool.map(lambda item: latest(item[0], timeout_s), declared))
    table = []
    for (name, pinned), newest in zip(declared, latest_versions, strict=True):
        installed = installed_version(name)
        table.append(
            {
                "package": name,
                "declared": pinned or "",
                "installed": installed,
                "latest": newest,
                "outdated": newest not in (UNKNOWN, installed),
            }
        )
    return table
