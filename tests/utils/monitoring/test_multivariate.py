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
