"""Live monitoring's chunks: estimates, bands, drift and alerts from arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd

from utils.monitoring import Reference, Stream, monitor_stream


def population(rows, shift, seed):
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.normal(shift, 1.0, rows), "b": rng.normal(0.0, 1.0, rows)})
    p = 1 / (1 + np.exp(-(2 * x["a"] + x["b"])))
    return x, p.to_numpy(), (rng.random(rows) < p).astype(float)


def test_a_shifted_stream_drifts_and_alerts_while_a_like_one_does_not():
    ref_x, ref_p, ref_y = population(20_000, 0.0, 1)
    reference = Reference.build(ref_p, ref_y, ref_x)
    same_x, same_p, _ = population(4000, 0.0, 2)
    moved_x, moved_p, _ = population(4000, -1.5, 3)
    settings = {"p_threshold": 0.05, "min_effect": 0.1}
    threshold = 0.6

    def chunks(name, x, p):
        return monitor_stream(Stream(name, x, p), reference, 2000, None, threshold, settings)

    same, moved = chunks("same", same_x, same_p), chunks("moved", moved_x, moved_p)
    assert [c["rows"] for c in same] == [2000, 2000] and [c["start"] for c in same] == [0, 2000]
    assert not any(c["alert"] for c in same) and not any(c["drifted_features"] for c in same)
    for chunk in moved:
        assert chunk["drifted_features"] == ["a"] and chunk["probability_drift"]
        assert chunk["alert"] and chunk["estimated"]["f1"] < threshold
        assert "estimated F1 below the threshold 0.6" in chunk["alert_reasons"]
        assert "estimated F1 below the threshold 0.6" in chunk["alert_reasons"]
        low, high = chunk["band"]["f1"]
        assert low <= same[0]["estimated"]["f1"] <= high
    assert set(moved[0]) >= {"source", "rows", "start", "end", "estimated", "band", "realized",
                             "labelled_rows", "drifted_features", "alert"}  # fmt: skip


def test_chunks_by_period_use_the_rows_times():
    ref_x, ref_p, ref_y = population(5000, 0.0, 1)
    reference = Reference.build(ref_p, ref_y, ref_x)
    x, p, _ = population(300, 0.0, 4)
    times = pd.Series(pd.date_range("2026-11-01", periods=300, freq="10min", tz="UTC"))
    stream = Stream("log", x, p, times, pd.Series(["s1"] * 150 + ["s2"] * 150))
    chunks = monitor_stream(stream, reference, 5000, "1d", None, {})
    assert [c["rows"] for c in chunks] == [144, 144, 12]
    assert chunks[0]["start"].startswith("2026-11-01T00:00") and chunks[0]["source"] == "log: s1"
    assert chunks[1]["source"] == "log: s1 .. s2"
