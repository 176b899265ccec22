"""Drift checks: has the deployed model's score dropped, and has the data moved?

Score drift compares the deployed model's F1 on new data with the F1 it was deployed with
(``raw``), or with the history of deployed scores (``parametric``: mean - k * std, population
std; ``nonparametric``: Q1 - 1.5 * IQR). Data drift tests each feature the way Evidently does by
default: with at most 1,000 reference rows, p-value tests (two-sample Kolmogorov-Smirnov for
numeric columns with more than 5 distinct values, chi-square for categorical ones or 5 distinct
values or fewer, a two-proportion z-test for binary ones) at p < 0.05, corrected for the number of
features tested; with more rows, distances (Wasserstein normed by the reference standard
deviation for numeric columns, Jensen-Shannon for categorical ones) at >= 0.1, because p-value
tests on large samples flag differences far too small to matter.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

SCORE_METHODS = ("raw", "parametric", "nonparametric")
CORRECTIONS = ("holm", "bh", "none")


@dataclass(frozen=True)
class ScoreDrift:
    method: str
    threshold: float
    new_f1: float
    deployed_f1: float
    drift: bool
    history_size: int
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_threshold(method: str, deployed_f1: float, history: list[float], k: float = 2.0) -> float:
    """The F1 below which a new score counts as drift, for ``method``."""
    scores = np.asarray(history, dtype=float)
    if method == "raw":
        return float(deployed_f1)
    if method == "parametric":
        return float(scores.mean() - k * scores.std(ddof=0))
    if method == "nonparametric":
        q1, q3 = np.percentile(scores, [25, 75])
        return float(q1 - 1.5 * (q3 - q1))
    raise ValueError(f"unknown score drift method {method!r}; use one of {SCORE_METHODS}")


def score_drift(
    new_f1: float,
    deployed_f1: float,
    history: list[float],
    method: str = "raw",
    k: float = 2.0,
    min_history: int = 5,
) -> ScoreDrift:
    """Drift when ``new_f1`` is below the method's threshold; too little history means raw."""
    note = ""
    used = method
    if method != "raw" and len(history) < min_history:
        used = "raw"
        note = (
            f"{method} needs {min_history} past scores, {len(history)} recorded: fell back to raw"
        )
    threshold = score_threshold(used, deployed_f1, history, k)
    return ScoreDrift(
        used, threshold, new_f1, deployed_f1, bool(new_f1 < threshold), len(history), note
    )


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str
    test: str
    statistic: float | None
    p_value: float | None
    threshold: float
    drift: bool
    adjusted_p_value: float | None = None


@dataclass
class DataDrift:
    features: list[FeatureDrift]
    share_drifted: float
    dataset_drift: bool
    correction: str
    reference_rows: int
    current_rows: int
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "features": [asdict(f) for f in self.features]}


def column_kind(reference: pd.Series) -> str:
    """binary, categorical (non-numeric or at most 5 distinct values) or numeric."""
    distinct = reference.nunique(dropna=True)
    if distinct == 2:
        return "binary"
    if not pd.api.types.is_numeric_dtype(reference) or distinct <= 5:
        return "categorical"
    return "numeric"


def wasserstein(u: np.ndarray, v: np.ndarray) -> float:
    """First Wasserstein distance between two samples (the same value as scipy's).

    Equal sizes: the mean absolute difference of the sorted samples. Otherwise the integral of
    the absolute difference of the two empirical CDFs, from sorted samples.
    """
    u, v = np.sort(u), np.sort(v)
    if len(u) == len(v):
        return float(np.abs(u - v).mean())
    values = np.concatenate([u, v])
    values.sort(kind="mergesort")
    deltas = np.diff(values)
    u_cdf = np.searchsorted(u, values[:-1], side="right") / len(u)
    v_cdf = np.searchsorted(v, values[:-1], side="right") / len(v)
    return float(np.sum(np.abs(u_cdf - v_cdf) * deltas))


def _frequencies(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    keys = sorted(set(reference.unique()) | set(current.unique()), key=str)
    ref_counts = reference.value_counts().reindex(keys, fill_value=0).to_numpy(dtype=float)
    cur_counts = current.value_counts().reindex(keys, fill_value=0).to_numpy(dtype=float)
    return ref_counts, cur_counts


def _p_value_test(kind: str, reference: pd.Series, current: pd.Series) -> tuple[str, float, float]:
    from scipy import stats

    if kind == "numeric":
        result = stats.ks_2samp(reference.to_numpy(float), current.to_numpy(float))
        return "ks", float(result.statistic), float(result.pvalue)
    ref_counts, cur_counts = _frequencies(reference, current)
    if kind == "binary" and len(ref_counts) == 2:
        # Two-proportion z-test on the share of the second category.
        n1, n2 = ref_counts.sum(), cur_counts.sum()
        p1, p2 = ref_counts[1] / n1, cur_counts[1] / n2
        pooled = (ref_counts[1] + cur_counts[1]) / (n1 + n2)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = 0.0 if se == 0 else (p1 - p2) / se
        return "z", float(z), float(2 * stats.norm.sf(abs(z)))
    if len(ref_counts) < 2:
        return "chi_square", 0.0, 1.0
    chi2, p_value, _, _ = stats.chi2_contingency(np.vstack([ref_counts, cur_counts]))
    return "chi_square", float(chi2), float(p_value)


def _distance_test(kind: str, reference: pd.Series, current: pd.Series) -> tuple[str, float]:
    if kind == "numeric":
        ref = reference.to_numpy(float)
        norm = max(float(np.std(ref)), 0.001)
        return "wasserstein_normed", wasserstein(ref, current.to_numpy(float)) / norm
    from scipy.spatial import distance

    ref_counts, cur_counts = _frequencies(reference, current)
    return "jensen_shannon", float(
        distance.jensenshannon(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum())
    )


def adjust_p_values(p_values: list[float], correction: str) -> list[float]:
    """Holm (family-wise error) or Benjamini-Hochberg (false discovery rate) adjustment."""
    m = len(p_values)
    if correction == "none" or m == 0:
        return list(p_values)
    order = np.argsort(p_values)
    ranked = np.asarray(p_values, dtype=float)[order]
    if correction == "holm":
        adjusted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * ranked))
    elif correction == "bh":
        adjusted = np.minimum.accumulate(np.minimum(1.0, m * ranked / np.arange(1, m + 1))[::-1])[
            ::-1
        ]
    else:
        raise ValueError(f"unknown correction {correction!r}; use one of {CORRECTIONS}")
    result = np.empty(m)
    result[order] = adjusted
    return result.tolist()


def data_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: list[str],
    small_sample_rows: int = 1000,
    p_threshold: float = 0.05,
    distance_threshold: float = 0.1,
    drift_share: float = 0.5,
    correction: str = "holm",
) -> DataDrift:
    """Test each feature, then call the data set drifted when ``drift_share`` of them are."""
    use_p_values = len(reference) <= small_sample_rows
    notes: list[str] = []
    tested: list[tuple[str, str, str, float, float | None]] = []
    for feature in features:
        ref, cur = reference[feature].dropna(), current[feature].dropna()
        if ref.empty or cur.empty:
            notes.append(f"{feature}: no values to compare")
            continue
        kind = column_kind(ref)
        if use_p_values:
            test, statistic, p_value = _p_value_test(kind, ref, cur)
            tested.append((feature, kind, test, statistic, p_value))
        else:
            test, distance_value = _distance_test(kind, ref, cur)
            tested.append((feature, kind, test, distance_value, None))

    results: list[FeatureDrift] = []
    if use_p_values:
        adjusted = adjust_p_values([t[4] for t in tested], correction)  # type: ignore[misc]
        for (feature, kind, test, statistic, p_value), p_adj in zip(tested, adjusted, strict=True):
            results.append(
                FeatureDrift(
                    feature,
                    kind,
                    test,
                    statistic,
                    p_value,
                    p_threshold,
                    bool(p_adj < p_threshold),
                    p_adj,
                )
            )
    else:
        for feature, kind, test, distance_value, _ in tested:
            results.append(
                FeatureDrift(
                    feature,
                    kind,
                    test,
                    distance_value,
                    None,
                    distance_threshold,
                    bool(distance_value >= distance_threshold),
                )
            )
    drifted = sum(r.drift for r in results)
    share = drifted / len(results) if results else 0.0
    return DataDrift(
        results,
        share,
        bool(results) and share >= drift_share,
        correction if use_p_values else "none (distances)",
        len(reference),
        len(current),
        notes,
    )
