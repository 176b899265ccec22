"""Drift checks: has the deployed model's score dropped, and has the data moved?

Score drift compares the deployed model's F1 on new data with the F1 it was deployed with
(``raw``), or with the history of deployed scores (``parametric``: mean - k * std, population
std; ``nonparametric``: Q1 - 1.5 * IQR).

Data drift: a feature drifts when its difference from the reference is both *significant* and
*large enough to matter*, so that neither noise in small samples nor trivial differences in
huge ones raise an alarm:

- significant: a two-sample test whose false-alarm rate holds at the sizes used, its p-value
  corrected for the number of features (Holm by default). Numeric columns: Kolmogorov-Smirnov,
  exact up to 10,000 rows a side and Smirnov's limit beyond (both conservative with ties).
  Binary and categorical columns: chi-square on the table of counts (for two values the same as
  the two-proportion z-test), with its p-value by Monte Carlo over tables with the same margins
  when an expected count is under 5, where the chi-square distribution would be too lenient.
- large enough: an effect of at least ``min_effect`` reference standard deviations. Numeric:
  the Wasserstein distance divided by the reference std (a shift of d std gives exactly d).
  Binary and categorical: Cohen's w against the reference shares, which for a 0/1 column is
  |p_new - p_ref| / sqrt(p_ref (1 - p_ref)): the same d for a move of d std.

Fewer than ``min_rows`` values on either side give "too few rows to tell" instead of a test.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from utils.monitoring.drift_rules import CORRECTIONS, check_drift_settings, drifted_needed

SCORE_METHODS = ("raw", "parametric", "nonparametric")


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


# scipy's own limit for its exact two-sample Kolmogorov-Smirnov distribution.
EXACT_KS_MAX_ROWS = 10_000
# Cochran's rule: below this expected count the chi-square distribution is too lenient.
MIN_EXPECTED_COUNT = 5
# p-values down to 1e-4, enough for Holm over 50 features at 0.05; seeded, so the same data
# always gets the same verdict.
MONTE_CARLO_RESAMPLES = 9_999
MONTE_CARLO_SEED = 0


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str
    test: str
    statistic: float | None
    p_value: float | None
    adjusted_p_value: float | None
    # In reference standard deviations: Wasserstein / std, or Cohen's w.
    effect_size: float | None
    significant: bool
    drift: bool
    note: str = ""

    def describe(self, p_threshold: float, min_effect: float) -> str:
        """One line for the log: test, significance, effect size and verdict."""
        if self.statistic is None:
            return f"{self.feature}: not tested ({self.note})"
        verdict = "drift" if self.drift else "no drift"
        return (
            f"{self.feature} ({self.kind}): {self.test} {self.statistic:.4g}, p {self.p_value:.3g}"
            f" (corrected {self.adjusted_p_value:.3g}, {'<' if self.significant else '>='} "
            f"{p_threshold:g}), effect {self.effect_size:.3f} std "
            f"({'>=' if self.effect_size >= min_effect else '<'} {min_effect:g}): {verdict}"
        )


@dataclass
class DataDrift:
    features: list[FeatureDrift]
    drifted: int
    tested: int
    # Drifted features that make the data set drift.
    needed: int
    share_drifted: float
    dataset_drift: bool
    correction: str
    p_threshold: float
    min_effect: float
    reference_rows: int
    current_rows: int
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "features": [asdict(f) for f in self.features]}

    def summary(self) -> str:
        """e.g. "data drift (2 of 3 features drifted, 1 needed)"."""
        verdict = "data drift" if self.dataset_drift else "no data drift"
        if not self.tested:
            return f"{verdict} (no feature could be tested)"
        return f"{verdict} ({self.drifted} of {self.tested} features drifted, {self.needed} needed)"


@dataclass(frozen=True)
class _Comparison:
    test: str
    statistic: float
    p_value: float
    effect_size: float


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _kind_of_sorted(values: np.ndarray) -> str:
    """binary when a sorted array holds at most two distinct values, else numeric."""
    if len(values) == 0:
        return "binary"
    lowest = np.searchsorted(values, values[0], side="right")
    highest = len(values) - np.searchsorted(values, values[-1], side="left")
    return "binary" if lowest + highest >= len(values) else "numeric"


def column_kind(reference: pd.Series) -> str:
    """binary (at most two distinct values), categorical (not numbers) or numeric."""
    if pd.api.types.is_bool_dtype(reference):
        return "binary"
    if not _is_number(reference):
        return "categorical"
    return _kind_of_sorted(np.sort(reference.dropna().to_numpy(float)))


def _finite_sorted(values: pd.Series, feature: str, side: str) -> np.ndarray:
    """The non-missing values of a numeric column, sorted; infinite values are refused."""
    array = values.to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(array)
    if missing.any():
        array = array[~missing]
    infinite = int(np.isinf(array).sum())
    if infinite:
        raise ValueError(
            f"{side} column {feature!r} has {infinite} infinite value(s): drift cannot be "
            "measured against infinity"
        )
    return np.sort(array)  # a copy: the caller's frame is never sorted in place


def ks_and_wasserstein(u: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    """Kolmogorov-Smirnov statistic (largest gap between the two empirical CDFs) and first
    Wasserstein distance (area between them) of two *sorted* samples, from one merge.

    Hand-written rather than scipy's ks_2samp plus wasserstein_distance because those sort and
    search the data again each; at a million rows a side this is 3 times faster.
    """
    n, m = len(u), len(v)
    pooled = np.concatenate([u, v])
    # Two sorted runs: the stable sort merges them in linear time.
    order = np.argsort(pooled, kind="stable")
    values = pooled[order]
    # n * m * (F_u - F_v) after each pooled value, in exact integers: +m per u, -n per v.
    scaled_gaps = np.abs(np.cumsum(np.where(order < n, m, -n))[:-1])
    widths = np.diff(values)
    # Within a run of equal values the CDFs are not yet complete: only run ends count.
    largest = scaled_gaps[widths > 0].max(initial=0)
    return float(largest / (n * m)), float(np.dot(scaled_gaps, widths) / (n * m))


def ks_p_value(statistic: float, u: np.ndarray, v: np.ndarray) -> float:
    """Two-sided p-value of the Kolmogorov-Smirnov ``statistic``, as scipy's ks_2samp gives it:
    exact up to 10,000 rows a side, Smirnov's limit beyond."""
    from scipy import stats

    n, m = len(u), len(v)
    if max(n, m) <= EXACT_KS_MAX_ROWS:
        with warnings.catch_warnings():
            # "Exact calculation unsuccessful. Switching to method=asymp": scipy's own fallback.
            warnings.simplefilter("ignore", RuntimeWarning)
            return float(stats.ks_2samp(u, v).pvalue)
    effective = n * m / (n + m)
    return float(stats.kstwo.sf(statistic, np.round(effective)))


def compare_numeric(reference: np.ndarray, current: np.ndarray) -> _Comparison:
    """Kolmogorov-Smirnov and Wasserstein / std of two *sorted* samples."""
    ref, cur = reference, current
    statistic, distance = ks_and_wasserstein(ref, cur)
    std = float(ref.std())
    effect = distance / std if std > 0 else (0.0 if distance == 0 else math.inf)
    return _Comparison("ks", statistic, ks_p_value(statistic, ref, cur), effect)


def cohens_w(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Cohen's w of the current shares against the reference shares; a value the reference
    never had counts as half an observation there, not as an infinite effect."""
    expected = np.maximum(reference_counts, 0.5) / reference_counts.sum()
    observed = current_counts / current_counts.sum()
    return float(np.sqrt(np.sum((observed - expected) ** 2 / expected)))


def compare_categories(reference: pd.Series, current: pd.Series) -> _Comparison:
    from scipy import stats
    from scipy.stats.contingency import expected_freq

    ref_counts, cur_counts = reference.value_counts(), current.value_counts()
    values = ref_counts.index.union(cur_counts.index)
    table = np.vstack(
        [
            ref_counts.reindex(values, fill_value=0).to_numpy(float),
            cur_counts.reindex(values, fill_value=0).to_numpy(float),
        ]
    )
    effect = cohens_w(table[0], table[1])
    if len(values) < 2:
        return _Comparison("chi_square", 0.0, 1.0, effect)
    if expected_freq(table).min() >= MIN_EXPECTED_COUNT:
        result = stats.chi2_contingency(table, correction=False)
        return _Comparison("chi_square", float(result.statistic), float(result.pvalue), effect)
    method = stats.MonteCarloMethod(
        n_resamples=MONTE_CARLO_RESAMPLES, rng=np.random.default_rng(MONTE_CARLO_SEED)
    )
    result = stats.chi2_contingency(table, correction=False, method=method)
    return _Comparison(
        "chi_square_monte_carlo", float(result.statistic), float(result.pvalue), effect
    )


def adjust_p_values(p_values: list[float], correction: str) -> list[float]:
    """Holm (family-wise error) or Benjamini-Hochberg (false discovery rate) adjustment."""
    m = len(p_values)
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}; use one of {CORRECTIONS}")
    if correction == "none" or m == 0:
        return list(p_values)
    order = np.argsort(p_values)
    ranked = np.asarray(p_values, dtype=float)[order]
    if correction == "holm":
        adjusted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * ranked))
    else:
        adjusted = np.minimum.accumulate(np.minimum(1.0, m * ranked / np.arange(1, m + 1))[::-1])[
            ::-1
        ]
    result = np.empty(m)
    result[order] = adjusted
    return result.tolist()


def _untested(feature: str, kind: str, note: str) -> FeatureDrift:
    return FeatureDrift(feature, kind, "none", None, None, None, None, False, False, note)


def data_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: list[str],
    p_threshold: float = 0.05,
    min_effect: float = 0.1,
    correction: str = "holm",
    drift_share: float = 0.3,
    drift_count: int | None = None,
    min_rows: int = 30,
) -> DataDrift:
    """Test each feature (see the module's docstring), then the data set: it drifts when
    ``drifted_needed`` of the tested features drift. Takes config.yaml's ``drift:`` keys."""
    check_drift_settings(
        p_threshold=p_threshold,
        min_effect=min_effect,
        correction=correction,
        drift_share=drift_share,
        drift_count=drift_count,
        min_rows=min_rows,
    )
    notes: list[str] = []
    untested: dict[str, FeatureDrift] = {}
    compared: dict[str, tuple[str, _Comparison]] = {}
    for feature in features:
        ref, cur = reference[feature], current[feature]
        if _is_number(ref) and _is_number(cur):
            ref = _finite_sorted(ref, feature, "reference")
            cur = _finite_sorted(cur, feature, "current")
            kind = _kind_of_sorted(ref)
        else:
            ref, cur = ref.dropna(), cur.dropna()
            kind = column_kind(ref)
        if len(ref) == 0 or len(cur) == 0:
            side = "reference" if len(ref) == 0 else "new data"
            untested[feature] = _untested(feature, kind, f"no values to compare in the {side}")
        elif min(len(ref), len(cur)) < min_rows:
            untested[feature] = _untested(
                feature,
                kind,
                f"too few rows to tell: {len(cur)} new and {len(ref)} reference values, "
                f"min_rows {min_rows}",
            )
        elif kind == "numeric":
            compared[feature] = (kind, compare_numeric(ref, cur))
        else:
            compared[feature] = (kind, compare_categories(pd.Series(ref), pd.Series(cur)))
    notes.extend(f"{r.feature}: {r.note}" for r in untested.values())

    adjusted = dict(
        zip(
            compared,
            adjust_p_values([c.p_value for _, c in compared.values()], correction),
            strict=True,
        )
    )
    results = []
    for feature in features:
        if feature in untested:
            results.append(untested[feature])
            continue
        kind, comparison = compared[feature]
        significant = adjusted[feature] < p_threshold
        large = comparison.effect_size >= min_effect
        results.append(
            FeatureDrift(
                feature,
                kind,
                comparison.test,
                comparison.statistic,
                comparison.p_value,
                adjusted[feature],
                comparison.effect_size,
                significant,
                significant and large,
            )
        )
    drifted, tested = sum(r.drift for r in results), len(compared)
    needed = drifted_needed(tested, drift_share, drift_count)
    return DataDrift(
        results,
        drifted,
        tested,
        needed,
        drifted / tested if tested else 0.0,
        tested > 0 and drifted >= needed,
        correction,
        p_threshold,
        min_effect,
        len(reference),
        len(current),
        notes,
    )
