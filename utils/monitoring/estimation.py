"""Performance of the deployed model estimated without labels, from its own confidence.

Confidence-based performance estimation (NannyML's CBPE, read to understand, written anew): if
the model's class-1 probabilities are calibrated, a row predicted 1 with probability p is a
true positive with probability p and a false positive with probability 1 - p. Summed over a
chunk of rows, that gives the expected confusion matrix, hence expected precision, recall and
F1, and an expected ROC curve (each row counts p towards the positives and 1 - p towards the
negatives). Calibration comes from labelled reference data (the test data): isotonic
regression, used only when it lowers the cross-validated calibration error.

What this sees and what it cannot: when the inputs move (covariate shift) the probabilities
move with them and the estimate follows; when the same inputs come to mean other outcomes
(concept drift) the probabilities do not change, and only labels reveal it.

Everything is numpy on arrays, chunk by chunk in one pass (np.add.reduceat), so a million rows
in 200 chunks take well under a second.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from utils.monitoring.periods import period_seconds

# A row is predicted 1 when its (uncalibrated) probability exceeds this, as the model does.
THRESHOLD = 0.5
METRICS = ("f1", "precision", "recall", "roc_auc")
# The band of an estimate: the reference chunks' mean and this many of their standard deviations.
BAND_SIGMAS = 3.0
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class Calibration:
    """A monotone map of probabilities (isotonic regression's steps), or none."""

    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    @property
    def used(self) -> bool:
        return bool(self.x)

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        probabilities = np.asarray(probabilities, dtype=np.float64)
        if not self.used:
            return probabilities
        return np.interp(probabilities, np.asarray(self.x), np.asarray(self.y))

    def as_dict(self) -> dict[str, list[float]]:
        return {"x": list(self.x), "y": list(self.y)}


def calibration_error(probabilities: np.ndarray, truth: np.ndarray) -> float:
    """Expected calibration error: |mean probability - share of positives| over ten bins of
    equal row count, weighted by rows."""
    order = np.argsort(probabilities, kind="stable")
    error = 0.0
    for part in np.array_split(order, CALIBRATION_BINS):
        if len(part):
            error += abs(probabilities[part].mean() - truth[part].mean()) * len(part)
    return error / max(len(probabilities), 1)


def _isotonic(probabilities: np.ndarray, truth: np.ndarray) -> Calibration:
    from sklearn.isotonic import IsotonicRegression

    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    fitted.fit(probabilities, truth)
    return Calibration(
        tuple(map(float, fitted.X_thresholds_)), tuple(map(float, fitted.y_thresholds_))
    )


def fit_calibration(
    probabilities: np.ndarray, truth: np.ndarray, folds: int = 5, seed: int = 0
) -> Calibration:
    """Isotonic calibration on labelled reference data when it lowers the calibration error
    measured on held-out folds; else none (the probabilities are used as they are)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if len(truth) < 2 * folds or truth.min() == truth.max():
        return Calibration()
    parts = np.array_split(np.random.default_rng(seed).permutation(len(truth)), folds)
    raw, calibrated = 0.0, 0.0
    for k, held_out in enumerate(parts):
        fit_on = np.concatenate([part for j, part in enumerate(parts) if j != k])
        mapping = _isotonic(probabilities[fit_on], truth[fit_on])
        raw += calibration_error(probabilities[held_out], truth[held_out])
        calibrated += calibration_error(mapping.apply(probabilities[held_out]), truth[held_out])
    return _isotonic(probabilities, truth) if calibrated < raw else Calibration()


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        safe = np.where(denominator > 0, denominator, 1.0)
        return np.where(denominator > 0, numerator / safe, np.nan)


def _metrics_from_counts(tp, fp, fn) -> dict[str, np.ndarray]:
    return {
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
    }


def _roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve where row i counts ``positive[i]`` (0..1) as a positive and
    1 - positive[i] as a negative; equal scores form one step, as in scikit-learn."""
    # Any sort will do: equal scores become one step below, whatever their order.
    order = np.argsort(scores)[::-1]
    scores, positive = scores[order], positive[order]
    distinct = np.r_[np.flatnonzero(scores[1:] != scores[:-1]), len(scores) - 1]
    tps = np.cumsum(positive)[distinct]
    fps = np.cumsum(1.0 - positive)[distinct]
    if tps[-1] <= 0 or fps[-1] <= 0:
        return math.nan
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    return float(np.trapezoid(tpr, fpr))


def chunk_starts_by_rows(rows: int, chunk_rows: int) -> np.ndarray:
    """Start index of each chunk of ``chunk_rows`` rows (the last one may be shorter)."""
    return np.arange(0, rows, chunk_rows) if rows else np.zeros(0, dtype=np.int64)


def chunk_starts_by_period(times: Sequence, period: str) -> np.ndarray:
    """Start index of each run of rows in the same period (counted from the epoch, UTC);
    ``times`` must be sorted."""
    import pandas as pd

    stamps = pd.to_datetime(pd.Series(times), utc=True).dt.tz_convert(None).to_numpy()
    slots = stamps.astype("datetime64[s]").astype(np.int64) // period_seconds(period)
    if not len(slots):
        return np.zeros(0, dtype=np.int64)
    return np.r_[0, np.flatnonzero(slots[1:] != slots[:-1]) + 1]


def estimate_chunks(
    probabilities: np.ndarray, calibration: Calibration, starts: np.ndarray
) -> list[dict[str, float]]:
    """Estimated F1, precision, recall, ROC AUC and expected confusion counts of each chunk."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if not len(starts):
        return []
    return _chunk_figures(probabilities, calibration.apply(probabilities), starts, undefined=np.nan)


def _chunk_figures(
    probabilities: np.ndarray, positive: np.ndarray, starts: np.ndarray, undefined: float
) -> list[dict[str, float]]:
    """Confusion counts, F1, precision, recall and ROC AUC per chunk, where row i counts
    ``positive[i]`` (a label, or a calibrated probability) as a positive and the rest as a
    negative; ``undefined`` stands for a ratio with nothing to divide by."""
    predicted = probabilities > THRESHOLD
    sums = {
        "tp": np.add.reduceat(np.where(predicted, positive, 0.0), starts),
        "fp": np.add.reduceat(np.where(predicted, 1.0 - positive, 0.0), starts),
        "fn": np.add.reduceat(np.where(predicted, 0.0, positive), starts),
        "tn": np.add.reduceat(np.where(predicted, 0.0, 1.0 - positive), starts),
    }
    counts = _metrics_from_counts(sums["tp"], sums["fp"], sums["fn"])
    metrics = {name: np.nan_to_num(values, nan=undefined) for name, values in counts.items()}
    ends = np.r_[starts[1:], len(probabilities)]
    chunks = []
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        chunk = {name: float(values[i]) for name, values in metrics.items()}
        chunk["roc_auc"] = _roc_auc(probabilities[start:end], positive[start:end])
        chunk.update({name: float(values[i]) for name, values in sums.items()})
        chunk["rows"] = int(end - start)
        chunks.append(chunk)
    return chunks


def realized_chunks(
    probabilities: np.ndarray, truth: np.ndarray, starts: np.ndarray
) -> list[dict[str, float]]:
    """The same figures from the labels (what scikit-learn's metrics give on each chunk)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if not len(starts):
        return []
    # scikit-learn's zero_division=0: an undefined precision, recall or F1 is 0.
    return _chunk_figures(probabilities, truth, starts, undefined=0.0)


def reference_band(
    probabilities: np.ndarray,
    calibration: Calibration,
    chunk_rows: int,
    draws: int = 200,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """The range an estimate takes on reference chunks of ``chunk_rows`` rows: their mean plus
    or minus BAND_SIGMAS standard deviations, per metric. The chunks are drawn from the
    reference with replacement (seeded), so the band exists whatever the reference's size."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(probabilities), size=draws * chunk_rows)
    starts = np.arange(0, draws * chunk_rows, chunk_rows)
    estimates = estimate_chunks(probabilities[rows], calibration, starts)
    band = {}
    for metric in METRICS:
        values = np.array([e[metric] for e in estimates], dtype=np.float64)
        values = values[np.isfinite(values)]
        if not len(values):
            band[metric] = (math.nan, math.nan)
            continue
        spread = BAND_SIGMAS * float(values.std(ddof=1)) if len(values) > 1 else 0.0
        centre = float(values.mean())
        band[metric] = (max(0.0, centre - spread), min(1.0, centre + spread))
    return band
