"""Multivariate drift (utils/monitoring/multivariate.py): joint shifts no single feature shows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from utils.monitoring.drift import data_drift
from utils.monitoring.drift_rules import check_multivariate_settings
from utils.monitoring.multivariate import multivariate_drift

FEATURES = ["n1", "n2", "n3", "skewed", "counts", "flag", "kind"]


def population(rows: int, seed: int, correlation: float = 0.8) -> pd.DataFrame:
    """Two normal features correlated as given, and a mix of the other kinds."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(rows, 2))
    return pd.DataFrame(
        {
            "n1": z[:, 0],
            "n2": correlation * z[:, 0] + np.sqrt(1 - correlation**2) * z[:, 1],
            "n3": rng.normal(5, 2, rows),
            "skewed": rng.lognormal(0, 1, rows),
            "counts": rng.poisson(3, rows).astype(float),
            "flag": (rng.random(rows) < 0.3).astype(float),
            "kind": rng.choice(["a", "b", "c"], rows, p=[0.5, 0.3, 0.2]),
        }
    )


def test_a_correlation_break_is_flagged_while_every_feature_alone_is_not():
    reference, broken = population(2000, 1), population(2000, 2, correlation=0.0)
    joint = multivariate_drift(reference, broken, FEATURES)
    assert joint.drifted and joint.statistic > 0.6 and joint.p_value < 1e-6
    assert {name for name, _ in joint.contributors[:2]} == {"n1", "n2"}
    per_feature = data_drift(reference, broken, FEATURES)
    assert not any(f.drift for f in per_feature.features)


def test_the_same_population_is_not_flagged():
    joint = multivariate_drift(population(2000, 1), population(2000, 3), FEATURES)
    assert not joint.drifted and joint.contributors == []
    assert 0.4 < joint.statistic < 0.6 and joint.p_value > 0.05
    assert "no multivariate drift (AUC" in joint.summary()


def test_significant_but_small_is_not_drift():
    """The effect rule: a tiny shift on a million rows is significant, not a drift."""
    reference = population(50_000, 1)
    shifted = population(50_000, 4).assign(n3=lambda f: f["n3"] + 0.2)
    joint = multivariate_drift(reference, shifted, FEATURES, min_auc=0.55)
    assert joint.p_value < 0.05 and joint.statistic < 0.55 and not joint.drifted


def test_missing_values_and_categories_count():
    reference, current = population(3000, 1), population(3000, 5)
    current.loc[current.sample(frac=0.3, random_state=0).index, "n3"] = np.nan
    joint = multivariate_drift(reference, current, FEATURES)
    assert joint.drifted and joint.contributors[0][0] == "n3"
    recoded = population(3000, 6).assign(kind="c")
    joint = multivariate_drift(reference, recoded, FEATURES)
    assert joint.drifted and joint.contributors[0][0] == "kind"


def test_each_side_is_sampled_beyond_max_rows_and_the_same_seed_gives_the_same_answer():
    reference, current = population(3000, 1), population(500, 2, correlation=0.0)
    joint = multivariate_drift(reference, current, FEATURES, max_rows=1000, seed=7)
    assert (joint.reference_rows, joint.current_rows) == (1000, 500)
    assert joint == multivariate_drift(reference, current, FEATURES, max_rows=1000, seed=7)


def test_too_few_rows_is_said_not_guessed():
    at_limit = multivariate_drift(population(60, 1), population(60, 2), FEATURES, min_rows=30)
    assert at_limit.statistic is not None
    below = multivariate_drift(population(60, 1), population(59, 2), FEATURES, min_rows=30)
    assert below.statistic is None and not below.drifted
    assert "too few rows to tell: 59 new and 60 reference rows" in below.summary()


@pytest.mark.parametrize(
    ("key", "value", "ok"),
    [
        ("min_auc", 0.5, True), ("min_auc", 0.4999, False), ("min_auc", 1.0, False),
        ("max_rows", 100, True), ("max_rows", 99, False),
        ("seed", 0, True), ("seed", -1, False),
    ],
)  # fmt: skip
def test_settings_are_checked_at_their_limits(key, value, ok):
    settings = {"min_auc": 0.55, "max_rows": 50_000, "seed": 0, key: value}
    if ok:
        check_multivariate_settings(**settings)
    else:
        with pytest.raises(ValueError, match=f"multivariate.{key}: "):
            check_multivariate_settings(**settings)


# (correction, the features' p-values, drifted): the joint test's p is 0.01, its AUC 0.6.
FAMILY = [
    ("none", [0.5] * 10, True),  # alone at its nominal level
    ("holm", [0.5] * 10, False),  # smallest of 11: 11 x 0.01 = 0.11
    ("holm", [1e-9] * 10, True),  # largest of 11: Holm's last step, 1 x 0.01
    ("holm", [1e-9] * 5 + [0.5] * 5, False),  # sixth smallest: 6 x 0.01 = 0.06
    ("holm", [1e-9] * 6 + [0.5] * 4, False),  # seventh: 5 x 0.01 = 0.05, not below 0.05
    ("holm", [1e-9] * 7 + [0.5] * 3, True),  # eighth: 4 x 0.01 = 0.04
    ("bh", [0.5] * 10, False),  # 11 x 0.01 / 1 = 0.11
    ("bh", [0.001] * 10, True),  # rank 11 of 11: 0.01
    ("holm", [], True),  # no feature tested: a family of one
]


@pytest.mark.parametrize(("correction", "family", "drifted"), FAMILY)
def test_the_joint_test_is_corrected_as_one_more_member_of_the_features_family(
    monkeypatch, correction, family, drifted
):
    from utils.monitoring import multivariate

    monkeypatch.setattr(multivariate, "_auc_and_p", lambda current, reference: (0.6, 0.01))
    joint = multivariate_drift(
        population(200, 1), population(200, 2), FEATURES, correction=correction,
        family_p_values=family,
    )  # fmt: skip
    assert joint.p_value == 0.01
    assert joint.drifted is drifted
    assert (joint.adjusted_p_value < 0.05) is drifted


def test_configured_drift_takes_the_features_p_values_from_their_result():
    from utils.monitoring.multivariate import configured_drift

    joint_settings = {"enabled": True, "min_auc": 0.55, "max_rows": 50_000, "seed": 0}
    settings = {"p_threshold": 0.05, "correction": "holm", "min_rows": 30,
                "multivariate": joint_settings}  # fmt: skip
    reference, broken = population(2000, 1), population(2000, 2, correlation=0.0)
    per_feature = data_drift(reference, broken, FEATURES)
    joint = configured_drift(reference, broken, FEATURES, settings, per_feature)
    assert joint.drifted and joint.adjusted_p_value >= joint.p_value
    off = {**settings, "multivariate": {**settings["multivariate"], "enabled": False}}
    assert configured_drift(reference, broken, FEATURES, off, per_feature) is None
