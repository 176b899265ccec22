"""The prediction log: what a request appends is what a segment holds, one schema a segment."""

from __future__ import annotations

import numpy as np

from utils.prediction_log import LoggedRequest, PredictionLog, read_segments, segments
from utils.serving import ids_from_json

FEATURES = ("a", "b")


def logged(request_id, version="1", rows=2, ids=None, features=FEATURES):
    matrix = np.arange(rows * len(features), dtype=float).reshape(rows, len(features))
    return LoggedRequest(
        request_id, version, features, matrix, [0.25] * rows, [0] * rows, ids or {}
    )


def test_a_flush_writes_what_was_appended(tmp_path):
    log = PredictionLog(tmp_path)
    log._flusher_pid = -1  # noqa: SLF001 - no background thread in this test
    log._pending += [logged("r1", ids={"cid": ["x", "y"]}), logged("r2", rows=1)]
    (segment,) = log.flush()
    frame = read_segments(segments(tmp_path))
    assert segments(tmp_path) == [segment]
    assert frame["request_id"].to_list() == ["r1", "r1", "r2"]
    assert frame["cid"].to_list() == ["x", "y", None]
    assert frame["a"].to_list() == [0.0, 2.0, 0.0] and frame["probability"].to_list() == [0.25] * 3
    assert frame["prediction"].to_list() == [0, 0, 0]
    assert frame["model_version"].unique().to_list() == ["1"]
    assert str(frame.schema["time"]) == "Datetime(time_unit='us', time_zone='UTC')"
    assert log.flush() == [], "nothing pending, nothing written"


def test_each_model_and_feature_set_gets_its_own_segment(tmp_path):
    log = PredictionLog(tmp_path)
    log._pending += [logged("r1"), logged("r2", version="2", features=("a", "b", "c"))]
    assert len(log.flush()) == 2
    frame = read_segments(segments(tmp_path))
    assert sorted(frame["model_version"].unique().to_list()) == ["1", "2"]
    assert frame.filter(frame["model_version"] == "1")["c"].to_list() == [None, None]


def test_unfinished_segments_are_not_read(tmp_path):
    (tmp_path / "2026-11-28").mkdir()
    (tmp_path / "2026-11-28" / ".x.parquet.tmp").write_bytes(b"half")
    assert segments(tmp_path) == [] and segments(tmp_path / "none") == []


def test_ids_from_every_json_form():
    records = [{"a": 1, "b": 2, "cid": 7}, {"a": 1, "b": 2}]
    assert ids_from_json(records, ["cid"]) == {"cid": ["7", None]}
    assert ids_from_json({"instances": records}, ["cid"]) == {"cid": ["7", None]}
    assert ids_from_json([[1, 2]], ["cid"]) == {}
    split = {"dataframe_split": {"columns": ["cid", "a", "b"], "data": [["x", 1, 2]]}}
    assert ids_from_json(split, ["cid"]) == {"cid": ["x"]}
    assert ids_from_json(records, []) == {}
