"""The prediction log: what a request appends is what a segment holds, one schema a segment."""

from __future__ import annotations

import numpy as np

from utils.api.serving import ids_from_json
from utils.monitoring.prediction_log import LoggedRequest, PredictionLog, read_segments, segments

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


def _day_of(path):
    return path.parent.name


def test_a_finished_day_becomes_one_file_with_the_same_rows(tmp_path):
    from datetime import UTC, datetime, timedelta

    from utils.monitoring.prediction_log import COMPACT_AFTER, compact, days_to_compact

    log = PredictionLog(tmp_path)
    for name in ("r1", "r2", "r3"):
        log._pending.append(logged(name))
        log.flush()
    before = read_segments(segments(tmp_path)).sort("request_id")
    day = _day_of(segments(tmp_path)[0])
    end_of_day = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(days=1)
    assert days_to_compact(tmp_path, end_of_day) == [], "a flush may still be writing"
    assert compact(tmp_path, end_of_day) == []
    (written,) = compact(tmp_path, end_of_day + COMPACT_AFTER)
    assert written == tmp_path / f"{day}.parquet" and not (tmp_path / day).exists()
    assert segments(tmp_path) == [written]
    after = read_segments(segments(tmp_path)).sort("request_id")
    assert after.equals(before), "same rows, each with the name of the segment it came in"
    assert compact(tmp_path, end_of_day + COMPACT_AFTER) == [], "done once"


def test_a_day_file_supersedes_a_folder_a_killed_compaction_left(tmp_path):
    from datetime import UTC, datetime

    from utils.monitoring.prediction_log import compact

    log = PredictionLog(tmp_path)
    log._pending.append(logged("r1", rows=1))
    (segment,) = log.flush()
    day = _day_of(segment)
    # Killed after the day file was renamed into place, before the folder was removed.
    read_segments([segment]).write_parquet(tmp_path / f"{day}.parquet")
    assert segments(tmp_path) == [tmp_path / f"{day}.parquet"], "no row twice"
    later = datetime(2100, 1, 1, tzinfo=UTC)
    assert compact(tmp_path, later) == [] and not (tmp_path / day).exists(), "cleaned up"
    assert read_segments(segments(tmp_path))["request_id"].to_list() == ["r1"]


def test_days_and_segments_come_in_time_order(tmp_path):
    for day in ("2026-11-26", "2026-11-27"):
        (tmp_path / f"{day}.parquet").write_bytes(b"")
    (tmp_path / "2026-11-28").mkdir()
    (tmp_path / "2026-11-28" / "20261128T000001-1-000001.parquet").write_bytes(b"")
    assert [p.name for p in segments(tmp_path)] == [
        "2026-11-26.parquet", "2026-11-27.parquet", "20261128T000001-1-000001.parquet",
    ]  # fmt: skip
