"""The data-drift rules that need no data: which settings are valid, and how many drifted
features make the data set drift. Kept free of numpy and pandas, because the configuration
check imports it on the automation's quick no-new-data path."""

from __future__ import annotations

import math

CORRECTIONS = ("holm", "bh", "none")


def drifted_needed(tested: int, drift_share: float, drift_count: int | None) -> int:
    """How many drifted features make the data set drift: ``drift_count`` when set, else
    ``drift_share`` of the tested features rounded up, and never fewer than one."""
    if drift_count is not None:
        return drift_count
    # The small allowance keeps 0.3 * 10 at 3, not 4 from floating-point error.
    return max(1, math.ceil(drift_share * tested - 1e-9))


def check_drift_settings(
    *,
    p_threshold: float,
    min_effect: float,
    correction: str,
    drift_share: float,
    drift_count: int | None,
    min_rows: int,
) -> None:
    """ValueError "<key>: <why>" for the first setting out of range. Every key is required:
    the defaults live in one place, utils.monitoring.drift.data_drift's signature."""
    rules = [
        ("p_threshold", p_threshold, 0 < p_threshold < 1, "between 0 and 1"),
        ("min_effect", min_effect, 0 <= min_effect < math.inf, "a finite number >= 0"),
        ("correction", correction, correction in CORRECTIONS, f"one of {', '.join(CORRECTIONS)}"),
        ("drift_share", drift_share, 0 < drift_share <= 1, "in (0, 1]"),
        ("drift_count", drift_count, drift_count is None or drift_count >= 1, "null or >= 1"),
        ("min_rows", min_rows, min_rows >= 1, "at least 1"),
    ]
    for key, value, ok, wanted in rules:
        if not ok:
            raise ValueError(f"{key}: {value!r} must be {wanted}")


def check_multivariate_settings(*, min_auc: float, max_rows: int, seed: int) -> None:
    """ValueError "multivariate.<key>: <why>" for the first setting out of range."""
    rules = [
        ("min_auc", min_auc, 0.5 <= min_auc < 1, "in [0.5, 1)"),
        ("max_rows", max_rows, max_rows >= 100, "at least 100"),
        ("seed", seed, seed >= 0, "at least 0"),
    ]
    for key, value, ok, wanted in rules:
        if not ok:
            raise ValueError(f"multivariate.{key}: {value!r} must be {wanted}")
