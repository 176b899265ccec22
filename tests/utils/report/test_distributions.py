"""The report's distribution plots (utils/report/distributions.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from utils.report.distributions import (
    Distributions,
    features_png,
    newest_recent,
    ordered,
    probabilities_png,
)

PNG = b"\x89PNG"


def test_drifted_features_come_first_in_the_models_order():
    assert ordered(["a", "b", "c", "d"], frozenset({"d", "b"})) == ["b", "d", "a", "c"]
    assert ordered(["a", "b"], frozenset()) == ["a", "b"]


def monitoring(traffic_end: str, batch_end: str) -> dict:
    return {
        "chunks": [
            {"source": "prediction log: s1", "ended_at": traffic_end, "drifted_features": []},
            {"source": "b.csv", "ended_at": batch_end, "drifted_features": ["a"]},
        ]
    }


def recent() -> pd.DataFrame:
    return pd.DataFrame(
        {"a": [1.0, 2.0, 3.0], "probability": [0.1, 0.5, 0.9],
         "source": ["traffic", "batch", "batch"]}
    )  # fmt: skip


def test_the_newer_of_the_newest_chunks_is_shown_with_its_drifted_features():
    rows, label, drifted = newest_recent(
        monitoring("2026-12-01T10:00:00+00:00", "2026-12-02T10:00:00+00:00"), recent()
    )
    assert list(rows["a"]) == [2.0, 3.0] and "source" not in rows
    assert label == "newest batch chunk (2 rows, to 2026-12-02 10:00)"
    assert drifted == frozenset({"a"})
    rows, label, drifted = newest_recent(
        monitoring("2026-12-03T10:00:00+00:00", "2026-12-02T10:00:00+00:00"), recent()
    )
    assert list(rows["a"]) == [1.0] and label.startswith("newest traffic chunk (1 rows")
    assert drifted == frozenset()


def test_no_rows_kept_or_no_monitoring_shows_no_recent():
    assert newest_recent(None, recent())[0] is None
    assert newest_recent(monitoring("2026-12-01", "2026-12-02"), None)[0] is None
    only_traffic = recent()[recent()["source"] == "traffic"]
    rows, label, _ = newest_recent(monitoring("2026-12-01", "2026-12-02"), only_traffic)
    assert len(rows) == 1 and "traffic" in label, "a source whose rows were not kept is skipped"


def test_every_kind_of_feature_is_drawn_with_and_without_recent_rows():
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {
            "normal": rng.normal(size=500),
            "skewed": rng.lognormal(size=500),
            "binary": rng.integers(0, 2, 500).astype(float),
            "constant": np.ones(500),
            "with_gaps": np.where(rng.random(500) < 0.2, np.nan, rng.normal(size=500)),
        }
    )
    recent_rows = reference.sample(100, random_state=1).assign(probability=rng.random(100))
    features = list(reference.columns)
    drawn = Distributions(reference, recent_rows, "newest chunk", features, frozenset({"binary"}),
                          [5] * 20)  # fmt: skip
    assert features_png(drawn).startswith(PNG) and probabilities_png(drawn).startswith(PNG)
    alone = Distributions(reference, None, "", features, frozenset(), [])
    assert features_png(alone).startswith(PNG) and probabilities_png(alone).startswith(PNG)
    empty = Distributions(reference.iloc[:0], None, "", ["normal"], frozenset(), [])
    assert features_png(empty).startswith(PNG)
