"""The prediction log's folder kept in shape: compaction (with late segments merged),
quarantine of whatever is not the log's, and retention by days and by size."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta

import polars as pl
from test_prediction_log import logged

from utils.monitoring.log_upkeep import (
    COMPACT_AFTER,
    QUARANTINE,
    apply_retention,
    compact,
    days_to_compact,
    upkeep,
)
from utils.monitoring.prediction_log import PredictionLog, read_segments, segments


def _day_of(path):
    return path.parent.name


def test_a_finished_day_becomes_one_file_with_the_same_rows(tmp_path):
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


def write_day(folder, day: str, names: list[str]) -> list:
    """Segments of ``day`` as the workers write them, one request each."""
    log = PredictionLog(folder)
    written = []
    for name in names:
        log._pending.append(logged(name, rows=1))
        (segment,) = log.flush()
        moved = folder / day / segment.name.replace(segment.name[:8], day.replace("-", ""), 1)
        moved.parent.mkdir(exist_ok=True)
        os.replace(segment, moved)
        written.append(moved)
    for left in folder.iterdir():
        if left.is_dir() and left.name != day and not any(left.iterdir()):
            left.rmdir()
    return written


LATER = datetime(2100, 1, 1, tzinfo=UTC)


def test_a_segment_written_late_into_a_compacted_day_is_merged_not_deleted(tmp_path, caplog):
    write_day(tmp_path, "2026-11-20", ["r1", "r2"])
    (day_file,) = compact(tmp_path, LATER)
    # A worker whose clock is behind writes into the finished day after it was compacted.
    write_day(tmp_path, "2026-11-20", ["late"])
    with caplog.at_level(logging.WARNING):
        assert compact(tmp_path, LATER) == [day_file]
    assert "1 row(s) logged late for 2026-11-20 merged" in caplog.text
    assert sorted(read_segments(segments(tmp_path))["request_id"]) == ["late", "r1", "r2"]
    assert not (tmp_path / "2026-11-20").exists()
    # Killed after the merged file was renamed, before the folder went: nothing doubles.
    (again,) = write_day(tmp_path, "2026-11-20", ["late2"])
    compact(tmp_path, LATER)
    again.parent.mkdir()
    read_segments([day_file]).filter(pl.col("request_id") == "late2").write_parquet(
        again.parent / again.name
    )
    compact(tmp_path, LATER)
    ids = read_segments(segments(tmp_path))["request_id"].to_list()
    assert sorted(ids) == ["late", "late2", "r1", "r2"]


def test_whatever_is_not_the_logs_goes_to_quarantine_with_one_warning_each(tmp_path, caplog):
    (good,) = write_day(tmp_path, "2026-11-20", ["r1"])
    day = tmp_path / "2026-11-20"
    (day / "20261120T000000000001-9-000001.parquet").write_bytes(b"")  # 0 bytes
    pl.DataFrame({"x": [1]}).write_parquet(day / "20261120T000000000002-9-000001.parquet")
    (day / "notes.txt").write_text("hello")
    (tmp_path / "2024-13-45").mkdir()  # a day that does not exist
    (tmp_path / "2024-13-45" / "20241345T000000000000-1-000001.parquet").write_bytes(b"x")
    (tmp_path / "stray.csv").write_text("a,b\n")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "2026-11-21.parquet").write_bytes(b"not parquet")
    with caplog.at_level(logging.WARNING):
        done = upkeep(tmp_path, None, None, LATER)
    moved = sorted(p.name for p in (tmp_path / QUARANTINE).iterdir())
    assert moved == sorted([
        "2026-11-20__20261120T000000000001-9-000001.parquet",
        "2026-11-20__20261120T000000000002-9-000001.parquet",
        "2026-11-20__notes.txt", "2024-13-45", "stray.csv", "loop", "2026-11-21.parquet",
    ])  # fmt: skip
    assert len(done.quarantined) == 7 and caplog.text.count("moved ") == 7
    assert read_segments(segments(tmp_path))["request_id"].to_list() == ["r1"]
    assert upkeep(tmp_path, None, None, LATER).quarantined == [], "said once"


def test_a_bad_segment_met_while_reading_is_quarantined_and_reading_goes_on(tmp_path):
    from utils.monitoring.log_cursor import LogCursor, read_new
    from utils.monitoring.log_upkeep import quarantiner

    (good,) = write_day(tmp_path, "2026-11-20", ["r1"])
    bad = good.parent / "20261120T000000000001-9-000001.parquet"
    bad.write_bytes(b"")
    rows, _ = read_new(segments(tmp_path), LogCursor(), quarantiner(tmp_path))
    assert rows["request_id"].to_list() == ["r1"]
    assert not bad.exists() and (tmp_path / QUARANTINE).is_dir()


def test_stale_temporary_files_of_dead_writers_are_removed_fresh_ones_kept(tmp_path):
    day = tmp_path / "2026-11-20"
    day.mkdir()
    stale, fresh = day / ".a.parquet.tmp", day / ".b.parquet.tmp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    old = datetime.now(UTC).timestamp() - 7200
    os.utime(stale, (old, old))
    upkeep(tmp_path, None, None, datetime(2026, 11, 20, 12, tzinfo=UTC))
    assert not stale.exists() and fresh.exists()


def test_retention_by_days_keeps_exactly_the_configured_days(tmp_path):
    for day in ("2026-11-01", "2026-11-02", "2026-11-03"):
        write_day(tmp_path, day, [day])
    compact(tmp_path, LATER)
    write_day(tmp_path, "2026-11-04", ["2026-11-04"])
    now = datetime(2026, 11, 4, 12, tzinfo=UTC)
    assert apply_retention(tmp_path, 4, None, now) == [], "4 days: 11-01 to 11-04 stay"
    assert apply_retention(tmp_path, 3, None, now) == ["2026-11-01"]
    assert apply_retention(tmp_path, 1, None, now) == ["2026-11-02", "2026-11-03"]
    assert read_segments(segments(tmp_path))["request_id"].to_list() == ["2026-11-04"]


def test_retention_by_size_removes_the_oldest_days_and_never_the_newest(tmp_path, caplog):
    for day in ("2026-11-01", "2026-11-02", "2026-11-03"):
        write_day(tmp_path, day, [day, day + "b"])
    sizes = {p.name: sum(f.stat().st_size for f in p.iterdir()) for p in tmp_path.iterdir()}
    total = sum(sizes.values())
    assert apply_retention(tmp_path, None, total) == [], "at the cap: nothing goes"
    assert apply_retention(tmp_path, None, total - 1) == ["2026-11-01"]
    with caplog.at_level(logging.WARNING):
        assert apply_retention(tmp_path, None, 1) == ["2026-11-02"]
    assert "in its newest day alone" in caplog.text
    assert (tmp_path / "2026-11-03").is_dir()


def test_a_due_day_is_found_by_listing_only(tmp_path):
    write_day(tmp_path, "2026-11-20", ["r1"])
    end = datetime(2026, 11, 21, tzinfo=UTC)
    assert days_to_compact(tmp_path, end + COMPACT_AFTER - timedelta(seconds=1)) == []
    assert days_to_compact(tmp_path, end + COMPACT_AFTER) == [tmp_path / "2026-11-20"]
