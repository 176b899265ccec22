"""Multivariate drift: a change in how the features move together, which no per-feature check
sees (two columns that rose together decouple; every marginal stays the same).

The test is a classifier two-sample test. Each side is split in two (seeded: half, at most
FIT_ROWS, to learn from); a logistic regression on the features, their squares and their
pairwise products learns to tell the current rows from the reference rows on the first part;
on the held-out rest, its scores of the current
rows are compared with its scores of the reference rows by the Mann-Whitney U test. Under no
change the held-out rows of both sides come from one distribution and the classifier never saw
them, so their scores are exchangeable and U has its known null distribution: the p-value is
valid at every sample size and every ratio of the two sides, with no threshold fitted on
reference chunks (which is what makes NannyML's false-alarm rate depend on chunk size). The
statistic is the held-out ROC AUC (U over the pairs): 0.5 is no difference, 1 a complete one.
Squares and products are enough for a change of any two features' covariance (a correlation
break, a rotation), and keep the fit linear, so it is fast.

The verdict, as the univariate rule: drift when significant at ``p_threshold`` **and** the AUC
is at least ``min_auc``. Significant after the same correction as the per-feature tests
(``correction``), the joint test counted as one more member of their family
(``family_p_values``: the features' own p-values): the test is exact, so at its nominal level
alone it would raise false alarms at exactly that rate, on top of the features' (about 5 % at
300/300 rows, measured by benchmarks/multivariate.py); in the family it raises no more than one
more feature would, and a joint change that no feature shows still has p-values far below
p_threshold / (features + 1) once samples are a few hundred rows. The contributors are the
features whose shuffling on the held-out half lowers the AUC most: where to look first.

Missing values: a numeric feature's are set to the reference mean with an indicator column
(so a change in how often a value is missing counts, as in the univariate checks, which test
the values present); a categorical feature's are one category. Beyond ``max_rows`` a side is
sampled (seeded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from utils.monitoring.drift import DataDrift, adjust_p_values, column_kind
from utils.monitoring.drift_rules import check_multivariate_settings

# Categories beyond the reference's most frequent ones share one column.
MAX_CATEGORIES = 20
TOP_CONTRIBUTORS = 3
# Rows per side the classifier learns from at most: about 70 coefficients need far fewer, and
# every row beyond goes to the held-out part, whose size is the test's power. On 50,000 rows a
# side this takes the fit from 0.34 s to about 0.07 s (benchmarks/multivariate.py).
FIT_ROWS = 10_000


@dataclass(frozen=True)
class MultivariateDrift:
    statistic: float | None  # held-out ROC AUC of the domain classifier
    p_value: float | None
    # After the correction, in the family of the per-feature tests (see the module's docstring).
    adjusted_p_value: float | None
    drifted: bool
    p_threshold: float
    min_auc: float
    reference_rows: int
    current_rows: int
    # (feature, AUC lost when it is shuffled), largest first, at most TOP_CONTRIBUTORS
    contributors: list[tuple[str, float]] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "contributors": [list(c) for c in self.contributors]}

    def summary(self) -> str:
        if self.statistic is None:
            return f"multivariate drift not tested: {self.note}"
        verdict = "multivariate drift" if self.drifted else "no multivariate drift"
        top = ", ".join(name for name, _ in self.contributors)
        p = f"p {self.p_value:.3g}, corrected {self.adjusted_p_value:.3g}"
        return f"{verdict} (AUC {self.statistic:.3f}, {p}" + (
            f"; most: {top})" if self.drifted and top else ")"
        )


class _Encoder:
    """Reference-fitted columns for the classifier: numeric standardised (missing: the mean,
    plus an indicator), their squares and pairwise products; categories one-hot."""

    def __init__(self, reference: pd.DataFrame, current: pd.DataFrame, features: list[str]):
        self.numeric: list[tuple[str, float, float, bool]] = []
        self.categories: list[tuple[str, list[Any]]] = []
        for feature in features:
            ref = reference[feature]
            if column_kind(ref.dropna()) == "categorical":
                top = ref.astype("string").fillna("<missing>").value_counts().index
                self.categories.append((feature, list(top[:MAX_CATEGORIES])))
                continue
            values = pd.to_numeric(ref, errors="coerce").to_numpy(dtype=float)
            finite = values[np.isfinite(values)]
            mean = float(finite.mean()) if len(finite) else 0.0
            std = float(finite.std()) if len(finite) > 1 else 0.0
            missing = bool(ref.isna().any() or current[feature].isna().any())
            self.numeric.append((feature, mean, std if std > 0 else 1.0, missing))

    center: np.ndarray | None = None
    scale: np.ndarray | None = None

    def scale_by(self, fitted: np.ndarray) -> None:
        """Scale every column as it is in the rows the classifier learns from."""
        self.center, self.scale = fitted.mean(axis=0), fitted.std(axis=0)
        self.scale[self.scale == 0] = 1.0

    def scaled(self, encoded: np.ndarray) -> np.ndarray:
        """``encoded`` scaled, in place (it is this class's own array)."""
        if self.center is not None:
            encoded -= self.center
            encoded /= self.scale
        return encoded

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """One row of columns per row of ``frame``, written into one array (no column list to
        stack: half the time on 50,000 rows)."""
        count = len(self.numeric)
        pairs = np.triu_indices(count)
        widths = [count, sum(m for *_, m in self.numeric), len(pairs[0])]
        widths.append(sum(len(top) + 1 for _, top in self.categories))
        out = np.empty((len(frame), sum(widths)))
        block, flags = out[:, :count], out[:, count : count + widths[1]]
        flag = 0
        for column, (feature, mean, std, missing) in enumerate(self.numeric):
            values = pd.to_numeric(frame[feature], errors="coerce").to_numpy(dtype=float)
            absent = ~np.isfinite(values)
            np.subtract(values, mean, out=block[:, column])
            block[:, column] /= std
            block[absent, column] = 0.0
            if missing:
                flags[:, flag] = absent
                flag += 1
        start = count + widths[1]
        np.multiply(block[:, pairs[0]], block[:, pairs[1]], out=out[:, start : start + widths[2]])
        start += widths[2]
        for feature, top in self.categories:
            text = frame[feature].astype("string").fillna("<missing>")
            # Codes of the known categories, -1 for any other: one column each, the last other.
            codes = pd.Categorical(text, categories=top).codes
            onehot = out[:, start : start + len(top) + 1]
            onehot[:] = 0.0
            onehot[np.arange(len(frame)), np.where(codes < 0, len(top), codes)] = 1.0
            start += len(top) + 1
        return out


def _auc_and_p(current_scores: np.ndarray, reference_scores: np.ndarray) -> tuple[float, float]:
    from scipy.stats import mannwhitneyu

    # One-sided: a classifier that learned anything scores the current rows higher.
    result = mannwhitneyu(current_scores, reference_scores, alternative="greater")
    auc = float(result.statistic) / (len(current_scores) * len(reference_scores))
    return auc, float(result.pvalue)


def _halves(rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The rows the classifier learns from (half, at most FIT_ROWS) and the held-out rest."""
    order = rng.permutation(rows)
    fit = min(rows // 2, FIT_ROWS)
    return order[:fit], order[fit:]


def multivariate_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: list[str],
    p_threshold: float = 0.05,
    min_auc: float = 0.55,
    max_rows: int = 50_000,
    seed: int = 0,
    min_rows: int = 30,
    correction: str = "none",
    family_p_values: Sequence[float] = (),
) -> MultivariateDrift:
    """Whether ``current`` differs from ``reference`` in the joint distribution of ``features``
    (see the module's docstring). ``family_p_values``: the per-feature tests' p-values, which
    the joint test's is corrected with (``correction``: holm, bh or none)."""
    from sklearn.linear_model import LogisticRegression

    check_multivariate_settings(min_auc=min_auc, max_rows=max_rows, seed=seed)
    rng = np.random.default_rng(seed)
    if len(reference) > max_rows:
        reference = reference.iloc[np.sort(rng.choice(len(reference), max_rows, replace=False))]
    if len(current) > max_rows:
        current = current.iloc[np.sort(rng.choice(len(current), max_rows, replace=False))]

    def result(statistic=None, p_value=None, adjusted=None, drifted=False, contributors=(),
               note=""):  # fmt: skip
        return MultivariateDrift(
            statistic, p_value, adjusted, drifted, p_threshold, min_auc, len(reference),
            len(current), list(contributors), note,
        )  # fmt: skip

    if min(len(reference), len(current)) < 2 * min_rows or not features:
        return result(
            note=f"too few rows to tell: {len(current)} new and {len(reference)} reference rows, "
            f"twice min_rows ({min_rows}) needed on each side"
        )
    reference = reference[features].reset_index(drop=True)
    current = current[features].reset_index(drop=True)
    encoder = _Encoder(reference, current, features)
    ref_fit, ref_held = _halves(len(reference), rng)
    cur_fit, cur_held = _halves(len(current), rng)
    x_ref, x_cur = encoder.encode(reference), encoder.encode(current)
    # Squares of a skewed feature span orders of magnitude: scaled columns let L-BFGS converge
    # in a few dozen steps instead of hundreds (0.40 s to 0.07 s on 10,000 rows a side).
    encoder.scale_by(np.vstack([x_ref[ref_fit], x_cur[cur_fit]]))
    x_ref, x_cur = encoder.scaled(x_ref), encoder.scaled(x_cur)
    fit_x = np.vstack([x_ref[ref_fit], x_cur[cur_fit]])
    fit_y = np.r_[np.zeros(len(ref_fit)), np.ones(len(cur_fit))]
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=300)
    model.fit(fit_x, fit_y)
    auc, p_value = _auc_and_p(
        model.decision_function(x_cur[cur_held]), model.decision_function(x_ref[ref_held])
    )
    adjusted = adjust_p_values([*family_p_values, p_value], correction)[-1]
    drifted = adjusted < p_threshold and auc >= min_auc
    contributors = []
    if drifted:
        held = (reference.iloc[ref_held], current.iloc[cur_held])
        contributors = _contributors(model, encoder, *held, features, auc, rng)
    return result(auc, p_value, adjusted, drifted, contributors)


def _contributors(
    model, encoder: _Encoder, reference: pd.DataFrame, current: pd.DataFrame,
    features: list[str], auc: float, rng: np.random.Generator,
) -> list[tuple[str, float]]:  # fmt: skip
    """The AUC each feature's shuffling (across both held-out sides) takes away, largest
    first: where to look."""
    both = pd.concat([reference, current], ignore_index=True)
    split = len(reference)
    lost = []
    for feature in features:
        shuffled = both.copy()
        shuffled[feature] = both[feature].to_numpy()[rng.permutation(len(both))]
        scores = model.decision_function(encoder.scaled(encoder.encode(shuffled)))
        shuffled_auc, _ = _auc_and_p(scores[split:], scores[:split])
        lost.append((feature, round(auc - shuffled_auc, 4)))
    ranked = sorted((item for item in lost if item[1] > 0), key=lambda item: -item[1])
    return ranked[:TOP_CONTRIBUTORS]


def configured_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: list[str],
    drift: dict[str, Any],
    per_feature: DataDrift,
) -> MultivariateDrift | None:
    """The test as config.yaml's ``drift:`` section asks (``DriftSection.as_dict()``): None when
    drift.multivariate is off; the univariate p_threshold, min_rows and correction apply to it
    too, in one family with ``per_feature``'s tests (data_drift on the same rows)."""
    settings = dict(drift.get("multivariate") or {})
    if not settings.pop("enabled", False):
        return None
    family = [f.p_value for f in per_feature.features if f.p_value is not None]
    return multivariate_drift(
        reference, current, features, p_threshold=drift["p_threshold"],
        min_rows=drift["min_rows"], correction=drift["correction"], family_p_values=family,
        **settings,
    )  # fmt: skip
