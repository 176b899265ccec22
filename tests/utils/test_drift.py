import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from utils.drift import (
    adjust_p_values,
    column_kind,
    data_drift,
    score_drift,
    score_threshold,
    wasserstein,
)

HISTORY = [0.70, 0.72, 0.74, 0.76, 0.78]


def test_raw_compares_with_the_deployed_score():
    assert score_drift(0.69, 0.70, []).drift
    assert not score_drift(0.70, 0.70, []).drift
    assert score_drift(0.69, 0.70, []).threshold == 0.70


def test_parametric_by_hand():
    # mean 0.74, population std sqrt(0.0008) = 0.0282843; threshold 0.74 - 2 * 0.0282843
    assert score_threshold("parametric", 0.9, HISTORY) == pytest.approx(0.6834315, abs=1e-7)
    result = score_drift(0.68, 0.9, HISTORY, method="parametric")
    assert result.method == "parametric" and result.drift
    assert not score_drift(0.69, 0.9, HISTORY, method="parametric").drift
    assert score_threshold("parametric", 0.9, HISTORY, k=1) == pytest.approx(0.7117157, abs=1e-7)


def test_nonparametric_by_hand():
    # Q1 0.72, Q3 0.76, IQR 0.04: threshold 0.72 - 0.06 = 0.66
    assert score_threshold("nonparametric", 0.9, HISTORY) == pytest.approx(0.66)
    assert score_drift(0.65, 0.9, HISTORY, method="nonparametric").drift
    assert not score_drift(0.67, 0.9, HISTORY, method="nonparametric").drift


def test_too_little_history_falls_back_to_raw_and_says_so():
    result = score_drift(0.6, 0.7, [0.7, 0.71], method="parametric", min_history=5)
    assert result.method == "raw" and result.drift
    assert "fell back to raw" in result.note


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown score drift method"):
        score_threshold("magic", 0.5, HISTORY)


@pytest.mark.parametrize("sizes", [(1000, 1000), (700, 1300), (5, 9)])
def test_wasserstein_equals_scipy(sizes):
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=sizes[0]), rng.normal(0.3, 1.2, size=sizes[1])
    assert wasserstein(u, v) == pytest.approx(stats.wasserstein_distance(u, v), rel=1e-9)


def test_adjusted_p_values_by_hand():
    p = [0.01, 0.04, 0.03, 0.005]
    assert adjust_p_values(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adjust_p_values(p, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust_p_values(p, "none") == p


def test_column_kinds():
    assert column_kind(pd.Series([0, 1, 1, 0])) == "binary"
    assert column_kind(pd.Series([1, 2, 3, 1, 2])) == "categorical"
    assert column_kind(pd.Series(["a", "b", "c"])) == "categorical"
    assert column_kind(pd.Series(range(10))) == "numeric"


def frame(rng, rows, shift=0.0, columns=4):
    data = {f"x{i}": rng.normal(shift if i < 2 else 0.0, 1.0, rows) for i in range(columns)}
    data["flag"] = rng.integers(0, 2, rows)
    data["level"] = rng.integers(0, 4, rows)
    return pd.DataFrame(data)


FEATURES = ["x0", "x1", "x2", "x3", "flag", "level"]


def test_small_samples_use_p_value_tests_matching_scipy():
    rng = np.random.default_rng(1)
    reference, current = frame(rng, 800), frame(rng, 500, shift=1.0)
    result = data_drift(reference, current, FEATURES)
    by_name = {f.feature: f for f in result.features}
    assert [by_name[n].test for n in FEATURES] == ["ks"] * 4 + ["z", "chi_square"]
    expected = stats.ks_2samp(reference["x0"], current["x0"]).pvalue
    assert by_name["x0"].p_value == pytest.approx(expected)
    assert by_name["x0"].drift and by_name["x1"].drift
    assert not by_name["x2"].drift and not by_name["flag"].drift
    assert result.correction == "holm"
    assert result.share_drifted == pytest.approx(2 / 6) and not result.dataset_drift


def test_chi_square_and_z_test_match_scipy():
    rng = np.random.default_rng(2)
    reference, current = frame(rng, 600), frame(rng, 600)
    by_name = {f.feature: f for f in data_drift(reference, current, FEATURES).features}
    table = pd.crosstab(
        np.r_[np.zeros(600), np.ones(600)], np.r_[reference["level"], current["level"]]
    )
    assert by_name["level"].p_value == pytest.approx(stats.chi2_contingency(table)[1])
    counts = np.array([reference["flag"].sum(), current["flag"].sum()])
    z = stats.norm.isf(by_name["flag"].p_value / 2)
    pooled = counts.sum() / 1200
    expected_z = abs(counts[0] / 600 - counts[1] / 600) / np.sqrt(pooled * (1 - pooled) * 2 / 600)
    assert z == pytest.approx(expected_z, rel=1e-6)


def test_large_samples_use_distances():
    rng = np.random.default_rng(3)
    reference, current = frame(rng, 5000), frame(rng, 4000, shift=0.5)
    result = data_drift(reference, current, FEATURES)
    by_name = {f.feature: f for f in result.features}
    assert by_name["x0"].test == "wasserstein_normed" and by_name["level"].test == "jensen_shannon"
    ref = reference["x0"].to_numpy()
    assert by_name["x0"].statistic == pytest.approx(
        stats.wasserstein_distance(ref, current["x0"]) / np.std(ref)
    )
    shares = [
        reference["level"].value_counts(normalize=True).sort_index(),
        current["level"].value_counts(normalize=True).sort_index(),
    ]
    assert by_name["level"].statistic == pytest.approx(distance.jensenshannon(*shares))
    assert by_name["x0"].drift and by_name["x1"].drift and not by_name["x2"].drift


def test_half_the_features_drifting_is_data_set_drift():
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({f"x{i}": rng.normal(size=3000) for i in range(4)})
    current = pd.DataFrame({f"x{i}": rng.normal(0.5 if i < 2 else 0, 1, 3000) for i in range(4)})
    assert data_drift(reference, current, [f"x{i}" for i in range(4)]).dataset_drift


def test_a_million_unshifted_rows_are_not_flagged():
    rng = np.random.default_rng(5)
    columns = [f"x{i}" for i in range(10)]
    reference = pd.DataFrame(rng.normal(size=(1_000_000, 10)), columns=columns)
    current = pd.DataFrame(rng.normal(size=(1_000_000, 10)), columns=columns)
    result = data_drift(reference, current, columns)
    assert not any(f.drift for f in result.features)
    assert not result.dataset_drift
