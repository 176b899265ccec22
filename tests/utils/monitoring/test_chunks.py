"""Live monitoring's chunks: estimates, bands, drift and alerts from arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd

from utils.monitoring.chunks import Reference, Stream, monitor_stream


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
        assert "estimated F1 below the threshold 0.6000" in chunk["alert_reasons"]
        assert "estimated F1 below the threshold 0.6000" in chunk["alert_reasons"]
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


def test_labels_join_by_id_to_the_latest_prediction_or_by_request_id():
    from utils.monitoring.chunks import join_labels

    log = pd.DataFrame(
        {
            "request_id": ["r1", "r1", "r2", "r3"],
            "cid": ["a", "b", "a", "c"],
            "time": pd.to_datetime(["2026-11-01", "2026-11-01", "2026-11-02", "2026-11-03"]),
        }
    )
    by_id = pd.DataFrame({"cid": ["a", "c", "zz"], "y": ["1", "0", "1"]})
    truth, counts = join_labels(log, by_id, ["cid"], "y")
    assert np.isnan(truth[0]) and truth[2] == 1.0, "the latest prediction of id a"
    assert truth[3] == 0.0 and np.isnan(truth[1])
    assert counts == {"rows": 3, "matched": 2, "unmatched": 1, "duplicates": 0}
    by_request = pd.DataFrame({"request_id": ["r1"], "cid": ["a"], "y": ["0"]})
    truth, counts = join_labels(log, by_request, ["cid"], "y")
    assert truth[0] == 0.0 and np.isnan(truth[2]) and counts["matched"] == 1
    truth, counts = join_labels(log, pd.DataFrame({"other": [1]}), ["cid"], "y")
    assert counts == {"rows": 1, "matched": 0, "unmatched": 1, "duplicates": 0}


def test_realized_figures_are_scikit_learns_on_the_labelled_rows_of_each_chunk():
    from sklearn.metrics import f1_score

    ref_x, ref_p, ref_y = population(5000, 0.0, 1)
    reference = Reference.build(ref_p, ref_y, ref_x)
    x, p, y = population(2000, 0.0, 5)
    truth = y.copy()
    truth[::3] = np.nan  # a third of the labels never arrived
    chunks = monitor_stream(Stream("log", x, p, truth=truth), reference, 1000, None, None, {})
    for chunk, start in zip(chunks, (0, 1000), strict=True):
        part = slice(start, start + 1000)
        known = ~np.isnan(truth[part])
        assert chunk["labelled_rows"] == known.sum()
        expected = f1_score(y[part][known], p[part][known] > 0.5)
        assert abs(chunk["realized"]["f1"] - expected) < 1e-12


def test_each_labels_file_joins_its_own_way_and_a_later_file_wins():
    from utils.monitoring.chunks import join_all_labels

    rows = pd.DataFrame({"request_id": ["r1", "r2", None], "cid": ["a", "b", "c"]})
    by_request = pd.DataFrame({"request_id": ["r1"], "y": [1.0]})
    by_id = pd.DataFrame({"cid": ["a", "c", "nobody"], "y": [0.0, 1.0, 1.0]})
    truth, counts = join_all_labels(rows, [by_request, by_id], ["cid"], "y")
    assert truth[0] == 0.0 and np.isnan(truth[1]) and truth[2] == 1.0
    assert counts == {"rows": 4, "matched": 3, "unmatched": 1, "duplicates": 0}
    truth, counts = join_all_labels(pd.DataFrame(), [by_id], ["cid"], "y")
    assert len(truth) == 0 and counts == {"rows": 3, "matched": 0, "unmatched": 3, "duplicates": 0}


def test_a_chunk_names_the_versions_that_answered_its_rows():
    ref_x, ref_p, ref_y = population(5000, 0.0, 1)
    reference = Reference.build(ref_p, ref_y, ref_x)
    x, p, _ = population(400, 0.0, 6)
    versions = pd.Series(["1"] * 300 + ["2"] * 100)
    chunks = monitor_stream(Stream("log", x, p, versions=versions), reference, 200, None, None, {})
    assert [c["served_versions"] for c in chunks] == [["1"], ["1", "2"]]
    (batch,) = monitor_stream(Stream("batch.csv", x, p), reference, 400, None, None, {})
    assert batch["served_versions"] == []


def test_a_missing_key_never_joins_however_it_is_written():
    from utils.monitoring.chunks import join_labels

    log = pd.DataFrame({"cid": ["a", None, np.nan, "", " ", "nan"]})
    labels = pd.DataFrame({"cid": ["", " ", "None", "nan", "a"], "y": ["1", "1", "1", "0", "1"]})
    truth, counts = join_labels(log, labels, ["cid"], "y")
    # Only the ids written as text join: "a", and a logged id that is the text "nan".
    assert truth[0] == 1.0 and truth[5] == 0.0 and np.isnan(truth[1:5]).all()
    assert counts == {"rows": 5, "matched": 2, "unmatched": 3, "duplicates": 0}


def test_a_row_labelled_twice_alike_counts_once_not_as_unmatched():
    from utils.monitoring.chunks import join_labels

    log = pd.DataFrame({"cid": ["a", "b"]})
    labels = pd.DataFrame({"cid": ["a", "a", "b"], "y": ["1", "1", "0"]})
    truth, counts = join_labels(log, labels, ["cid"], "y")
    assert truth.tolist() == [1.0, 0.0]
    assert counts == {"rows": 3, "matched": 2, "unmatched": 0, "duplicates": 1}


def test_every_chunk_has_a_time_its_last_row_or_when_its_file_arrived():
    ref_x, ref_p, ref_y = population(5000, 0.0, 1)
    reference = Reference.build(ref_p, ref_y, ref_x)
    x, p, _ = population(400, 0.0, 6)
    times = pd.Series(pd.date_range("2026-12-01", periods=400, freq="min", tz="UTC"))
    logged = monitor_stream(Stream("log", x, p, times=times), reference, 200, None, None, {})
    assert [c["ended_at"] for c in logged] == [
        "2026-12-01T03:19:00+00:00",
        "2026-12-01T06:39:00+00:00",
    ]
    arrived = "2026-12-02T10:00:00+00:00"
    batch = monitor_stream(Stream("b.csv", x, p, handed_in=arrived), reference, 200, None, None, {})
    assert [c["ended_at"] for c in batch] == [arrived, arrived]
    assert [c["end"] for c in batch] == [199, 399], "a batch's rows are still counted by position"


def test_the_newest_chunks_rows_are_kept_with_their_probability_and_sampled_when_many(monkeypatch):
    from utils.automation.monitor import newest_chunks_rows
    from utils.monitoring import chunks

    x, p, _ = population(450, 0.0, 6)
    rows = chunks.newest_rows(Stream("log", x, p), 200, None)
    assert len(rows) == 50 and (rows["probability"].to_numpy() == p[400:]).all()
    assert (rows[list(x.columns)].to_numpy() == x.iloc[400:].to_numpy()).all()
    monkeypatch.setattr(chunks, "RECENT_MAX_ROWS", 20)
    sampled = chunks.newest_rows(Stream("log", x, p), 200, None)
    assert len(sampled) == 20 and sampled.equals(chunks.newest_rows(Stream("log", x, p), 200, None))
    early = Stream("a.csv", x, p, handed_in="2026-12-01T00:00:00+00:00")
    late = Stream("b.csv", x.iloc[:10], p[:10], handed_in="2026-12-02T00:00:00+00:00")
    both = newest_chunks_rows([Stream("log", x, p)], [late, early], 200, None)
    assert both["source"].value_counts().to_dict() == {"traffic": 20, "batch": 10}
    assert newest_chunks_rows([], [], 200, None) is None


def test_a_decorrelated_batch_is_flagged_jointly_while_no_feature_drifts_alone():
    from test_multivariate import FEATURES, population

    from conftest import ROOT
    from utils.config import load_project_config

    drift = load_project_config(ROOT, []).drift.as_dict()
    numeric = [f for f in FEATURES if f != "kind"]
    trained_on = population(4000, 1)[numeric]
    reference = Reference.build(np.full(4000, 0.5), np.ones(4000), trained_on)
    for batch, joint in [
        (population(3000, 2, correlation=0.0), True),
        (population(3000, 3), False),
    ]:
        features = batch[numeric]
        (chunk,) = monitor_stream(
            Stream("b.csv", features, np.full(3000, 0.5)), reference, 3000, None, None, drift
        )
        assert chunk["drifted_features"] == []
        assert chunk["multivariate"]["drift"] is joint
        assert (chunk["multivariate"]["contributors"][:2] in (["n1", "n2"], ["n2", "n1"])) is joint
        assert 0 < chunk["multivariate"]["p_value"] <= 1
