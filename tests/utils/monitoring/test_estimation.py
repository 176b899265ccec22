"""Estimated performance: exact where the answer is known, equal to scikit-learn's realised
metrics, and calibration that is used only when it helps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from utils.monitoring.estimation import (
    Calibration,
    calibration_error,
    chunk_starts_by_period,
    chunk_starts_by_rows,
    estimate_chunks,
    fit_calibration,
    realized_chunks,
    reference_band,
)


def test_certain_probabilities_estimate_exactly_what_the_labels_would_say():
    """With probabilities of 0 or 1 the expected confusion matrix is the real one."""
    truth = np.array([1, 1, 0, 0, 1, 0, 1, 1, 0, 0], dtype=float)
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.3, 0.1, 0.6, 0.95, 0.4, 0.05])
    # Calibrated probabilities that are the labels themselves: each row's outcome is certain.
    certain = Calibration(tuple(np.sort(scores)), tuple(truth[np.argsort(scores)]))
    (estimated,) = estimate_chunks(scores, certain, np.array([0]))
    predicted = scores > 0.5
    assert estimated["f1"] == pytest.approx(f1_score(truth, predicted))
    assert estimated["precision"] == pytest.approx(precision_score(truth, predicted))
    assert estimated["recall"] == pytest.approx(recall_score(truth, predicted))
    assert estimated["roc_auc"] == pytest.approx(roc_auc_score(truth, scores))
    assert estimated["tp"] + estimated["fp"] + estimated["fn"] + estimated["tn"] == 10


def test_expected_counts_are_sums_of_probabilities():
    scores = np.array([0.9, 0.6, 0.3, 0.1])
    (chunk,) = estimate_chunks(scores, Calibration(), np.array([0]))
    assert (chunk["tp"], chunk["fp"]) == pytest.approx((1.5, 0.5))
    assert (chunk["fn"], chunk["tn"]) == pytest.approx((0.4, 1.6))
    assert chunk["f1"] == pytest.approx(3.0 / (3.0 + 0.9))


def test_realized_chunks_equal_scikit_learn_chunk_by_chunk():
    rng = np.random.default_rng(3)
    scores = rng.random(1000)
    truth = (rng.random(1000) < scores).astype(float)
    starts = chunk_starts_by_rows(1000, 300)
    chunks = realized_chunks(scores, truth, starts)
    assert [c["rows"] for c in chunks] == [300, 300, 300, 100]
    for chunk, start in zip(chunks, starts, strict=True):
        part = slice(start, start + chunk["rows"])
        predicted = scores[part] > 0.5
        assert chunk["f1"] == pytest.approx(f1_score(truth[part], predicted))
        assert chunk["recall"] == pytest.approx(recall_score(truth[part], predicted))
        assert chunk["roc_auc"] == pytest.approx(roc_auc_score(truth[part], scores[part]))


def test_ties_in_scores_are_one_step_of_the_roc_curve_as_in_scikit_learn():
    scores = np.array([0.7, 0.7, 0.7, 0.2, 0.2, 0.9])
    truth = np.array([1, 0, 1, 0, 1, 1], dtype=float)
    (chunk,) = realized_chunks(scores, truth, np.array([0]))
    assert chunk["roc_auc"] == pytest.approx(roc_auc_score(truth, scores))


def test_one_class_has_no_roc_auc_and_no_division_by_zero():
    (chunk,) = estimate_chunks(np.array([0.1, 0.2]), Calibration(), np.array([0]))
    assert math.isnan(chunk["precision"]) and chunk["recall"] == 0.0
    (realized,) = realized_chunks(np.array([0.1, 0.2]), np.array([0.0, 0.0]), np.array([0]))
    assert math.isnan(realized["roc_auc"]) and realized["f1"] == 0.0


def test_calibration_is_used_when_it_lowers_the_error_and_not_otherwise():
    rng = np.random.default_rng(0)
    true_p = rng.random(5000)
    truth = (rng.random(5000) < true_p).astype(float)
    overconfident = np.clip(0.5 + 1.8 * (true_p - 0.5), 0.0, 1.0)
    fitted = fit_calibration(overconfident, truth)
    assert fitted.used
    assert calibration_error(fitted.apply(overconfident), truth) < calibration_error(
        overconfident, truth
    )
    assert not fit_calibration(np.full(100, 0.5), np.zeros(100)).used, "one class: none"


def test_the_band_of_a_size_covers_the_reference_estimate_and_narrows_with_size():
    rng = np.random.default_rng(1)
    scores = rng.random(20_000)
    small = reference_band(scores, Calibration(), 200)
    large = reference_band(scores, Calibration(), 5000)
    (whole,) = estimate_chunks(scores, Calibration(), np.array([0]))
    for band in (small, large):
        assert band["f1"][0] < whole["f1"] < band["f1"][1]
    assert large["f1"][1] - large["f1"][0] < small["f1"][1] - small["f1"][0]
    assert reference_band(scores, Calibration(), 200) == small, "seeded"


def test_chunks_by_period_start_where_the_day_changes():
    times = ["2026-11-01T10:00Z", "2026-11-01T23:59Z", "2026-11-02T00:00Z", "2026-11-04T08:00Z"]
    assert chunk_starts_by_period(times, "1d").tolist() == [0, 2, 3]
    assert chunk_starts_by_rows(0, 10).tolist() == []


@pytest.mark.parametrize(("period", "seconds"), [("30m", 1800), ("6h", 21600), ("1d", 86400),
                                                 (" 2W ", 1_209_600)])  # fmt: skip
def test_periods(period, seconds):
    from utils.monitoring.periods import period_seconds

    assert period_seconds(period) == seconds


@pytest.mark.parametrize("period", ["", "1", "d", "0d", "1y", "1.5h"])
def test_bad_periods_are_refused(period):
    from utils.monitoring.periods import period_seconds

    with pytest.raises(ValueError, match="is not a period"):
        period_seconds(period)
