"""The prediction log: what a request appends is what a segment holds, one schema a segment."""

from __future__ import annotations

import numpy as np
import pytest

from utils.api.serving import ids_from_json
from utils.monitoring.prediction_log import LoggedRequest, PredictionLog, read_segments, segments

FEATURES = ("a", "b")


def logged(request_id, version="1", rows=2, ids=None, features=FEATURES, as_lists=False):
    matrix = np.arange(rows * len(features), dtype=float).reshape(rows, len(features))
    if as_lists:  # as the API passes a request of a few values
        matrix = matrix.tolist()
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


@pytest.mark.parametrize("lists", [(True, True), (True, False), (False, True)])
def test_rows_as_lists_or_a_matrix_write_the_same_segment(tmp_path, lists):
    log = PredictionLog(tmp_path / "lists")
    log._pending += [logged("r1", as_lists=lists[0]), logged("r2", rows=1, as_lists=lists[1])]
    log.flush()
    reference = PredictionLog(tmp_path / "arrays")
    reference._pending += [logged("r1"), logged("r2", rows=1)]
    reference.flush()
    columns = ["request_id", "model_version", "a", "b", "probability", "prediction"]
    written = read_segments(segments(tmp_path / "lists")).select(columns)
    assert written.equals(read_segments(segments(tmp_path / "arrays")).select(columns))
    assert written["a"].to_list() == [0.0, 2.0, 0.0] and written["b"].to_list() == [1.0, 3.0, 1.0]


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


def test_days_and_segments_come_in_time_order(tmp_path):
    for day in ("2026-11-26", "2026-11-27"):
        (tmp_path / f"{day}.parquet").write_bytes(b"")
    (tmp_path / "2026-11-28").mkdir()
    (tmp_path / "2026-11-28" / "20261128T000001000000-1-000001.parquet").write_bytes(b"")
    assert [p.name for p in segments(tmp_path)] == [
        "2026-11-26.parquet", "2026-11-27.parquet", "20261128T000001000000-1-000001.parquet",
    ]  # fmt: skip


def test_only_real_days_and_segment_names_are_listed(tmp_path):
    from utils.monitoring.prediction_log import is_day, is_segment_name

    assert is_day("2026-02-28") and not is_day("2026-02-30") and not is_day("2024-13-45")
    assert is_segment_name("20261128T000001000000-1-000001.parquet")
    assert not is_segment_name(".20261128T000001000000-1-000001.parquet.tmp")
    (tmp_path / "2024-13-45").mkdir()
    (tmp_path / "2024-13-45" / "20241345T000001000000-1-000001.parquet").write_bytes(b"")
    (tmp_path / "quarantine").mkdir()
    (tmp_path / "quarantine" / "x.parquet").write_bytes(b"")
    (tmp_path / "2026-11-28").mkdir()
    (tmp_path / "2026-11-28" / ".20261128T000001000000-1-000001.parquet.tmp").write_bytes(b"")
    assert segments(tmp_path) == []


class DiskFull:
    """polars' write_parquet on a full disk: part of the file, then ENOSPC."""

    def __init__(self) -> None:
        self.full = True

    def __call__(self, frame, path, *args, **kwargs):
        import errno

        if not self.full:
            return ORIGINAL_WRITE(frame, path, *args, **kwargs)
        with open(path, "wb") as handle:
            handle.write(b"PAR1 half a file")
        raise OSError(errno.ENOSPC, "No space left on device")


import polars as pl  # noqa: E402 - next to the fake that stands in for its writer

ORIGINAL_WRITE = pl.DataFrame.write_parquet


def test_a_full_disk_costs_the_rows_counted_and_said_once_a_minute_never_a_tmp(
    tmp_path, monkeypatch, caplog
):
    import logging

    from utils.monitoring import prediction_log

    disk = DiskFull()
    monkeypatch.setattr(pl.DataFrame, "write_parquet", lambda *args, **kw: disk(*args, **kw))
    lost: list[int] = []
    log = PredictionLog(tmp_path, on_lost=lost.append)
    with caplog.at_level(logging.WARNING, logger="utils.monitoring.prediction_log"):
        for name in ("r1", "r2", "r3"):
            log.append(logged(name, rows=2))
            assert log.flush() == []
    assert lost == [2, 2, 2]
    assert len(caplog.records) == 1 and "2 row(s) not written" in caplog.text
    assert "No space left on device" in caplog.text
    assert list(tmp_path.rglob("*.tmp")) == [] and segments(tmp_path) == []
    # A minute on, the rows lost since the warning are said in one more.
    monkeypatch.setattr(
        log, "_last_warning", log._last_warning - prediction_log.LOST_WARNING_EVERY_S
    )
    log.append(logged("r4", rows=1))
    log.flush()
    assert len(caplog.records) == 2 and "5 row(s) not written" in caplog.records[1].getMessage()
    disk.full = False
    log.append(logged("r5", rows=1))
    (written,) = log.flush()
    assert read_segments([written])["request_id"].to_list() == ["r5"], "space again: logged again"


def test_an_unwritable_log_folder_costs_rows_not_an_exception(tmp_path):
    blocked = tmp_path / "logs"
    blocked.write_text("a file where the folder should be")
    lost: list[int] = []
    log = PredictionLog(blocked, on_lost=lost.append)
    log.append(logged("r1", rows=3))
    assert log.flush() == [] and lost == [3]


class FakeChallenger:
    """A challenger whose features come in another order than the rows': it answers the sum
    of its inputs weighted by position, so a wrong column order would show."""

    def __init__(self, features=("b", "a"), version=7, fail=False):
        self.features, self.version, self.fail = list(features), version, fail
        self.seen: list[np.ndarray] = []

    def predict(self, matrix):
        if self.fail:
            raise RuntimeError("challenger broke")
        self.seen.append(matrix)
        probability = (matrix[:, 0] * 0.1 + matrix[:, 1] * 0.01).tolist()
        return [int(p > 0.1) for p in probability], probability


def test_the_challenger_answers_the_same_rows_in_the_flusher(tmp_path):
    challenger = FakeChallenger()
    log = PredictionLog(tmp_path, challenger=lambda: challenger)
    log._pending += [logged("r1"), logged("r2", rows=1, as_lists=True)]
    log.flush()
    frame = read_segments(segments(tmp_path))
    # Rows (a, b): (0, 1), (2, 3), (0, 1); the challenger sees (b, a).
    assert challenger.seen[0].tolist() == [[1.0, 0.0], [3.0, 2.0], [1.0, 0.0]]
    assert frame["challenger_version"].to_list() == ["7"] * 3
    assert frame["challenger_probability"].to_list() == pytest.approx([0.1, 0.32, 0.1])
    assert frame["challenger_prediction"].to_list() == [0, 1, 0]
    # The champion's columns are what the requests carried.
    assert frame["probability"].to_list() == [0.25] * 3 and frame["model_version"][0] == "1"


@pytest.mark.parametrize(
    ("challenger", "said"),
    [
        (FakeChallenger(fail=True), "challenger broke"),
        (FakeChallenger(features=("a", "zz")), "lack its feature(s) zz"),
    ],
)
def test_a_failing_challenger_costs_its_own_columns_never_a_champion_row(
    tmp_path, caplog, challenger, said
):
    log = PredictionLog(tmp_path, challenger=lambda: challenger)
    for request in ("r1", "r2"):
        log._pending.append(logged(request))
        log.flush()
    frame = read_segments(segments(tmp_path))
    assert frame["request_id"].to_list() == ["r1", "r1", "r2", "r2"]
    assert "challenger_probability" not in frame.columns
    warnings = [r.getMessage() for r in caplog.records if "challenger" in r.getMessage()]
    assert len(warnings) == 1 and said in warnings[0]  # once a minute, not once a flush


def test_without_a_challenger_a_segment_has_no_challenger_columns(tmp_path):
    log = PredictionLog(tmp_path, challenger=lambda: None)
    log._pending.append(logged("r1"))
    log.flush()
    assert "challenger_version" not in read_segments(segments(tmp_path)).columns
