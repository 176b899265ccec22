import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from scipy import stats

from conftest import ROOT
from utils.monitoring.drift import (
    MONTE_CARLO_RESAMPLES,
    adjust_p_values,
    cohens_w,
    column_kind,
    compare_categories,
    compare_numeric,
    data_drift,
    ks_and_wasserstein,
    ks_p_value,
    score_drift,
    score_threshold,
)
from utils.monitoring.drift_rules import check_drift_settings, drifted_needed

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


SAMPLES = {
    "normal": lambda rng, n: rng.normal(size=n),
    "ties": lambda rng, n: rng.poisson(2.0, n).astype(float),
}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
@pytest.mark.parametrize("sizes", [(1000, 1000), (700, 1300), (5, 9), (1, 40)])
def test_ks_and_wasserstein_equal_scipy(kind, sizes):
    rng = np.random.default_rng(0)
    u, v = SAMPLES[kind](rng, sizes[0]), SAMPLES[kind](rng, sizes[1]) * 1.2 + 0.3
    statistic, distance_value = ks_and_wasserstein(np.sort(u), np.sort(v))
    assert statistic == pytest.approx(stats.ks_2samp(u, v).statistic, abs=1e-12)
    assert distance_value == pytest.approx(stats.wasserstein_distance(u, v), rel=1e-9)


@pytest.mark.parametrize("sizes", [(300, 200), (10_000, 10_000), (20_000, 1), (30_000, 700)])
def test_ks_p_value_equals_scipy_exact_and_asymptotic(sizes):
    rng = np.random.default_rng(1)
    u, v = np.sort(rng.normal(size=sizes[0])), np.sort(rng.normal(0.05, 1, size=sizes[1]))
    statistic, _ = ks_and_wasserstein(u, v)
    assert ks_p_value(statistic, u, v) == pytest.approx(stats.ks_2samp(u, v).pvalue, rel=1e-9)


def test_numeric_effect_is_the_shift_in_reference_std():
    # Two copies of the same quantiles, one moved by 0.3 std: Wasserstein / std is exactly 0.3.
    reference = stats.norm.ppf((np.arange(2000) + 0.5) / 2000) * 4.0 + 10.0
    comparison = compare_numeric(reference, reference + 0.3 * reference.std())
    assert comparison.test == "ks"
    assert comparison.effect_size == pytest.approx(0.3, rel=1e-9)


def test_constant_reference_has_no_effect_unless_the_value_moves():
    assert compare_numeric(np.zeros(5), np.zeros(3)).effect_size == 0.0
    assert compare_numeric(np.zeros(5), np.array([0.0, 1.0])).effect_size == np.inf


def test_binary_effect_is_the_share_move_in_reference_std():
    ref, cur = np.array([80.0, 20.0]), np.array([72.0, 28.0])
    assert cohens_w(ref, cur) == pytest.approx(0.08 / np.sqrt(0.2 * 0.8))


def test_cohens_w_by_hand_and_an_unseen_value_counts_as_half_an_observation():
    ref, cur = np.array([50.0, 30.0, 20.0]), np.array([40.0, 40.0, 20.0])
    assert cohens_w(ref, cur) == pytest.approx(np.sqrt(0.01 / 0.5 + 0.01 / 0.3))
    unseen = cohens_w(np.array([100.0, 0.0]), np.array([9.0, 1.0]))
    assert unseen == pytest.approx(np.sqrt(0.1**2 / 1.0 + (0.1 - 0.005) ** 2 / 0.005))


def test_categories_use_chi_square_like_scipy_and_the_z_test_for_two_values():
    reference = pd.Series([0] * 600 + [1] * 400)
    current = pd.Series([0] * 250 + [1] * 250)
    comparison = compare_categories(reference, current)
    table = np.array([[600, 400], [250, 250]])
    expected = stats.chi2_contingency(table, correction=False)
    assert comparison.test == "chi_square"
    assert comparison.statistic == pytest.approx(expected.statistic)
    assert comparison.p_value == pytest.approx(expected.pvalue)
    # For two values chi-square is the two-proportion z-test squared.
    pooled = 650 / 1500
    z = (0.4 - 0.5) / np.sqrt(pooled * (1 - pooled) * (1 / 1000 + 1 / 500))
    assert comparison.statistic == pytest.approx(z**2)


def test_small_expected_counts_get_a_seeded_monte_carlo_p_value():
    reference = pd.Series(["a"] * 900 + ["b"] * 90 + ["c"] * 10)
    current = pd.Series(["a"] * 6 + ["c"] * 4)
    first, second = compare_categories(reference, current), compare_categories(reference, current)
    assert first.test == "chi_square_monte_carlo"
    assert first.p_value == second.p_value
    assert 1 / (MONTE_CARLO_RESAMPLES + 1) <= first.p_value < 0.01
    assert first.statistic == pytest.approx(
        stats.chi2_contingency(np.array([[900, 90, 10], [6, 0, 4]]), correction=False).statistic
    )


def test_a_single_value_everywhere_is_no_difference():
    comparison = compare_categories(pd.Series(["a"] * 10), pd.Series(["a"] * 3))
    assert (comparison.p_value, comparison.effect_size) == (1.0, 0.0)


def test_adjusted_p_values_by_hand():
    p = [0.01, 0.04, 0.03, 0.005]
    assert adjust_p_values(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adjust_p_values(p, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust_p_values(p, "none") == p
    with pytest.raises(ValueError, match="unknown correction"):
        adjust_p_values(p, "bonferroni")


def test_column_kinds():
    assert column_kind(pd.Series([0, 1, 1, 0])) == "binary"
    assert column_kind(pd.Series([True, False])) == "binary"
    assert column_kind(pd.Series([1.5, 1.5])) == "binary"
    assert column_kind(pd.Series([1, 2, 3, 1, 2])) == "numeric"
    assert column_kind(pd.Series(["a", "b", "c"])) == "categorical"


def quantiles(rows: int, shift: float = 0.0) -> np.ndarray:
    """Evenly spread standard normal quantiles: samples without chance in them."""
    return stats.norm.ppf((np.arange(rows) + 0.5) / rows) + shift


# (rows a side, shift in std, min_rows) -> significant, large enough, drift
DECISIONS = [
    pytest.param(100_000, 0.05, 30, True, False, False, id="significant-but-too-small"),
    pytest.param(8, 0.5, 1, False, True, False, id="large-but-not-significant"),
    pytest.param(5_000, 0.3, 30, True, True, True, id="significant-and-large"),
    pytest.param(5_000, 0.0, 30, False, False, False, id="same-data"),
]


@pytest.mark.parametrize(("rows", "shift", "min_rows", "significant", "large", "drift"), DECISIONS)
def test_a_feature_drifts_only_when_significant_and_large_enough(
    rows, shift, min_rows, significant, large, drift
):
    reference = pd.DataFrame({"x": quantiles(rows)})
    current = pd.DataFrame({"x": quantiles(rows, shift)})
    (feature,) = data_drift(reference, current, ["x"], min_rows=min_rows).features
    assert feature.significant is significant
    assert (feature.effect_size >= 0.1) is large
    assert feature.drift is drift


def test_too_few_rows_to_tell_is_said_and_not_tested():
    reference = pd.DataFrame({"x": quantiles(1000), "y": quantiles(1000)})
    current = pd.DataFrame({"x": [9.0] * 10, "y": [9.0] * 10})
    result = data_drift(reference, current, ["x", "y"])
    assert [f.test for f in result.features] == ["none", "none"]
    assert not any(f.drift for f in result.features) and not result.dataset_drift
    assert result.tested == 0
    assert "too few rows to tell: 10 new and 1000 reference values, min_rows 30" in result.notes[0]
    assert "no feature could be tested" in result.summary()
    # With min_rows 1 the same ten rows are tested, and ten values at 9 std are drift.
    assert data_drift(reference, current, ["x", "y"], min_rows=1).dataset_drift


def test_a_column_without_values_is_noted_and_the_others_are_tested():
    reference = pd.DataFrame({"x": quantiles(500), "gone": quantiles(500)})
    current = pd.DataFrame({"x": quantiles(500, 1.0), "gone": [np.nan] * 500})
    result = data_drift(reference, current, ["x", "gone"])
    assert result.notes == ["gone: no values to compare in the new data"]
    assert (result.tested, result.drifted, result.dataset_drift) == (1, 1, True)


@pytest.mark.parametrize("side", ["reference", "current"])
def test_infinite_values_are_refused_not_read_as_no_drift(side):
    frames = {
        "reference": pd.DataFrame({"x": quantiles(100)}),
        "current": pd.DataFrame({"x": quantiles(100)}),
    }
    frames[side].loc[3, "x"] = np.inf
    with pytest.raises(ValueError, match=rf"{side} column 'x' has 1 infinite value"):
        data_drift(frames["reference"], frames["current"], ["x"])


# (tested features, drift_share, drift_count) -> drifted features needed for data set drift
NEEDED = [
    (3, 0.3, None, 1),
    (10, 0.3, None, 3),
    (4, 0.3, None, 2),
    (2, 0.5, None, 1),
    (3, 1.0, None, 3),
    (1, 0.3, None, 1),
    (0, 0.3, None, 1),
    (10, 0.3, 1, 1),
    (3, 0.3, 5, 5),
]


@pytest.mark.parametrize(("tested", "share", "count", "needed"), NEEDED)
def test_drifted_features_needed(tested, share, count, needed):
    assert drifted_needed(tested, share, count) == needed


def test_one_clearly_drifting_feature_of_three_is_data_set_drift_by_default():
    features = ["a", "b", "c"]
    reference = pd.DataFrame({name: quantiles(2000) for name in features})
    current = pd.DataFrame({"a": quantiles(2000, 0.5), "b": quantiles(2000), "c": quantiles(2000)})
    result = data_drift(reference, current, features, **config_drift_settings())
    assert (result.drifted, result.needed, result.dataset_drift) == (1, 1, True)
    assert result.summary() == "data drift (1 of 3 features drifted, 1 needed)"


def config_drift_settings() -> dict:
    """config.yaml's per-feature drift keys (its multivariate section has its own test)."""
    drift = dict(OmegaConf.to_container(OmegaConf.load(ROOT / "config.yaml"))["drift"])
    drift.pop("multivariate")
    return drift


def test_every_key_of_the_drift_section_is_a_keyword_of_data_drift_or_multivariate_drift():
    import inspect

    from utils.monitoring.multivariate import multivariate_drift

    frame = pd.DataFrame({"x": quantiles(100)})
    result = data_drift(frame, frame, ["x"], **config_drift_settings())
    assert result.p_threshold == 0.05 and result.min_effect == 0.1
    section = OmegaConf.to_container(OmegaConf.load(ROOT / "config.yaml"))["drift"]
    keywords = set(inspect.signature(multivariate_drift).parameters)
    assert set(section["multivariate"]) - {"enabled"} <= keywords


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("p_threshold", 0.0),
        ("p_threshold", 1.5),
        ("min_effect", -0.1),
        ("min_effect", float("inf")),
        ("correction", "bonferroni"),
        ("drift_share", 0.0),
        ("drift_share", 1.2),
        ("drift_count", 0),
        ("min_rows", 0),
    ],
)
def test_settings_out_of_range_name_the_key(key, value):
    with pytest.raises(ValueError, match=rf"^{key}: "):
        check_drift_settings(**{**config_drift_settings(), key: value})
    frame = pd.DataFrame({"x": quantiles(100)})
    with pytest.raises(ValueError, match=rf"^{key}: "):
        data_drift(frame, frame, ["x"], **{key: value})


def test_the_log_line_shows_test_significance_effect_and_verdict():
    reference = pd.DataFrame({"x": quantiles(5000)})
    result = data_drift(reference, pd.DataFrame({"x": quantiles(5000, 0.3)}), ["x"])
    line = result.features[0].describe(result.p_threshold, result.min_effect)
    assert line.startswith("x (numeric): ks ")
    assert "corrected" in line and "< 0.05" in line
    assert "effect 0.300 std (>= 0.1): drift" in line


def test_a_million_unshifted_rows_are_not_flagged():
    rng = np.random.default_rng(5)
    columns = [f"x{i}" for i in range(10)]
    reference = pd.DataFrame(rng.normal(size=(1_000_000, 10)), columns=columns)
    current = pd.DataFrame(rng.normal(size=(1_000_000, 10)), columns=columns)
    result = data_drift(reference, current, columns)
    assert not any(f.drift for f in result.features)
    assert not result.dataset_drift
