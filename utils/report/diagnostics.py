"""Diagnostics: summary statistics, missing values, step timings and dependency versions."""

from __future__ import annotations

import json
import logging
import re
import ssl
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
from packaging.version import InvalidVersion, Version

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


# The Python package index's JSON API (``{index}/{name}/json``); diagnostics.index_url.
PYPI_JSON_API = "https://pypi.org/pypi"


def newest_release(document: dict[str, Any]) -> str | None:
    """The highest final release in a package index JSON document (PEP 440 order), skipping
    pre-releases and releases whose every file was yanked; None when there is none."""
    releases = []
    for text, files in (document.get("releases") or {}).items():
        try:
            release = Version(text)
        except InvalidVersion:
            continue
        if release.is_prerelease or release.is_devrelease:
            continue
        if files and all(f.get("yanked") for f in files):
            continue
        releases.append(release)
    if releases:
        return str(max(releases))
    return (document.get("info") or {}).get("version") or None


@cache
def _tls_context() -> ssl.SSLContext:
    # One for every look-up: urlopen would load the CA bundle again for each (25 ms of CPU).
    return ssl.create_default_context()


def latest_version(name: str, timeout_s: float, index_url: str = PYPI_JSON_API) -> str:
    """The newest release the package index offers, or 'unknown' when it does not answer in
    time or not in JSON."""
    url = f"{index_url.rstrip('/')}/{quote(name)}/json"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s, context=_tls_context()) as answer:
            document = json.load(answer)
    except (OSError, ValueError) as err:
        log.debug("latest version of %s unknown: %s", name, err)
        return UNKNOWN
    return newest_release(document) or UNKNOWN


def is_outdated(installed: str, latest: str) -> bool:
    """Whether ``latest`` is a higher version than ``installed`` (PEP 440 order); False when
    either is unknown or not a version."""
    try:
        return Version(latest) > Version(installed)
    except InvalidVersion:
        return False


def dependency_table(
    requirements_file: Path,
    timeout_s: float = 5.0,
    latest: Callable[[str, float], str] = latest_version,
) -> list[dict[str, object]]:
    """Declared, installed and latest version of every requirement.

    The look-ups run on a few threads and the whole table waits at most ``timeout_s``; a
    package whose answer has not come by then is 'unknown'.
    """
    declared = declared_requirements(requirements_file)
    pool = ThreadPoolExecutor(max_workers=8)
    lookups = [pool.submit(latest, name, timeout_s) for name, _ in declared]
    wait(lookups, timeout=timeout_s)
    pool.shutdown(wait=False, cancel_futures=True)
    table = []
    for (name, pinned), lookup in zip(declared, lookups, strict=True):
        answered = lookup.done() and not lookup.cancelled() and lookup.exception() is None
        newest = lookup.result() if answered else UNKNOWN
        installed = installed_version(name)
        table.append(
            {
                "package": name,
                "declared": pinned or "",
                "installed": installed,
                "latest": newest,
                "outdated": is_outdated(installed, newest),
            }
        )
    return table
