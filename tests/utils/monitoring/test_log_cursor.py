"""Reading only what is new in the prediction log, across flushes, compaction and late rows."""

from __future__ import annotations

from datetime import UTC, datetime

from test_log_upkeep import write_day

from utils.monitoring.log_cursor import LogCursor, read_new
from utils.monitoring.log_upkeep import compact
from utils.monitoring.prediction_log import segments

LATER = datetime(2100, 1, 1, tzinfo=UTC)


def ids(frame) -> list[str]:
    return sorted(frame["request_id"].to_list()) if len(frame) else []


def test_each_row_is_read_once_through_flushes_compaction_and_late_merges(tmp_path):
    write_day(tmp_path, "2026-11-20", ["a", "b"])
    rows, cursor = read_new(segments(tmp_path), LogCursor())
    assert ids(rows) == ["a", "b"]
    write_day(tmp_path, "2026-11-20", ["c"])
    rows, cursor = read_new(segments(tmp_path), cursor)
    assert ids(rows) == ["c"]
    assert ids(read_new(segments(tmp_path), cursor)[0]) == [], "nothing new: nothing read"
    write_day(tmp_path, "2026-11-20", ["d"])
    compact(tmp_path, LATER)  # d was never read: it comes from the day file
    rows, cursor = read_new(segments(tmp_path), cursor)
    assert ids(rows) == ["d"]
    assert cursor.segments == set() and cursor.days == {"2026-11-20": 4}
    write_day(tmp_path, "2026-11-20", ["late"])
    compact(tmp_path, LATER)
    rows, cursor = read_new(segments(tmp_path), cursor)
    assert ids(rows) == ["late"] and cursor.days == {"2026-11-20": 5}
    again = LogCursor.from_json(cursor.to_json())
    assert again == cursor and ids(read_new(segments(tmp_path), again)[0]) == []


def test_an_unreadable_segment_is_handed_over_and_the_rest_is_read(tmp_path):
    (good,) = write_day(tmp_path, "2026-11-20", ["a"])
    bad = good.parent / "20261120T000000000001-9-000001.parquet"
    bad.write_bytes(b"")
    handed: list = []
    rows, cursor = read_new(segments(tmp_path), LogCursor(), lambda p, why: handed.append(p))
    assert ids(rows) == ["a"] and handed == [bad]
